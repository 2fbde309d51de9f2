//! `isyswasfa bundle`: turns a polyfilled component (or a composition made by `isyswasfa
//! compose`) into a plain WASI 0.2 component that runs on any WASI 0.2 host, with every
//! component of the composition still waiting at once.
//!
//! The result is a composition of three instances (see `docs/bundle.md`):
//! - the **runtime**, the in-wasm embedding of the task protocol (this crate's `runtime/`,
//!   compiled to wasm32-wasip2 by the build script): it exports what the polyfilled component
//!   imports from the host library (the protocol, the pollable waits, the lowered WASI 0.3
//!   interfaces) and a `driver` interface, and imports only WASI 0.2;
//! - the **input**, whose isyswasfa imports the runtime satisfies and whose WASI 0.2 imports go
//!   to the host;
//! - the **ops adapter**, generated here when the input uses streams: it turns the input's typed
//!   stream operations into the runtime's byte-level ones;
//! - the **driver**, generated here for the input's exports: it imports the input's exports
//!   (its poll exports among them) and the runtime's `driver`, and exports a synchronous
//!   function for every async one, which runs the event loop until that call is done.
//!
//! No instance calls one that calls it back: the input calls the runtime, the driver calls the
//! input and the runtime, and the runtime calls nobody.
//!
//! ```no_run
//! # fn main() -> anyhow::Result<()> {
//! let input = std::fs::read("composed.wasm")?;
//! let bundle = isyswasfa_bundle::bundle(&input, "composed.wasm")?;
//! std::fs::write("bundled.wasm", &bundle.bytes)?;
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

mod core;
mod driver;
mod graph;
mod input;
mod ops;
mod wit_text;

use anyhow::Result;

/// The in-wasm runtime, built for wasm32-wasip2 with this crate.
pub const RUNTIME: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/runtime.wasm"));

/// The in-wasm runtime for inputs that use `wasi:http@0.3.0` or the standard streams of
/// `wasi:cli@0.3.0`: the same, plus those interfaces on WASI 0.2's `wasi:http` and `wasi:cli`
/// (so it imports them, which is why it is not the runtime of every bundle).
pub const RUNTIME_HTTP: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/runtime-http.wasm"));

/// The bundle and how its exports were made.
#[derive(Clone, Debug)]
pub struct Bundle {
    /// The bundled component's binary.
    pub bytes: Vec<u8>,
    /// Every export of the bundle.
    pub exports: Vec<Export>,
}

/// One export of a bundle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Export {
    /// The name the bundle exports it under.
    pub name: String,
    /// How the bundle provides it.
    pub kind: ExportKind,
}

/// How a bundle provides one of its exports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExportKind {
    /// The driver's: synchronous functions that run the event loop until the input's async
    /// call is done (and the input's synchronous functions of the same interface).
    Driven {
        /// The input's export it wraps (differs for `wasi:cli/run@0.3`, bundled as 0.2).
        input: String,
    },
    /// The input's own export, unchanged (it has no async function).
    Unchanged,
}

/// Bundles the polyfilled component `input` (named `name` in messages) with the runtime.
///
/// Fails, naming the culprit, when `input` is not a polyfilled component (saying what it is
/// instead), when it imports something the runtime cannot provide, or when it exports
/// something the bundle cannot drive yet.
pub fn bundle(input: &[u8], name: &str) -> Result<Bundle> {
    let input = input::Input::decode(input, name)?;
    let runtime = input::Runtime::for_input(&input)?;
    input.check_imports(&runtime)?;
    let plan = input.plan()?;
    let ops = ops::generate(&input)?;
    let driver = driver::generate(&input, &plan)?;
    graph::compose(&input, &runtime, &plan, ops.as_ref(), &driver)
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use isyswasfa_bindgen::LowerOptions;
    use isyswasfa_bindgen::wit_parser::{self, Function, Resolve, Type, TypeDefKind, WorldItem};

    /// A readable shape of `ty`: primitives, and named types by name.
    fn shape(resolve: &Resolve, ty: &Type) -> String {
        match ty {
            Type::Id(id) => {
                let def = &resolve.types[*id];
                match (&def.name, &def.kind) {
                    (Some(name), _) => name.clone(),
                    (None, TypeDefKind::Result(r)) => format!(
                        "result<{}, {}>",
                        r.ok.as_ref().map_or("_".into(), |t| shape(resolve, t)),
                        r.err.as_ref().map_or("_".into(), |t| shape(resolve, t))
                    ),
                    (None, TypeDefKind::Handle(wit_parser::Handle::Own(t))) => {
                        shape(resolve, &Type::Id(*t))
                    }
                    (None, kind) => format!("{kind:?}"),
                }
            }
            other => format!("{other:?}"),
        }
    }

    fn signatures(resolve: &Resolve, functions: &[&Function]) -> Vec<String> {
        let mut out: Vec<String> = functions
            .iter()
            .map(|f| {
                let params: Vec<String> = f
                    .params
                    .iter()
                    .map(|p| format!("{}: {}", p.name, shape(resolve, &p.ty)))
                    .collect();
                let result = f.result.as_ref().map(|t| shape(resolve, t));
                format!("{}({}) -> {result:?}", f.name, params.join(", "))
            })
            .collect();
        out.sort();
        out
    }

    /// The runtime's `wasi:clocks@0.3.0` (written out lowered in `runtime/wit/deps/clocks`) has
    /// the functions bindgen lowers the shipped WASI 0.3 clocks to, so that a guest's import
    /// is plugged with the runtime's export.
    #[test]
    fn runtime_clocks_are_the_lowered_wasi_clocks() {
        let mut guest = Resolve::default();
        let package = isyswasfa_bindgen::shipped::push_str(
            &mut guest,
            "clocks.wit",
            "package test:clocks;\nworld w {\n  import wasi:clocks/monotonic-clock@0.3.0;\n  \
             import wasi:clocks/system-clock@0.3.0;\n}\n",
        )
        .unwrap();
        let world = isyswasfa_bindgen::select_world(&guest, package, Some("w")).unwrap();
        let lowered =
            isyswasfa_bindgen::lower(&guest, world, &LowerOptions::for_crate("test")).unwrap();

        let mut runtime = Resolve::default();
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        runtime.push_dir(root.join("../protocol/wit")).unwrap();
        let (bundle_package, _) = runtime.push_dir(root.join("runtime/wit")).unwrap();

        for name in ["monotonic-clock", "system-clock"] {
            let interface = |resolve: &Resolve, world: wit_parser::WorldId| {
                resolve.worlds[world]
                    .imports
                    .iter()
                    .chain(&resolve.worlds[world].exports)
                    .find_map(|(key, item)| match item {
                        WorldItem::Interface { id, .. }
                            if resolve.name_world_key(key)
                                == format!("wasi:clocks/{name}@0.3.0") =>
                        {
                            Some(*id)
                        }
                        _ => None,
                    })
                    .unwrap_or_else(|| panic!("no `{name}`"))
            };
            let lowered_id = interface(&lowered.resolve, lowered.world);
            let runtime_world = runtime
                .select_world(&[bundle_package], Some("runtime"))
                .unwrap();
            let runtime_id = interface(&runtime, runtime_world);
            let expected: Vec<&Function> = lowered.resolve.interfaces[lowered_id]
                .functions
                .values()
                .collect();
            let actual: Vec<&Function> =
                runtime.interfaces[runtime_id].functions.values().collect();
            assert_eq!(
                signatures(&runtime, &actual),
                signatures(&lowered.resolve, &expected),
                "`{name}`"
            );
        }
    }
}
