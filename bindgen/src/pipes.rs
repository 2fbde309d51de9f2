//! Lowering of `stream<T>` and `future<T>`, for any payload `T`.
//!
//! A WASI 0.2 host knows neither type, so each payload the world uses gets a pipe interface,
//! `isyswasfa:pipes/<name>@0.1.0` (`<name>` is the payload's [mangled name](mangle), e.g.
//! `stream-u32`, `future-result-option-my-app-api-thing-string`). It declares the two ends as host resources
//! and the payload-independent operations:
//!
//! ```wit
//! interface stream-u32 {
//!   resource reader;
//!   resource writer;
//!   new: func() -> tuple<writer, reader>;
//!   wait-readable: async func(end: borrow<reader>);
//!   wait-writable: async func(end: borrow<writer>) -> bool;   // streams only
//! }
//! ```
//!
//! The same payload always gets the same interface, whatever component uses it, so an end can
//! be passed from one component of a composition to another. Every `stream<T>` / `future<T>` in
//! the world's interfaces becomes `own<reader>` of its pipe interface (through a `use` alias
//! named `isyswasfa-<name>`).
//!
//! The typed operations need the payload types, which live in the user's interfaces; they go in
//! one more interface per component, in the world's package, `isyswasfa-ops-<poll-suffix>`:
//!
//! ```wit
//! stream-u32-read: func(end: borrow<reader>, max: u32) -> option<list<u32>>;   // none: ended
//! stream-u32-write: func(end: borrow<writer>, values: list<u32>) -> list<u32>; // not taken
//! future-string-read: func(end: own<reader>) -> option<string>;                // none: no value
//! future-string-write: func(end: own<writer>, value: string) -> option<string>; // not taken
//! ```
//!
//! A payload-less `stream` reads and writes counts (`option<u32>`, `u32`), a payload-less `future`
//! a `bool`. The host carries the values, so the ops interface names the payload types: those
//! of imported interfaces through `use`; those of interfaces the world only exports (which an
//! import cannot `use`) through structural copies defined in the ops interface itself
//! (`record c0-point { … }`, see [`TypeCopy`]), which the Rust bindings map back onto the
//! exported types. A resource the world exports cannot be carried (an import cannot name it):
//! that is an error naming it.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use anyhow::{Context, Result, bail};
use wit_bindgen_core::wit_parser::{
    Function, Handle, InterfaceId, PackageId, Resolve, Type, TypeDefKind, TypeId, TypeOwner,
    WorldId, WorldItem, WorldKey,
};

/// The package of the pipe interfaces.
pub use isyswasfa_protocol::names::PIPES_PACKAGE;

/// Whether a pipe carries a `stream` or a `future`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PipeKind {
    /// `stream<T>`.
    Stream,
    /// `future<T>`.
    Future,
}

/// One payload type the world carries in a stream or future.
#[derive(Debug, Clone)]
pub struct Pipe {
    /// Stream or future.
    pub kind: PipeKind,
    /// Whether it has no payload (`stream`, `future`).
    pub unit: bool,
    /// The mangled name, e.g. `stream-u32`: the pipe interface's name and the ops' prefix.
    pub name: String,
    /// The pipe interface, e.g. `isyswasfa:pipes/stream-u32@0.1.0`.
    pub interface: String,
    /// The typed read operation in the ops interface, e.g. `stream-u32-read`.
    pub read: String,
    /// The typed write operation in the ops interface, e.g. `stream-u32-write`.
    pub write: String,
}

/// What pipe lowering added to a world.
#[derive(Debug, Clone, Default)]
pub struct Pipes {
    /// Every payload, in a stable order.
    pub pipes: Vec<Pipe>,
    /// The ops interface (`<world package>/isyswasfa-ops-<suffix>`), when there is any pipe.
    pub ops: Option<String>,
    /// Copies, in the ops interface, of payload types defined in interfaces the world only
    /// exports (an import cannot use an export's types).
    pub copies: Vec<TypeCopy>,
}

/// A structural copy of an exported type, defined in the ops interface.
#[derive(Debug, Clone)]
pub struct TypeCopy {
    /// Its name in the ops interface, e.g. `c0-point`.
    pub name: String,
    /// The exported type it copies.
    pub original: TypeId,
}

/// The WIT name of a primitive type (`u32`, `string`, …); `None` for `error-context` and for
/// defined types. One spelling for every generator that writes types out.
pub fn primitive_name(ty: &Type) -> Option<&'static str> {
    Some(match ty {
        Type::Bool => "bool",
        Type::U8 => "u8",
        Type::U16 => "u16",
        Type::U32 => "u32",
        Type::U64 => "u64",
        Type::S8 => "s8",
        Type::S16 => "s16",
        Type::S32 => "s32",
        Type::S64 => "s64",
        Type::F32 => "f32",
        Type::F64 => "f64",
        Type::Char => "char",
        Type::String => "string",
        Type::ErrorContext | Type::Id(_) => return None,
    })
}

