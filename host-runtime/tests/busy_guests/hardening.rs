//! A guest can never crash, wedge, starve or leak the host: traps break only their own store,
//! CPU deadlines stop busy guests, a self-waking guest stays fair, and an async resource method
//! keeps its resource alive (the `unruly` guest misbehaves on demand).

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use isyswasfa_host::{Host, IsyswasfaView, ReaderEnd, State, TableSizes};
use isyswasfa_test_support::{Guest, timing};
use wasmtime::component::{Resource, Val};
use wasmtime::{Result, Store};
use wasmtime_wasi::{WasiCtxView, WasiView};

use crate::common;

const UNRULY: Option<&str> = Some("component:unruly/unruly");

/// Store data that tells when the store has been dropped (its `alive` has no strong count).
struct Tracked {
    state: State,
    _alive: Arc<()>,
}

impl WasiView for Tracked {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        self.state.ctx()
    }
}

impl IsyswasfaView for Tracked {
    fn isyswasfa(&mut self) -> isyswasfa_host::IsyswasfaCtxView<'_> {
        self.state.isyswasfa()
    }
}

/// The `unruly` guest in a store whose drop `Weak` reports.
async fn unruly_tracked() -> Result<(Host<Tracked>, Weak<()>)> {
    let linker = isyswasfa_host::linker::<Tracked>(common::engine())?;
    let alive = Arc::new(());
    let weak = Arc::downgrade(&alive);
    let data = Tracked {
        state: State::new(),
        _alive: alive,
    };
    let host = Host::instantiate(
        Store::new(common::engine(), data),
        &linker,
        &common::component(Guest::Unruly),
    )
    .await?;
    Ok((host, weak))
}

async fn unruly() -> Result<Host<State>> {
    let linker = isyswasfa_host::linker::<State>(common::engine())?;
    Host::instantiate(
        Store::new(common::engine(), State::new()),
        &linker,
        &common::component(Guest::Unruly),
    )
    .await
}

fn message(result: Result<impl std::fmt::Debug>) -> String {
    format!("{:#}", result.expect_err("the call should fail"))
}

