//! The CPU deadline of guest entries: wasmtime epochs, advanced by one ticker per engine.
//!
//! [`crate::engine`] turns epoch interruption on and starts one thread for the whole engine that
//! advances its epoch every [`EPOCH_TICK`] (never a thread or timer per call or request: a
//! per-request epoch thread is what collapsed `wasmtime serve`'s throughput once). Each store of
//! a [`crate::Host`] gets a callback that runs on every tick a guest is found running: it yields
//! to tokio, so that the other hosts of the same thread keep running while a guest computes,
//! and it traps once the current entry (a call's start or result half, a poll export, a
//! synchronous export) has run for more than its budget ([`DEFAULT_CPU_BUDGET`], changed with
//! [`crate::IsyswasfaCtxBuilder::cpu_budget`]). The trap
//! breaks the store like any other: every call fails naming the deadline.

use wasmtime::{Engine, Result, Store, UpdateDeadline, format_err};

use crate::ctx::IsyswasfaView;
use crate::ctx::Running;
use crate::limits::EPOCH_TICK;

/// Starts the ticker of `engine` (one thread; it stops when the engine is dropped). Call it once
/// per engine, as [`crate::engine`] does.
pub fn start_ticker(engine: &Engine) -> Result<()> {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("isyswasfa-epoch".into())
        .spawn(move || {
            loop {
                std::thread::sleep(EPOCH_TICK);
                match weak.upgrade() {
                    Some(engine) => engine.increment_epoch(),
                    None => return,
                }
            }
        })
        .map(drop)
        .map_err(|error| format_err!("failed to start the epoch ticker thread: {error}"))
}

/// Installs the deadline callback in `store` (a [`crate::Host`] does this itself). Stores of
/// other kinds of components on an isyswasfa engine need a deadline too (epoch interruption
/// traps at once without one): give them this callback, or `Store::set_epoch_deadline`.
pub fn configure_store<T: IsyswasfaView + 'static>(store: &mut Store<T>) {
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(|mut store| {
        let ctx = store.data_mut().isyswasfa().ctx;
        ctx.entry_ticks += 1;
        let budget = ctx.limits.cpu_budget;
        let allowed = (budget.as_nanos() / EPOCH_TICK.as_nanos()).max(1) as u64;
        if ctx.entry_ticks > allowed {
            let what = match &ctx.running {
                Running::Export(export) => format!("the call to `{export}`"),
                Running::Poll(c) => format!(
                    "the poll export of component `{}`",
                    ctx.tasks.component_name(*c)
                ),
                Running::Idle => "a guest entry".to_string(),
            };
            return Err(format_err!(
                "isyswasfa: {what} ran for more than its CPU budget of {budget:?} and was stopped \
                 (the CPU deadline; see `IsyswasfaCtxBuilder::cpu_budget`)"
            ));
        }
        Ok(UpdateDeadline::YieldCustom(
            1,
            Box::pin(tokio::task::yield_now()),
        ))
    });
}

/// Starts a new entry's budget: called by the event loop before it enters the store.
pub(crate) fn begin_entry<T: IsyswasfaView + 'static>(store: &mut Store<T>) {
    store.data_mut().isyswasfa().ctx.entry_ticks = 0;
    store.set_epoch_deadline(1);
}
