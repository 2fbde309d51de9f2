//! Python guests: the glue between componentize-py's plain bindings of a *lowered* world and the
//! API a native WASI 0.3 componentize-py guest sees.
//!
//! componentize-py generates its bindings for the lowered world under the module
//! [`LOWERED_MODULE`] (each `async func` a start/result pair, streams and futures as pipe
//! resources). [`generate`] writes, next to them:
//! - a `wit_world` package with componentize-py's native names and shapes: imported `async`
//!   functions as `async def`s, resource methods that take or give streams and futures patched to
//!   take and give [`isyswasfa.pipes`] objects, `byte_stream()` / `…_future(default)`
//!   constructors, and `Protocol` classes with `async def` methods for the exports;
//! - the module componentize-py builds the component from, [`ENTRY_MODULE`]: it implements the
//!   lowered exports (start and result halves, the poll export) on top of the user's classes.
//!
//! Module names follow componentize-py's rule for the *original* world (an interface's name in
//! snake case, qualified by its namespace and package when two interfaces share a name), and
//! componentize-py is told to use the same names for the lowered world
//! (`--import-interface-name` / `--export-interface-name`), so both sets of modules line up.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use anyhow::{Result, bail};
use isyswasfa_bindgen::pipes::{PipeKind, pipe_name};
use isyswasfa_bindgen::wit_parser::{
    Function, FunctionKind, InterfaceId, Resolve, Type, TypeDefKind, TypeId, WorldId, WorldItem,
    WorldKey,
};
use isyswasfa_bindgen::{Direction, Lowered};

/// The module componentize-py generates the lowered world's bindings under.
pub const LOWERED_MODULE: &str = "isyswasfa_lowered";
/// The module componentize-py builds the component from (`componentize ENTRY_MODULE`).
pub const ENTRY_MODULE: &str = "isyswasfa_main";
/// The generated module holding each pipe payload's operations.
const PIPES_MODULE: &str = "isyswasfa_glue_pipes";

/// The support package (`python/isyswasfa`) and the `componentize_py_async_support` shim, as
/// (path under a Python path directory, contents).
pub const SUPPORT_FILES: &[(&str, &str)] = &[
    (
        "isyswasfa/__init__.py",
        include_str!("../python/isyswasfa/__init__.py"),
    ),
    (
        "isyswasfa/loop.py",
        include_str!("../python/isyswasfa/loop.py"),
    ),
    (
        "isyswasfa/tasks.py",
        include_str!("../python/isyswasfa/tasks.py"),
    ),
    (
        "isyswasfa/pipes.py",
        include_str!("../python/isyswasfa/pipes.py"),
    ),
    (
        "componentize_py_async_support/__init__.py",
        include_str!("../python/componentize_py_async_support/__init__.py"),
    ),
    (
        "componentize_py_async_support/streams.py",
        include_str!("../python/componentize_py_async_support/streams.py"),
    ),
    (
        "componentize_py_async_support/futures.py",
        include_str!("../python/componentize_py_async_support/futures.py"),
    ),
];

/// The WIT isyswasfa adds to a Python guest's world: the clock behind `asyncio.sleep` and the
/// pollables interface behind `await pollable`.
pub const ADDED_IMPORTS: [&str; 2] = [
    "wasi:clocks/monotonic-clock@0.3.0",
    "isyswasfa:isyswasfa/pollables@0.1.0",
];

/// What [`generate`] produces.
pub struct Glue {
    /// Generated Python files: (path under the glue directory, contents).
    pub files: Vec<(String, String)>,
    /// `--import-interface-name` values (`interface=module`).
    pub import_names: Vec<String>,
    /// `--export-interface-name` values (`interface=module`).
    pub export_names: Vec<String>,
}

