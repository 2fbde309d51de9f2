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
//! - `/drop-trailers`: reads the request body to its end after dropping its trailers future
//!   unread, then answers `read N`.
//! - `/sleep-blocking`: `std::thread::sleep` for 60 s inside `handle` (a WASI 0.2
//!   `pollable.block`, which stalls the instance), then `slept`.
//! - `/print-controls`: prints a line with a carriage return and ANSI escapes to stdout.
//! - `/grow`: allocates 128 MiB and answers `grew N` (traps when memory is capped lower).
//! - `/trap-mid-body`: answers 200, streams part of the body, then traps.
//! - `/spin`: computes forever inside `handle` (for the CPU deadline).
//! - `/many-names`: `fields.from-list` with 25 000 distinct names and empty values, answering
//!   what the host said (`made` or the error), so a panic in the host shows as a failed request.
//! - `/error`: returns `internal-error("asked to fail")` from `handle`.
//! - `/random`: 16 secure and 8 insecure random bytes (`wasi:random@0.3.0`), as hex.
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
            "/spin" => {
                let mut n = 0u64;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "/drop-trailers" => {
                let (_consumed, consumed_rx) = wit_future::new(|| Ok(()));
                let (mut body, trailers) = Request::consume_body(request, consumed_rx);
                drop(trailers);
                let mut read = 0;
                loop {
                    let (result, chunk) = body.read(Vec::with_capacity(16 * 1024)).await;
                    read += chunk.len();
                    if !matches!(result, wit_bindgen::StreamResult::Complete(_)) {
                        break;
                    }
                }
                text(200, format!("read {read}"))
            }
            "/sleep-blocking" => {
                std::thread::sleep(std::time::Duration::from_secs(60));
                text(200, "slept".into())
            }
            "/error" => Err(ErrorCode::InternalError(Some("asked to fail".into()))),
            "/random" => {
                // `wasi:random@0.3.0`: 16 secure and 8 insecure bytes, as hex.
                let mut bytes = wasi::random::random::get_random_bytes(16);
                bytes.extend(wasi::random::insecure::get_insecure_random_bytes(8));
                let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
                text(200, hex)
            }
            "/print-controls" => {
                // Through `wasi:cli/stdout@0.3.0`, whose lines the host labels and logs.
                let (mut tx, rx) = wit_stream::new::<u8>();
                let done = wasi::cli::stdout::write_via_stream(rx);
                tx.write_all(b"plain\rforged record \x1b[31mred\x1b[0m\n".to_vec())
                    .await;
                drop(tx);
                let _ = done.await;
                text(200, "printed".into())
            }
            "/grow" => {
                let grown = vec![1u8; 128 << 20];
                text(200, format!("grew {}", grown.iter().map(|b| *b as usize).sum::<usize>()))
            }
            "/trap-mid-body" => {
                let (mut writer, reader) = wit_stream::new::<u8>();
                let (_trailers_tx, trailers) = wit_future::new(|| Ok(None));
                let (response, _sent) = Response::new(Fields::new(), Some(reader), trailers);
                wit_bindgen::spawn_local(async move {
                    writer.write_all(b"the first part".to_vec()).await;
                    wasi::clocks::monotonic_clock::wait_for(50_000_000).await;
                    panic!("the handler traps in the middle of its body");
                });
                Ok(response)
            }
            "/many-names" => {
                let entries = (0..25_000).map(|i| (format!("x{i}"), Vec::new())).collect::<Vec<_>>();
                let outcome = match Fields::from_list(&entries) {
                    Ok(_) => "made".to_string(),
                    Err(error) => format!("{error:?}"),
                };
                text(200, outcome)
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