/// The mangled name of a payload: its WIT type spelled in kebab-case, with named types by
/// their namespace, package, interface and name, and aliases resolved (`u32`, `list-u8`,
/// `option-string`, `result-my-app-api-point-string`, `tuple-u8-s64`, `stream-u8`; a missing
/// `result` half is `none`).
pub fn mangle(resolve: &Resolve, ty: &Type) -> Result<String> {
    if let Some(name) = primitive_name(ty) {
        return Ok(name.into());
    }
    let Type::Id(id) = ty else {
        bail!("`error-context` cannot be carried by a stream or future yet")
    };
    let def = &resolve.types[*id];
    Ok(match &def.kind {
        TypeDefKind::Type(inner) => mangle(resolve, inner)?,
        TypeDefKind::Handle(Handle::Own(r)) => mangle(resolve, &Type::Id(*r))?,
        TypeDefKind::Handle(Handle::Borrow(_)) => {
            bail!("a `borrow<…>` cannot be carried by a stream or future")
        }
        _ if def.name.is_some() => qualified_name(resolve, def),
        TypeDefKind::List(t) => format!("list-{}", mangle(resolve, t)?),
        TypeDefKind::Option(t) => format!("option-{}", mangle(resolve, t)?),
        TypeDefKind::Result(r) => format!(
            "result-{}-{}",
            optional(resolve, r.ok.as_ref())?,
            optional(resolve, r.err.as_ref())?
        ),
        TypeDefKind::Tuple(t) => {
            let parts: Result<Vec<String>> = t.types.iter().map(|t| mangle(resolve, t)).collect();
            format!("tuple-{}", parts?.join("-"))
        }
        TypeDefKind::Stream(p) => pipe_name(resolve, PipeKind::Stream, p.as_ref())?,
        TypeDefKind::Future(p) => pipe_name(resolve, PipeKind::Future, p.as_ref())?,
        other => bail!(
            "a {} cannot be carried by a stream or future yet",
            other.as_str()
        ),
    })
}

/// A named type's name prefixed by where it is defined (`wasi-http-types-error-code`): two
/// packages may well define the same name (`wasi:cli` and `wasi:http` both have an `error-code`),
/// and the pipe name must not depend on which other types a world happens to use, because every
/// component of a composition must name the same payload alike.
fn qualified_name(resolve: &Resolve, def: &wit_bindgen_core::wit_parser::TypeDef) -> String {
    let name = def.name.as_deref().unwrap_or_default();
    let (package, owner) = match def.owner {
        TypeOwner::Interface(i) => {
            let iface = &resolve.interfaces[i];
            (iface.package, iface.name.as_deref().unwrap_or("interface"))
        }
        TypeOwner::World(w) => {
            let world = &resolve.worlds[w];
            (world.package, world.name.as_str())
        }
        TypeOwner::None => return name.to_string(),
    };
    match package {
        Some(p) => {
            let p = &resolve.packages[p].name;
            format!("{}-{}-{owner}-{name}", p.namespace, p.name)
        }
        None => format!("{owner}-{name}"),
    }
}

fn optional(resolve: &Resolve, ty: Option<&Type>) -> Result<String> {
    ty.map_or(Ok("none".to_string()), |t| mangle(resolve, t))
}

/// `stream-<payload>`, `future-<payload>`, or `stream` / `future` without a payload.
pub fn pipe_name(resolve: &Resolve, kind: PipeKind, payload: Option<&Type>) -> Result<String> {
    let prefix = match kind {
        PipeKind::Stream => "stream",
        PipeKind::Future => "future",
    };
    Ok(match payload {
        Some(p) => format!("{prefix}-{}", mangle(resolve, p)?),
        None => prefix.to_string(),
    })
}

/// A payload found in the world, before lowering.
struct Found {
    kind: PipeKind,
    payload: Option<Type>,
    /// Where it was first seen, for errors.
    context: String,
}

/// Collects every `stream`/`future` reachable from the world's items (payloads included).
struct Collector<'a> {
    resolve: &'a Resolve,
    seen: HashMap<TypeId, ()>,
    found: BTreeMap<String, Found>,
}

