//! Components composed by `isyswasfa compose` and run on the host: async calls, cancellation
//! and streams across components, where a component may wait, and WASI 0.2 pollables.

use std::time::{Duration, Instant};

use isyswasfa_test_support::Guest;
use wasmtime::Result;

use crate::common::composition::{self, API};

#[tokio::test(flavor = "multi_thread")]
async fn compose_concurrent_waits() -> Result<()> {
    let host = composition::caller_and_callee().await?;
    let both = host.func::<(u32,), String>(API, "both").await?;
    host.call(&both, (1,)).await?;

    let start = Instant::now();
    let answer = host.call(&both, (200,)).await?;
    let one = start.elapsed();
    assert_eq!(answer, "caller slept 200 ms beside [callee slept 200 ms]");
    assert!(one >= Duration::from_millis(200), "{one:?}");
    assert!(one < Duration::from_millis(350), "one call took {one:?}");

    let start = Instant::now();
    let calls = (0..100).map(|_| host.call(&both, (200,)));
    let answers = futures::future::try_join_all(calls).await?;
    let hundred = start.elapsed();
    assert!(answers.iter().all(|a| a == &answer));
    assert!(
        hundred < Duration::from_secs(1),
        "100 calls took {hundred:?}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn compose_cross_component_cancel() -> Result<()> {
    let host = composition::caller_and_callee().await?;
    let never = host.func::<(), ()>(API, "never").await?;
    let tables = host
        .sync_func::<(), (((u32, u32, u32), (u32, u32, u32)),)>(API, "tables")
        .await?;
    let cancelled = host
        .sync_func::<(), (u32,)>(API, "service-cancelled")
        .await?;
    let host_before = host.table_sizes().await?;
    let (guests_before,) = host.call_sync(&tables, ()).await?;

    let outcome = tokio::time::timeout(Duration::from_millis(200), host.call(&never, ())).await;
    assert!(outcome.is_err(), "`never` finished");

    // Cancellation travels caller → host → callee → host: wait until it has arrived.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (count,) = host.call_sync(&cancelled, ()).await?;
        let host_now = host.table_sizes().await?;
        let (guests_now,) = host.call_sync(&tables, ()).await?;
        if count == 1 && host_now == host_before && guests_now == guests_before {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not cleaned up: cancelled {count}, host {host_now:?} (was {host_before:?}), \
             guests {guests_now:?} (were {guests_before:?})"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn compose_stream_between_components() -> Result<()> {
    let host = composition::caller_and_callee().await?;
    let stream_sum = host.func::<(u32,), (u64, u32)>(API, "stream-sum").await?;
    // Far more numbers than the pipe holds (64): the callee must read while the caller writes.
    let (sum, count) = host.call(&stream_sum, (5000,)).await?;
    assert_eq!((sum, count), (5000 * 5001 / 2, 5000));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn compose_sync_export_block_on() -> Result<()> {
    let host = composition::caller_and_callee().await?;
    let block = host
        .sync_func::<(u32,), (u32,)>(API, "block-on-timer")
        .await?;
    let start = Instant::now();
    let (waited,) = host.call_sync(&block, (50,)).await?;
    assert!(waited >= 50, "the guest waited {waited} ms");
    assert!(start.elapsed() >= Duration::from_millis(50));
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn compose_reentrance_error() -> Result<()> {
    let host = composition::caller_and_callee().await?;
    // An unrelated long timer of the caller: the refusal must not wait for it.
    let sleeper = host.func::<(u32,), ()>(API, "spawn-sleeper").await?;
    host.call(&sleeper, (30_000,)).await?;

    let block = host
        .sync_func::<(u32,), (Result<String, String>,)>(API, "block-on-service")
        .await?;
    let start = Instant::now();
    let (outcome,) = host.call_sync(&block, (100,)).await?;
    let elapsed = start.elapsed();
    let message = outcome.expect_err("waiting on the callee from a sync export must be refused");
    assert!(
        elapsed < Duration::from_secs(1),
        "the refusal took {elapsed:?}"
    );
    assert!(
        message.contains("`caller`")
            && message.contains("`callee`")
            && message.contains("block-on-service"),
        "{message}"
    );

    // The composition keeps serving.
    let both = host.func::<(u32,), String>(API, "both").await?;
    assert_eq!(
        host.call(&both, (10,)).await?,
        "caller slept 10 ms beside [callee slept 10 ms]"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn compose_same_component_twice() -> Result<()> {
    let host = composition::caller_and_two_callees().await?;
    let relay = host.func::<(u32,), String>(API, "relay").await?;
    host.call(&relay, (1,)).await?;
    let start = Instant::now();
    let answer = host.call(&relay, (200,)).await?;
    let elapsed = start.elapsed();
    // The first callee answers beside the second one: both instances' tasks ran at once.
    assert_eq!(answer, "callee slept 200 ms beside [callee slept 200 ms]");
    assert!(
        elapsed < Duration::from_millis(350),
        "the chain took {elapsed:?}"
    );
    Ok(())
}

/// A hostile caller (raw protocol bindings) passes the `ready` of the callee's `sleep` to the
/// callee's `relay` result export (both return a string): the callee's guest runtime traps
/// naming both functions instead of handing over `sleep`'s value as `relay`'s.
#[tokio::test(flavor = "multi_thread")]
async fn compose_hostile_wrong_result() -> Result<()> {
    let path = composition::compose_root(
        Guest::HostileCaller,
        "hostile-caller-callee",
        &[Guest::Callee],
    );
    let component = wasmtime::component::Component::from_file(composition::engine(), path)?;
    let stderr = wasmtime_wasi::p2::pipe::MemoryOutputPipe::new(64 * 1024);
    let wasi = wasmtime_wasi::WasiCtx::builder()
        .stderr(stderr.clone())
        .build();
    let host = isyswasfa_host::Host::instantiate(
        wasmtime::Store::new(
            composition::engine(),
            isyswasfa_host::State::with(wasi, isyswasfa_host::IsyswasfaCtx::default()),
        ),
        &composition::linker()?,
        &component,
    )
    .await?;
    let attack = host.func::<(), String>(None, "wrong-result").await?;
    let error = match host.call(&attack, ()).await {
        Ok(answer) => panic!("the wrong `ready` was accepted: {answer}"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("relay-isyswasfa-result"), "{error}");
    let printed = String::from_utf8_lossy(&stderr.contents()).to_string();
    assert!(
        printed.contains(
            "a `ready` of `exports::component::compose::service::Guest::sleep` was passed to the \
             result export of `exports::component::compose::service::Guest::relay`"
        ),
        "{printed}"
    );
    Ok(())
}