/// Generates the glue for `lowered`, the lowering of a world that includes `original` (the
/// user's world, of the same resolve before lowering). `app_module` is the user's module (its
/// export classes are named as componentize-py names them).
pub fn generate(
    original: &Resolve,
    original_world: WorldId,
    lowered: &Lowered,
    app_module: &str,
) -> Result<Glue> {
    let names = module_names(original, original_world);
    let mut generator = Generator {
        original,
        lowered,
        names: &names,
        pipes: BTreeMap::new(),
    };
    generator.collect_pipes()?;

    let mut files = Vec::new();
    let mut import_names = Vec::new();
    let mut export_names = Vec::new();
    // Names for every interface of the lowered world: the native ones, and private ones for
    // what lowering added.
    let lowered_world = &lowered.resolve.worlds[lowered.world];
    let mut private_names: HashMap<InterfaceId, String> = HashMap::new();
    for (items, out) in [
        (&lowered_world.imports, &mut import_names),
        (&lowered_world.exports, &mut export_names),
    ] {
        for item in items.values() {
            let WorldItem::Interface { id, .. } = item else {
                continue;
            };
            let Some(qualified) = lowered.resolve.id_of(*id) else {
                bail!("Python guests cannot use anonymous interfaces in their world yet");
            };
            let module = match names.get(id) {
                Some(name) => name.clone(),
                None => private_names
                    .entry(*id)
                    .or_insert_with(|| private_module_name(&qualified))
                    .clone(),
            };
            out.push(format!("{qualified}={module}"));
        }
    }
    let protocol = module_of_interface(
        lowered,
        &private_names,
        &names,
        isyswasfa_bindgen::ISYSWASFA_INTERFACE,
    )?;
    let clock = module_of_interface(lowered, &private_names, &names, ADDED_IMPORTS[0])?;
    let pollables = module_of_interface(lowered, &private_names, &names, ADDED_IMPORTS[1])?;
    let io_poll = module_of_interface(lowered, &private_names, &names, "wasi:io/poll@0.2.0")?;

    files.push((
        format!("{PIPES_MODULE}.py"),
        generator.pipes_module(&private_names, &names)?,
    ));
    files.push((
        "wit_world/__init__.py".to_string(),
        generator.world_module(original_world)?,
    ));
    files.push((
        "wit_world/imports/__init__.py".to_string(),
        "\"\"\"Imported interfaces (isyswasfa façade of componentize-py's bindings).\"\"\"\n"
            .to_string(),
    ));
    let world = &original.worlds[original_world];
    let mut exports_init = String::from(
        "\"\"\"Exported interfaces: implement these classes in the application module.\"\"\"\n\
         from typing import Protocol\nfrom abc import abstractmethod\n",
    );
    // Every façade module is loaded before the application, so that the resource methods it
    // patches are patched whichever modules the application imports.
    let facades: Vec<String> = world
        .imports
        .values()
        .filter_map(|item| match item {
            WorldItem::Interface { id, .. } => Some(format!("wit_world.imports.{}", names[id])),
            _ => None,
        })
        .collect();
    let mut entry = generator.entry_header(
        app_module,
        [&protocol, &clock, &pollables, &io_poll],
        &facades,
    );
    for (key, item) in &world.imports {
        if let WorldItem::Interface { id, .. } = item {
            let module = &names[id];
            files.push((
                format!("wit_world/imports/{module}.py"),
                generator.import_module(*id, module)?,
            ));
        } else if let WorldItem::Function(_) = item {
            let _ = key;
        }
    }
    for item in world.exports.values() {
        match item {
            WorldItem::Interface { id, .. } => {
                let module = &names[id];
                files.push((
                    format!("wit_world/exports/{module}.py"),
                    format!(
                        "\"\"\"Types of the exported interface `{}`.\"\"\"\nfrom {LOWERED_MODULE}.exports.{module} import *\n",
                        original.id_of(*id).unwrap_or_default()
                    ),
                ));
                let class = pascal(module);
                let functions: Vec<&Function> =
                    original.interfaces[*id].functions.values().collect();
                generator.export_protocol(&mut exports_init, &class, &functions)?;
                generator.export_class(&mut entry, &class, &functions, Some(*id))?;
            }
            WorldItem::Function(_) | WorldItem::Type { .. } => {}
        }
    }
    // World-level exports go to `WitWorld`, with the poll export.
    let world_functions: Vec<&Function> = world
        .exports
        .values()
        .filter_map(|item| match item {
            WorldItem::Function(f) => Some(f),
            _ => None,
        })
        .collect();
    generator.export_class(&mut entry, "WitWorld", &world_functions, None)?;
    let poll = lowered.poll_export.replace('-', "_");
    let _ = writeln!(
        entry,
        "    def {poll}(self, input):\n        _tasks.poll(input)\n"
    );
    // componentize-py looks the world's exports up under the world module's name.
    let _ = writeln!(entry, "{} = WitWorld", pascal(LOWERED_MODULE));
    files.push(("wit_world/exports/__init__.py".to_string(), exports_init));
    files.push((format!("{ENTRY_MODULE}.py"), entry));
    Ok(Glue {
        files,
        import_names,
        export_names,
    })
}

/// The module name of the lowered world's interface `qualified` (`ns:pkg/name@version`).
fn module_of_interface(
    lowered: &Lowered,
    private: &HashMap<InterfaceId, String>,
    names: &HashMap<InterfaceId, String>,
    qualified: &str,
) -> Result<String> {
    let found = lowered
        .resolve
        .interfaces
        .iter()
        .find(|(id, _)| lowered.resolve.id_of(*id).as_deref() == Some(qualified));
    match found.and_then(|(id, _)| names.get(&id).or_else(|| private.get(&id))) {
        Some(name) => Ok(name.clone()),
        None => bail!("the lowered world does not import `{qualified}`"),
    }
}

