//! Misbehaves on demand: traps in each kind of entry, spins, and lends a resource to an async
//! method that outlives its caller's handle. Used by the host's hardening tests.

isyswasfa_guest::generate!({ path: "wit", world: "guest", generate_all });

use std::cell::Cell;

use exports::component::unruly::unruly::{Guest, GuestCounter};
use isyswasfa_guest::{StreamReader, spawn_local};
use wasi::clocks::monotonic_clock;

thread_local! {
    static COUNTERS_DROPPED: Cell<u32> = const { Cell::new(0) };
}

struct Component;

/// The exported `counter` resource; counts its drops.
pub struct Counter {
    value: Box<u32>,
}

impl Drop for Counter {
    fn drop(&mut self) {
        COUNTERS_DROPPED.with(|d| d.set(d.get() + 1));
    }
}

impl GuestCounter for Counter {
    fn new(value: u32) -> Self {
        Self {
            value: Box::new(value),
        }
    }

    async fn slow_get(&self, nanos: u64) -> u32 {
        monotonic_clock::wait_for(nanos).await;
        *self.value
    }
}

impl Guest for Component {
    type Counter = Counter;

    async fn echo(s: String) -> String {
        monotonic_clock::wait_for(0).await;
        s
    }

    async fn trap_now() {
        unreachable_trap("trap-now")
    }

    async fn trap_later(nanos: u64) {
        monotonic_clock::wait_for(nanos).await;
        unreachable_trap("trap-later")
    }

    fn trap_sync() {
        unreachable_trap("trap-sync")
    }

    async fn sleep_forever() {
        monotonic_clock::wait_for(3_600_000_000_000).await;
    }

    async fn numbers(count: u32) -> StreamReader<u32> {
        let (mut tx, rx) = wit_stream::new::<u32>();
        spawn_local(async move {
            let _ = tx.write_all((0..count).collect()).await;
            // Keep the writer open: the stream only ends when the host closes it.
            monotonic_clock::wait_for(3_600_000_000_000).await;
            drop(tx);
        });
        rx
    }

    #[allow(clippy::empty_loop)]
    async fn spin() {
        loop {}
    }

    async fn spin_yielding() {
        loop {
            isyswasfa_guest::yield_async().await;
        }
    }

    fn counters_dropped() -> u32 {
        COUNTERS_DROPPED.with(Cell::get)
    }
}

/// Traps (a Rust panic is wasm's `unreachable` on wasm32-wasip2).
fn unreachable_trap(what: &str) -> ! {
    panic!("unruly: {what} traps on purpose")
}

export!(Component);
