//! The end of a chain of callees: `service` answered from this component alone (its clock), so
//! that `caller -d callee -d service-leaf` leaves no `service` import to the host.

isyswasfa_guest::generate!({ path: "wit", world: "leaf", generate_all });

use std::cell::Cell;

use crate::wasi::clocks::monotonic_clock;
use isyswasfa_guest::StreamReader;

thread_local! {
    static CANCELLED: Cell<u32> = const { Cell::new(0) };
}

/// Counts a `never` call whose future was dropped.
struct CountDrop;

impl Drop for CountDrop {
    fn drop(&mut self) {
        CANCELLED.with(|c| c.set(c.get() + 1));
    }
}

fn millis_to_nanos(millis: u32) -> u64 {
    u64::from(millis) * 1_000_000
}

struct Component;

impl exports::component::compose::service::Guest for Component {
    async fn sleep(millis: u32) -> String {
        monotonic_clock::wait_for(millis_to_nanos(millis)).await;
        format!("leaf slept {millis} ms")
    }

    async fn relay(millis: u32) -> String {
        monotonic_clock::wait_for(millis_to_nanos(millis)).await;
        format!("leaf slept {millis} ms")
    }

    async fn never() {
        let _count = CountDrop;
        std::future::pending::<()>().await;
    }

    fn cancelled() -> u32 {
        CANCELLED.with(Cell::get)
    }

    async fn sum(numbers: StreamReader<u32>) -> (u64, u32) {
        let mut numbers = numbers;
        let (mut sum, mut count) = (0u64, 0u32);
        while let Some(n) = numbers.next().await {
            sum += u64::from(n);
            count += 1;
        }
        (sum, count)
    }

    fn tables() -> (u32, u32, u32) {
        let (listeners, exports) = isyswasfa_guest::table_sizes();
        (
            isyswasfa_guest::live_tasks() as u32,
            listeners as u32,
            exports as u32,
        )
    }
}

export!(Component);
