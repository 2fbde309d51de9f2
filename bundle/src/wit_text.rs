//! The driver's world, as WIT text added to the input's decoded types: it imports the input's
//! wrapped interfaces (lowered) and poll exports and the runtime's `driver`, and exports a
//! synchronous version of each wrapped interface.

use std::fmt::Write;

use anyhow::{Result, bail};
use wit_parser::{Function, Handle, InterfaceId, Resolve, Type, TypeDefKind, TypeOwner};

use crate::input::{Plan, WrappedFunc};

/// The driver's package and world.
pub(crate) const PACKAGE: &str = "isyswasfa-bundle:driver";
/// The driver's world.
pub(crate) const WORLD: &str = "driver";
/// The runtime's driver interface.
pub(crate) const DRIVER_INTERFACE: &str = "isyswasfa:bundle/driver@0.1.0";
/// The local name of the poll input type in the driver's world.
pub(crate) const POLL_INPUT: &str = "isyswasfa-poll-input";

/// The runtime's driver interface, as WIT (the file the runtime is built from).
pub(crate) const DRIVER_WIT: &str = include_str!("../runtime/wit/driver.wit");

/// The runtime's HTTP driver interface, as WIT (the file the runtime is built from).
pub(crate) const HTTP_DRIVER_WIT: &str = include_str!("../runtime/wit/http-driver.wit");

/// The part of WASI 0.2's `wasi:http` the HTTP driver interface refers to.
pub(crate) const HTTP_P2_WIT: &str = include_str!("../runtime/wit/deps/http-p2/http.wit");

/// The runtime's HTTP driver interface.
pub(crate) const HTTP_DRIVER_INTERFACE: &str = "isyswasfa:bundle/http-driver@0.1.0";

/// The driver's package: `DRIVER_WIT`, and the HTTP driver interface when the input is an HTTP
/// service.
pub(crate) fn driver_package(http: bool) -> String {
    if !http {
        return DRIVER_WIT.to_string();
    }
    let body = HTTP_DRIVER_WIT
        .split_once(';')
        .map_or(HTTP_DRIVER_WIT, |(_, rest)| rest);
    format!("{DRIVER_WIT}\n{body}")
}

/// Prints WIT types of a function of interface `interface` (or of the world, with `None`),
/// recording the `use`s they need.
struct Printer<'a> {
    resolve: &'a Resolve,
    /// `(interface, type name, local name)`.
    uses: Vec<(InterfaceId, String, String)>,
}

impl Printer<'_> {
    fn local(&mut self, owner: InterfaceId, name: &str) -> String {
        if let Some((_, _, local)) = self.uses.iter().find(|(i, n, _)| *i == owner && n == name) {
            return local.clone();
        }
        let taken = |local: &str, uses: &[(InterfaceId, String, String)]| {
            uses.iter().any(|(_, _, l)| l == local)
        };
        let mut local = name.to_string();
        let mut n = 2;
        while taken(&local, &self.uses) {
            local = format!("{name}-{n}");
            n += 1;
        }
        self.uses.push((owner, name.to_string(), local.clone()));
        local
    }

    fn ty(&mut self, ty: &Type, context: &str) -> Result<String> {
        if let Some(name) = isyswasfa_bindgen::pipes::primitive_name(ty) {
            return Ok(name.into());
        }
        let Type::Id(id) = ty else {
            bail!("{context}: `error-context` cannot be bundled")
        };
        let def = &self.resolve.types[*id];
        if let TypeDefKind::Resource = def.kind {
            bail!("{context}: resources are not bundled yet");
        }
        if let TypeDefKind::Handle(_) = def.kind {
            bail!("{context}: resources are not bundled yet");
        }
        if let (Some(name), TypeOwner::Interface(owner)) = (&def.name, def.owner) {
            if let TypeDefKind::Type(Type::Id(target)) = def.kind
                && matches!(self.resolve.types[target].kind, TypeDefKind::Resource)
            {
                bail!("{context}: resources are not bundled yet");
            }
            let local = self.local(owner, name);
            return Ok(format!("%{local}"));
        }
        if def.name.is_some() {
            bail!("{context}: a type of the world itself cannot be bundled yet");
        }
        Ok(match &def.kind {
            TypeDefKind::Type(t) => self.ty(t, context)?,
            TypeDefKind::List(t) => format!("list<{}>", self.ty(t, context)?),
            TypeDefKind::FixedLengthList(t, n) => {
                format!("list<{}, {n}>", self.ty(t, context)?)
            }
            TypeDefKind::Option(t) => format!("option<{}>", self.ty(t, context)?),
            TypeDefKind::Result(r) => {
                let ok = match &r.ok {
                    Some(t) => self.ty(t, context)?,
                    None => "_".into(),
                };
                match (&r.ok, &r.err) {
                    (None, None) => "result".into(),
                    (_, Some(e)) => format!("result<{ok}, {}>", self.ty(e, context)?),
                    (Some(_), None) => format!("result<{ok}>"),
                }
            }
            TypeDefKind::Tuple(t) => {
                let items = t
                    .types
                    .iter()
                    .map(|t| self.ty(t, context))
                    .collect::<Result<Vec<_>>>()?;
                format!("tuple<{}>", items.join(", "))
            }
            TypeDefKind::Handle(Handle::Own(_) | Handle::Borrow(_)) => {
                bail!("{context}: resources are not bundled yet")
            }
            TypeDefKind::Future(_) | TypeDefKind::Stream(_) => {
                bail!("{context}: native streams and futures cannot be bundled")
            }
            _ => bail!("{context}: an anonymous type WIT cannot spell"),
        })
    }

    /// `name: func(params) -> result`, with `params` of `params_of` and the result of
    /// `result_of`.
    fn func(
        &mut self,
        name: &str,
        params_of: &Function,
        result_of: &Function,
        context: &str,
    ) -> Result<String> {
        let mut params = Vec::new();
        for param in &params_of.params {
            params.push(format!("%{}: {}", param.name, self.ty(&param.ty, context)?));
        }
        let result = match &result_of.result {
            Some(ty) => format!(" -> {}", self.ty(ty, context)?),
            None => String::new(),
        };
        Ok(format!("%{name}: func({}){result};", params.join(", ")))
    }

    fn use_lines(&self) -> String {
        let mut out = String::new();
        for (owner, name, local) in &self.uses {
            let Some(id) = self.resolve.id_of(*owner) else {
                continue;
            };
            let _ = writeln!(out, "  use {id}.{{%{name} as %{local}}};");
        }
        out
    }
}

