//! WASI 0.2 pollables awaited as tasks: many timers at once, and a TCP socket, in the host's
//! single wait.

use std::time::{Duration, Instant};

use isyswasfa_test_support::cpu::cpu_time;
use isyswasfa_test_support::{tcp, timing};
use wasmtime::Result;

use crate::common;

#[tokio::test]
async fn many_pollables_wait_at_once() -> Result<()> {
    let _alone = timing::exclusive().await;
    let host = common::callee().await?;
    let sleep = host
        .func::<(u32, u64), u32>(common::PROBE, "sleep-pollables")
        .await?;
    host.call(&sleep, (1, 1_000_000)).await?;

    let (wall, cpu) = (Instant::now(), cpu_time());
    let finished = host.call(&sleep, (1000, 1_000_000_000)).await?;
    let (wall, cpu) = (wall.elapsed(), cpu_time() - cpu);
    assert_eq!(finished, 1000);
    assert!(wall >= Duration::from_secs(1), "finished early: {wall:?}");
    assert!(
        wall < Duration::from_millis(1500),
        "1000 pollables took {wall:?}"
    );
    assert!(cpu < Duration::from_millis(300), "they used {cpu:?} of CPU");
    assert_eq!(host.table_sizes().await?, Default::default());
    Ok(())
}

#[tokio::test]
async fn tcp_stream_pollable() -> Result<()> {
    let _alone = timing::exclusive().await;
    let port = tcp::answer_after(Duration::from_millis(200), b"hello from the test server").await?;
    let host = common::callee().await?;
    let read = host
        .func::<(u16,), Result<Vec<u8>, String>>(common::PROBE, "tcp-read")
        .await?;
    let start = Instant::now();
    let bytes = host.call(&read, (port,)).await?;
    assert_eq!(bytes.as_deref(), Ok(&b"hello from the test server"[..]));
    assert!(start.elapsed() >= Duration::from_millis(200));
    Ok(())
}