/// A module name for an interface isyswasfa added: `isyswasfa_` + its qualified name in snake
/// case, so it can never clash with a name componentize-py gives an interface of the user's.
fn private_module_name(qualified: &str) -> String {
    let unversioned = qualified.split('@').next().unwrap_or(qualified);
    let mut name = String::from("isyswasfa_");
    name.extend(unversioned.chars().map(|c| match c {
        'a'..='z' | '0'..='9' => c,
        'A'..='Z' => c.to_ascii_lowercase(),
        _ => '_',
    }));
    name
}

/// componentize-py's module name for each interface of `world`: the interface's name in snake
/// case; when several interfaces share a name, qualified by namespace and package (and by
/// version when that is still not enough).
pub fn module_names(resolve: &Resolve, world: WorldId) -> HashMap<InterfaceId, String> {
    let w = &resolve.worlds[world];
    let mut by_name: BTreeMap<String, Vec<InterfaceId>> = BTreeMap::new();
    for item in w.imports.values().chain(w.exports.values()) {
        if let WorldItem::Interface { id, .. } = item {
            let name = resolve.interfaces[*id].name.clone().unwrap_or_default();
            let ids = by_name.entry(name).or_default();
            if !ids.contains(id) {
                ids.push(*id);
            }
        }
    }
    let mut names = HashMap::new();
    for (name, ids) in by_name {
        if ids.len() == 1 {
            names.insert(ids[0], snake(&name));
            continue;
        }
        let qualified = |id: InterfaceId, version: bool| {
            let iface = &resolve.interfaces[id];
            match iface.package {
                Some(pkg) => {
                    let p = &resolve.packages[pkg].name;
                    let mut out = format!(
                        "{}_{}_{}",
                        snake(&p.namespace),
                        snake(&p.name),
                        snake(&name)
                    );
                    if version && let Some(v) = &p.version {
                        out.push('_');
                        out.push_str(&v.to_string().replace(['.', '-', '+'], "_"));
                    }
                    out
                }
                None => snake(&name),
            }
        };
        let plain: Vec<String> = ids.iter().map(|id| qualified(*id, false)).collect();
        let unique = plain
            .iter()
            .all(|n| plain.iter().filter(|m| *m == n).count() == 1);
        for id in ids {
            names.insert(id, qualified(id, !unique));
        }
    }
    names
}

/// `kebab-case` → `snake_case`.
fn snake(name: &str) -> String {
    name.replace('-', "_")
}

