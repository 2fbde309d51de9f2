//! WASI 0.2 monotonic-clock pollables that the host can wait for without the resource table.
//!
//! wasmtime-wasi's pollable futures borrow the resource table, so the event loop can only wait
//! for them inside one turn and must build the wait again on the next turn: every pending
//! pollable costs something on every turn. A clock pollable needs nothing from the table but
//! its deadline, though. This host therefore makes `subscribe-duration` and `subscribe-instant`
//! itself (shadowing wasmtime-wasi's): the pollable's parent is a [`Timer`] it knows, and it
//! remembers which pollable each timer belongs to. When a component hands such a pollable to
//! `isyswasfa:isyswasfa/pollables.wait`, the host reads the deadline, drops the pollable and
//! starts a host task that sleeps until the deadline: registered once with tokio's timer, woken
//! only when it fires. The pollables still work everywhere else (`poll`, `ready`, `block`).

use std::collections::HashMap;
use std::time::Duration;

use wasmtime::component::{Linker, Resource, ResourceTable};
use wasmtime::{Result, StoreContextMut};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::clocks::WasiClocksView as _;
use wasmtime_wasi::p2::bindings::clocks::monotonic_clock::Host as _;
use wasmtime_wasi::p2::{DynPollable, Pollable, subscribe};

use crate::ctx::IsyswasfaView;

/// The `wasi:clocks/monotonic-clock` interface as wasmtime-wasi 48 defines it.
const WASI_MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.2.12";

/// The parent of a clock pollable this host made: when it becomes ready.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// A zero duration (or an instant already past): ready, after one yield to tokio the first
    /// time (so that a guest polling in a busy loop does not starve tokio's I/O driver).
    Past { yielded: bool },
    /// Ready at this instant.
    At(tokio::time::Instant),
    /// Beyond what an instant can hold: never ready.
    Never,
}

impl Timer {
    fn after(duration: Duration) -> Timer {
        if duration.is_zero() {
            Timer::Past { yielded: false }
        } else {
            match tokio::time::Instant::now().checked_add(duration) {
                Some(at) => Timer::At(at),
                None => Timer::Never,
            }
        }
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for Timer {
    async fn ready(&mut self) {
        match self {
            Timer::Past { yielded: true } => {}
            Timer::Past { yielded } => {
                *yielded = true;
                tokio::task::yield_now().await;
            }
            Timer::At(at) => tokio::time::sleep_until(*at).await,
            Timer::Never => std::future::pending().await,
        }
    }
}

/// Which pollable each live [`Timer`] belongs to: pollable rep → timer rep. An entry can
/// outlive its pair (the guest dropped the pollable without waiting for it); [`Timers::take`]
/// checks the pair against the table before trusting it, and a rep reused by a later pollable
/// overwrites the entry, so the map never holds more entries than the table ever held.
#[derive(Default)]
pub(crate) struct Timers {
    parents: HashMap<u32, u32>,
}

impl Timers {
    fn subscribe(
        &mut self,
        table: &mut ResourceTable,
        duration: Duration,
    ) -> Result<Resource<DynPollable>> {
        let timer = table.push(Timer::after(duration))?;
        let timer_rep = timer.rep();
        let pollable = subscribe(table, timer)?;
        self.parents.insert(pollable.rep(), timer_rep);
        Ok(pollable)
    }

    /// The timer behind `pollable`, if this host made it and it is still that pollable's parent.
    pub(crate) fn take(
        &mut self,
        table: &ResourceTable,
        pollable: &Resource<DynPollable>,
    ) -> Option<Timer> {
        let timer_rep = self.parents.remove(&pollable.rep())?;
        let address = std::ptr::from_ref(table.get(pollable).ok()?) as *const ();
        let timer = Resource::<Timer>::new_borrow(timer_rep);
        let value = *table.get(&timer).ok()?;
        let is_child = table
            .iter_children(&timer)
            .ok()?
            .any(|child| std::ptr::from_ref(child) as *const () == address);
        is_child.then_some(value)
    }

    /// Forgets every timer (the store is broken; its resource table is dropped as a whole).
    pub(crate) fn clear(&mut self) {
        self.parents.clear();
    }
}

/// Shadows wasmtime-wasi's `subscribe-duration` and `subscribe-instant` (the rest of
/// `wasi:clocks/monotonic-clock` stays wasmtime-wasi's).
pub(crate) fn add_to_linker<T: WasiView + IsyswasfaView + 'static>(
    linker: &mut Linker<T>,
) -> Result<()> {
    linker.allow_shadowing(true);
    let outcome = (|| {
        let mut clock = linker.instance(WASI_MONOTONIC_CLOCK)?;
        clock.func_wrap(
            "subscribe-duration",
            |mut store: StoreContextMut<'_, T>, (nanos,): (u64,)| {
                let crate::ctx::IsyswasfaCtxView { ctx, table } = store.data_mut().isyswasfa();
                let pollable = ctx
                    .pollables
                    .timers
                    .subscribe(table, Duration::from_nanos(nanos))?;
                Ok((pollable,))
            },
        )?;
        clock.func_wrap(
            "subscribe-instant",
            |mut store: StoreContextMut<'_, T>, (when,): (u64,)| {
                let now = store.data_mut().clocks().now()?;
                let duration = Duration::from_nanos(when.saturating_sub(now));
                let crate::ctx::IsyswasfaCtxView { ctx, table } = store.data_mut().isyswasfa();
                let pollable = ctx.pollables.timers.subscribe(table, duration)?;
                Ok((pollable,))
            },
        )?;
        Ok(())
    })();
    linker.allow_shadowing(false);
    outcome
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use wasmtime::component::{Resource, ResourceTable};
    use wasmtime_wasi::p2::{Pollable, subscribe};

    use super::{Timer, Timers};
    use crate::pollables::waits::drop_pollable;

    /// A pollable that is not a clock's.
    struct Other;

    #[wasmtime_wasi::async_trait]
    impl Pollable for Other {
        async fn ready(&mut self) {}
    }

    #[test]
    fn only_a_live_clock_pollable_is_taken_and_only_once() {
        let mut table = ResourceTable::new();
        let mut timers = Timers::default();
        let pollable = timers
            .subscribe(&mut table, Duration::from_secs(5))
            .unwrap();
        let borrowed = Resource::new_borrow(pollable.rep());
        assert!(matches!(timers.take(&table, &borrowed), Some(Timer::At(_))));
        assert_eq!(timers.take(&table, &borrowed), None, "taken twice");

        // A pollable dropped without being waited for leaves its entry behind; its rep (and its
        // timer's) then go to a pollable of something else, which must not pass for a timer.
        let stale = timers.subscribe(&mut table, Duration::ZERO).unwrap();
        let stale_rep = stale.rep();
        drop_pollable(&mut table, stale);
        let other = table.push(Other).unwrap();
        let reused = subscribe(&mut table, other).unwrap();
        assert_eq!(
            reused.rep(),
            stale_rep,
            "the table hands the freed rep out again"
        );
        assert_eq!(timers.take(&table, &reused), None);
    }
}
