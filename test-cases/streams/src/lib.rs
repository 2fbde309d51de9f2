//! Streams and futures of every kind of payload, for the host's tests.

isyswasfa_guest::generate!({ path: "wit", world: "guest", generate_all });

use std::cell::RefCell;

use component::streams::types::{Point, Problem, Thing};
use futures::FutureExt;
use isyswasfa_guest::{StreamReader, StreamResult, StreamWriter, spawn_local};
use wasi::clocks::monotonic_clock;

thread_local! {
    static WRITER_STATUS: RefCell<String> = RefCell::new("running".to_string());
}

fn set_status(status: &str) {
    WRITER_STATUS.with(|s| *s.borrow_mut() = status.to_string());
}

fn millis(ms: u32) -> u64 {
    u64::from(ms) * 1_000_000
}

/// Copies `input` to a new stream, applying `f` to each chunk, in a task of its own.
fn pipe_through<T: wit_stream::StreamPayload, U: wit_stream::StreamPayload>(
    mut input: StreamReader<T>,
    f: impl Fn(Vec<T>) -> Vec<U> + 'static,
) -> StreamReader<U> {
    let (mut tx, rx) = wit_stream::new::<U>();
    spawn_local(async move {
        loop {
            let (result, chunk) = input.read(Vec::with_capacity(64 * 1024)).await;
            if !matches!(result, StreamResult::Complete(_)) {
                break;
            }
            if !tx.write_all(f(chunk)).await.is_empty() {
                break;
            }
        }
    });
    rx
}

struct Component;

impl exports::component::streams::streams::Guest for Component {
    async fn echo(s: StreamReader<u8>) -> StreamReader<u8> {
        pipe_through(s, |bytes| bytes)
    }

    async fn double(s: StreamReader<u32>) -> StreamReader<u32> {
        pipe_through(s, |values| values.into_iter().map(|v| v * 2).collect())
    }

    async fn later(
        f: isyswasfa_guest::FutureReader<String>,
    ) -> isyswasfa_guest::FutureReader<String> {
        let (tx, rx) = wit_future::new(String::new);
        spawn_local(async move {
            let value = f.await;
            let _ = tx.write(format!("{value} later")).await;
        });
        rx
    }

    async fn shift(s: StreamReader<Point>, dx: i32, dy: i32) -> StreamReader<Point> {
        pipe_through(s, move |points| {
            points
                .into_iter()
                .map(|p| Point {
                    x: p.x + dx,
                    y: p.y + dy,
                })
                .collect()
        })
    }

    async fn things(count: u32) -> StreamReader<Thing> {
        let (mut tx, rx) = wit_stream::new::<Thing>();
        spawn_local(async move {
            for value in 0..count {
                if tx.write_one(Thing::new(value)).await.is_some() {
                    break;
                }
            }
        });
        rx
    }

    async fn sum_things(s: StreamReader<Thing>) -> u32 {
        s.collect().await.iter().map(Thing::value).sum()
    }

    async fn outcome(which: u32) -> isyswasfa_guest::FutureReader<Result<Option<Point>, Problem>> {
        let (tx, rx) = wit_future::new(|| Err(Problem::Bad(0)));
        let value = match which {
            0 => Ok(Some(Point { x: 1, y: 2 })),
            1 => Ok(None),
            _ => Err(Problem::Missing("nothing here".to_string())),
        };
        // A native future write waits for the reader, which the caller only gets once this
        // returns: write from a task of its own.
        spawn_local(async move {
            let _ = tx.write(value).await;
        });
        rx
    }

    async fn count(s: StreamReader<()>) -> u32 {
        s.collect().await.len() as u32
    }

    async fn produce() -> StreamReader<u32> {
        let (mut tx, rx) = wit_stream::new::<u32>();
        set_status("running");
        spawn_local(async move {
            let mut next = 0u32;
            loop {
                let (result, _) = tx.write(vec![next]).await;
                match result {
                    StreamResult::Complete(_) => next += 1,
                    StreamResult::Dropped => return set_status("dropped"),
                    StreamResult::Cancelled => return set_status("cancelled"),
                }
            }
        });
        rx
    }

    fn writer_status() -> String {
        WRITER_STATUS.with(|s| s.borrow().clone())
    }

    async fn cancel_read(mut s: StreamReader<u32>, ms: u32) -> (String, Vec<u32>) {
        let first = {
            let read = s.read(Vec::with_capacity(16));
            futures::pin_mut!(read);
            let timeout = monotonic_clock::wait_for(millis(ms)).fuse();
            futures::pin_mut!(timeout);
            futures::select_biased! {
                (result, _) = read.as_mut().fuse() => format!("{result:?}"),
                () = timeout => {
                    let (result, _) = read.as_mut().cancel();
                    format!("{result:?}")
                }
            }
        };
        (first, s.collect().await)
    }

    async fn cancel_write(count: u32, ms: u32) -> StreamReader<u32> {
        let (mut tx, rx): (StreamWriter<u32>, _) = wit_stream::new::<u32>();
        set_status("running");
        spawn_local(async move {
            for value in 0..count {
                let write = tx.write(vec![value]);
                futures::pin_mut!(write);
                let timeout = monotonic_clock::wait_for(millis(ms)).fuse();
                futures::pin_mut!(timeout);
                let status = futures::select_biased! {
                    (result, _) = write.as_mut().fuse() => result,
                    () = timeout => write.as_mut().cancel().0,
                };
                if status != StreamResult::Complete(1) {
                    return set_status(&format!("{status:?}").to_lowercase());
                }
            }
            set_status("complete");
        });
        rx
    }

    async fn flood(count: u32) -> StreamReader<u32> {
        let (mut tx, rx) = wit_stream::new::<u32>();
        spawn_local(async move {
            tx.write_all((0..count).collect()).await;
        });
        rx
    }

    async fn flood_bytes(count: u32) -> StreamReader<u8> {
        let (mut tx, rx) = wit_stream::new::<u8>();
        spawn_local(async move {
            tx.write_all((0..count).map(|i| (i % 251) as u8).collect())
                .await;
        });
        rx
    }

    async fn unwritten() -> isyswasfa_guest::FutureReader<String> {
        let (tx, rx) = wit_future::new(|| "the default".to_string());
        drop(tx);
        rx
    }
}

export!(Component);