impl Collector<'_> {
    fn visit(&mut self, ty: &Type, context: &str) -> Result<()> {
        let Type::Id(id) = ty else { return Ok(()) };
        if self.seen.insert(*id, ()).is_some() {
            return Ok(());
        }
        let def = &self.resolve.types[*id];
        match &def.kind {
            TypeDefKind::Stream(p) | TypeDefKind::Future(p) => {
                let kind = match def.kind {
                    TypeDefKind::Stream(_) => PipeKind::Stream,
                    _ => PipeKind::Future,
                };
                let name = pipe_name(self.resolve, kind, p.as_ref())
                    .with_context(|| format!("in {context}"))?;
                let qualified = self.qualified(kind, p.as_ref());
                if let Some(previous) = self.found.get(&name) {
                    let before = self.qualified(previous.kind, previous.payload.as_ref());
                    if before != qualified {
                        bail!(
                            "two different payload types are both named `{name}` (in {} and in \
                             {context}); isyswasfa names pipes by their payload's type name, so \
                             rename one of them",
                            previous.context
                        );
                    }
                } else {
                    self.found.insert(
                        name,
                        Found {
                            kind,
                            payload: *p,
                            context: context.to_string(),
                        },
                    );
                }
                if let Some(p) = p {
                    self.visit(p, context)?;
                }
            }
            kind => {
                for inner in components(kind) {
                    self.visit(&inner, context)?;
                }
            }
        }
        Ok(())
    }

    /// A name that tells apart types mangled alike (named types with their interface).
    fn qualified(&self, kind: PipeKind, payload: Option<&Type>) -> String {
        fn walk(resolve: &Resolve, ty: &Type, out: &mut String) {
            let Type::Id(id) = ty else {
                let _ = write!(out, "{ty:?};");
                return;
            };
            let def = &resolve.types[*id];
            if let TypeDefKind::Type(inner) = &def.kind {
                return walk(resolve, inner, out);
            }
            if let Some(name) = &def.name {
                let owner = match def.owner {
                    TypeOwner::Interface(i) => resolve.id_of(i).unwrap_or_default(),
                    TypeOwner::World(w) => resolve.worlds[w].name.clone(),
                    TypeOwner::None => String::new(),
                };
                let _ = write!(out, "{owner}/{name};");
                return;
            }
            let _ = write!(out, "{}(", def.kind.as_str());
            for inner in components(&def.kind) {
                walk(resolve, &inner, out);
            }
            out.push(')');
        }
        let mut out = format!("{kind:?}:");
        if let Some(p) = payload {
            walk(self.resolve, p, &mut out);
        }
        out
    }
}

/// The types directly inside a type definition.
pub(crate) fn components(kind: &TypeDefKind) -> Vec<Type> {
    match kind {
        TypeDefKind::Record(r) => r.fields.iter().map(|f| f.ty).collect(),
        TypeDefKind::Tuple(t) => t.types.clone(),
        TypeDefKind::Variant(v) => v.cases.iter().filter_map(|c| c.ty).collect(),
        TypeDefKind::Option(t) | TypeDefKind::List(t) | TypeDefKind::Type(t) => vec![*t],
        TypeDefKind::FixedLengthList(t, _) => vec![*t],
        TypeDefKind::Map(k, v) => vec![*k, *v],
        TypeDefKind::Result(r) => r.ok.iter().chain(r.err.iter()).copied().collect(),
        TypeDefKind::Stream(p) | TypeDefKind::Future(p) => p.iter().copied().collect(),
        TypeDefKind::Resource
        | TypeDefKind::Handle(_)
        | TypeDefKind::Flags(_)
        | TypeDefKind::Enum(_)
        | TypeDefKind::Unknown => Vec::new(),
    }
}

/// The interfaces of the world (imports and exports) and whether the world imports each.
fn world_interfaces(resolve: &Resolve, world: WorldId) -> Vec<(InterfaceId, bool)> {
    let w = &resolve.worlds[world];
    let mut out: Vec<(InterfaceId, bool)> = Vec::new();
    for (items, imported) in [(&w.imports, true), (&w.exports, false)] {
        for item in items.values() {
            if let WorldItem::Interface { id, .. } = item {
                match out.iter_mut().find(|(i, _)| i == id) {
                    Some(entry) => entry.1 |= imported,
                    None => out.push((*id, imported)),
                }
            }
        }
    }
    out
}

fn function_types(func: &Function) -> impl Iterator<Item = &Type> {
    func.params
        .iter()
        .map(|p| &p.ty)
        .chain(func.result.as_ref())
}

