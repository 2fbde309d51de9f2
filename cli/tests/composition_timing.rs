//! WASI 0.2 pollables of composed components, awaited in the host's single wait: wall time shows
//! they overlap, CPU time shows nobody spins.
//!
//! A test binary of its own: the CPU time it measures is the whole process's, so no other test
//! may share the process; its tests hold the timing lock exclusively, so they run one at a time.

mod common;

use std::time::{Duration, Instant};

use common::composition::{self, API};
use isyswasfa_test_support::cpu::cpu_time;
use isyswasfa_test_support::{tcp, timing};
use wasmtime::Result;

#[tokio::test(flavor = "multi_thread")]
async fn pollables_concurrent() -> Result<()> {
    let _alone = timing::exclusive().await;
    let host = composition::caller_and_callee().await?;
    let both = host
        .func::<(u32, u64), (u32, u32)>(API, "pollables-both")
        .await?;
    host.call(&both, (1, 1_000_000)).await?;

    let (wall, cpu) = (Instant::now(), cpu_time());
    let counts = host.call(&both, (500, 1_000_000_000)).await?;
    let (wall, cpu) = (wall.elapsed(), cpu_time() - cpu);
    assert_eq!(counts, (500, 500));
    assert!(wall >= Duration::from_secs(1), "finished early: {wall:?}");
    assert!(
        wall < Duration::from_millis(1500),
        "2 × 500 pollables took {wall:?}"
    );
    assert!(cpu < Duration::from_millis(300), "they used {cpu:?} of CPU");
    assert_eq!(host.table_sizes().await?, Default::default());
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn tcp_pollable() -> Result<()> {
    let _alone = timing::exclusive().await;
    let port = tcp::answer_after(Duration::from_millis(200), b"answered after 200 ms").await?;
    let host = composition::caller_and_callee().await?;
    let fetch = host
        .func::<(u16, u32), Result<Vec<u8>, String>>(API, "tcp-while-sleeping")
        .await?;
    let start = Instant::now();
    let bytes = host.call(&fetch, (port, 200)).await?;
    let elapsed = start.elapsed();
    assert_eq!(bytes.as_deref(), Ok(&b"answered after 200 ms"[..]));
    assert!(elapsed >= Duration::from_millis(200), "{elapsed:?}");
    assert!(
        elapsed < Duration::from_millis(350),
        "both took {elapsed:?}"
    );
    Ok(())
}
