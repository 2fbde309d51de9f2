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
    let runtime = input::Runtime::load()?;
    let input = input::Input::decode(input, name)?;
    input.check_imports(&runtime)?;
    let plan = input.plan()?;
    let ops = ops::generate(&input)?;
    let driver = driver::generate(&input, &plan)?;
    graph::compose(&input, &runtime, &plan, ops.as_ref(), &driver)
}
