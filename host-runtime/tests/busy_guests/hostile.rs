//! The `hostile` guest speaks the protocol with raw bindings and breaks its rules, one attack per
//! test: each attack gets a clear error naming the protocol call and the component, breaks only
//! the hostile guest's own host, and another host in the same process keeps answering
//! round-trip calls in its normal time.
//!
//! Attacks that keep a core busy (a spinning guest, a flood) take the timing lock exclusively,
//! the others shared: most of them time a round trip on another host, which must not compete
//! with a busy test for the machine's cores.

use std::time::{Duration, Instant};

use isyswasfa_host::limits::TableLimits;
use isyswasfa_host::{ErrorKind, Host, ReaderEnd, State, TableSizes};
use isyswasfa_test_support::{Guest, timing};
use wasmtime::component::{Resource, Val};
use wasmtime::{Result, Store};

use crate::common;

async fn hostile(limits: TableLimits) -> Result<Host<State>> {
    hostile_in(State::with_isyswasfa(
        isyswasfa_host::IsyswasfaCtx::builder()
            .table_limits(limits)
            .build(),
    ))
    .await
}

async fn hostile_in(state: State) -> Result<Host<State>> {
    let linker = isyswasfa_host::linker::<State>(common::engine())?;
    Host::instantiate(
        Store::new(common::engine(), state),
        &linker,
        &common::component(Guest::Hostile),
    )
    .await
}

/// Runs `which` on a fresh hostile host; returns the error it ended with, after checking that
/// the hostile host stays broken with that error and that another host is unharmed.
async fn attack_with(which: &str, limits: TableLimits) -> Result<Refusal> {
    attack_in(
        which,
        State::with_isyswasfa(
            isyswasfa_host::IsyswasfaCtx::builder()
                .table_limits(limits)
                .build(),
        ),
    )
    .await
}

/// How the host refused an attack: the whole message, and the kind of the isyswasfa error in its
/// chain (none when wasmtime refused it before the protocol saw it, or for a trap).
struct Refusal {
    message: String,
    /// Always `Broken` for an attack (the store breaks); checked by [`attack_in`].
    kind: Option<ErrorKind>,
    /// What broke it: the kind of the protocol's refusal.
    cause: Option<ErrorKind>,
}

impl std::ops::Deref for Refusal {
    type Target = str;
    fn deref(&self) -> &str {
        &self.message
    }
}

/// The isyswasfa error somewhere in `error`'s chain.
fn isyswasfa_error(error: &wasmtime::Error) -> Option<&isyswasfa_host::Error> {
    error
        .chain()
        .find_map(|cause| cause.downcast_ref::<isyswasfa_host::Error>())
}

/// The kind of the isyswasfa error somewhere in `error`'s chain.
fn kind_of(error: &wasmtime::Error) -> Option<ErrorKind> {
    isyswasfa_error(error).map(|error| error.kind())
}

/// [`attack_with`], on a hostile host with the store data `state`.
async fn attack_in(which: &str, state: State) -> Result<Refusal> {
    let other = common::round_trip(Duration::ZERO).await?;
    let host = hostile_in(state).await?;
    let attack = host.sync_func::<(String,), ()>(None, "attack").await?;
    // The other host must answer in its usual time *while* the attack runs (checked again and
    // again until the attack ends), not only after.
    let call = host.call_sync(&attack, (which.to_string(),));
    tokio::pin!(call);
    let outcome = loop {
        tokio::select! {
            outcome = &mut call => break outcome,
            answered = common::other_host_answers(&other) => answered?,
        }
    };
    let refusal = match outcome {
        Ok(()) => panic!("attack `{which}` was not refused"),
        Err(error) => Refusal {
            message: format!("{error:#}"),
            kind: kind_of(&error),
            cause: isyswasfa_error(&error).and_then(|error| error.cause()),
        },
    };
    assert_eq!(refusal.kind, Some(ErrorKind::Broken), "{}", refusal.message);
    stays_broken(&host, &refusal).await?;
    common::other_host_answers(&other).await?;
    Ok(refusal)
}

