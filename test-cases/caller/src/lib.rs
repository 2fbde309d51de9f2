//! The caller of the composition tests: its exports call the `service` and `probe` that another
//! component (the callee) implements, while waiting on timers and pollables of its own.

isyswasfa_guest::generate!({ path: "wit", world: "caller", generate_all });

use crate::wasi::clocks::monotonic_clock;
use ::wasi::clocks::monotonic_clock as clock_02;
use component::compose::{probe, service};
use isyswasfa_guest::wait_pollable;

fn millis_to_nanos(millis: u32) -> u64 {
    u64::from(millis) * 1_000_000
}

fn tables() -> (u32, u32, u32) {
    let (listeners, exports) = isyswasfa_guest::table_sizes();
    (
        isyswasfa_guest::live_tasks() as u32,
        listeners as u32,
        exports as u32,
    )
}

struct Component;

impl exports::component::compose::api::Guest for Component {
    async fn both(millis: u32) -> String {
        let ((), answer) = futures::join!(
            monotonic_clock::wait_for(millis_to_nanos(millis)),
            service::sleep(millis)
        );
        format!("caller slept {millis} ms beside [{answer}]")
    }

    async fn relay(millis: u32) -> String {
        service::relay(millis).await
    }

    async fn never() {
        service::never().await;
    }

    async fn stream_sum(count: u32) -> (u64, u32) {
        let (mut numbers, reader) = wit_stream::new::<u32>();
        isyswasfa_guest::spawn_local(async move {
            for n in 1..=count {
                if numbers.write_one(n).await.is_some() {
                    break;
                }
            }
        });
        service::sum(reader).await
    }

    fn block_on_timer(millis: u32) -> u32 {
        isyswasfa_guest::block_on(async move {
            let start = monotonic_clock::now();
            monotonic_clock::wait_for(millis_to_nanos(millis)).await;
            ((monotonic_clock::now() - start) / 1_000_000) as u32
        })
    }

    fn block_on_service(millis: u32) -> Result<String, String> {
        isyswasfa_guest::try_block_on(service::sleep(millis)).map_err(|e| e.to_string())
    }

    async fn spawn_sleeper(millis: u32) {
        isyswasfa_guest::spawn_local(monotonic_clock::wait_for(millis_to_nanos(millis)));
    }

    async fn pollables_both(count: u32, nanos: u64) -> (u32, u32) {
        let mine = async move {
            let waits = (0..count).map(|_| wait_pollable(clock_02::subscribe_duration(nanos)));
            futures::future::join_all(waits).await.len() as u32
        };
        futures::join!(mine, probe::sleep_pollables(count, nanos))
    }

    async fn clocks_both(count: u32, nanos: u64) -> (u32, u32) {
        let mine = async move {
            let waits = (0..count).map(|_| monotonic_clock::wait_for(nanos));
            futures::future::join_all(waits).await.len() as u32
        };
        futures::join!(mine, probe::sleep_clocks(count, nanos))
    }

    async fn tcp_while_sleeping(port: u16, millis: u32) -> Result<Vec<u8>, String> {
        let (bytes, ()) = futures::join!(
            probe::tcp_read(port),
            monotonic_clock::wait_for(millis_to_nanos(millis))
        );
        bytes
    }

    fn blocking_sleep(nanos: u64) {
        probe::blocking_sleep(nanos);
    }

    fn tables() -> ((u32, u32, u32), (u32, u32, u32)) {
        (tables(), service::tables())
    }

    fn service_cancelled() -> u32 {
        service::cancelled()
    }
}

export!(Component);
