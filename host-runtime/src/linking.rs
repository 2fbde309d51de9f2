//! Setting up wasmtime for isyswasfa components: the engine, the linker with every host import,
//! and the imports made from a component's own types.

use isyswasfa_protocol::names::{OPS_STEM, PENDING_ALIAS, READY_ALIAS};
use wasmtime::Result;
use wasmtime::component::Linker;
use wasmtime::{Config, Engine};
use wasmtime_wasi::WasiView;

use crate::ctx::IsyswasfaView;
use crate::deadline;
use crate::poller::{Pending, Ready};

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
    add_cli_sync(&mut linker)?;
    crate::pollables::add_to_linker(&mut linker)?;
    Ok(linker)
}

/// The synchronous interfaces of `wasi:cli@0.3.0` (`environment`, `exit`, `terminal-*`): their
/// functions take and give the same values lowered or not, so wasmtime-wasi's own WASI 0.3
/// implementation serves them, from the store's WASI context (the same arguments, environment
/// and standard streams as WASI 0.2's). `exit` ends the call with wasmtime-wasi's `I32Exit`.
fn add_cli_sync<T: WasiView + 'static>(linker: &mut Linker<T>) -> Result<()> {
    use wasmtime_wasi::cli::{WasiCli, WasiCliView};
    use wasmtime_wasi::p3::bindings::cli::{
        environment, exit, terminal_input, terminal_output, terminal_stderr, terminal_stdin,
        terminal_stdout,
    };
    environment::add_to_linker::<T, WasiCli>(linker, <T as WasiCliView>::cli)?;
    exit::add_to_linker::<T, WasiCli>(linker, <T as WasiCliView>::cli)?;
    terminal_input::add_to_linker::<T, WasiCli>(linker, <T as WasiCliView>::cli)?;
    terminal_output::add_to_linker::<T, WasiCli>(linker, <T as WasiCliView>::cli)?;
    terminal_stdin::add_to_linker::<T, WasiCli>(linker, <T as WasiCliView>::cli)?;
    terminal_stdout::add_to_linker::<T, WasiCli>(linker, <T as WasiCliView>::cli)?;
    terminal_stderr::add_to_linker::<T, WasiCli>(linker, <T as WasiCliView>::cli)?;
    Ok(())
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
    let outcome = crate::pipes::link::add_to_linker_for(linker, engine, component)
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
                && (export == PENDING_ALIAS || export == READY_ALIAS || name.contains(OPS_STEM));
            if !relevant {
                continue;
            }
            // Opening an instance of a name defines it: never for other interfaces, which
            // would then hide the semver-compatible ones the linker has (`wasi:io@0.2.6`
            // found as `0.2.12`).
            let mut instance = linker.instance(name)?;
            match export {
                PENDING_ALIAS => instance.resource(
                    export,
                    ResourceType::host::<Pending>(),
                    |mut store, rep| {
                        store.data_mut().isyswasfa().ctx.tasks.cancel(rep);
                        Ok(())
                    },
                )?,
                READY_ALIAS => {
                    instance.resource(export, ResourceType::host::<Ready>(), |mut store, rep| {
                        store.data_mut().isyswasfa().ctx.tasks.cancel(rep);
                        Ok(())
                    })?
                }
                // The ops interfaces name the pipe ends of every payload.
                _ if name.contains(OPS_STEM) => {
                    crate::pipes::link::define_end_alias(&mut instance, export)?
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Adds the isyswasfa protocol and the lowered WASI 0.3 interfaces (but not WASI 0.2) to `linker`.
pub fn add_to_linker<T: WasiView + IsyswasfaView + 'static>(linker: &mut Linker<T>) -> Result<()> {
    crate::poller::add_to_linker(linker)?;
    crate::wasi::add_to_linker(linker)?;
    Ok(())
}
