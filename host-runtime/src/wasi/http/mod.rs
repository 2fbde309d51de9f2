//! `wasi:http@0.3.0`, lowered, on hyper and tokio: the request/response types, `client.send`
//! (and the `handler` import, which the host answers with its client), and
//! [`handle`], which serves one HTTP request with a component's exported handler.
//!
//! Bodies stream in both directions (see [`body`]): a request body reaches the guest as the
//! network delivers it, and a response body leaves as the guest writes it.

pub mod body;
mod client;
pub mod error_code;
mod fields;
mod server;
mod stall;
pub mod types;

use wasmtime::Result;
use wasmtime::component::Linker;

use crate::ctx::IsyswasfaView;

pub use crate::outbound::{Destination, OutboundPolicy};
pub use body::{Body, BodyError};
pub use client::{CLIENT, HANDLER};
pub use server::{HandleError, Handler, handle};
pub use stall::{StallBody, StallError};
pub use types::TYPES;

/// Adds `wasi:http/types`, `wasi:http/client` and `wasi:http/handler` (answered by the host's
/// client, for components that import a handler nothing else provides) to `linker`.
pub fn add_to_linker<T: IsyswasfaView + Send + 'static>(linker: &mut Linker<T>) -> Result<()> {
    types::add_to_linker(linker)?;
    client::add_to_linker(linker)?;
    Ok(())
}