/// Lowers every `stream`/`future` of `world` (see the module docs). Runs before async lowering,
/// which then lowers the pipe interfaces' `async func`s like any other.
pub(crate) fn lower_pipes(resolve: &mut Resolve, world: WorldId, suffix: &str) -> Result<Pipes> {
    let interfaces = world_interfaces(resolve, world);
    let mut collector = Collector {
        resolve,
        seen: HashMap::new(),
        found: BTreeMap::new(),
    };
    for (id, _) in &interfaces {
        let iface = &resolve.interfaces[*id];
        let name = resolve
            .id_of(*id)
            .or_else(|| iface.name.clone())
            .unwrap_or_default();
        for (type_name, ty) in &iface.types {
            let at = resolve.render_location(resolve.types[*ty].span);
            collector.visit(
                &Type::Id(*ty),
                &format!("type `{type_name}` of `{name}`, {at}"),
            )?;
        }
        for func in iface.functions.values() {
            let at = resolve.render_location(func.span);
            for ty in function_types(func) {
                collector.visit(ty, &format!("function `{}` of `{name}`, {at}", func.name))?;
            }
        }
    }
    let w = &resolve.worlds[world];
    for item in w.imports.values().chain(w.exports.values()) {
        match item {
            WorldItem::Function(func) => {
                for ty in function_types(func) {
                    collector.visit(ty, &format!("function `{}` of the world", func.name))?;
                }
            }
            WorldItem::Type { id, .. } => collector.visit(&Type::Id(*id), "the world")?,
            WorldItem::Interface { .. } => {}
        }
    }
    let found = collector.found;
    if found.is_empty() {
        return Ok(Pipes::default());
    }

    // The pipe interfaces.
    let mut wit = format!("package {PIPES_PACKAGE};\n");
    for (name, pipe) in &found {
        let _ = write!(
            wit,
            "/// The ends of a `{name}`.\ninterface %{name} {{\n  \
             /// The readable end.\n  resource reader;\n  \
             /// The writable end.\n  resource writer;\n  \
             /// A new pipe: its writable and readable ends.\n  \
             new: func() -> tuple<writer, reader>;\n  \
             /// Waits until reading would not wait: a value is there, or the writer is gone.\n  \
             wait-readable: async func(end: borrow<reader>);\n"
        );
        if pipe.kind == PipeKind::Stream {
            wit.push_str(
                "  /// Waits until the stream has room; false once the reader is gone.\n  \
                 wait-writable: async func(end: borrow<writer>) -> bool;\n",
            );
        }
        wit.push_str("}\n");
    }
    let pipes_pkg = resolve
        .push_str("isyswasfa-pipes.wit", &wit)
        .context("isyswasfa generated pipe interfaces that do not parse (a bug)")?;

    // The ops interface, with the payload types `use`d from where they are defined.
    let imported: Vec<InterfaceId> = interfaces
        .iter()
        .filter(|(_, imported)| *imported)
        .map(|(id, _)| *id)
        .collect();
    let mut uses = TypeUses::default();
    let mut body = String::new();
    let mut pipes = Vec::new();
    for (name, found_pipe) in &found {
        let interface = isyswasfa_protocol::names::pipe_interface(name);
        let _ = writeln!(
            uses.text,
            "  use isyswasfa:pipes/%{name}@0.1.0.{{reader as {name}-reader, writer as {name}-writer}};"
        );
        let payload = match &found_pipe.payload {
            Some(p) => Some(uses.wit_type(resolve, p, &imported, &found_pipe.context)?),
            None => None,
        };
        let (read, write) = (format!("{name}-read"), format!("{name}-write"));
        let _ = match (found_pipe.kind, &payload) {
            (PipeKind::Stream, Some(t)) => write!(
                body,
                "  {read}: func(end: borrow<{name}-reader>, max: u32) -> option<list<{t}>>;\n  \
                 {write}: func(end: borrow<{name}-writer>, values: list<{t}>) -> list<{t}>;\n"
            ),
            (PipeKind::Stream, None) => write!(
                body,
                "  {read}: func(end: borrow<{name}-reader>, max: u32) -> option<u32>;\n  \
                 {write}: func(end: borrow<{name}-writer>, count: u32) -> u32;\n"
            ),
            (PipeKind::Future, Some(t)) => write!(
                body,
                "  {read}: func(end: own<{name}-reader>) -> option<{t}>;\n  \
                 {write}: func(end: own<{name}-writer>, value: {t}) -> option<{t}>;\n"
            ),
            (PipeKind::Future, None) => write!(
                body,
                "  {read}: func(end: own<{name}-reader>) -> bool;\n  \
                 {write}: func(end: own<{name}-writer>) -> bool;\n"
            ),
        };
        pipes.push(Pipe {
            kind: found_pipe.kind,
            unit: found_pipe.payload.is_none(),
            name: name.clone(),
            interface,
            read,
            write,
        });
    }
    let ops_wit = format!(
        "package isyswasfa:pipes-{suffix};\n\
         /// The typed operations on the pipes this component uses (see `isyswasfa:pipes`).\n\
         interface ops {{\n{}{}{body}}}\n",
        uses.text, uses.definitions
    );
    let ops_pkg = resolve
        .push_str("isyswasfa-pipe-ops.wit", &ops_wit)
        .with_context(|| {
            format!("isyswasfa generated a pipe ops interface that does not parse:\n{ops_wit}")
        })?;
    // The ops interface uses the world's types, so it must live in the world's own package (a
    // package of its own would depend on the world's package and the world on it).
    let ops_iface = package_interface(resolve, ops_pkg, "ops")?;
    let world_pkg = resolve.worlds[world]
        .package
        .context("the world has no package")?;
    let ops_local = format!("{}{suffix}", isyswasfa_protocol::names::OPS_PREFIX);
    if resolve.packages[world_pkg]
        .interfaces
        .contains_key(&ops_local)
    {
        bail!("the package already has an interface `{ops_local}`, a name isyswasfa reserves");
    }
    resolve.packages[ops_pkg].interfaces.clear();
    resolve.packages[world_pkg]
        .interfaces
        .insert(ops_local.clone(), ops_iface);
    resolve.interfaces[ops_iface].name = Some(ops_local);
    resolve.interfaces[ops_iface].package = Some(world_pkg);
    let ops_name = resolve
        .id_of(ops_iface)
        .context("the ops interface has no name")?;

    // Import the new interfaces: the pipe interfaces first (the world's interfaces use them),
    // the ops interface last (it uses the world's interfaces).
    let pipe_ifaces: Vec<InterfaceId> = resolve.packages[pipes_pkg]
        .interfaces
        .values()
        .copied()
        .collect();
    let imports = std::mem::take(&mut resolve.worlds[world].imports);
    let world_mut = &mut resolve.worlds[world];
    for id in &pipe_ifaces {
        world_mut
            .imports
            .insert(WorldKey::Interface(*id), interface_item(*id));
    }
    world_mut.imports.extend(imports);
    world_mut
        .imports
        .insert(WorldKey::Interface(ops_iface), interface_item(ops_iface));

    // Replace every stream/future with its reader resource.
    let mut rewriter = Rewriter {
        pipe_interfaces: pipe_ifaces
            .iter()
            .map(|id| {
                let name = resolve.interfaces[*id].name.clone().unwrap_or_default();
                (name, *id)
            })
            .collect(),
        aliases: HashMap::new(),
        anonymous: HashMap::new(),
        done: HashMap::new(),
    };
    let mut targets: Vec<InterfaceId> = interfaces.iter().map(|(id, _)| *id).collect();
    targets.push(ops_iface);
    for id in targets {
        rewriter.rewrite_interface(resolve, id)?;
    }
    rewriter.rewrite_world(resolve, world)?;
    Ok(Pipes {
        pipes,
        ops: Some(ops_name),
        copies: uses.copies,
    })
}

