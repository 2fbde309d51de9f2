//! Lowering: WASI 0.3-style WIT (`async func`) → WASI 0.2 polyfill WIT.
//!
//! Every `async func` `f` of the world — freestanding, resource method or static, in imports and
//! exports, in interfaces or directly in the world — is replaced by a pair of plain functions:
//!
//! ```wit
//! f-isyswasfa-start: func(params…) -> result<R, isyswasfa-pending>;   // `result<_, …>` without R
//! f-isyswasfa-result: func(ready: isyswasfa-ready) -> R;              // no result without R
//! ```
//!
//! A method's start half stays a method; its result half (like a static's) is a `static` of the
//! resource. `isyswasfa-pending`/`isyswasfa-ready` are aliases of the protocol interface's
//! resources (`isyswasfa_protocol::wit::ISYSWASFA`), which the world imports first. Every lowered world
//! exports `isyswasfa-poll-<suffix>: func(input: list<isyswasfa-poll-input>)`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use wit_bindgen_core::wit_parser::{
    Docs, Function, FunctionKind, Handle, InterfaceId, PackageId, Param, Resolve, Result_, Span,
    Stability, Type, TypeDef, TypeDefKind, TypeId, TypeOwner, WorldId, WorldItem, WorldKey,
};

/// Source text of the isyswasfa protocol package.
pub const ISYSWASFA_WIT: &str = isyswasfa_protocol::wit::ISYSWASFA;
pub use isyswasfa_protocol::names::{
    INTERFACE as ISYSWASFA_INTERFACE, POLL_PREFIX, RESULT_SUFFIX, START_SUFFIX,
};
use isyswasfa_protocol::names::{PENDING_ALIAS, POLL_INPUT_ALIAS, READY_ALIAS};

/// Options of [`lower`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LowerOptions {
    /// Names the poll export: `isyswasfa-poll-<suffix>`. Must be unique among the components of
    /// a composition.
    pub poll_suffix: String,
}

impl LowerOptions {
    /// Options with the default suffix for a crate (or package) named `name`: its name in
    /// kebab-case, made a valid WIT identifier.
    pub fn for_crate(name: &str) -> Self {
        let kebab: String = name
            .chars()
            .map(|c| match c {
                'a'..='z' | '0'..='9' => c,
                'A'..='Z' => c.to_ascii_lowercase(),
                _ => '-',
            })
            .collect();
        let segments: Vec<String> = kebab
            .split('-')
            .filter(|s| !s.is_empty())
            .map(|s| match s.starts_with(|c: char| c.is_ascii_digit()) {
                true => format!("x{s}"),
                false => s.to_string(),
            })
            .collect();
        let poll_suffix = match segments.is_empty() {
            true => "component".to_string(),
            false => segments.join("-"),
        };
        Self { poll_suffix }
    }
}

/// Whether a lowered function is imported or exported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The component calls it.
    Import,
    /// The component implements it.
    Export,
}

/// One `async func` and the names of its lowered pair.
#[derive(Debug, Clone)]
pub struct LoweredFunction {
    /// Whether the world imports or exports it.
    pub direction: Direction,
    /// The world key of the interface holding it; `None` for a function directly in the world.
    pub interface: Option<WorldKey>,
    /// The function as written (still `async`).
    pub original: Function,
    /// Full name of the start half, e.g. `foo-isyswasfa-start` or `[method]r.foo-isyswasfa-start`.
    pub start: String,
    /// Full name of the result half, e.g. `foo-isyswasfa-result` or `[static]r.foo-isyswasfa-result`.
    pub result: String,
}

/// A lowered world.
#[derive(Debug, Clone)]
pub struct Lowered {
    /// The resolve holding the lowered world (and the protocol package).
    pub resolve: Resolve,
    /// The lowered world.
    pub world: WorldId,
    /// Every `async func` lowered. An interface both imported and exported appears twice.
    pub functions: Vec<LoweredFunction>,
    /// Name of the world's poll export, `isyswasfa-poll-<suffix>`.
    pub poll_export: String,
    /// The streams and futures the world uses, and where their operations are.
    pub pipes: crate::pipes::Pipes,
}

