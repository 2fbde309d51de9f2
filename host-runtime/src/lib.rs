//! Run isyswasfa components on wasmtime: every component of a composition can wait at once.
//!
//! An isyswasfa component is a WASI 0.2 component whose `async func`s were lowered to
//! start/result pairs and which exports one poll function per component it contains. This crate
//! is the host half: a task table shared by everything in a store, an event loop that delivers
//! each component's events to its poll export, host implementations of lowered async imports
//! written as plain Rust async closures, and the lowered WASI 0.3 interfaces (`wasi:clocks`,
//! `wasi:random`, `wasi:cli` standard streams, and `wasi:http` on hyper: see [`http`]).
//!
//! ```no_run
//! use isyswasfa_host::{Host, State};
//! use wasmtime::{Store, component::Component};
//!
//! # async fn demo() -> wasmtime::Result<()> {
//! let engine = isyswasfa_host::engine()?;
//! let mut linker = isyswasfa_host::linker::<State>(&engine)?;
//! // The component imports `component:test/baz`, whose `foo` is an `async func`.
//! let mut baz = linker.instance("component:test/baz")?;
//! isyswasfa_host::func_wrap_async(&mut baz, "foo", |(s,): (String,)| async move {
//!     format!("{s} - host")
//! })?;
//!
//! let component = Component::from_file(&engine, "round_trip.wasm")?;
//! let host = Host::instantiate(Store::new(&engine, State::new()), &linker, &component).await?;
//! let foo = host.func::<(String,), String>(Some("component:test/baz"), "foo").await?;
//! println!("{}", host.call(&foo, ("hello".to_string(),)).await?);
//! # Ok(())
//! # }
//! ```
//!
//! The event loop runs on tokio and owns the store; [`Host`] handles send it calls. It sleeps in
//! one wait for the next event (a call, a host future, a timer) and never polls idly.

pub mod ctx;
pub mod deadline;
pub mod funcs;
#[cfg(test)]
mod fuzz;
mod host;
pub mod limits;
pub mod linking;
pub mod pipes;
pub mod pollables;
mod poller;
mod state;
mod vals;
pub mod wasi;

/// The protocol's task table (from `isyswasfa-protocol`), as the host keeps it per store.
pub use isyswasfa_protocol::tasks;

pub use ctx::{IsyswasfaCtx, IsyswasfaCtxBuilder, IsyswasfaCtxView, IsyswasfaView, Running};
pub use funcs::{func_wrap_async, func_wrap_async_with_store};
pub use host::{AsyncFunc, DynamicFunc, Host, SyncFunc};
pub use isyswasfa_protocol::names::{
    INTERFACE, POLL_PREFIX, POLLABLES_INTERFACE, RESULT_SUFFIX, START_SUFFIX,
};
pub use isyswasfa_protocol::{Error, ErrorKind};
pub use limits::Limits;
pub use linking::{add_component_imports, add_to_linker, engine, linker};
pub use pipes::{AnyPipe, PipeElement, ReaderEnd, WriterEnd};
pub use state::State;
pub use tasks::TableSizes;