fn func_text(printer: &mut Printer<'_>, func: &WrappedFunc, context: &str) -> Result<String> {
    let context = format!("{context}, function `{}`", func.name());
    match func {
        WrappedFunc::Async {
            name,
            start,
            result,
        } => printer.func(name, start, result, &context),
        WrappedFunc::Sync(f) => printer.func(&f.name, f, f, &context),
    }
}

/// The driver's WIT package: the wrapped interfaces' synchronous versions and the world.
pub(crate) fn driver_wit(input_name: &str, resolve: &Resolve, plan: &Plan) -> Result<String> {
    if !plan.funcs.is_empty() {
        // Their types may be the input world's own, which the driver's world cannot name.
        bail!(
            "`{input_name}` exports async functions at the top of its world ({}): only async \
             functions of interfaces are bundled yet",
            plan.funcs
                .iter()
                .map(|f| format!("`{}`", f.name()))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut out = format!("package {PACKAGE};\n\n");
    for wrapped in &plan.interfaces {
        let mut printer = Printer {
            resolve,
            uses: Vec::new(),
        };
        let context = format!("`{input_name}` exports `{}`", wrapped.input_name);
        let mut funcs = String::new();
        for func in &wrapped.funcs {
            let _ = writeln!(funcs, "  {}", func_text(&mut printer, func, &context)?);
        }
        let _ = writeln!(
            out,
            "interface {} {{\n{}{funcs}}}\n",
            wrapped.driver_name,
            printer.use_lines()
        );
    }
    let mut world = String::new();
    if let Some(handler) = &plan.http_handler {
        let _ = writeln!(world, "  import {handler};");
        let _ = writeln!(world, "  import {HTTP_DRIVER_INTERFACE};");
        let _ = writeln!(world, "  export {};", crate::input::INCOMING_HANDLER);
    }
    for wrapped in &plan.interfaces {
        let _ = writeln!(world, "  import {};", wrapped.input_name);
    }
    let _ = writeln!(world, "  import {DRIVER_INTERFACE};");
    let _ = writeln!(
        world,
        "  use isyswasfa:isyswasfa/isyswasfa@0.1.0.{{poll-input as {POLL_INPUT}}};"
    );
    for poll in &plan.polls {
        let _ = writeln!(world, "  import %{poll}: func(input: list<{POLL_INPUT}>);");
    }
    for wrapped in &plan.interfaces {
        let _ = writeln!(world, "  export {};", wrapped.driver_name);
    }
    let _ = writeln!(out, "world {WORLD} {{\n{world}}}");
    Ok(out)
}