impl Lowered {
    /// The lowered world's package as WIT text, with the packages it uses nested in it (except
    /// the isyswasfa protocol package, [`ISYSWASFA_WIT`], which every lowered world imports).
    pub fn to_wit(&self) -> Result<String> {
        let main = self.resolve.worlds[self.world]
            .package
            .context("the world has no package")?;
        let mut nested: Vec<PackageId> = Vec::new();
        let world = &self.resolve.worlds[self.world];
        for item in world.imports.values().chain(world.exports.values()) {
            if let WorldItem::Interface { id, .. } = item
                && let Some(pkg) = self.resolve.interfaces[*id].package
                && pkg != main
                && self.resolve.id_of(*id).as_deref() != Some(ISYSWASFA_INTERFACE)
                && !nested.contains(&pkg)
            {
                nested.push(pkg);
            }
        }
        let mut printer = wit_component::WitPrinter::default();
        printer.print(&self.resolve, main, &nested)?;
        Ok(printer.output.to_string())
    }
}

/// Parses `path` (a WIT file, or a directory with `deps/`), selects `world` (`None`: the only
/// world of the main package) and lowers it.
pub fn lower_path(path: &Path, world: Option<&str>, opts: &LowerOptions) -> Result<Lowered> {
    let mut resolve = Resolve::default();
    let (pkg, _) = push_wit(&mut resolve, path)?;
    let world = select_world(&resolve, pkg, world)?;
    lower(&resolve, world, opts)
}

/// Parses `path` (a WIT file, or a directory with `deps/`) into `resolve`, taking the WASI 0.3
/// packages it uses but does not provide from the copies isyswasfa ships (see
/// [`crate::shipped`]). Returns the main package and the files read. Errors carry the file, line
/// and column, with the source line.
pub fn push_wit(resolve: &mut Resolve, path: &Path) -> Result<(PackageId, Vec<PathBuf>)> {
    crate::shipped::push_path(resolve, path)
}

/// Selects a world of `pkg` by name, with an error listing the ones there are.
pub fn select_world(resolve: &Resolve, pkg: PackageId, world: Option<&str>) -> Result<WorldId> {
    resolve.select_world(&[pkg], world).map_err(|error| {
        let names: Vec<&str> = resolve.packages[pkg]
            .worlds
            .keys()
            .map(String::as_str)
            .collect();
        match names.is_empty() {
            true => error.context("the package defines no world"),
            false => error.context(format!("worlds in this package: {}", names.join(", "))),
        }
    })
}