/// `host` failed with `error`, naming the hostile component, and keeps failing with it: every
/// later call is refused as [`ErrorKind::Broken`] with the first failure's message.
async fn stays_broken(host: &Host<State>, error: &str) -> Result<()> {
    assert!(error.contains("component `hostile`"), "{error}");
    let polls = host.sync_func::<(), (u64,)>(None, "polls").await?;
    let later = host.call_sync(&polls, ()).await.unwrap_err();
    assert_eq!(format!("{later:#}"), error);
    assert_eq!(kind_of(&later), Some(ErrorKind::Broken), "{later:#}");
    assert_eq!(host.table_sizes().await?, TableSizes::default());
    Ok(())
}

/// Runs the probe `which` (a misbehaviour the host survives) and returns what the guest saw.
async fn probe(host: &Host<State>, which: &str) -> Result<Vec<u64>> {
    let probe = host
        .sync_func::<(String,), (Vec<u64>,)>(None, "probe")
        .await?;
    Ok(host.call_sync(&probe, (which.to_string(),)).await?.0)
}

/// Waits (up to a second) until the host's tables are back to `start`: cancelled host futures
/// are reaped by the event loop between guest entries.
async fn back_to(host: &Host<State>, start: TableSizes, after: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let sizes = host.table_sizes().await?;
        if sizes == start {
            return Ok(());
        }
        assert!(
            Instant::now() < deadline,
            "after `{after}` the tables are {sizes:?}, not {start:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn attack(which: &str) -> Result<Refusal> {
    attack_with(which, TableLimits::default()).await
}

fn expect(error: &str, parts: &[&str]) {
    for part in parts {
        assert!(error.contains(part), "`{part}` missing from: {error}");
    }
}

#[tokio::test]
async fn hostile_unknown_task() -> Result<()> {
    let _timing = timing::shared().await;
    let refusal = attack("unknown-task").await?;
    expect(&refusal, &["poller.task-ready", "it has no task 999"]);
    assert_eq!(refusal.cause, Some(ErrorKind::Protocol));
    Ok(())
}

#[tokio::test]
async fn hostile_unasked_cancel() -> Result<()> {
    let _timing = timing::shared().await;
    expect(
        &attack("unasked-cancel").await?,
        &["poller.task-cancelled", "was not cancelled"],
    );
    Ok(())
}

#[tokio::test]
async fn hostile_double_ready() -> Result<()> {
    let _timing = timing::shared().await;
    expect(
        &attack("double-ready").await?,
        &["poller.task-ready", "already finished"],
    );
    Ok(())
}

#[tokio::test]
async fn hostile_token_reuse() -> Result<()> {
    let _timing = timing::shared().await;
    expect(
        &attack("token-reuse").await?,
        &["poller.start-task", "token 3 is already in use"],
    );
    Ok(())
}

#[tokio::test]
async fn hostile_listen_token_reuse() -> Result<()> {
    let _timing = timing::shared().await;
    expect(
        &attack("listen-token-reuse").await?,
        &["poller.listen", "token 7 is already in use"],
    );
    Ok(())
}

#[tokio::test]
async fn hostile_task_flood() -> Result<()> {
    let _timing = timing::shared().await;
    let limits = TableLimits {
        max_tasks_per_component: 100,
        ..TableLimits::default()
    };
    let refusal = attack_with("task-flood", limits).await?;
    expect(&refusal, &["poller.start-task", "max_tasks_per_component"]);
    assert_eq!(refusal.cause, Some(ErrorKind::LimitExceeded));
    Ok(())
}

#[tokio::test]
async fn hostile_listen_flood() -> Result<()> {
    let _timing = timing::shared().await;
    let limits = TableLimits {
        max_listeners_per_component: 50,
        ..TableLimits::default()
    };
    let refusal = attack_with("listen-flood", limits).await?;
    expect(&refusal, &["poller.listen", "max_listeners_per_component"]);
    assert_eq!(refusal.cause, Some(ErrorKind::LimitExceeded));
    Ok(())
}

#[tokio::test]
async fn hostile_forged_handle() -> Result<()> {
    let _timing = timing::shared().await;
    // wasmtime refuses the index before the protocol sees it; the host still breaks cleanly.
    // The guest passes a `pending` handle it never received (index 32767): refused by name.
    let refusal = attack("forged-handle").await?;
    expect(
        &refusal,
        &["call to `attack` failed", "unknown handle index 32767"],
    );
    Ok(())
}

#[tokio::test]
async fn hostile_block_on_nothing() -> Result<()> {
    let _timing = timing::shared().await;
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
    let _timing = timing::exclusive().await;
    let other = common::round_trip(Duration::ZERO).await?;
    let host = hostile(TableLimits::default()).await?;
    let mode = host
        .sync_func::<(String,), ()>(None, "set-poll-mode")
        .await?;
    let polls = host.sync_func::<(), (u64,)>(None, "polls").await?;
    host.call_sync(&mode, ("run-again".into(),)).await?;
    let first = host.call_sync(&polls, ()).await?.0;
    for _ in 0..3 {
        common::other_host_answers(&other).await?;
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
    let _timing = timing::shared().await;
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
    common::other_host_answers(&other).await?;
    Ok(())
}

/// The `ready` of one function passed to the result half of another: refused by the host,
/// naming both (host functions), or naming whose task it is (a component's task given to a
/// host function, a host function's `ready` claimed as the component's own).
#[tokio::test]
async fn hostile_wrong_function_result() -> Result<()> {
    let _timing = timing::shared().await;
    expect(
        &attack("wrong-function").await?,
        &[
            "`wait-until-isyswasfa-result`",
            "the `ready` belongs to a call of `wait-for`",
        ],
    );
    expect(
        &attack("host-ready-claimed").await?,
        &[
            "`poller.take-result` from component `hostile`",
            "the `ready` belongs to a host function",
        ],
    );
    expect(
        &attack("own-ready-to-host").await?,
        &[
            "`wait-for-isyswasfa-result`",
            "the `ready` belongs to a component's task",
        ],
    );
    Ok(())
}

/// A `ready` used again after it was collected, through its old handle index: wasmtime's
/// handle table refuses it before the protocol sees it (the index is free, or now holds a
/// `pending`), so it can never reach the new task of the reused host table slot.
#[tokio::test]
async fn hostile_stale_handle() -> Result<()> {
    let _timing = timing::shared().await;
    expect(
        &attack("stale-ready").await?,
        &["call to `attack` failed", "unknown handle index"],
    );
    expect(
        &attack("stale-ready-reused").await?,
        &["call to `attack` failed", "used with the wrong type"],
    );
    Ok(())
}

/// Far-future waits, each listened to, in a loop: the cap on host futures (or on listeners,
/// whichever is lower) stops it, naming the call and the limit.
#[tokio::test]
async fn hostile_far_future_waits() -> Result<()> {
    let _timing = timing::shared().await;
    let limits = TableLimits {
        max_host_futures: 200,
        ..TableLimits::default()
    };
    expect(
        &attack_with("far-future-listen", limits).await?,
        &[
            "`wait-for-isyswasfa-start`",
            "already runs 200 host futures (limit `max_host_futures`)",
        ],
    );
    let limits = TableLimits {
        max_listeners_per_component: 50,
        ..TableLimits::default()
    };
    expect(
        &attack_with("far-future-listen", limits).await?,
        &[
            "`poller.listen` from component `hostile`",
            "limit `max_listeners_per_component`",
        ],
    );
    Ok(())
}

/// Far-future waits started and dropped at once, 100 000 times in one call (twice the default
/// cap on host futures): each drop cancels its wait, the call succeeds and the tables do not
/// grow.
#[tokio::test]
async fn hostile_far_future_drops_leave_no_trace() -> Result<()> {
    let _timing = timing::exclusive().await;
    let host = hostile(TableLimits::default()).await?;
    let start = host.table_sizes().await?;
    assert_eq!(probe(&host, "far-future-drop").await?, vec![100_000]);
    back_to(&host, start, "far-future-drop").await?;
    Ok(())
}

/// `loop {}` in a synchronous export: stopped by the CPU deadline, naming the export.
#[tokio::test]
async fn hostile_busy_loop() -> Result<()> {
    let _timing = timing::exclusive().await;
    let budget = Duration::from_millis(300);
    // Compiled once per process: not part of the time measured.
    common::component(Guest::Hostile);
    common::component(Guest::RoundTrip);
    let started = Instant::now();
    let error = attack_in(
        "busy",
        State::with_isyswasfa(
            isyswasfa_host::IsyswasfaCtx::builder()
                .cpu_budget(budget)
                .build(),
        ),
    )
    .await?;
    expect(
        &error,
        &[
            "the call to `attack` ran for more than its CPU budget of 300ms",
            "the CPU deadline",
        ],
    );
    assert!(started.elapsed() < budget * 10, "{:?}", started.elapsed());
    Ok(())
}

/// A loop of 64 MiB writes into an unread byte stream, with a 300 ms CPU budget: each write
/// would make the host copy the offer and what it gives back (128 MiB of host copying per call,
/// which the CPU deadline does not see, so 1 000 of them took tens of seconds); the first one is refused as over the per-write limit, naming it,
/// well within a second, while another host keeps answering (`attack_in` checks that during
/// the attack).
#[tokio::test]
async fn hostile_huge_byte_writes() -> Result<()> {
    let _timing = timing::exclusive().await;
    common::component(Guest::Hostile);
    common::component(Guest::RoundTrip);
    let started = Instant::now();
    let error = attack_in(
        "huge-byte-writes",
        State::with_isyswasfa(
            isyswasfa_host::IsyswasfaCtx::builder()
                .cpu_budget(Duration::from_millis(300))
                .build(),
        ),
    )
    .await?;
    let took = started.elapsed();
    expect(
        &error,
        &[
            "`stream-u8-write` was offered 67108864 bytes in one call",
            "`isyswasfa_host::limits::MAX_BYTES_PER_WRITE`",
        ],
    );
    assert_eq!(
        error.cause,
        Some(ErrorKind::LimitExceeded),
        "{}",
        error.message
    );
    assert!(took < Duration::from_secs(1), "stopped after {took:?}");
    Ok(())
}

/// Calls `slow` with `mode` on a fresh hostile host, after a call that works; returns the
/// error the call ended with, after checking that the host stays broken with it and that
/// another host is unharmed.
async fn slow_with(mode: &str) -> Result<String> {
    let other = common::round_trip(Duration::ZERO).await?;
    let host = hostile(TableLimits::default()).await?;
    let start = host.table_sizes().await?;
    let slow = host.func::<(String,), u32>(None, "slow").await?;
    assert_eq!(host.call(&slow, ("ok".into(),)).await?, 7);
    back_to(&host, start, "slow(ok)").await?;
    let error = match host.call(&slow, (mode.to_string(),)).await {
        Ok(value) => panic!("`slow` in mode `{mode}` was not refused (answered {value})"),
        Err(error) => format!("{error:#}"),
    };
    stays_broken(&host, &error).await?;
    assert_eq!(
        format!("{:#}", host.call(&slow, ("ok".into(),)).await.unwrap_err()),
        error
    );
    common::other_host_answers(&other).await?;
    Ok(error)
}

/// A trap in each kind of entry breaks the host, naming the entry: a synchronous export, the
/// start half of an exported async function and its result half.
#[tokio::test]
async fn hostile_trap_in_each_entry() -> Result<()> {
    let _timing = timing::shared().await;
    let refusal = attack("trap").await?;
    expect(&refusal, &["call to `attack` failed", "unreachable"]);
    assert_eq!(
        refusal.cause, None,
        "a trap is wasmtime's error, not the protocol's"
    );
    expect(
        &slow_with("trap-start").await?,
        &["call to `slow` failed", "unreachable"],
    );
    expect(
        &slow_with("trap-result").await?,
        &["collecting the result of `slow` failed", "unreachable"],
    );
    Ok(())
}

/// A result export that returns without claiming its `ready` (it keeps it) would leave its task
/// in the host's table: the host refuses it, naming the export.
#[tokio::test]
async fn hostile_unclaimed_ready() -> Result<()> {
    let _timing = timing::shared().await;
    expect(
        &slow_with("unclaimed").await?,
        &[
            "`slow-isyswasfa-result` of component `hostile` returned without claiming its \
             `ready` (`poller.take-result`)",
        ],
    );
    Ok(())
}

/// One write of a million values into a stream: the host buffers what fits (its capacity) and
/// gives the rest back in order; a second write gets everything back. The host's pipe holds
/// exactly the capacity, and the reader reads those values, then the end of the stream.
#[tokio::test]
async fn hostile_pipe_write_beyond_room() -> Result<()> {
    let _timing = timing::exclusive().await;
    let host = hostile(TableLimits::default()).await?;
    let start = host.table_sizes().await?;
    let capacity = isyswasfa_host::limits::VALUE_CAPACITY as u64;
    assert_eq!(
        probe(&host, "pipe-flood").await?,
        vec![1_000_000 - capacity, capacity, 10]
    );
    let take = host
        .sync_func::<(), (Resource<ReaderEnd>,)>(None, "take-reader")
        .await?;
    let (reader,) = host.call_sync(&take, ()).await?;
    let mut reader = host.open_stream::<Val>(reader).await?;
    assert_eq!(reader.pipe().len() as u64, capacity);
    assert_eq!(reader.pipe().capacity() as u64, capacity);
    let read = reader.read(1_000_000).await.expect("values");
    let expected: Vec<Val> = (0..capacity as u32).map(Val::U32).collect();
    assert_eq!(read, expected);
    probe(&host, "drop-flooded-writer").await?;
    assert_eq!(reader.read(10).await, None);
    back_to(&host, start, "pipe-flood").await?;
    // Values of any size beyond the room: 64 writes of 1 MiB into a `stream<list<u8>>` nobody
    // reads. The pipe takes values while it holds less than its byte budget (as bytes, not a
    // `Val` per byte, which held 32 MiB of host memory per 1 MiB value); the host's memory
    // barely grows.
    let (taken, host_growth) = list_flood(&host, 1 << 20, 64).await?;
    let budget = isyswasfa_host::limits::PIPE_BYTES_BUDGET >> 20;
    assert_eq!(taken, budget as u64, "values taken");
    assert!(
        host_growth < 16 << 20,
        "the host grew by {host_growth} bytes for an unread pipe"
    );
    Ok(())
}

/// The process's resident memory, in bytes.
fn rss() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

/// Runs the `list-flood` probe (`count` writes of one `size`-byte value into one unread
/// `stream<list<u8>>`): how many values the pipe took, and how much the process's resident memory
/// grew beyond the guest's own memory growth (the guest's buffer and the values given back).
async fn list_flood(host: &Host<State>, size: usize, count: usize) -> Result<(u64, u64)> {
    let before = rss();
    let seen = probe(host, &format!("list-flood:{size}:{count}")).await?;
    let grown = rss().saturating_sub(before);
    let (guest, per_write) = seen.split_last().expect("the guest's memory growth");
    assert_eq!(per_write.len(), count);
    // The first write always goes in (an empty pipe takes any value).
    assert_eq!(per_write[0], 1, "{per_write:?}");
    eprintln!("list-flood {count} x {size}: {per_write:?}; RSS +{grown}, guest memory +{guest}");
    Ok((per_write.iter().sum(), grown.saturating_sub(*guest)))
}

/// 8 × 16 MiB written into a `stream<list<u8>>` nobody reads: the empty pipe takes the first
/// value (as bytes), the others come back (the pipe holds more than its byte budget), and the
/// host's memory grows by less than 64 MiB (a `Val` per byte would be 512 MiB per value;
/// wasmtime refused such a write for lifting more than its hostcall fuel, 128 MiB).
#[tokio::test]
async fn pipe_bytes_budget() -> Result<()> {
    let _timing = timing::exclusive().await;
    let host = hostile(TableLimits::default()).await?;
    // Values go through whole, the empty one included.
    assert_eq!(
        probe(&host, "list-round-trip").await?,
        vec![0, 3, 6, 0, 0, 5, 45]
    );
    let (taken, host_growth) = list_flood(&host, 16 << 20, 8).await?;
    assert_eq!(taken, 1);
    assert!(
        host_growth < 64 << 20,
        "the host grew by {host_growth} bytes for an unread pipe"
    );
    Ok(())
}

/// Many pipes, each holding one value its empty pipe took: the store's pipes may hold at most
/// `STORE_PIPE_BYTES_BUDGET` bytes nobody has read; the write beyond it is refused, breaking
/// only that store.
#[tokio::test]
async fn pipe_bytes_store_budget() -> Result<()> {
    let _timing = timing::shared().await;
    let refusal = attack("list-flood-pipes").await?;
    expect(
        &refusal,
        &[
            "stream-list-u8-write",
            "STORE_PIPE_BYTES_BUDGET",
            "may hold at most 16777216",
        ],
    );
    assert_eq!(refusal.cause, Some(ErrorKind::LimitExceeded));
    Ok(())
}

/// Pipe ends dropped in odd orders, with waits pending on them: every wait ends with the
/// documented outcome, nothing hangs, and the tables return to their size before.
#[tokio::test]
async fn hostile_pipe_drop_orders() -> Result<()> {
    let _timing = timing::shared().await;
    let host = hostile(TableLimits::default()).await?;
    let start = host.table_sizes().await?;
    let capacity = isyswasfa_host::limits::VALUE_CAPACITY as u64;
    for (which, expected) in [
        // The read after the wait sees the end of the stream.
        ("writer-dropped-while-waiting", vec![1]),
        // Everything written comes back; the writer is not writable.
        ("reader-dropped-then-write", vec![3, 0]),
        // The pending wait for room ends with "not writable".
        ("reader-dropped-while-waiting", vec![capacity, 0]),
        ("both-dropped-while-waiting", vec![]),
        // Nothing read; the value written after comes back.
        ("future-read-first", vec![1, 1]),
        ("future-reader-dropped-while-waiting", vec![1]),
    ] {
        let seen = tokio::time::timeout(Duration::from_secs(5), probe(&host, which))
            .await
            .unwrap_or_else(|_| panic!("`{which}` hung"))?;
        assert_eq!(seen, expected, "{which}");
        back_to(&host, start, which).await?;
    }
    Ok(())
}

/// Pipe ends used after they are gone, or as another pipe's ends: wasmtime's handle table or
/// the host refuses them, and the host breaks cleanly.
#[tokio::test]
async fn hostile_pipe_end_misuse() -> Result<()> {
    let _timing = timing::shared().await;
    expect(
        &attack("pipe-double-drop").await?,
        &["call to `attack` failed", "unknown handle index"],
    );
    expect(
        &attack("future-write-consumed").await?,
        &["call to `attack` failed", "unknown handle index"],
    );
    expect(
        &attack("future-as-stream").await?,
        &["call to `attack` failed", "used with the wrong type"],
    );
    Ok(())
}

/// A lowered pair whose result half disagrees with its start half is refused when the embedder
/// looks it up, naming the result export (not after a call, which would leave its task behind).
#[tokio::test]
async fn hostile_mismatched_halves() -> Result<()> {
    let _timing = timing::shared().await;
    let host = hostile(TableLimits::default()).await?;
    let error = match host.func::<(), u32>(None, "mismatched").await {
        Ok(_) => panic!("a pair with disagreeing halves was accepted"),
        Err(error) => format!("{error:#}"),
    };
    expect(
        &error,
        &["`mismatched-isyswasfa-result` does not have the expected type"],
    );
    // The host is not broken: its other exports still answer.
    let polls = host.sync_func::<(), (u64,)>(None, "polls").await?;
    host.call_sync(&polls, ()).await?;
    Ok(())
}
