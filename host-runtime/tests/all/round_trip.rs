//! End-to-end tests of the task protocol with the real guests of `test-cases/`.

use std::time::{Duration, Instant};

use wasmtime::Result;

use crate::common;
use crate::common::TASKS;

#[tokio::test]
async fn round_trip_single() -> Result<()> {
    let host = common::round_trip(Duration::ZERO).await?;
    let foo = host
        .func::<(String,), String>(Some("component:test/baz"), "foo")
        .await?;
    let answer = host.call(&foo, ("hello".to_string(),)).await?;
    assert_eq!(
        answer,
        "hello - entered guest - entered host - exited host - exited guest"
    );
    Ok(())
}

#[tokio::test]
async fn spawned_task_outlives_call() -> Result<()> {
    let host = common::tasks().await?;
    let spawn = host.func::<(u64,), ()>(TASKS, "spawn-sleeper").await?;
    let finished = host
        .sync_func::<(), (u32,)>(TASKS, "finished-sleepers")
        .await?;

    host.call(&spawn, (50_000_000,)).await?;
    assert_eq!(
        host.call_sync(&finished, ()).await?.0,
        0,
        "the export returned before its task's wait"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        host.call_sync(&finished, ()).await?.0,
        1,
        "the spawned task finished after the export returned"
    );
    Ok(())
}

#[tokio::test]
async fn cancel_exported_call() -> Result<()> {
    let host = common::tasks().await?;
    let wait = host.func::<(), ()>(TASKS, "wait-forever").await?;
    let dropped = host.sync_func::<(), (u32,)>(TASKS, "dropped").await?;
    let tables = host
        .sync_func::<(), ((u32, u32, u32),)>(TASKS, "guest-tables")
        .await?;
    let host_before = host.table_sizes().await?;
    let guest_before = host.call_sync(&tables, ()).await?.0;

    let call = host.call(&wait, ());
    let outcome = tokio::time::timeout(Duration::from_millis(100), call).await;
    assert!(outcome.is_err(), "wait-forever must not finish");
    // The cancellation travels host → guest's poll export → back; give the loop a moment.
    let mut observed = 0;
    for _ in 0..100 {
        observed = host.call_sync(&dropped, ()).await?.0;
        if observed == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(observed, 1, "the guest's future was dropped");
    assert_eq!(
        host.table_sizes().await?,
        host_before,
        "host tables back to their size"
    );
    assert_eq!(
        host.call_sync(&tables, ()).await?.0,
        guest_before,
        "guest tables back to their size"
    );
    Ok(())
}

#[tokio::test]
async fn no_leaks_10k_calls() -> Result<()> {
    let host = common::tasks().await?;
    let call = host.func::<(u32,), u64>(TASKS, "call-pending-once").await?;
    let tables = host
        .sync_func::<(), ((u32, u32, u32),)>(TASKS, "guest-tables")
        .await?;
    // One call first, so that lazily grown state is in place before measuring.
    assert_eq!(host.call(&call, (1,)).await?, 0);
    let host_before = host.table_sizes().await?;
    let guest_before = host.call_sync(&tables, ()).await?.0;
    for i in 0..10_000u32 {
        assert_eq!(host.call(&call, (2,)).await?, 1, "call {i}");
    }
    assert_eq!(host.table_sizes().await?, host_before);
    assert_eq!(host.call_sync(&tables, ()).await?.0, guest_before);
    Ok(())
}

#[tokio::test]
async fn block_on_in_sync_export_waits_for_host_timer() -> Result<()> {
    let host = common::tasks().await?;
    let sleep = host
        .sync_func::<(u64,), (u64,)>(TASKS, "blocking-sleep")
        .await?;
    let start = Instant::now();
    let (waited,) = host.call_sync(&sleep, (20_000_000,)).await?;
    assert!(waited >= 20_000_000, "the guest waited {waited} ns");
    assert!(start.elapsed() >= Duration::from_millis(20));
    Ok(())
}

#[tokio::test]
async fn block_on_inside_async_task_is_an_error() -> Result<()> {
    let host = common::tasks().await?;
    let bad = host.func::<(), ()>(TASKS, "block-in-task").await?;
    let outcome = tokio::time::timeout(Duration::from_secs(5), host.call(&bad, ())).await;
    let error = outcome
        .expect("an error at once, not a hang")
        .expect_err("block_on in a task must fail");
    let message = format!("{error:?}");
    assert!(
        message.contains("`tasks`") && message.contains("block_on"),
        "{message}"
    );
    Ok(())
}
