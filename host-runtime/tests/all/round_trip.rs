//! End-to-end tests of the task protocol with the real guests of `test-cases/`.

use std::time::{Duration, Instant};

use isyswasfa_host::State;
use isyswasfa_test_support::Guest;
use wasmtime::{Result, Store};

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

/// A round-trip host whose `foo` panics: at once when `after` is `None` (inside the guest's
/// call), or in its future after `after` (while the loop waits).
async fn panicking_round_trip(after: Option<Duration>) -> Result<isyswasfa_host::Host<State>> {
    let mut linker = isyswasfa_host::linker::<State>(common::engine())?;
    let mut baz = linker.instance("component:test/baz")?;
    isyswasfa_host::func_wrap_async(&mut baz, "foo", move |(s,): (String,)| async move {
        if let Some(after) = after {
            tokio::time::sleep(after).await;
        }
        if s.starts_with("panic") {
            panic!("the embedder's foo was asked to panic");
        }
        s
    })?;
    isyswasfa_host::Host::instantiate(
        Store::new(common::engine(), State::new()),
        &linker,
        &common::component(Guest::RoundTrip),
    )
    .await
}

/// A host function that panics, synchronously or in its future, breaks its own store with the
/// panic's message as the cause (every later call fails with it, kind `Broken`), while the
/// store's event loop keeps answering and another host keeps serving.
#[tokio::test]
async fn host_function_panic_breaks_store_cleanly() -> Result<()> {
    let other = common::round_trip(Duration::ZERO).await?;
    for after in [None, Some(Duration::from_millis(20))] {
        let host = panicking_round_trip(after).await?;
        let foo = host
            .func::<(String,), String>(Some("component:test/baz"), "foo")
            .await?;
        let error = host.call(&foo, ("panic".into(),)).await.unwrap_err();
        let message = format!("{error:#}");
        assert!(
            message.contains("the embedder's foo was asked to panic"),
            "{after:?}: {message}"
        );
        let later = host.call(&foo, ("fine".into(),)).await.unwrap_err();
        let kind = later
            .chain()
            .find_map(|cause| cause.downcast_ref::<isyswasfa_host::Error>())
            .map(|error| (error.kind(), error.cause()));
        assert_eq!(
            kind,
            Some((
                isyswasfa_host::ErrorKind::Broken,
                Some(isyswasfa_host::ErrorKind::HostPanic)
            )),
            "{later:#}"
        );
        assert!(format!("{later:#}").contains("asked to panic"), "{later:#}");
        // The loop is alive (it answers), and has let go of everything.
        assert_eq!(
            host.table_sizes().await?,
            isyswasfa_host::TableSizes::default()
        );
        common::other_host_answers(&other).await?;
    }
    Ok(())
}

/// Awaiting a WASI 0.2 stream's pollable, cancelling that wait (a timer wins the race), then
/// dropping the stream: the host lets go of the pollable when the wait is cancelled, so the
/// drop is not refused for a child resource still held, and the store stays usable.
#[tokio::test]
async fn pollable_cancel_then_drop() -> Result<()> {
    let port = isyswasfa_test_support::tcp::answer_after(Duration::from_secs(5), b"late").await?;
    let host = common::callee().await?;
    let cancel = host
        .func::<(u16,), Result<String, String>>(common::PROBE, "tcp-cancel-wait")
        .await?;
    let answer = host.call(&cancel, (port,)).await?;
    assert_eq!(answer.as_deref(), Ok("dropped"));
    // Usable afterwards, with nothing left behind.
    let sleep = host
        .func::<(u32, u64), u32>(common::PROBE, "sleep-pollables")
        .await?;
    assert_eq!(host.call(&sleep, (3, 1_000_000)).await?, 3);
    assert_eq!(
        host.table_sizes().await?,
        isyswasfa_host::TableSizes::default()
    );
    Ok(())
}