#[tokio::test]
async fn trap_breaks_host_cleanly() -> Result<()> {
    let _timing = timing::shared().await;
    let (host, alive) = unruly_tracked().await?;
    let sleep = host.func::<(), ()>(UNRULY, "sleep-forever").await?;
    let numbers = host
        .func::<(u32,), Resource<ReaderEnd>>(UNRULY, "numbers")
        .await?;
    let trap_now = host.func::<(), ()>(UNRULY, "trap-now").await?;
    let trap_later = host.func::<(u64,), ()>(UNRULY, "trap-later").await?;
    let echo = host.func::<(String,), String>(UNRULY, "echo").await?;
    assert_eq!(host.call(&echo, ("hi".into(),)).await?, "hi");

    // A stream the guest writes (and keeps open), read by the embedder.
    let numbers = host.call(&numbers, (3,)).await?;
    let mut reader = host.open_stream::<Val>(numbers).await?;
    let mut read = Vec::new();
    while read.len() < 3 {
        read.extend(reader.read(16).await.expect("the stream is open"));
    }
    assert_eq!(read, vec![Val::U32(0), Val::U32(1), Val::U32(2)]);

    // A call that waits forever on a timer.
    let waiting = tokio::spawn({
        let host = host.clone();
        let sleep = sleep.clone();
        async move { host.call(&sleep, ()).await }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!waiting.is_finished());

    // The trap: in the start half of `trap-now`.
    let first = message(host.call(&trap_now, ()).await);
    assert!(
        first.contains("component `unruly`") && first.contains("trap-now"),
        "{first}"
    );

    // The waiting call fails at once, naming the first cause.
    let waited = tokio::time::timeout(Duration::from_secs(1), waiting)
        .await
        .expect("the waiting call failed within a second")
        .expect("the task did not panic");
    let waited = message(waited);
    assert!(
        waited.contains("component `unruly`") && waited.contains("trap-now"),
        "{waited}"
    );
    // The reader sees the end of the stream.
    let end = tokio::time::timeout(Duration::from_secs(1), reader.read(16))
        .await
        .expect("the reader saw the end within a second");
    assert_eq!(end, None);

    // Later calls fail at once with the first cause, whatever they would have done.
    for later in [
        message(host.call(&echo, ("again".into(),)).await),
        message(host.call(&trap_later, (0,)).await),
        message(host.call(&sleep, ()).await),
    ] {
        assert!(
            later.contains("component `unruly`") && later.contains("trap-now"),
            "{later}"
        );
    }
    let stream = host.new_stream::<u8>().await;
    assert!(stream.is_err(), "a broken host takes no new pipe ends");

    // Every table is empty, and the store goes with the last handle.
    assert_eq!(host.table_sizes().await?, TableSizes::default());
    drop(host);
    let start = Instant::now();
    while alive.upgrade().is_some() {
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "the store was not dropped with the last handle"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Ok(())
}

/// A trap inside the poll export (an async task) and inside a synchronous export break the host
/// the same way as a trap in a start half.
#[tokio::test]
async fn trap_in_each_entry_breaks_the_host() -> Result<()> {
    let _timing = timing::shared().await;
    // The poll export.
    let host = unruly().await?;
    let trap_later = host.func::<(u64,), ()>(UNRULY, "trap-later").await?;
    let sleep = host.func::<(), ()>(UNRULY, "sleep-forever").await?;
    let echo = host.func::<(String,), String>(UNRULY, "echo").await?;
    let waiting = tokio::spawn({
        let host = host.clone();
        async move { host.call(&sleep, ()).await }
    });
    let first = message(host.call(&trap_later, (1_000_000,)).await);
    assert!(
        first.contains("component `unruly`") && first.contains("poll export"),
        "{first}"
    );
    let waited = message(tokio::time::timeout(Duration::from_secs(1), waiting).await??);
    assert_eq!(waited, first);
    assert_eq!(message(host.call(&echo, ("x".into(),)).await), first);
    assert_eq!(host.table_sizes().await?, TableSizes::default());

    // A synchronous export.
    let host = unruly().await?;
    let trap_sync = host.sync_func::<(), ()>(UNRULY, "trap-sync").await?;
    let dropped = host
        .sync_func::<(), (u32,)>(UNRULY, "counters-dropped")
        .await?;
    let echo = host.func::<(String,), String>(UNRULY, "echo").await?;
    let first = message(host.call_sync(&trap_sync, ()).await);
    assert!(
        first.contains("component `unruly`") && first.contains("trap-sync"),
        "{first}"
    );
    assert_eq!(message(host.call(&echo, ("x".into(),)).await), first);
    assert_eq!(message(host.call_sync(&dropped, ()).await), first);
    Ok(())
}

/// Round-trip calls on `host` until `until` is finished; returns each call's latency.
async fn round_trips_until(
    host: &Host<State>,
    until: &tokio::task::JoinHandle<Result<()>>,
) -> Result<Vec<Duration>> {
    let foo = host
        .func::<(String,), String>(Some("component:test/baz"), "foo")
        .await?;
    let mut latencies = Vec::new();
    while !until.is_finished() {
        let start = Instant::now();
        let answer = host.call(&foo, ("hi".into(),)).await?;
        latencies.push(start.elapsed());
        assert!(answer.starts_with("hi - entered guest"), "{answer}");
    }
    Ok(latencies)
}

/// `loop {}` in an export is stopped by the CPU deadline with a clear error, and a second host
/// on the same current-thread runtime keeps answering meanwhile.
#[tokio::test(flavor = "current_thread")]
async fn busy_guest_is_stopped() -> Result<()> {
    // A spinning guest beside timed round trips: not beside the other timed tests.
    let _timing = timing::exclusive().await;
    let budget = Duration::from_millis(400);
    let linker = isyswasfa_host::linker::<State>(common::engine())?;
    let busy = Host::instantiate(
        Store::new(
            common::engine(),
            State::with_isyswasfa(
                isyswasfa_host::IsyswasfaCtx::builder()
                    .cpu_budget(budget)
                    .build(),
            ),
        ),
        &linker,
        &common::component(Guest::Unruly),
    )
    .await?;
    let other = common::round_trip(Duration::ZERO).await?;
    // Warm up the other host (first calls compile lazily-initialized paths).
    let foo = other
        .func::<(String,), String>(Some("component:test/baz"), "foo")
        .await?;
    other.call(&foo, ("warm".into(),)).await?;

    let spin = busy.func::<(), ()>(UNRULY, "spin").await?;
    let started = Instant::now();
    let spinning = tokio::spawn({
        let busy = busy.clone();
        async move { busy.call(&spin, ()).await }
    });
    let latencies = round_trips_until(&other, &spinning).await?;
    let error = message(spinning.await.expect("no panic"));
    let stopped_after = started.elapsed();
    assert!(
        error.contains("component `unruly`")
            && error.contains("CPU budget")
            && error.contains("spin"),
        "{error}"
    );
    assert!(
        stopped_after >= budget && stopped_after < budget * 5,
        "stopped after {stopped_after:?} (budget {budget:?})"
    );
    assert!(
        latencies.len() >= 3,
        "the other host answered {} calls meanwhile",
        latencies.len()
    );
    let worst = latencies.iter().max().copied().unwrap_or_default();
    eprintln!(
        "busy guest stopped after {stopped_after:?}; {} round trips meanwhile, worst {worst:?}",
        latencies.len()
    );
    assert!(
        worst < Duration::from_millis(50),
        "round trips took up to {worst:?}: {latencies:?}"
    );
    // The busy host is broken like after any trap; the other one is unharmed.
    let echo = busy.func::<(String,), String>(UNRULY, "echo").await?;
    assert_eq!(message(busy.call(&echo, ("x".into(),)).await), error);
    other.call(&foo, ("after".into(),)).await?;
    Ok(())
}

/// A guest task that keeps waking itself (`loop { yield_async().await }`) returns to the host
/// after a bounded number of polls: a concurrent call on the same host finishes, and no single
/// entry runs long enough to meet the CPU deadline.
#[tokio::test(flavor = "current_thread")]
async fn self_waking_guest_is_fair() -> Result<()> {
    // A spinning guest beside timed round trips: not beside the other timed tests.
    let _timing = timing::exclusive().await;
    let budget = Duration::from_millis(300);
    let linker = isyswasfa_host::linker::<State>(common::engine())?;
    let host = Host::instantiate(
        Store::new(
            common::engine(),
            State::with_isyswasfa(
                isyswasfa_host::IsyswasfaCtx::builder()
                    .cpu_budget(budget)
                    .build(),
            ),
        ),
        &linker,
        &common::component(Guest::Unruly),
    )
    .await?;
    let echo = host.func::<(String,), String>(UNRULY, "echo").await?;
    let spin = host.func::<(), ()>(UNRULY, "spin-yielding").await?;
    assert_eq!(host.call(&echo, ("warm".into(),)).await?, "warm");
    let before = host.table_sizes().await?;

    let spinning = tokio::spawn({
        let host = host.clone();
        async move { host.call(&spin, ()).await }
    });
    let started = Instant::now();
    let mut calls = 0;
    while started.elapsed() < budget * 3 {
        let start = Instant::now();
        let answer = tokio::time::timeout(
            Duration::from_secs(2),
            host.call(&echo, (format!("call {calls}"),)),
        )
        .await
        .expect("a call next to the self-waking task finished")?;
        assert_eq!(answer, format!("call {calls}"));
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "call {calls} took {:?}",
            start.elapsed()
        );
        calls += 1;
    }
    assert!(calls >= 3, "only {calls} calls finished");
    // Still spinning, well past the budget of one entry: no entry ran that long.
    assert!(!spinning.is_finished(), "{:?}", spinning.await);
    // Cancelling it (dropping the call) releases everything it held.
    spinning.abort();
    let _ = spinning.await;
    let start = Instant::now();
    loop {
        let sizes = host.table_sizes().await?;
        if sizes == before {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(1),
            "{sizes:?} != {before:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(host.call(&echo, ("after".into(),)).await?, "after");
    Ok(())
}

/// The component model's borrow rule for async methods of exported resources: a caller that
/// drops its handle while the method runs does not free the value under it; the drop is deferred
/// until the method finishes (the documented behaviour of `isyswasfa-guest`).
#[tokio::test]
async fn async_method_borrow_rule() -> Result<()> {
    let _timing = timing::shared().await;
    let host = unruly().await?;
    let new = host.dynamic_func(UNRULY, "[constructor]counter").await?;
    let slow_get = host
        .dynamic_func(UNRULY, "[method]counter.slow-get")
        .await?;
    assert!(slow_get.is_async());
    let dropped = host
        .sync_func::<(), (u32,)>(UNRULY, "counters-dropped")
        .await?;
    let counter = |values: Vec<Val>| match values.as_slice() {
        [Val::Resource(counter)] => *counter,
        other => panic!("not a counter: {other:?}"),
    };
    let drop_counter = |counter: wasmtime::component::ResourceAny| {
        host.with_store(move |store, _| {
            Box::pin(async move { counter.resource_drop_async(store).await })
        })
    };

    // Not lent: dropping the handle drops the value at once.
    let idle = counter(host.call_dynamic(&new, vec![Val::U32(1)]).await?);
    drop_counter(idle).await??;
    assert_eq!(host.call_sync(&dropped, ()).await?.0, 1);

    // Lent to a running method: the drop waits for the method, which still reads its value.
    let lent = counter(host.call_dynamic(&new, vec![Val::U32(42)]).await?);
    let running = tokio::spawn({
        let host = host.clone();
        async move {
            host.call_dynamic(&slow_get, vec![Val::Resource(lent), Val::U64(100_000_000)])
                .await
        }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!running.is_finished());
    drop_counter(lent).await??;
    assert_eq!(
        host.call_sync(&dropped, ()).await?.0,
        1,
        "the value is not dropped while its method runs"
    );
    let value = running.await.expect("no panic")?;
    assert_eq!(
        value,
        vec![Val::U32(42)],
        "the method read its value intact"
    );
    assert_eq!(
        host.call_sync(&dropped, ()).await?.0,
        2,
        "the value is dropped once the method finished"
    );
    Ok(())
}

/// 10 000 calls mixing successes with streams, error values, cancellations and calls refused
/// for their arguments leave every table of the host (tasks, events, tokens, host futures, pipe
/// ends, pollables, the loop's calls, the WASI resource table) at its starting size.
#[tokio::test]
async fn no_leaks_mixed() -> Result<()> {
    // 10 000 rounds keep a core busy: not beside the timed tests.
    let _timing = timing::exclusive().await;
    type Stream = Resource<ReaderEnd>;
    const STREAMS: Option<&str> = common::STREAMS;
    let host = common::streams().await?;
    let double = host.func::<(Stream,), Stream>(STREAMS, "double").await?;
    let outcome = host
        .func::<(u32,), Resource<ReaderEnd>>(STREAMS, "outcome")
        .await?;
    let sum_things = host.func::<(Stream,), u32>(STREAMS, "sum-things").await?;
    let dynamic_double = host.dynamic_func(STREAMS, "double").await?;

    let round = |i: u32| {
        let host = host.clone();
        let (double, outcome, sum_things, dynamic_double) = (
            double.clone(),
            outcome.clone(),
            sum_things.clone(),
            dynamic_double.clone(),
        );
        async move {
            match i % 4 {
                // A success, through two streams.
                0 => {
                    let (mut writer, reader) = host.new_stream::<Val>().await?;
                    let out = host.call(&double, (reader,)).await?;
                    writer.write(vec![Val::U32(i)]).await.expect("reader alive");
                    drop(writer);
                    let mut out = host.open_stream::<Val>(out).await?;
                    let mut values = Vec::new();
                    while let Some(chunk) = out.read(16).await {
                        values.extend(chunk);
                    }
                    assert_eq!(values, vec![Val::U32(i * 2)]);
                }
                // An error value from the guest, through a future.
                1 => {
                    let future = host.call(&outcome, (2,)).await?;
                    let value = host.open_future::<Val>(future).await?.await;
                    assert!(matches!(value, Some(Val::Result(Err(_)))), "{value:?}");
                }
                // A cancellation: the call waits for a stream that never ends, and is dropped.
                2 => {
                    let (writer, reader) = host.new_stream::<Val>().await?;
                    let call = host.call(&sum_things, (reader,));
                    tokio::select! {
                        biased;
                        result = call => panic!("sum-things finished: {result:?}"),
                        () = tokio::task::yield_now() => {}
                    }
                    drop(writer);
                }
                // A call refused for its argument, which must not break the host.
                _ => {
                    let error = host
                        .call_dynamic(&dynamic_double, vec![Val::String("no".into())])
                        .await
                        .expect_err("a string is not a stream");
                    assert!(format!("{error:#}").contains("double"), "{error:#}");
                }
            }
            Result::<()>::Ok(())
        }
    };

    // Warm up (lazily created WASI resources, first allocations), then measure.
    for i in 0..4 {
        round(i).await?;
    }
    let settled = |host: Host<State>, target: Option<TableSizes>| async move {
        let start = Instant::now();
        let mut last = host.table_sizes().await?;
        // Cancellations and discarded values settle within a few turns of the loop.
        while target.is_some_and(|t| t != last) && start.elapsed() < Duration::from_secs(2) {
            tokio::time::sleep(Duration::from_millis(5)).await;
            last = host.table_sizes().await?;
        }
        Result::<TableSizes>::Ok(last)
    };
    let before = settled(host.clone(), None).await?;
    assert_eq!(before.calls, 0);
    for i in 0..10_000 {
        round(i).await?;
    }
    let after = settled(host.clone(), Some(before)).await?;
    assert_eq!(after, before);
    Ok(())
}