fn interface_item(id: InterfaceId) -> WorldItem {
    WorldItem::Interface {
        id,
        stability: Default::default(),
        external_id: None,
        docs: Default::default(),
        span: Default::default(),
    }
}

fn package_interface(resolve: &Resolve, pkg: PackageId, name: &str) -> Result<InterfaceId> {
    resolve.packages[pkg]
        .interfaces
        .get(name)
        .copied()
        .with_context(|| format!("generated package lacks interface `{name}`"))
}

/// WIT text of payload types for the ops interface, with the `use`s it needs.
#[derive(Default)]
struct TypeUses {
    text: String,
    /// Definitions of the copies of export-only types.
    definitions: String,
    /// Named type → its local alias (or copy) in the ops interface.
    aliases: HashMap<TypeId, String>,
    /// The copies of export-only types, in definition order.
    copies: Vec<TypeCopy>,
}

impl TypeUses {
    fn wit_type(
        &mut self,
        resolve: &Resolve,
        ty: &Type,
        imported: &[InterfaceId],
        context: &str,
    ) -> Result<String> {
        let id = match ty {
            Type::Id(id) => *id,
            Type::ErrorContext => bail!("`error-context` cannot be carried by a stream or future"),
            other => return mangle(resolve, other),
        };
        let def = &resolve.types[id];
        let inner = |uses: &mut Self, t: &Type| uses.wit_type(resolve, t, imported, context);
        if let TypeDefKind::Type(aliased) = &def.kind {
            return inner(self, aliased);
        }
        if let Some(name) = &def.name {
            if let Some(alias) = self.aliases.get(&id) {
                return Ok(alias.clone());
            }
            let owner = match def.owner {
                TypeOwner::Interface(i) => i,
                TypeOwner::World(w) => bail!(
                    "the stream/future payload type `{name}` (in {context}) is defined in world \
                     `{}`; define it in an interface the world imports",
                    resolve.worlds[w].name
                ),
                TypeOwner::None => bail!("the payload type `{name}` has no owner"),
            };
            let Some(owner_name) = resolve.id_of(owner) else {
                bail!(
                    "the stream/future payload type `{name}` (in {context}) is defined in an \
                     inline interface; define it in a named interface the world imports"
                );
            };
            if !imported.contains(&owner) {
                return self.copy(resolve, id, imported, context);
            }
            let alias = format!("t{}", self.aliases.len() - self.copies.len());
            let _ = writeln!(self.text, "  use {owner_name}.{{{name} as {alias}}};");
            self.aliases.insert(id, alias.clone());
            return Ok(alias);
        }
        self.anonymous(resolve, &def.kind, imported, context)
    }

