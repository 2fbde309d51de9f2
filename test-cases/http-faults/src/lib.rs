//! An HTTP service that misbehaves on request, for the failure tests of `isyswasfa serve`
//! (cli/tests/http.rs): each path is one way a handler can go wrong.
//!
//! - `/trap`: panics inside `handle` (a trap: the instance is broken).
//! - `/slow`: waits 30 s before answering (for `--request-timeout`).
//! - `/malformed`: answers with status 101, which cannot be a final response.
//! - `/wait`: waits 100 ms, then answers `waited` (for the concurrency test).
//! - `/forever`: streams 1 KiB chunks until the client goes away; the writer then sees the
//!   reader dropped, which `/forever-status` reports (`dropped N`: how many streams ended so).
//! - `/fields-flood`: makes `fields` in a loop and keeps them all, until the host's cap on its
//!   resource table stops it (a trap).
//! - anything else: `ok`.

use std::sync::atomic::{AtomicU32, Ordering};

wit_bindgen::generate!({ path: "wit", world: "http-faults", generate_all });

use exports::wasi::http::handler::Guest;
use wasi::http::types::{ErrorCode, Fields, Request, Response};

/// How many `/forever` bodies ended because their reader was dropped.
static DROPPED: AtomicU32 = AtomicU32::new(0);

struct Component;

fn text(status: u16, body: String) -> Result<Response, ErrorCode> {
    let (mut writer, reader) = wit_stream::new::<u8>();
    let (_trailers_tx, trailers) = wit_future::new(|| Ok(None));
    let (response, _sent) = Response::new(Fields::new(), Some(reader), trailers);
    response
        .set_status_code(status)
        .map_err(|()| ErrorCode::InternalError(Some(format!("status {status}"))))?;
    wit_bindgen::spawn_local(async move {
        writer.write_all(body.into_bytes()).await;
    });
    Ok(response)
}

impl Guest for Component {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let path = request.get_path_with_query().unwrap_or_default();
        match path.as_str() {
            "/trap" => panic!("the handler was asked to trap"),
            "/slow" => {
                wasi::clocks::monotonic_clock::wait_for(30_000_000_000).await;
                text(200, "slow".into())
            }
            "/malformed" => text(101, String::new()),
            "/fields-flood" => {
                let mut kept = Vec::new();
                loop {
                    kept.push(Fields::new());
                }
            }
            "/wait" => {
                wasi::clocks::monotonic_clock::wait_for(100_000_000).await;
                text(200, "waited".into())
            }
            "/forever" => {
                let (mut writer, reader) = wit_stream::new::<u8>();
                let (_trailers_tx, trailers) = wit_future::new(|| Ok(None));
                let (response, _sent) = Response::new(Fields::new(), Some(reader), trailers);
                wit_bindgen::spawn_local(async move {
                    loop {
                        let rest = writer.write_all(vec![b'x'; 1024]).await;
                        if !rest.is_empty() {
                            DROPPED.fetch_add(1, Ordering::SeqCst);
                            return;
                        }
                    }
                });
                Ok(response)
            }
            "/forever-status" => text(200, format!("dropped {}", DROPPED.load(Ordering::SeqCst))),
            _ => text(200, "ok".into()),
        }
    }
}

export!(Component);
