//! Spawned tasks, timers, cancellation and `block_on`, for the host's tests.

isyswasfa_guest::generate!({ path: "wit", world: "guest", generate_all });

use std::cell::Cell;

use component::tasks::host;
use futures::StreamExt;
use futures::channel::mpsc;
use wasi::clocks::monotonic_clock;

thread_local! {
    static FINISHED_SLEEPERS: Cell<u32> = const { Cell::new(0) };
    static DROPPED: Cell<u32> = const { Cell::new(0) };
}

/// Counts its own drop.
struct DropCounter;

impl Drop for DropCounter {
    fn drop(&mut self) {
        DROPPED.with(|d| d.set(d.get() + 1));
    }
}

struct Component;

impl exports::component::tasks::tasks::Guest for Component {
    async fn sleep_many(count: u32, nanos: u64) -> u32 {
        let (tx, rx) = mpsc::unbounded();
        for _ in 0..count {
            let tx = tx.clone();
            isyswasfa_guest::spawn_local(async move {
                monotonic_clock::wait_for(nanos).await;
                let _ = tx.unbounded_send(());
            });
        }
        drop(tx);
        rx.count().await as u32
    }

    async fn spawn_sleeper(nanos: u64) {
        isyswasfa_guest::spawn_local(async move {
            monotonic_clock::wait_for(nanos).await;
            FINISHED_SLEEPERS.with(|f| f.set(f.get() + 1));
        });
    }

    fn finished_sleepers() -> u32 {
        FINISHED_SLEEPERS.with(Cell::get)
    }

    async fn wait_forever() {
        let _guard = DropCounter;
        host::never().await;
    }

    fn dropped() -> u32 {
        DROPPED.with(Cell::get)
    }

    fn guest_tables() -> (u32, u32, u32) {
        let (listeners, exports) = isyswasfa_guest::table_sizes();
        (
            isyswasfa_guest::live_tasks() as u32,
            listeners as u32,
            exports as u32,
        )
    }

    fn blocking_sleep(nanos: u64) -> u64 {
        isyswasfa_guest::block_on(async move {
            let start = monotonic_clock::now();
            monotonic_clock::wait_for(nanos).await;
            monotonic_clock::now() - start
        })
    }

    async fn block_in_task() {
        monotonic_clock::wait_for(1_000_000).await;
        isyswasfa_guest::block_on(monotonic_clock::wait_for(1_000_000));
    }

    async fn call_pending_once(n: u32) -> u64 {
        let mut sum = 0;
        for i in 0..n {
            sum += u64::from(host::pending_once(i).await);
        }
        sum
    }

    async fn call_ready(n: u32) -> u64 {
        let mut sum = 0;
        for i in 0..n {
            sum += u64::from(host::ready(i).await);
        }
        sum
    }

    async fn call_sync(n: u32) -> u64 {
        let mut sum = 0;
        for i in 0..n {
            sum += u64::from(host::sync_echo(i));
        }
        sum
    }
}

export!(Component);
