//! The `hostile` guest speaks the protocol with raw bindings and breaks its rules, one attack per
//! test: each attack gets a clear error naming the protocol call and the component, breaks only
//! the hostile guest's own host, and another host in the same process keeps answering
//! round-trip calls in its normal time.

mod common;

use std::time::{Duration, Instant};

use isyswasfa_host::{Host, State, TableLimits};
use wasmtime::{Result, Store};

async fn hostile(limits: TableLimits) -> Result<Host<State>> {
    let linker = isyswasfa_host::linker::<State>(common::engine())?;
    Host::instantiate(
        Store::new(common::engine(), State::new().with_limits(limits)),
        &linker,
        &common::component("hostile"),
    )
    .await
}

/// Runs `which` on a fresh hostile host; returns the error it ended with, after checking that
/// the hostile host stays broken with that error and that another host is unharmed.
async fn attack_with(which: &str, limits: TableLimits) -> Result<String> {
    let other = common::round_trip(Duration::ZERO).await?;
    let host = hostile(limits).await?;
    let attack = host.sync_func::<(String,), ()>(None, "attack").await?;
    let error = match host.call_sync(&attack, (which.to_string(),)).await {
        Ok(()) => panic!("attack `{which}` was not refused"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("component `hostile`"), "{error}");
    // Broken for good, with the same cause.
    let polls = host.sync_func::<(), (u64,)>(None, "polls").await?;
    let later = format!("{:#}", host.call_sync(&polls, ()).await.unwrap_err());
    assert_eq!(later, error);
    other_host_answers(&other).await?;
    Ok(error)
}

/// A round-trip call on `other` answers in its normal time (a 10 ms timer in the guest).
async fn other_host_answers(other: &Host<State>) -> Result<()> {
    let foo = other
        .func::<(String,), String>(Some("component:test/baz"), "foo")
        .await?;
    let start = Instant::now();
    let answer = other.call(&foo, ("hi".into(),)).await?;
    assert!(answer.starts_with("hi - entered guest"), "{answer}");
    assert!(
        start.elapsed() < Duration::from_millis(100),
        "{:?}",
        start.elapsed()
    );
    Ok(())
}

async fn attack(which: &str) -> Result<String> {
    attack_with(which, TableLimits::default()).await
}

fn expect(error: &str, parts: &[&str]) {
    for part in parts {
        assert!(error.contains(part), "`{part}` missing from: {error}");
    }
}

#[tokio::test]
async fn hostile_unknown_task() -> Result<()> {
    expect(
        &attack("unknown-task").await?,
        &["poller.task-ready", "it has no task 999"],
    );
    Ok(())
}

#[tokio::test]
async fn hostile_unasked_cancel() -> Result<()> {
    expect(
        &attack("unasked-cancel").await?,
        &["poller.task-cancelled", "was not cancelled"],
    );
    Ok(())
}

#[tokio::test]
async fn hostile_double_ready() -> Result<()> {
    expect(
        &attack("double-ready").await?,
        &["poller.task-ready", "already finished"],
    );
    Ok(())
}

#[tokio::test]
async fn hostile_token_reuse() -> Result<()> {
    expect(
        &attack("token-reuse").await?,
        &["poller.start-task", "token 3 is already in use"],
    );
    Ok(())
}

#[tokio::test]
async fn hostile_listen_token_reuse() -> Result<()> {
    expect(
        &attack("listen-token-reuse").await?,
        &["poller.listen", "token 7 is already in use"],
    );
    Ok(())
}

#[tokio::test]
async fn hostile_task_flood() -> Result<()> {
    let limits = TableLimits {
        max_tasks_per_component: 100,
        ..TableLimits::default()
    };
    expect(
        &attack_with("task-flood", limits).await?,
        &["poller.start-task", "max_tasks_per_component"],
    );
    Ok(())
}

#[tokio::test]
async fn hostile_listen_flood() -> Result<()> {
    let limits = TableLimits {
        max_listeners_per_component: 50,
        ..TableLimits::default()
    };
    expect(
        &attack_with("listen-flood", limits).await?,
        &["poller.listen", "max_listeners_per_component"],
    );
    Ok(())
}

#[tokio::test]
async fn hostile_forged_handle() -> Result<()> {
    // wasmtime refuses the index before the protocol sees it; the host still breaks cleanly.
    expect(&attack("forged-handle").await?, &["attack"]);
    Ok(())
}

#[tokio::test]
async fn hostile_block_on_nothing() -> Result<()> {
    expect(
        &attack("block-on-nothing").await?,
        &["block_on", "the call to `attack`", "waits for nothing"],
    );
    Ok(())
}

/// A poll export that asks to run again on every call keeps the host busy but not stuck: its
/// sync exports answer, another host answers, and it stops once the guest stops asking.
#[tokio::test(flavor = "current_thread")]
async fn hostile_self_waking_poll() -> Result<()> {
    let other = common::round_trip(Duration::ZERO).await?;
    let host = hostile(TableLimits::default()).await?;
    let mode = host
        .sync_func::<(String,), ()>(None, "set-poll-mode")
        .await?;
    let polls = host.sync_func::<(), (u64,)>(None, "polls").await?;
    host.call_sync(&mode, ("run-again".into(),)).await?;
    let first = host.call_sync(&polls, ()).await?.0;
    for _ in 0..3 {
        other_host_answers(&other).await?;
    }
    let start = Instant::now();
    let later = host.call_sync(&polls, ()).await?.0;
    assert!(start.elapsed() < Duration::from_millis(100));
    assert!(
        later > first + 10,
        "polled again and again: {first} → {later}"
    );
    host.call_sync(&mode, ("normal".into(),)).await?;
    let settled = host.call_sync(&polls, ()).await?.0;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        host.call_sync(&polls, ()).await?.0 <= settled + 1,
        "no more polls once it stops asking"
    );
    Ok(())
}

/// A trap inside the poll export breaks the host, naming the poll export.
#[tokio::test]
async fn hostile_trap_in_poll() -> Result<()> {
    let other = common::round_trip(Duration::ZERO).await?;
    let host = hostile(TableLimits::default()).await?;
    let mode = host
        .sync_func::<(String,), ()>(None, "set-poll-mode")
        .await?;
    let polls = host.sync_func::<(), (u64,)>(None, "polls").await?;
    host.call_sync(&mode, ("trap".into(),)).await?;
    let start = Instant::now();
    let error = loop {
        match host.call_sync(&polls, ()).await {
            Err(error) => break format!("{error:#}"),
            Ok(_) => assert!(start.elapsed() < Duration::from_secs(1), "never polled"),
        }
    };
    expect(
        &error,
        &[
            "component `hostile`",
            "poll export of component `hostile` failed",
        ],
    );
    other_host_answers(&other).await?;
    Ok(())
}