    /// WIT text of an anonymous type (`list<…>`, `option<…>`, …).
    fn anonymous(
        &mut self,
        resolve: &Resolve,
        kind: &TypeDefKind,
        imported: &[InterfaceId],
        context: &str,
    ) -> Result<String> {
        let inner = |uses: &mut Self, t: &Type| uses.wit_type(resolve, t, imported, context);
        Ok(match kind {
            TypeDefKind::Type(t) => inner(self, t)?,
            TypeDefKind::Handle(Handle::Own(r)) => inner(self, &Type::Id(*r))?,
            TypeDefKind::List(t) => format!("list<{}>", inner(self, t)?),
            TypeDefKind::Option(t) => format!("option<{}>", inner(self, t)?),
            TypeDefKind::Result(r) => match (&r.ok, &r.err) {
                (Some(ok), Some(err)) => {
                    format!("result<{}, {}>", inner(self, ok)?, inner(self, err)?)
                }
                (Some(ok), None) => format!("result<{}>", inner(self, ok)?),
                (None, Some(err)) => format!("result<_, {}>", inner(self, err)?),
                (None, None) => "result".to_string(),
            },
            TypeDefKind::Tuple(t) => {
                let parts: Result<Vec<String>> = t.types.iter().map(|t| inner(self, t)).collect();
                format!("tuple<{}>", parts?.join(", "))
            }
            TypeDefKind::Stream(Some(p)) => format!("stream<{}>", inner(self, p)?),
            TypeDefKind::Stream(None) => "stream".to_string(),
            TypeDefKind::Future(Some(p)) => format!("future<{}>", inner(self, p)?),
            TypeDefKind::Future(None) => "future".to_string(),
            other => bail!(
                "a {} cannot be carried by a stream or future yet (in {context})",
                other.as_str()
            ),
        })
    }

    /// Defines a structural copy of the export-only named type `id` in the ops interface and
    /// returns its name there. The Rust bindings map the copy back onto the exported type.
    fn copy(
        &mut self,
        resolve: &Resolve,
        id: TypeId,
        imported: &[InterfaceId],
        context: &str,
    ) -> Result<String> {
        let def = &resolve.types[id];
        let name = def.name.clone().unwrap_or_default();
        let owner_name = match def.owner {
            TypeOwner::Interface(i) => resolve.id_of(i).unwrap_or_default(),
            _ => String::new(),
        };
        let local = format!("c{}-{name}", self.copies.len());
        self.aliases.insert(id, local.clone());
        self.copies.push(TypeCopy {
            name: local.clone(),
            original: id,
        });
        let inner = |uses: &mut Self, t: &Type| uses.wit_type(resolve, t, imported, context);
        let definition = match &def.kind {
            TypeDefKind::Record(record) => {
                let mut fields = Vec::new();
                for field in &record.fields {
                    fields.push(format!("%{}: {}", field.name, inner(self, &field.ty)?));
                }
                format!("record %{local} {{ {} }}", fields.join(", "))
            }
            TypeDefKind::Variant(variant) => {
                let mut cases = Vec::new();
                for case in &variant.cases {
                    cases.push(match &case.ty {
                        Some(ty) => format!("%{}({})", case.name, inner(self, ty)?),
                        None => format!("%{}", case.name),
                    });
                }
                format!("variant %{local} {{ {} }}", cases.join(", "))
            }
            TypeDefKind::Enum(e) => {
                let cases: Vec<String> = e.cases.iter().map(|c| format!("%{}", c.name)).collect();
                format!("enum %{local} {{ {} }}", cases.join(", "))
            }
            TypeDefKind::Flags(f) => {
                let flags: Vec<String> = f.flags.iter().map(|f| format!("%{}", f.name)).collect();
                format!("flags %{local} {{ {} }}", flags.join(", "))
            }
            TypeDefKind::Resource | TypeDefKind::Handle(_) => bail!(
                "the stream/future payload `{name}` (in {context}) is a resource of `{owner_name}`, \
                 which the world exports: the component model does not let an import name a \
                 resource the component exports, and the host carries the stream's values \
                 through imports; define the resource in an interface the world imports ({})",
                resolve.render_location(def.span)
            ),
            other => format!(
                "type %{local} = {};",
                self.anonymous(resolve, other, imported, context)?
            ),
        };
        let _ = writeln!(self.definitions, "  {definition}");
        Ok(local)
    }
}