/// Lowers `world` of `resolve`; see the module docs.
pub fn lower(resolve: &Resolve, world: WorldId, opts: &LowerOptions) -> Result<Lowered> {
    let suffix = &opts.poll_suffix;
    if suffix.is_empty()
        || !suffix.split('-').all(|s| {
            s.starts_with(|c: char| c.is_ascii_lowercase())
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
    {
        bail!("invalid poll suffix `{suffix}`: it must be a kebab-case WIT identifier");
    }
    let mut lowerer = Lowerer::new(resolve.clone(), world)?;
    let pipes = crate::pipes::lower_pipes(&mut lowerer.resolve, world, suffix)?;
    lowerer.lower_interfaces()?;
    lowerer.lower_world_functions()?;
    let poll_export = format!("{POLL_PREFIX}-{suffix}");
    lowerer.add_protocol(&poll_export)?;
    crate::elaborate::import_missing_deps(&mut lowerer.resolve, world);
    Ok(Lowered {
        resolve: lowerer.resolve,
        world,
        functions: lowerer.functions,
        poll_export,
        pipes,
    })
}

struct Lowerer {
    resolve: Resolve,
    world: WorldId,
    protocol: InterfaceId,
    pending: TypeId,
    ready: TypeId,
    poll_input: TypeId,
    functions: Vec<LoweredFunction>,
}

pub(crate) fn type_def(name: Option<&str>, kind: TypeDefKind, owner: TypeOwner) -> TypeDef {
    TypeDef {
        name: name.map(str::to_string),
        kind,
        owner,
        docs: Docs::default(),
        stability: Stability::Unknown,
        span: Span::default(),
        external_id: None,
    }
}

impl Lowerer {
    fn new(mut resolve: Resolve, world: WorldId) -> Result<Self> {
        let protocol = match find_protocol(&resolve) {
            Some(id) => id,
            None => {
                resolve
                    .push_str("isyswasfa.wit", ISYSWASFA_WIT)
                    .context("the isyswasfa protocol WIT does not parse")?;
                find_protocol(&resolve).context("the isyswasfa protocol interface is missing")?
            }
        };
        let types = &resolve.interfaces[protocol].types;
        let get = |name: &str| {
            types
                .get(name)
                .copied()
                .with_context(|| format!("the protocol interface has no `{name}`"))
        };
        Ok(Self {
            pending: get("pending")?,
            ready: get("ready")?,
            poll_input: get("poll-input")?,
            resolve,
            world,
            protocol,
            functions: Vec::new(),
        })
    }

    fn location(&self, span: Span) -> String {
        self.resolve.render_location(span)
    }

    /// Lowers every interface the world imports or exports (each once).
    fn lower_interfaces(&mut self) -> Result<()> {
        let world = &self.resolve.worlds[self.world];
        let items: Vec<(WorldKey, InterfaceId, Direction)> = world
            .imports
            .iter()
            .map(|item| (item, Direction::Import))
            .chain(world.exports.iter().map(|item| (item, Direction::Export)))
            .filter_map(|((key, item), direction)| match item {
                WorldItem::Interface { id, .. } => Some((key.clone(), *id, direction)),
                _ => None,
            })
            .collect();
        let mut done: HashMap<InterfaceId, Vec<(Function, String, String)>> = HashMap::new();
        for (key, id, direction) in items {
            if id == self.protocol {
                continue;
            }
            if let std::collections::hash_map::Entry::Vacant(entry) = done.entry(id) {
                entry.insert(self.lower_interface(id)?);
            }
            for (original, start, result) in &done[&id] {
                self.functions.push(LoweredFunction {
                    direction,
                    interface: Some(key.clone()),
                    original: original.clone(),
                    start: start.clone(),
                    result: result.clone(),
                });
            }
        }
        Ok(())
    }

    fn interface_name(&self, id: InterfaceId) -> String {
        self.resolve
            .id_of(id)
            .or_else(|| self.resolve.interfaces[id].name.clone())
            .unwrap_or_else(|| "<anonymous interface>".to_string())
    }

    fn lower_interface(&mut self, id: InterfaceId) -> Result<Vec<(Function, String, String)>> {
        let name = self.interface_name(id);
        let types: Vec<(String, TypeId)> = self.resolve.interfaces[id]
            .types
            .iter()
            .map(|(n, t)| (n.clone(), *t))
            .collect();
        for (type_name, ty) in &types {
            if let Some(what) = unsupported(&self.resolve, &Type::Id(*ty)) {
                let at = self.location(self.resolve.types[*ty].span);
                bail!(
                    "{what} is not supported yet: type `{type_name}` of interface `{name}` uses it ({at})"
                );
            }
        }
        let functions = self.resolve.interfaces[id].functions.clone();
        if !functions.values().any(is_async) {
            for func in functions.values() {
                self.check_function(func, &name)?;
            }
            return Ok(Vec::new());
        }
        for alias in [PENDING_ALIAS, READY_ALIAS] {
            if let Some(ty) = self.resolve.interfaces[id].types.get(alias) {
                let at = self.location(self.resolve.types[*ty].span);
                bail!(
                    "interface `{name}` defines `{alias}`, a name isyswasfa reserves for its lowered functions ({at})"
                );
            }
        }
        let owner = TypeOwner::Interface(id);
        let pending = self.alias(PENDING_ALIAS, self.pending, owner);
        let ready = self.alias(READY_ALIAS, self.ready, owner);
        let interface = &mut self.resolve.interfaces[id];
        interface
            .types
            .shift_insert(0, READY_ALIAS.to_string(), ready);
        interface
            .types
            .shift_insert(0, PENDING_ALIAS.to_string(), pending);

        let mut lowered_functions = Vec::new();
        let mut new_functions = Vec::new();
        for (key, func) in functions {
            self.check_function(&func, &name)?;
            if !is_async(&func) {
                new_functions.push((key, func));
                continue;
            }
            let (start, result) = self.pair(&func, pending, ready);
            for f in [&start, &result] {
                if self.resolve.interfaces[id].functions.contains_key(&f.name) {
                    let at = self.location(func.span);
                    bail!(
                        "interface `{name}` already has a function `{}`, the lowered name of `{}` ({at})",
                        f.name,
                        func.name
                    );
                }
            }
            lowered_functions.push((func.clone(), start.name.clone(), result.name.clone()));
            new_functions.push((start.name.clone(), start));
            new_functions.push((result.name.clone(), result));
        }
        let interface = &mut self.resolve.interfaces[id];
        interface.functions.clear();
        interface.functions.extend(new_functions);
        Ok(lowered_functions)
    }

    /// Checks that `func` uses no type lowering cannot handle yet.
    fn check_function(&self, func: &Function, owner: &str) -> Result<()> {
        let types = func
            .params
            .iter()
            .map(|p| &p.ty)
            .chain(func.result.as_ref());
        for ty in types {
            if let Some(what) = unsupported(&self.resolve, ty) {
                let at = self.location(func.span);
                bail!(
                    "{what} is not supported yet: function `{}` of `{owner}` uses it ({at})",
                    func.name
                );
            }
        }
        Ok(())
    }

    fn alias(&mut self, name: &str, target: TypeId, owner: TypeOwner) -> TypeId {
        self.resolve.types.alloc(type_def(
            Some(name),
            TypeDefKind::Type(Type::Id(target)),
            owner,
        ))
    }

    /// `own<resource>`: how a resource name is typed where it is passed as a value.
    fn own(&mut self, resource: TypeId) -> TypeId {
        self.resolve.types.alloc(type_def(
            None,
            TypeDefKind::Handle(Handle::Own(resource)),
            TypeOwner::None,
        ))
    }

    /// The start and result halves of `func`.
    fn pair(&mut self, func: &Function, pending: TypeId, ready: TypeId) -> (Function, Function) {
        let (start_kind, result_kind) = match func.kind {
            FunctionKind::AsyncMethod(r) => (FunctionKind::Method(r), FunctionKind::Static(r)),
            FunctionKind::AsyncStatic(r) => (FunctionKind::Static(r), FunctionKind::Static(r)),
            _ => (FunctionKind::Freestanding, FunctionKind::Freestanding),
        };
        let start_name = isyswasfa_protocol::names::start_name(&func.name);
        let result_name = isyswasfa_protocol::names::result_name(&func.name);
        let own_pending = self.own(pending);
        let own_ready = self.own(ready);
        let outcome = self.resolve.types.alloc(type_def(
            None,
            TypeDefKind::Result(Result_ {
                ok: func.result,
                err: Some(Type::Id(own_pending)),
            }),
            TypeOwner::None,
        ));
        let start = Function {
            name: start_name,
            kind: start_kind,
            params: func.params.clone(),
            result: Some(Type::Id(outcome)),
            docs: func.docs.clone(),
            stability: func.stability.clone(),
            span: func.span,
            external_id: None,
        };
        let result = Function {
            name: result_name,
            kind: result_kind,
            params: vec![Param {
                name: "ready".to_string(),
                ty: Type::Id(own_ready),
                span: func.span,
            }],
            result: func.result,
            docs: Docs::default(),
            stability: func.stability.clone(),
            span: func.span,
            external_id: None,
        };
        (start, result)
    }

    /// Lowers the functions imported or exported directly by the world.
    fn lower_world_functions(&mut self) -> Result<()> {
        let world_name = self.resolve.worlds[self.world].name.clone();
        let has_async = {
            let world = &self.resolve.worlds[self.world];
            world
                .imports
                .values()
                .chain(world.exports.values())
                .any(|item| matches!(item, WorldItem::Function(f) if is_async(f)))
        };
        let (mut pending, mut ready) = (None, None);
        if has_async {
            let owner = TypeOwner::World(self.world);
            for alias in [PENDING_ALIAS, READY_ALIAS] {
                if self.resolve.worlds[self.world]
                    .imports
                    .contains_key(&WorldKey::Name(alias.to_string()))
                {
                    bail!(
                        "world `{world_name}` defines `{alias}`, a name isyswasfa reserves for its lowered functions"
                    );
                }
            }
            pending = Some(self.alias(PENDING_ALIAS, self.pending, owner));
            ready = Some(self.alias(READY_ALIAS, self.ready, owner));
        }
        for direction in [Direction::Import, Direction::Export] {
            let items = match direction {
                Direction::Import => std::mem::take(&mut self.resolve.worlds[self.world].imports),
                Direction::Export => std::mem::take(&mut self.resolve.worlds[self.world].exports),
            };
            let mut rebuilt = Vec::new();
            if let (Direction::Import, Some(pending), Some(ready)) = (direction, pending, ready) {
                for (name, id) in [(PENDING_ALIAS, pending), (READY_ALIAS, ready)] {
                    let item = WorldItem::Type {
                        id,
                        span: Span::default(),
                    };
                    rebuilt.push((WorldKey::Name(name.to_string()), item));
                }
            }
            for (key, item) in items {
                match item {
                    WorldItem::Function(func) => {
                        self.check_function(&func, &format!("world {world_name}"))?;
                        if let (true, Some(pending), Some(ready)) =
                            (is_async(&func), pending, ready)
                        {
                            let (start, result) = self.pair(&func, pending, ready);
                            self.functions.push(LoweredFunction {
                                direction,
                                interface: None,
                                original: func.clone(),
                                start: start.name.clone(),
                                result: result.name.clone(),
                            });
                            rebuilt.push((
                                WorldKey::Name(start.name.clone()),
                                WorldItem::Function(start),
                            ));
                            rebuilt.push((
                                WorldKey::Name(result.name.clone()),
                                WorldItem::Function(result),
                            ));
                        } else {
                            rebuilt.push((key, WorldItem::Function(func)));
                        }
                    }
                    other => rebuilt.push((key, other)),
                }
            }
            let map = match direction {
                Direction::Import => &mut self.resolve.worlds[self.world].imports,
                Direction::Export => &mut self.resolve.worlds[self.world].exports,
            };
            map.extend(rebuilt);
        }
        Ok(())
    }

    /// Imports the protocol interface (first) and exports the poll function.
    fn add_protocol(&mut self, poll_export: &str) -> Result<()> {
        let world_id = self.world;
        let world_name = self.resolve.worlds[world_id].name.clone();
        let poll_key = WorldKey::Name(poll_export.to_string());
        if self.resolve.worlds[world_id]
            .exports
            .contains_key(&poll_key)
        {
            bail!("world `{world_name}` already exports `{poll_export}`");
        }
        let input_key = WorldKey::Name(POLL_INPUT_ALIAS.to_string());
        if self.resolve.worlds[world_id]
            .imports
            .contains_key(&input_key)
        {
            bail!("world `{world_name}` defines `{POLL_INPUT_ALIAS}`, a name isyswasfa reserves");
        }
        let input = self.alias(
            POLL_INPUT_ALIAS,
            self.poll_input,
            TypeOwner::World(world_id),
        );
        let list = self.resolve.types.alloc(type_def(
            None,
            TypeDefKind::List(Type::Id(input)),
            TypeOwner::None,
        ));

        let imports = std::mem::take(&mut self.resolve.worlds[world_id].imports);
        let protocol_key = WorldKey::Interface(self.protocol);
        let world = &mut self.resolve.worlds[world_id];
        world.imports.insert(
            protocol_key.clone(),
            WorldItem::Interface {
                id: self.protocol,
                stability: Stability::Unknown,
                external_id: None,
                docs: Docs::default(),
                span: Span::default(),
            },
        );
        world.imports.insert(
            input_key,
            WorldItem::Type {
                id: input,
                span: Span::default(),
            },
        );
        world
            .imports
            .extend(imports.into_iter().filter(|(key, _)| *key != protocol_key));
        world.exports.insert(
            poll_key,
            WorldItem::Function(Function {
                name: poll_export.to_string(),
                kind: FunctionKind::Freestanding,
                params: vec![Param {
                    name: "input".to_string(),
                    ty: Type::Id(list),
                    span: Span::default(),
                }],
                result: None,
                docs: Docs {
                    contents: Some(
                        "Delivers the host's events to this component's tasks (isyswasfa)."
                            .to_string(),
                    ),
                },
                stability: Stability::Unknown,
                span: Span::default(),
                external_id: None,
            }),
        );
        Ok(())
    }
}

fn find_protocol(resolve: &Resolve) -> Option<InterfaceId> {
    resolve
        .interfaces
        .iter()
        .find(|(id, _)| resolve.id_of(*id).as_deref() == Some(ISYSWASFA_INTERFACE))
        .map(|(id, _)| id)
}

fn is_async(func: &Function) -> bool {
    matches!(
        func.kind,
        FunctionKind::AsyncFreestanding
            | FunctionKind::AsyncMethod(_)
            | FunctionKind::AsyncStatic(_)
    )
}

/// The first construct in `ty` that lowering does not support yet, if any.
fn unsupported(resolve: &Resolve, ty: &Type) -> Option<&'static str> {
    let id = match ty {
        Type::ErrorContext => return Some("`error-context`"),
        Type::Id(id) => *id,
        _ => return None,
    };
    let inner = |ty: &Type| unsupported(resolve, ty);
    match &resolve.types[id].kind {
        TypeDefKind::Stream(_) => Some("`stream<T>`"),
        TypeDefKind::Future(_) => Some("`future<T>`"),
        TypeDefKind::Record(r) => r.fields.iter().find_map(|f| inner(&f.ty)),
        TypeDefKind::Tuple(t) => t.types.iter().find_map(inner),
        TypeDefKind::Variant(v) => v.cases.iter().find_map(|c| c.ty.as_ref().and_then(inner)),
        TypeDefKind::Option(t) | TypeDefKind::List(t) | TypeDefKind::Type(t) => inner(t),
        TypeDefKind::FixedLengthList(t, _) => inner(t),
        TypeDefKind::Map(k, v) => inner(k).or_else(|| inner(v)),
        TypeDefKind::Result(r) => {
            r.ok.as_ref()
                .and_then(inner)
                .or_else(|| r.err.as_ref().and_then(inner))
        }
        TypeDefKind::Resource
        | TypeDefKind::Handle(_)
        | TypeDefKind::Flags(_)
        | TypeDefKind::Enum(_)
        | TypeDefKind::Unknown => None,
    }
}
