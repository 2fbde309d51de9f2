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

pub mod cli;
mod clocks;
pub mod deadline;
mod funcs;
#[cfg(test)]
mod fuzz;
mod host;
pub mod http;
mod native_abi;
mod pipe_links;
pub mod pipes;
pub mod pollables;
mod protocol;
pub mod random;
mod state;
pub mod tasks;
mod vals;

use wasmtime::Result;
use wasmtime::component::Linker;
use wasmtime::{Config, Engine};
use wasmtime_wasi::WasiView;

pub use clocks::{MONOTONIC_CLOCK, SYSTEM_CLOCK};
pub use deadline::{DEFAULT_CPU_BUDGET, EPOCH_TICK};
pub use funcs::{RESULT_SUFFIX, START_SUFFIX, func_wrap_async, func_wrap_async_with_store};
pub use host::{AsyncFunc, DynamicFunc, Host, MAX_DELIVERIES_PER_TURN, SyncFunc};
pub use native_abi::{native_abi_message, native_async_imports};
pub use pipe_links::{
    AnyPipe, BYTE_CAPACITY, PipeElement, ReaderEnd, StreamCapacities, UNIT_CAPACITY,
    VALUE_CAPACITY, WriterEnd,
};
pub use protocol::{INTERFACE, IsyswasfaCtx, IsyswasfaView, POLL_PREFIX, Running};
pub use state::State;
pub use tasks::{
    DEFAULT_MAX_HOST_FUTURES, DEFAULT_MAX_LISTENERS_PER_COMPONENT,
    DEFAULT_MAX_QUEUED_EVENTS_PER_COMPONENT, DEFAULT_MAX_RESOURCES,
    DEFAULT_MAX_TASKS_PER_COMPONENT, TableLimits, TableSizes,
};

/// A wasmtime engine configured for isyswasfa components (component model on, concurrency
/// support left at wasmtime's default, which native WASI 0.3 components need too), with epoch
/// interruption on and its one ticker thread started: every guest entry of a [`Host`] runs
/// under a CPU deadline (see [`deadline`]). Each call makes a new engine and a new ticker: make
/// one engine per process and share it.
pub fn engine() -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    let engine = Engine::new(&config)?;
    deadline::start_ticker(&engine)?;
    Ok(engine)
}

/// A linker with everything an isyswasfa component may import from the host: WASI 0.2 (from
/// `wasmtime-wasi`), the isyswasfa protocol, and the lowered WASI 0.3 interfaces this crate
/// implements. Add the component's other imports to it.
pub fn linker<T: WasiView + IsyswasfaView + 'static>(engine: &Engine) -> Result<Linker<T>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    add_to_linker(&mut linker)?;
    pollables::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// Defines the imports that isyswasfa makes for `component` from its own types (its stream and
/// future operations). [`Host::instantiate`] does this itself; call it first when the linker is
/// to stub what is still undefined (`Linker::define_unknown_imports_as_traps`).
pub fn add_component_imports<T: IsyswasfaView + 'static>(
    linker: &mut Linker<T>,
    engine: &Engine,
    component: &wasmtime::component::Component,
) -> Result<()> {
    linker.allow_shadowing(true);
    let outcome = pipe_links::add_to_linker_for(linker, engine, component)
        .and_then(|()| define_protocol_aliases(linker, engine, component));
    linker.allow_shadowing(false);
    outcome
}

/// Every lowered interface names the protocol's `pending` and `ready` (as `isyswasfa-pending`
/// and `isyswasfa-ready`); define them as the same host types, so that stubbing unknown imports
/// does not make them new ones.
fn define_protocol_aliases<T: IsyswasfaView + 'static>(
    linker: &mut Linker<T>,
    engine: &Engine,
    component: &wasmtime::component::Component,
) -> Result<()> {
    use wasmtime::component::ResourceType;
    use wasmtime::component::types::ComponentItem;
    for (name, item) in component.component_type().imports(engine) {
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            continue;
        };
        for (export, item) in instance.exports(engine) {
            let relevant = matches!(item.ty, ComponentItem::Resource(_))
                && (export == "isyswasfa-pending"
                    || export == "isyswasfa-ready"
                    || name.contains(pipe_links::OPS_STEM));
            if !relevant {
                continue;
            }
            // Opening an instance of a name defines it: never for other interfaces, which
            // would then hide the semver-compatible ones the linker has (`wasi:io@0.2.6`
            // found as `0.2.12`).
            let mut instance = linker.instance(name)?;
            match export {
                "isyswasfa-pending" => instance.resource(
                    export,
                    ResourceType::host::<protocol::Pending>(),
                    |mut store, rep| {
                        store.data_mut().isyswasfa().table.cancel(rep);
                        Ok(())
                    },
                )?,
                "isyswasfa-ready" => instance.resource(
                    export,
                    ResourceType::host::<protocol::Ready>(),
                    |mut store, rep| {
                        store.data_mut().isyswasfa().table.cancel(rep);
                        Ok(())
                    },
                )?,
                // The ops interfaces name the pipe ends of every payload.
                _ if name.contains(pipe_links::OPS_STEM) => {
                    pipe_links::define_end_alias(&mut instance, export)?
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Adds the isyswasfa protocol and the lowered WASI 0.3 interfaces (but not WASI 0.2) to `linker`.
pub fn add_to_linker<T: IsyswasfaView + 'static>(linker: &mut Linker<T>) -> Result<()> {
    protocol::add_to_linker(linker)?;
    clocks::add_to_linker(linker)?;
    cli::add_to_linker(linker)?;
    random::add_to_linker(linker)?;
    http::add_to_linker(linker)?;
    Ok(())
}