/// Replaces `stream`/`future` types by `own<reader>` of their pipe interface.
struct Rewriter {
    pipe_interfaces: HashMap<String, InterfaceId>,
    /// (owner, pipe name) → the alias of the reader resource in that owner.
    aliases: HashMap<(TypeOwner, String), TypeId>,
    /// (owner, anonymous type) → its rewritten copy.
    anonymous: HashMap<(TypeOwner, TypeId), TypeId>,
    /// Named types already rewritten in place.
    done: HashMap<TypeId, ()>,
}

fn new_type(
    resolve: &mut Resolve,
    name: Option<&str>,
    kind: TypeDefKind,
    owner: TypeOwner,
) -> TypeId {
    resolve
        .types
        .alloc(crate::lower::type_def(name, kind, owner))
}

impl Rewriter {
    fn rewrite_interface(&mut self, resolve: &mut Resolve, id: InterfaceId) -> Result<()> {
        let owner = TypeOwner::Interface(id);
        let types: Vec<TypeId> = resolve.interfaces[id].types.values().copied().collect();
        for ty in types {
            self.rewrite(resolve, owner, Type::Id(ty))?;
        }
        let names: Vec<String> = resolve.interfaces[id].functions.keys().cloned().collect();
        for name in names {
            let mut func = resolve.interfaces[id].functions[&name].clone();
            self.rewrite_function(resolve, owner, &mut func)?;
            resolve.interfaces[id].functions[&name] = func;
        }
        Ok(())
    }

    fn rewrite_world(&mut self, resolve: &mut Resolve, world: WorldId) -> Result<()> {
        let owner = TypeOwner::World(world);
        for exports in [false, true] {
            let keys: Vec<WorldKey> = match exports {
                false => resolve.worlds[world].imports.keys().cloned().collect(),
                true => resolve.worlds[world].exports.keys().cloned().collect(),
            };
            for key in keys {
                let items = match exports {
                    false => &resolve.worlds[world].imports,
                    true => &resolve.worlds[world].exports,
                };
                let item = items[&key].clone();
                let updated = match item {
                    WorldItem::Function(mut func) => {
                        self.rewrite_function(resolve, owner, &mut func)?;
                        WorldItem::Function(func)
                    }
                    WorldItem::Type { id, span } => {
                        self.rewrite(resolve, owner, Type::Id(id))?;
                        WorldItem::Type { id, span }
                    }
                    other => other,
                };
                let items = match exports {
                    false => &mut resolve.worlds[world].imports,
                    true => &mut resolve.worlds[world].exports,
                };
                items[&key] = updated;
            }
        }
        // Aliases created for world-level functions become world imports.
        let aliases: Vec<(String, TypeId)> = self
            .aliases
            .iter()
            .filter(|((o, _), _)| *o == owner)
            .map(|((_, name), id)| (format!("isyswasfa-{name}"), *id))
            .collect();
        let imports = std::mem::take(&mut resolve.worlds[world].imports);
        let w = &mut resolve.worlds[world];
        for (name, id) in aliases {
            w.imports.insert(
                WorldKey::Name(name),
                WorldItem::Type {
                    id,
                    span: Default::default(),
                },
            );
        }
        // Keep the pipe interfaces (which the aliases use) before the aliases.
        let (pipes, rest): (Vec<_>, Vec<_>) = imports.into_iter().partition(|(_, item)| {
            matches!(item, WorldItem::Interface { id, .. }
                if self.pipe_interfaces.values().any(|p| p == id))
        });
        let aliases = std::mem::take(&mut w.imports);
        w.imports.extend(pipes);
        w.imports.extend(aliases);
        w.imports.extend(rest);
        Ok(())
    }

    fn rewrite_function(
        &mut self,
        resolve: &mut Resolve,
        owner: TypeOwner,
        func: &mut Function,
    ) -> Result<()> {
        for param in &mut func.params {
            param.ty = self.rewrite(resolve, owner, param.ty)?;
        }
        if let Some(result) = func.result {
            func.result = Some(self.rewrite(resolve, owner, result)?);
        }
        Ok(())
    }

    fn contains_pipe(resolve: &Resolve, ty: &Type, depth: usize) -> bool {
        let Type::Id(id) = ty else { return false };
        if depth > 64 {
            return false;
        }
        let kind = &resolve.types[*id].kind;
        matches!(kind, TypeDefKind::Stream(_) | TypeDefKind::Future(_))
            || components(kind)
                .iter()
                .any(|t| Self::contains_pipe(resolve, t, depth + 1))
    }

