//! `wasi:http@0.3.0`, lowered, inside wasm, on WASI 0.2's `wasi:http`: the `fields`, `request`,
//! `response` and `request-options` resources, bodies as `stream<u8>` pipes, trailers and
//! transmit results as futures the runtime keeps itself, `client.send` through WASI 0.2's
//! `outgoing-handler`, and the `http-driver` interface that serves one WASI 0.2
//! `incoming-handler.handle` call with a bundled handler.
//!
//! Bodies are copied between WASI 0.2 streams and pipes by background futures of the runtime
//! ([`state::spawn_background`]), a pipe's capacity at a time: nothing holds a body whole.

mod body;
mod driver;
mod error;
mod fields;
mod futures;
mod message;

pub use message::{HttpRequest, HttpResponse, Options};
