//! A pipe carries one payload type, whatever a guest declares: the `hostile-pipes` guest reads and
//! writes a `stream<u32>` with the operations of a `stream<string>` (its ops interface declares
//! them on `stream-u32` ends, so wasmtime's handle checks pass), and the `lying-ops` guest
//! declares two payload types for one pipe. The host refuses both, naming the operation, and only the offending host is harmed.

use std::time::Duration;

use isyswasfa_host::{Host, State};
use isyswasfa_test_support::{Guest, timing};
use wasmtime::{Result, Store};

use crate::common;

async fn instantiate(guest: Guest) -> Result<Host<State>> {
    let linker = isyswasfa_host::linker::<State>(common::engine())?;
    Host::instantiate(
        Store::new(common::engine(), State::new()),
        &linker,
        &common::component(guest),
    )
    .await
}

#[tokio::test]
async fn pipe_payload_honest_use_works() -> Result<()> {
    let _timing = timing::shared().await;
    let host = instantiate(Guest::HostilePipes).await?;
    let honest = host.sync_func::<(), (Vec<u32>,)>(None, "honest").await?;
    assert_eq!(host.call_sync(&honest, ()).await?.0, vec![1, 2, 3]);
    assert_eq!(host.call_sync(&honest, ()).await?.0, vec![1, 2, 3]);
    Ok(())
}

/// Runs attack `which` of `hostile-pipes`; returns its error after checking that the host stays
/// broken with it and another host is unharmed.
async fn cross(which: &str) -> Result<String> {
    let other = common::round_trip(Duration::ZERO).await?;
    let host = instantiate(Guest::HostilePipes).await?;
    let cross = host
        .sync_func::<(String,), (String,)>(None, "cross")
        .await?;
    let error = match host.call_sync(&cross, (which.to_string(),)).await {
        Ok((done,)) => panic!("`{which}` was not refused: {done}"),
        Err(error) => format!("{error:#}"),
    };
    assert!(error.contains("component `hostile-pipes`"), "{error}");
    let honest = host.sync_func::<(), (Vec<u32>,)>(None, "honest").await?;
    let later = format!("{:#}", host.call_sync(&honest, ()).await.unwrap_err());
    assert_eq!(later, error);
    common::other_host_answers(&other).await?;
    Ok(error)
}

#[tokio::test]
async fn hostile_pipe_read_as_other_payload() -> Result<()> {
    let _timing = timing::shared().await;
    let error = cross("read").await?;
    assert!(
        error.contains("`stream-string-read` was given a pipe of `stream-u32`"),
        "{error}"
    );
    Ok(())
}

#[tokio::test]
async fn hostile_pipe_written_as_other_payload() -> Result<()> {
    let _timing = timing::shared().await;
    let error = cross("write").await?;
    assert!(
        error.contains("`stream-string-write` was given a pipe of `stream-u32`"),
        "{error}"
    );
    Ok(())
}

/// The `wasi:http` host functions check the pipes they are handed as the typed operations do:
/// the reader of a `future<result<_, error-code>>` given to `response.new` as its trailers (a
/// guest whose WIT says so passes wasmtime's type check) is refused, naming the call and the pipe.
#[tokio::test]
async fn hostile_http_trailers_of_other_payload() -> Result<()> {
    let _timing = timing::shared().await;
    let error = cross("http-trailers").await?;
    assert!(
        error.contains(
            "`wasi:http/types#[static]response.new` was given a pipe of \
             `future-result-none-wasi-http-types-error-code`"
        ),
        "{error}"
    );
    Ok(())
}

#[tokio::test]
async fn hostile_ops_disagree_on_payload() -> Result<()> {
    let _timing = timing::shared().await;
    let error = match instantiate(Guest::LyingOps).await {
        Ok(_) => panic!("a component declaring two payloads for one pipe was linked"),
        Err(error) => format!("{error:#}"),
    };
    for part in [
        "isyswasfa-ops-lying-ops#stream-string-write` declares payload `u32` for pipe `stream-string`",
        "isyswasfa-ops-lying-ops#stream-string-read` declares `string`",
    ] {
        assert!(error.contains(part), "`{part}` missing from: {error}");
    }
    Ok(())
}