/// `kebab-case` or `snake_case` → `PascalCase`.
fn pascal(name: &str) -> String {
    name.split(['-', '_'])
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut chars = s.chars();
            match chars.next() {
                Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// A pipe payload the world uses, with what the glue needs to know about it.
struct PipeInfo {
    kind: PipeKind,
    payload: Option<Type>,
}

struct Generator<'a> {
    original: &'a Resolve,
    lowered: &'a Lowered,
    names: &'a HashMap<InterfaceId, String>,
    /// Pipe name (`stream-u8`) → payload.
    pipes: BTreeMap<String, PipeInfo>,
}

impl Generator<'_> {
    /// Finds every stream and future type of the original world, keyed by pipe name.
    fn collect_pipes(&mut self) -> Result<()> {
        for (_, def) in self.original.types.iter() {
            let kind = match def.kind {
                TypeDefKind::Stream(_) => PipeKind::Stream,
                TypeDefKind::Future(_) => PipeKind::Future,
                _ => continue,
            };
            let (TypeDefKind::Stream(payload) | TypeDefKind::Future(payload)) = def.kind else {
                continue;
            };
            let name = pipe_name(self.original, kind, payload.as_ref())?;
            if self.lowered.pipes.pipes.iter().any(|p| p.name == name) {
                self.pipes.insert(name, PipeInfo { kind, payload });
            }
        }
        Ok(())
    }

    /// The Python identifier of a pipe's ops in [`PIPES_MODULE`].
    fn pipe_ident(name: &str) -> String {
        snake(name)
    }

    /// Whether `ty` holds a stream or future anywhere.
    fn has_pipes(&self, ty: &Type) -> bool {
        let Type::Id(id) = ty else { return false };
        match &self.original.types[*id].kind {
            TypeDefKind::Stream(_) | TypeDefKind::Future(_) => true,
            TypeDefKind::Record(r) => r.fields.iter().any(|f| self.has_pipes(&f.ty)),
            TypeDefKind::Tuple(t) => t.types.iter().any(|t| self.has_pipes(t)),
            TypeDefKind::Variant(v) => v
                .cases
                .iter()
                .any(|c| c.ty.as_ref().is_some_and(|t| self.has_pipes(t))),
            TypeDefKind::Option(t) | TypeDefKind::List(t) | TypeDefKind::Type(t) => {
                self.has_pipes(t)
            }
            TypeDefKind::Result(r) => {
                r.ok.as_ref().is_some_and(|t| self.has_pipes(t))
                    || r.err.as_ref().is_some_and(|t| self.has_pipes(t))
            }
            _ => false,
        }
    }

    /// The unaliased definition behind `ty`, if it is a defined type.
    fn resolved(&self, ty: &Type) -> Option<TypeId> {
        let &Type::Id(mut id) = ty else { return None };
        while let TypeDefKind::Type(Type::Id(inner)) = &self.original.types[id].kind {
            id = *inner;
        }
        Some(id)
    }

    /// Whether `ty` is a `result<…>` (which componentize-py returns or raises as `Err`).
    fn is_result(&self, ty: Option<&Type>) -> bool {
        ty.and_then(|t| self.resolved(t))
            .is_some_and(|id| matches!(self.original.types[id].kind, TypeDefKind::Result(_)))
    }

    /// A Python expression converting `expr` (a value of type `ty` from the bindings) to the
    /// façade's value (`lift`), or back (`lower`). `None` when `ty` holds no stream or future.
    fn convert(&self, ty: &Type, expr: &str, lift: bool, depth: usize) -> Result<Option<String>> {
        if !self.has_pipes(ty) {
            return Ok(None);
        }
        let Some(id) = self.resolved(ty) else {
            return Ok(None);
        };
        let v = format!("v{depth}");
        let inner = |t: &Type, e: &str| -> Result<String> {
            Ok(self
                .convert(t, e, lift, depth + 1)?
                .unwrap_or_else(|| e.to_string()))
        };
        Ok(Some(match &self.original.types[id].kind {
            TypeDefKind::Stream(payload) | TypeDefKind::Future(payload) => {
                let kind = match self.original.types[id].kind {
                    TypeDefKind::Stream(_) => PipeKind::Stream,
                    _ => PipeKind::Future,
                };
                let name = pipe_name(self.original, kind, payload.as_ref())?;
                let ops = Self::pipe_ident(&name);
                match (lift, kind) {
                    (true, PipeKind::Stream) => {
                        format!("_pipes.lift_stream(_P.{ops}, {expr})")
                    }
                    (true, PipeKind::Future) => {
                        format!("_pipes.lift_future(_P.{ops}, {expr})")
                    }
                    (false, _) => format!("_pipes.lower_end({expr})"),
                }
            }
            TypeDefKind::Option(t) => format!(
                "(lambda {v}: None if {v} is None else {})({expr})",
                inner(t, &v)?
            ),
            TypeDefKind::List(t) => format!("[{} for {v} in {expr}]", inner(t, &v)?),
            TypeDefKind::Tuple(t) => {
                let parts: Result<Vec<String>> = t
                    .types
                    .iter()
                    .enumerate()
                    .map(|(i, t)| inner(t, &format!("{v}[{i}]")))
                    .collect();
                format!("(lambda {v}: ({},))({expr})", parts?.join(", "))
            }
            TypeDefKind::Result(r) => {
                let ok = match &r.ok {
                    Some(t) => inner(t, &format!("{v}.value"))?,
                    None => format!("{v}.value"),
                };
                let err = match &r.err {
                    Some(t) => inner(t, &format!("{v}.value"))?,
                    None => format!("{v}.value"),
                };
                format!("(lambda {v}: _Ok({ok}) if isinstance({v}, _Ok) else _Err({err}))({expr})")
            }
            TypeDefKind::Record(r) => {
                let mut fields = Vec::new();
                for field in &r.fields {
                    let name = snake(&field.name);
                    if let Some(c) =
                        self.convert(&field.ty, &format!("{v}.{name}"), lift, depth + 1)?
                    {
                        fields.push(format!("{name}={c}"));
                    }
                }
                format!(
                    "(lambda {v}: _dataclasses.replace({v}, {}))({expr})",
                    fields.join(", ")
                )
            }
            _ => bail!(
                "Python guests cannot pass a stream or future inside a {} yet",
                self.original.types[id].kind.as_str()
            ),
        }))
    }

    fn lift(&self, ty: &Type, expr: &str) -> Result<String> {
        Ok(self
            .convert(ty, expr, true, 0)?
            .unwrap_or_else(|| expr.to_string()))
    }

    fn lower(&self, ty: &Type, expr: &str) -> Result<String> {
        Ok(self
            .convert(ty, expr, false, 0)?
            .unwrap_or_else(|| expr.to_string()))
    }

    /// Converts a function's return value: for a `result`, only its `ok` value (the error is
    /// raised as `Err`, and converted when it holds pipes by the caller's `except`).
    fn convert_return(&self, ty: Option<&Type>, expr: &str, lift: bool) -> Result<String> {
        let Some(ty) = ty else {
            return Ok(expr.to_string());
        };
        if let Some(id) = self.resolved(ty)
            && let TypeDefKind::Result(r) = &self.original.types[id].kind
        {
            if r.err.as_ref().is_some_and(|t| self.has_pipes(t)) {
                bail!("Python guests cannot return a stream or future in an error yet");
            }
            return match &r.ok {
                Some(ok) => Ok(self
                    .convert(ok, expr, lift, 0)?
                    .unwrap_or_else(|| expr.to_string())),
                None => Ok(expr.to_string()),
            };
        }
        Ok(self
            .convert(ty, expr, lift, 0)?
            .unwrap_or_else(|| expr.to_string()))
    }

    /// Python parameter names of `func` (without `self` for a method).
    fn params(func: &Function) -> Vec<(String, Type)> {
        let skip = usize::from(matches!(
            func.kind,
            FunctionKind::Method(_) | FunctionKind::AsyncMethod(_)
        ));
        func.params
            .iter()
            .skip(skip)
            .map(|p| (python_ident(&p.name), p.ty))
            .collect()
    }

    fn has_pipes_in(&self, func: &Function) -> bool {
        func.params.iter().any(|p| self.has_pipes(&p.ty))
            || func.result.as_ref().is_some_and(|t| self.has_pipes(t))
    }

    /// The module holding every pipe payload's operations.
    fn pipes_module(
        &self,
        private: &HashMap<InterfaceId, String>,
        names: &HashMap<InterfaceId, String>,
    ) -> Result<String> {
        let mut out = String::from(
            "\"\"\"The operations of each stream and future payload of this world (generated by isyswasfa).\"\"\"\n\
             import dataclasses as _dataclasses\n\
             from componentize_py_types import Ok as _Ok, Err as _Err\n\
             from isyswasfa import pipes as _pipes\n\
             import sys as _sys\n\
             _P = _sys.modules[__name__]\n",
        );
        let Some(ops_interface) = &self.lowered.pipes.ops else {
            return Ok(out);
        };
        let ops_module = module_of_interface(self.lowered, private, names, ops_interface)?;
        let _ = writeln!(
            out,
            "from {LOWERED_MODULE}.imports import {ops_module} as _ops"
        );
        for pipe in &self.lowered.pipes.pipes {
            let module = module_of_interface(self.lowered, private, names, &pipe.interface)?;
            let ident = Self::pipe_ident(&pipe.name);
            let info = self.pipes.get(&pipe.name);
            let payload = info.and_then(|i| i.payload);
            let (lift, lower) = match payload {
                Some(p) if self.has_pipes(&p) => (
                    format!("lambda v: {}", self.lift(&p, "v")?),
                    format!("lambda v: {}", self.lower(&p, "v")?),
                ),
                _ => ("None".to_string(), "None".to_string()),
            };
            let wait_writable = match pipe.kind {
                PipeKind::Stream => {
                    "(_m.wait_writable_isyswasfa_start, _m.wait_writable_isyswasfa_result)"
                        .to_string()
                }
                PipeKind::Future => "None".to_string(),
            };
            let _ = write!(
                out,
                "from {LOWERED_MODULE}.imports import {module} as _m\n\
                 {ident} = _pipes.PipeOps({name:?}, _m.new, _ops.{read}, _ops.{write},\n    \
                 (_m.wait_readable_isyswasfa_start, _m.wait_readable_isyswasfa_result),\n    \
                 {wait_writable}, unit={unit}, lift={lift}, lower={lower})\n",
                name = pipe.name,
                read = snake(&pipe.read),
                write = snake(&pipe.write),
                unit = if pipe.unit { "True" } else { "False" },
            );
        }
        Ok(out)
    }

    /// componentize-py's name for a payload in constructor names (`byte_stream`, `…_future`).
    fn payload_name(&self, ty: Option<&Type>) -> String {
        let Some(ty) = ty else {
            return "unit".to_string();
        };
        if let Some(name) = isyswasfa_bindgen::pipes::primitive_name(ty) {
            return name.into();
        }
        let Type::Id(id) = ty else {
            return "error_context".into();
        };
        let def = &self.original.types[*id];
        // componentize-py names a payload by what an alias stands for
        // (`trailers` = `fields` gives `…_fields_…`).
        if let TypeDefKind::Type(aliased) = &def.kind {
            return self.payload_name(Some(aliased));
        }
        if let Some(name) = &def.name {
            let owner = match def.owner {
                isyswasfa_bindgen::wit_parser::TypeOwner::Interface(i) => {
                    self.names.get(&i).cloned()
                }
                _ => None,
            };
            return match owner {
                Some(module) => format!("{module}_{}", snake(name)),
                None => snake(name),
            };
        }
        match &def.kind {
            TypeDefKind::Option(t) => format!("option_{}", self.payload_name(Some(t))),
            TypeDefKind::List(t) => format!("list_{}", self.payload_name(Some(t))),
            TypeDefKind::Result(r) => format!(
                "result_{}_{}",
                self.payload_name(r.ok.as_ref()),
                self.payload_name(r.err.as_ref())
            ),
            TypeDefKind::Tuple(t) => {
                let parts: Vec<String> =
                    t.types.iter().map(|t| self.payload_name(Some(t))).collect();
                format!("tuple_{}", parts.join("_"))
            }
            TypeDefKind::Handle(
                isyswasfa_bindgen::wit_parser::Handle::Own(r)
                | isyswasfa_bindgen::wit_parser::Handle::Borrow(r),
            ) => self.payload_name(Some(&Type::Id(*r))),
            TypeDefKind::Stream(p) => format!("{}_stream", self.payload_name(p.as_ref())),
            TypeDefKind::Future(p) => format!("{}_future", self.payload_name(p.as_ref())),
            other => other.as_str().to_string(),
        }
    }

    /// `wit_world/__init__.py`: world-level names, the stream and future constructors, and the
    /// `WitWorld` protocol of world-level exports.
    fn world_module(&self, world: WorldId) -> Result<String> {
        let mut out = format!(
            "\"\"\"The world `{}` as a native WASI 0.3 componentize-py guest sees it (isyswasfa façade).\"\"\"\n\
             from typing import Protocol\nfrom abc import abstractmethod\n\
             import dataclasses as _dataclasses\n\
             from componentize_py_types import Ok as _Ok, Err as _Err\n\
             import {LOWERED_MODULE}\n\
             from {LOWERED_MODULE} import *\n\
             from isyswasfa import tasks as _tasks, pipes as _pipes\n\
             import {PIPES_MODULE} as _P\n",
            self.original.worlds[world].name
        );
        for (name, info) in &self.pipes {
            let ident = Self::pipe_ident(name);
            match info.kind {
                PipeKind::Stream => {
                    let function = match info.payload {
                        Some(Type::U8) => "byte_stream".to_string(),
                        p => format!("{}_stream", self.payload_name(p.as_ref())),
                    };
                    let _ = writeln!(
                        out,
                        "\ndef {function}():\n    \"\"\"A new `{name}`: (writer, reader).\"\"\"\n    return _pipes.new_stream(_P.{ident})"
                    );
                }
                PipeKind::Future => {
                    let function = format!("{}_future", self.payload_name(info.payload.as_ref()));
                    let _ = writeln!(
                        out,
                        "\ndef {function}(default):\n    \"\"\"A new `{name}`: (writer, reader); the writer sends `default()` when dropped unwritten.\"\"\"\n    return _pipes.new_future(_P.{ident}, default)"
                    );
                }
            }
        }
        let functions: Vec<&Function> = self.original.worlds[world]
            .exports
            .values()
            .filter_map(|item| match item {
                WorldItem::Function(f) => Some(f),
                _ => None,
            })
            .collect();
        self.export_protocol(&mut out, "WitWorld", &functions)?;
        // World-level imports.
        for (key, item) in &self.original.worlds[world].imports {
            if let (WorldKey::Name(_), WorldItem::Function(func)) = (key, item) {
                self.import_function(&mut out, func, LOWERED_MODULE)?;
            }
        }
        Ok(out)
    }

    /// An imported interface's façade module.
    fn import_module(&self, id: InterfaceId, module: &str) -> Result<String> {
        let iface = &self.original.interfaces[id];
        let docs = iface.docs.contents.as_deref().unwrap_or_default();
        let mut out = format!(
            "{}\n\
             import dataclasses as _dataclasses\n\
             from componentize_py_types import Ok as _Ok, Err as _Err\n\
             try:\n    \
             from {LOWERED_MODULE}.imports.{module} import *\n    \
             from {LOWERED_MODULE}.imports import {module} as _lowered\n\
             except ModuleNotFoundError:\n    \
             pass  # componentize-py generates no module for an interface of type aliases only\n\
             from isyswasfa import tasks as _tasks, pipes as _pipes\n\
             import {PIPES_MODULE} as _P\n",
            python_string(&format!(
                "{docs}\n\n(isyswasfa façade of `{}`.)",
                self.original.id_of(id).unwrap_or_default()
            ))
        );
        for func in iface.functions.values() {
            self.import_function(&mut out, func, "_lowered")?;
        }
        Ok(out)
    }

    /// The façade of one imported function, when it needs one (async, or with pipes).
    fn import_function(&self, out: &mut String, func: &Function, lowered: &str) -> Result<()> {
        let is_async = matches!(
            func.kind,
            FunctionKind::AsyncFreestanding
                | FunctionKind::AsyncMethod(_)
                | FunctionKind::AsyncStatic(_)
        );
        if !is_async && !self.has_pipes_in(func) {
            return Ok(());
        }
        let params = Self::params(func);
        let names: Vec<&str> = params.iter().map(|(n, _)| n.as_str()).collect();
        let mut lowered_args = Vec::new();
        for (name, ty) in &params {
            lowered_args.push(self.lower(ty, name)?);
        }
        let item = snake(func.item_name());
        let result = func.result.as_ref();
        let unwrap = self.is_result(result);
        let value = self.convert_return(result, "value", true)?;
        let (owner, target) = match func.kind {
            FunctionKind::Freestanding | FunctionKind::AsyncFreestanding => {
                (None, lowered.to_string())
            }
            FunctionKind::Method(r)
            | FunctionKind::AsyncMethod(r)
            | FunctionKind::Static(r)
            | FunctionKind::AsyncStatic(r)
            | FunctionKind::Constructor(r) => {
                let class = pascal(self.original.types[r].name.as_deref().unwrap_or_default());
                (Some(class.clone()), class)
            }
        };
        let method = matches!(
            func.kind,
            FunctionKind::Method(_) | FunctionKind::AsyncMethod(_)
        );
        let receiver = if method { "self" } else { &target };
        let mut signature = Vec::new();
        if method {
            signature.push("self".to_string());
        } else if owner.is_some() {
            signature.push("cls".to_string());
        }
        signature.extend(names.iter().map(|n| n.to_string()));
        let def_name = match &owner {
            Some(class) => format!("_{class}_{item}"),
            None => item.clone(),
        };
        if is_async {
            let start = format!("{receiver}.{item}_isyswasfa_start");
            let result_half = format!("{target}.{item}_isyswasfa_result");
            let unwrap_code = if unwrap {
                "    if isinstance(value, _Err):\n        raise value\n    if isinstance(value, _Ok):\n        value = value.value\n"
            } else {
                ""
            };
            let _ = write!(
                out,
                "\nasync def {def_name}({}):\n    value = await _tasks.call_import({start}, {result_half}, ({}{}))\n{unwrap_code}    return {value}\n",
                signature.join(", "),
                lowered_args.join(", "),
                if lowered_args.len() == 1 { "," } else { "" },
            );
        } else {
            let original = format!("_orig_{def_name}");
            if let (Some(class), FunctionKind::Constructor(_)) = (&owner, &func.kind) {
                bail!(
                    "Python guests cannot pass streams or futures to constructors yet (`{class}`)"
                );
            }
            let call = match &owner {
                Some(_) if method => format!("{original}(self, {})", lowered_args.join(", ")),
                Some(_) => format!("{original}({})", lowered_args.join(", ")),
                None => format!("{original}({})", lowered_args.join(", ")),
            };
            let source = match &owner {
                Some(class) => format!("{class}.{item}"),
                None => format!("{lowered}.{item}"),
            };
            let _ = write!(
                out,
                "\n{original} = {source}\n\ndef {def_name}({}):\n    value = {call}\n    return {value}\n",
                signature.join(", "),
            );
        }
        if let Some(class) = owner {
            let wrap = if method { "" } else { "classmethod" };
            let _ = writeln!(out, "{class}.{item} = {wrap}({def_name})");
        }
        Ok(())
    }

    /// A `Protocol` class with the exported functions as (async) abstract methods.
    fn export_protocol(
        &self,
        out: &mut String,
        class: &str,
        functions: &[&Function],
    ) -> Result<()> {
        let _ = write!(out, "\nclass {class}(Protocol):\n");
        let mut any = false;
        for func in functions {
            if !matches!(
                func.kind,
                FunctionKind::Freestanding | FunctionKind::AsyncFreestanding
            ) {
                bail!(
                    "Python guests cannot export resources yet (`{}`)",
                    func.name
                );
            }
            let is_async = func.kind == FunctionKind::AsyncFreestanding;
            let params: Vec<String> = std::iter::once("self".to_string())
                .chain(Self::params(func).into_iter().map(|(n, _)| n))
                .collect();
            let docs = func.docs.contents.as_deref().unwrap_or_default();
            let _ = write!(
                out,
                "    @abstractmethod\n    {}def {}({}):\n        {}\n        raise NotImplementedError\n\n",
                if is_async { "async " } else { "" },
                snake(&func.name),
                params.join(", "),
                python_string(docs)
            );
            any = true;
        }
        if !any {
            out.push_str("    pass\n");
        }
        Ok(())
    }

    /// The entry module's header: binds the runtime, imports the application.
    /// `modules`: those of the protocol, the 0.3 monotonic clock, the pollables interface and
    /// `wasi:io/poll`.
    fn entry_header(&self, app: &str, modules: [&str; 4], facades: &[String]) -> String {
        let [protocol, clock, pollables, io_poll] = modules;
        let facades: String = facades.iter().map(|m| format!("import {m}\n")).collect();
        format!(
            "\"\"\"The module componentize-py builds the component from (generated by isyswasfa).\n\n\
             It implements the lowered exports on top of the application's classes in `{app}`.\n\"\"\"\n\
             import dataclasses as _dataclasses\n\
             from componentize_py_types import Ok as _Ok, Err as _Err\n\
             from isyswasfa import tasks as _tasks, pipes as _pipes\n\
             from {LOWERED_MODULE}.imports import {protocol} as _protocol, {clock} as _clock, {pollables} as _pollables\n\
             _tasks.bind(_protocol, (_clock.wait_for_isyswasfa_start, _clock.wait_for_isyswasfa_result), _pollables)\n\
             import {PIPES_MODULE} as _P\n\
             from {LOWERED_MODULE}.imports import {io_poll} as _poll_module\n\
             _poll_module.Pollable.__await__ = lambda self: _tasks.wait_pollable(self).__await__()\n\
             import componentize_py_async_support as _support\n\
             import componentize_py_async_support.streams as _support_streams\n\
             import componentize_py_async_support.futures as _support_futures\n\
             # componentize-py may bundle its own `componentize_py_async_support` (for native\n\
             # async); whichever copy loads, its names are isyswasfa's.\n\
             _support.spawn = _tasks.spawn\n\
             for _name in (\"ByteStreamReader\", \"ByteStreamWriter\", \"StreamReader\", \"StreamWriter\"):\n    \
             setattr(_support_streams, _name, getattr(_pipes, _name))\n\
             for _name in (\"FutureReader\", \"FutureWriter\"):\n    \
             setattr(_support_futures, _name, getattr(_pipes, _name))\n\
             import wit_world\n\
             {facades}\
             import {app} as _app\n\n\
             def _implementation(name):\n    \
             found = getattr(_app, name, None)\n    \
             if found is None:\n        \
             raise RuntimeError(f\"isyswasfa: the application module `{app}` defines no class `{{name}}`\")\n    \
             return found()\n"
        )
    }

    /// The class componentize-py calls for an exported interface (or `WitWorld`): each async
    /// function's start and result halves, each sync function passed through.
    fn export_class(
        &self,
        out: &mut String,
        class: &str,
        functions: &[&Function],
        id: Option<InterfaceId>,
    ) -> Result<()> {
        let path = match id {
            Some(id) => self.original.id_of(id).unwrap_or_default(),
            None => "world".to_string(),
        };
        let _ = write!(
            out,
            "\nclass {class}:\n    _impl = None\n\n    def _implementation(self):\n        \
             if {class}._impl is None:\n            {class}._impl = _implementation({class:?})\n        \
             return {class}._impl\n\n"
        );
        for func in functions {
            let name = snake(&func.name);
            let params = Self::params(func);
            let signature: Vec<String> = std::iter::once("self".to_string())
                .chain(params.iter().map(|(n, _)| n.clone()))
                .collect();
            let mut lifted = Vec::new();
            for (n, ty) in &params {
                lifted.push(self.lift(ty, n)?);
            }
            let result = func.result.as_ref();
            let lowered_value = self.convert_return(result, "value", false)?;
            if func.kind == FunctionKind::AsyncFreestanding {
                let function_id = format!("{path}#{}", func.name);
                // The start half returns `result<R, pending>`: a `result` R is a value there.
                let start_value = if self.is_result(result) {
                    format!(
                        "        try:\n            value = task.result()\n        except _Err as error:\n            return error\n        return _Ok({lowered_value})\n"
                    )
                } else if result.is_some() {
                    format!("        value = task.result()\n        return {lowered_value}\n")
                } else {
                    "        task.result()\n        return None\n".to_string()
                };
                let _ = write!(
                    out,
                    "    def {name}_isyswasfa_start({}):\n        \
                     task = _tasks.start_export({function_id:?}, self._implementation().{name}({}))\n\
                     {start_value}\n    \
                     def {name}_isyswasfa_result(self, ready):\n        \
                     task = _tasks.take_export_result({function_id:?}, ready)\n        \
                     value = task.result()\n        return {lowered_value}\n\n",
                    signature.join(", "),
                    lifted.join(", "),
                );
            } else {
                let _ = write!(
                    out,
                    "    def {name}({}):\n        value = self._implementation().{name}({})\n        return {lowered_value}\n\n",
                    signature.join(", "),
                    lifted.join(", "),
                );
            }
        }
        Ok(())
    }
}

/// `text` as a Python string literal.
fn python_string(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A WIT name as a Python identifier (componentize-py's spelling).
fn python_ident(name: &str) -> String {
    let ident = snake(name);
    match ident.as_str() {
        "from" | "in" | "is" | "not" | "and" | "or" | "def" | "class" | "return" | "type"
        | "import" | "lambda" | "global" | "nonlocal" | "with" | "as" | "if" | "elif" | "else"
        | "while" | "for" | "break" | "continue" | "pass" | "yield" | "async" | "await" | "try"
        | "except" | "finally" | "raise" | "del" | "assert" => {
            format!("{ident}_")
        }
        _ => ident,
    }
}

/// Direction-aware check used by the build: every async function of `lowered` is one the glue
/// knows how to call.
pub fn check_supported(lowered: &Lowered) -> Result<()> {
    for function in &lowered.functions {
        if function.direction == Direction::Export
            && !matches!(function.original.kind, FunctionKind::AsyncFreestanding)
        {
            bail!(
                "Python guests cannot export async resource methods yet (`{}`)",
                function.original.name
            );
        }
    }
    Ok(())
}
