//! Run isyswasfa components on wasmtime: every component of a composition can wait at once.
//!
//! A store is configured in one place, [`IsyswasfaCtx::builder`]: every limit (tasks,
//! listeners, queued events, host futures, resources, stream buffers, the CPU budget of a guest
//! entry, deliveries per event-loop turn, HTTP and log sizes) with its default from [`limits`].
//! Store data implements [`IsyswasfaView`], which gives host functions one [`IsyswasfaCtxView`]
//! (the context and the store's resource table); [`State`] is a ready-made store data type.
//!
//! ```no_run
//! use std::time::Duration;
//! use isyswasfa_host::{Host, IsyswasfaCtx, State};
//! use wasmtime::{Store, component::Component};
//!
//! # async fn demo() -> wasmtime::Result<()> {
//! let ctx = IsyswasfaCtx::builder()
//!     .cpu_budget(Duration::from_secs(1))
//!     .max_tasks_per_component(1_000)
//!     .build();
//!
//! let engine = isyswasfa_host::engine()?;
//! let mut linker = isyswasfa_host::linker::<State>(&engine)?;
//! // The component imports `component:test/baz`, whose `foo` is an `async func`.
//! let mut baz = linker.instance("component:test/baz")?;
//! isyswasfa_host::func_wrap_async(&mut baz, "foo", |(s,): (String,)| async move {
//!     format!("{s} - host")
//! })?;
//!
//! let component = Component::from_file(&engine, "round_trip.wasm")?;
//! let store = Store::new(&engine, State::with_isyswasfa(ctx));
//! let host = Host::instantiate(store, &linker, &component).await?;
//! let foo = host.func::<(String,), String>(Some("component:test/baz"), "foo").await?;
//! println!("{}", host.call(&foo, ("hello".to_string(),)).await?);
//! # Ok(())
//! # }
//! ```
//!
//! An isyswasfa component is a WASI 0.2 component whose `async func`s were lowered to
//! start/result pairs and which exports one poll function per component it contains. This crate
//! is the host half of the task protocol (whose state machines, names and WIT are in
//! `isyswasfa-protocol`):
//! - [`Host`] (module `host`): instantiating, calling exports with static or dynamic types, and
//!   the event loop that owns the store and delivers each component's events to its poll export;
//! - [`pipes`]: the bounded pipes behind every `stream<T>` / `future<T>`, and their embedder ends;
//! - [`funcs`]: host implementations of lowered async imports, written as Rust async closures;
//! - [`pollables`]: WASI 0.2 pollables awaited as tasks, in the loop's one wait;
//! - [`wasi`]: the lowered WASI 0.3 interfaces, one module per area (clocks, random, cli, http);
//! - [`deadline`]: the CPU deadline of guest entries; [`linking`]: the engine and the linker.
//!
//! Failures that embedders must tell apart carry an [`Error`] with an [`ErrorKind`] (a broken
//! store, a limit exceeded, the event loop stopped, a wait refused), reachable with
//! `wasmtime::Error::downcast_ref::<isyswasfa_host::Error>()`.
//!
//! The event loop runs on tokio and owns the store; [`Host`] handles send it calls. It sleeps in
//! one wait for the next event (a call, a host future, a timer) and never polls idly.

#![warn(missing_docs)]

pub mod ctx;
pub mod deadline;
pub mod funcs;
#[cfg(test)]
mod fuzz;
mod host;
pub mod limits;
pub mod linking;
mod native_abi;
mod outbound;
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
    INTERFACE, OPS_STEM, POLL_PREFIX, POLLABLES_INTERFACE, RESULT_SUFFIX, START_SUFFIX,
};
pub use isyswasfa_protocol::{Error, ErrorKind};
pub use limits::Limits;
pub use linking::{add_component_imports, add_to_linker, engine, linker};
pub use native_abi::{native_abi_message, native_async_imports};
pub use pipes::{AnyPipe, PipeElement, ReaderEnd, WriterEnd};
pub use state::State;
pub use tasks::TableSizes;
