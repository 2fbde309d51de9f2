//! The in-wasm isyswasfa runtime of a bundle.
//!
//! `isyswasfa bundle` composes a polyfilled component with this runtime and a driver it
//! generates, so that the result runs on any WASI 0.2 host. This crate is the runtime: the other
//! embedding of the task protocol next to the host library. Both build on the same
//! `isyswasfa-protocol` task table and context rule; this one keeps them in a component's own
//! memory and waits on WASI 0.2 pollables instead of tokio.
//!
//! It exports what polyfilled components import (the protocol interface, the pollable waits,
//! the lowered WASI 0.3 clocks) and the `driver` interface. It never calls a component: the
//! driver calls the components and asks the runtime, between two calls, what to do next.

#![warn(missing_docs)]

mod cli;
mod clocks;
mod driver;
mod futures;
mod pipes;
mod protocol;
mod random;
mod reactor;
mod state;

#[cfg(feature = "http")]
mod http;

#[cfg(not(feature = "http"))]
#[allow(missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: ["../../protocol/wit", "wit"],
        world: "isyswasfa:bundle/runtime",
        with: { "wasi:io/poll@0.2.0": ::wasi::io::poll },
        generate_all,
    });
}

/// With the `http` feature, the runtime also exports the lowered `wasi:http@0.3.0` (and the
/// standard streams of `wasi:cli@0.3.0`) on WASI 0.2's `wasi:http` and `wasi:cli`.
#[cfg(feature = "http")]
#[allow(missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        path: ["../../protocol/wit", "wit"],
        world: "isyswasfa:bundle/runtime-http",
        with: {
            "wasi:io/poll@0.2.0": ::wasi::io::poll,
            "wasi:http/types@0.2.0": ::wasi::http::types,
        },
        generate_all,
    });
}

/// The type whose trait implementations are the runtime's exports.
pub struct Runtime;

bindings::export!(Runtime with_types_in bindings);