    /// The rewritten form of `ty` as seen from `owner`.
    fn rewrite(&mut self, resolve: &mut Resolve, owner: TypeOwner, ty: Type) -> Result<Type> {
        let Type::Id(id) = ty else { return Ok(ty) };
        if !Self::contains_pipe(resolve, &ty, 0) {
            return Ok(ty);
        }
        let def = resolve.types[id].clone();
        if def.name.is_some() && def.owner != owner {
            // Rewritten by the interface (or world) that defines it.
            return Ok(ty);
        }
        if let TypeDefKind::Stream(p) | TypeDefKind::Future(p) = &def.kind {
            let kind = match def.kind {
                TypeDefKind::Stream(_) => PipeKind::Stream,
                _ => PipeKind::Future,
            };
            let name = pipe_name(resolve, kind, p.as_ref())?;
            let alias = self.alias(resolve, owner, &name)?;
            let handle = new_type(
                resolve,
                None,
                TypeDefKind::Handle(Handle::Own(alias)),
                TypeOwner::None,
            );
            if def.name.is_some() {
                // `type s = stream<u8>`: the named type becomes an alias of the handle.
                resolve.types[id].kind = TypeDefKind::Type(Type::Id(handle));
                return Ok(ty);
            }
            return Ok(Type::Id(handle));
        }
        if def.name.is_some() {
            // A named type is rewritten in place, once, by its owner.
            if self.done.insert(id, ()).is_some() {
                return Ok(ty);
            }
            let kind = self.rewrite_kind(resolve, owner, &def.kind)?;
            resolve.types[id].kind = kind;
            return Ok(ty);
        }
        if let Some(copy) = self.anonymous.get(&(owner, id)) {
            return Ok(Type::Id(*copy));
        }
        let kind = self.rewrite_kind(resolve, owner, &def.kind)?;
        let copy = new_type(resolve, None, kind, TypeOwner::None);
        self.anonymous.insert((owner, id), copy);
        Ok(Type::Id(copy))
    }

    fn rewrite_kind(
        &mut self,
        resolve: &mut Resolve,
        owner: TypeOwner,
        kind: &TypeDefKind,
    ) -> Result<TypeDefKind> {
        let mut kind = kind.clone();
        let mut r = |t: &mut Type| -> Result<()> {
            *t = self.rewrite(resolve, owner, *t)?;
            Ok(())
        };
        match &mut kind {
            TypeDefKind::Record(rec) => {
                for f in &mut rec.fields {
                    r(&mut f.ty)?;
                }
            }
            TypeDefKind::Tuple(t) => {
                for t in &mut t.types {
                    r(t)?;
                }
            }
            TypeDefKind::Variant(v) => {
                for c in &mut v.cases {
                    if let Some(t) = &mut c.ty {
                        r(t)?;
                    }
                }
            }
            TypeDefKind::Option(t) | TypeDefKind::List(t) | TypeDefKind::Type(t) => r(t)?,
            TypeDefKind::FixedLengthList(t, _) => r(t)?,
            TypeDefKind::Map(k, v) => {
                r(k)?;
                r(v)?;
            }
            TypeDefKind::Result(res) => {
                if let Some(t) = &mut res.ok {
                    r(t)?;
                }
                if let Some(t) = &mut res.err {
                    r(t)?;
                }
            }
            _ => {}
        }
        Ok(kind)
    }

    /// The alias `isyswasfa-<pipe>` of the pipe's reader resource in `owner`.
    fn alias(&mut self, resolve: &mut Resolve, owner: TypeOwner, pipe: &str) -> Result<TypeId> {
        if let Some(id) = self.aliases.get(&(owner, pipe.to_string())) {
            return Ok(*id);
        }
        let iface = *self
            .pipe_interfaces
            .get(pipe)
            .with_context(|| format!("no pipe interface for `{pipe}`"))?;
        let reader = *resolve.interfaces[iface]
            .types
            .get("reader")
            .context("pipe interface without `reader`")?;
        let name = format!("isyswasfa-{pipe}");
        if let TypeOwner::Interface(i) = owner
            && let Some(existing) = resolve.interfaces[i].types.get(&name)
        {
            let at = resolve.render_location(resolve.types[*existing].span);
            bail!("`{name}` is a name isyswasfa reserves for its pipes ({at})");
        }
        let alias = new_type(
            resolve,
            Some(&name),
            TypeDefKind::Type(Type::Id(reader)),
            owner,
        );
        if let TypeOwner::Interface(i) = owner {
            resolve.interfaces[i].types.shift_insert(0, name, alias);
        }
        self.aliases.insert((owner, pipe.to_string()), alias);
        Ok(alias)
    }
}
