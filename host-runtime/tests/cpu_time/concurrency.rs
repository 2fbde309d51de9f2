//! Many concurrent calls and timers: wall time shows they overlap, CPU time shows nobody spins.

use std::time::{Duration, Instant};

use futures::future::try_join_all;
use isyswasfa_test_support::cpu::cpu_time;
use isyswasfa_test_support::timing;
use wasmtime::Result;

use crate::common;

#[tokio::test]
async fn round_trip_concurrent() -> Result<()> {
    let _alone = timing::exclusive().await;
    let host = common::round_trip(Duration::from_millis(100)).await?;
    let foo = host
        .func::<(String,), String>(Some("component:test/baz"), "foo")
        .await?;
    // Warm up (first-call allocations), then measure.
    host.call(&foo, ("warm-up".to_string(),)).await?;

    let (wall, cpu) = (Instant::now(), cpu_time());
    let calls = (0..100).map(|i| host.call(&foo, (format!("call {i}"),)));
    let answers = try_join_all(calls).await?;
    let (wall, cpu) = (wall.elapsed(), cpu_time() - cpu);

    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(
            *answer,
            format!("call {i} - entered guest - entered host - exited host - exited guest")
        );
    }
    assert!(
        wall < Duration::from_secs(1),
        "100 concurrent 100 ms calls took {wall:?}"
    );
    assert!(cpu < Duration::from_millis(500), "they used {cpu:?} of CPU");
    eprintln!("round_trip_concurrent: wall {wall:?}, cpu {cpu:?}");
    Ok(())
}

#[tokio::test]
async fn timers_concurrent() -> Result<()> {
    let _alone = timing::exclusive().await;
    let host = common::tasks().await?;
    let sleep_many = host
        .func::<(u32, u64), u32>(common::TASKS, "sleep-many")
        .await?;
    host.call(&sleep_many, (10, 1_000)).await?;

    let (wall, cpu) = (Instant::now(), cpu_time());
    let finished = host.call(&sleep_many, (1_000, 1_000_000_000)).await?;
    let (wall, cpu) = (wall.elapsed(), cpu_time() - cpu);

    assert_eq!(finished, 1_000);
    assert!(wall >= Duration::from_secs(1), "the timers waited {wall:?}");
    assert!(
        wall < Duration::from_secs(2),
        "1000 one-second timers took {wall:?}"
    );
    assert!(cpu < Duration::from_millis(500), "they used {cpu:?} of CPU");
    eprintln!("timers_concurrent: wall {wall:?}, cpu {cpu:?}");
    Ok(())
}
