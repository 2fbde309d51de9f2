//! A guest written for wit-bindgen 0.61's native async support, exactly as such a guest is
//! written. `port-dropin` builds it with isyswasfa-guest (renamed to `wit-bindgen` in its
//! `Cargo.toml`, the only difference); `port-dropin-native` builds the same files with
//! wit-bindgen 0.61 itself. Each function of `component:dropin/checks` exercises one of the
//! differences issue 17 found, and answers a text both builds must agree on.

mod bindings {
    wit_bindgen::generate!({ path: "wit", world: "dropin", generate_all });
}

// A second world, every interface of which `bindings` has: its bindings map them all there, and
// define nothing of their own (the guest uses `bindings`' `wit_stream` and `wit_future` here).
wit_bindgen::generate!({
    path: "wit",
    world: "extra",
    with: {
        "wasi:clocks/types@0.3.0": crate::bindings::wasi::clocks::types,
        "wasi:clocks/monotonic-clock@0.3.0": crate::bindings::wasi::clocks::monotonic_clock,
        "component:dropin/sink": crate::bindings::component::dropin::sink,
    },
});

use std::cell::{Cell, RefCell};
use std::pin::pin;
use std::rc::Rc;

use bindings::{exports, wasi, wit_stream};
use exports::component::dropin::api::{Guest as Api, Point};
use exports::component::dropin::checks::{Guest as Checks, Perms};
use wasi::clocks::monotonic_clock;
use wit_bindgen::{StreamReader, StreamResult};

struct Component;

impl Api for Component {
    async fn points(n: u32) -> StreamReader<Point> {
        let (mut tx, rx) = wit_stream::new::<Point>();
        wit_bindgen::spawn_local(async move {
            for i in 0..n as i32 {
                if tx.write_one(Point { x: i, y: -i }).await.is_some() {
                    break;
                }
            }
        });
        rx
    }
}

impl Checks for Component {
    async fn toggle_write(p: Perms) -> String {
        let names = |p: Perms| {
            let all = [
                (Perms::READ, "read"),
                (Perms::WRITE, "write"),
                (Perms::EXEC, "exec"),
            ];
            let set: Vec<&str> = all
                .iter()
                .filter(|(flag, _)| p.contains(*flag))
                .map(|(_, name)| *name)
                .collect();
            set.join("+")
        };
        format!("{} -> {}", names(p), names(p ^ Perms::WRITE))
    }

    async fn echo(mut input: StreamReader<u8>) -> StreamReader<u8> {
        let (mut tx, rx) = wit_stream::new::<u8>();
        wit_bindgen::spawn_local(async move {
            let mut buf = Vec::with_capacity(64);
            loop {
                let (result, read) = input.read(buf).await;
                if !matches!(result, StreamResult::Complete(_)) {
                    break;
                }
                buf = tx.write_all(read).await;
                if !buf.is_empty() {
                    break;
                }
            }
        });
        rx
    }

    async fn abi_buffer() -> String {
        let (mut tx, mut rx) = wit_stream::new::<u8>();
        let read = Rc::new(RefCell::new(None));
        let reader = read.clone();
        wit_bindgen::spawn_local(async move {
            let (_, values) = rx.read(Vec::with_capacity(16)).await;
            *reader.borrow_mut() = Some(values);
            drop(rx);
        });
        let mut values = Vec::with_capacity(10);
        values.extend([1, 2, 3]);
        let (result, buf) = tx.write(values).await;
        let remaining = buf.remaining();
        let back = buf.into_vec();
        let first = format!(
            "{result:?}, remaining {remaining}, into_vec {back:?} of capacity {}",
            back.capacity()
        );
        // The reader takes one read, then goes away.
        while read.borrow().is_none() {
            wit_bindgen::yield_async().await;
        }
        let (result, buf) = tx.write(vec![4, 5]).await;
        let remaining = buf.remaining();
        let second = format!(
            "{result:?}, remaining {remaining}, into_vec {:?}",
            buf.into_vec()
        );
        let read = read.borrow_mut().take().unwrap_or_default();
        format!("{first}; read {read:?}; {second}")
    }

    async fn echo_loop() -> String {
        let (mut tx, rx) = wit_stream::new::<u8>();
        wit_bindgen::spawn_local(async move {
            for chunk in 0..20u8 {
                // The echo loop waits for each chunk: a loop that does not wait spins here.
                monotonic_clock::wait_for(2_000_000).await;
                if !tx.write_all(vec![chunk; 100]).await.is_empty() {
                    break;
                }
            }
        });
        let echoed = <Component as Checks>::echo(rx).await.collect().await;
        let sum: u32 = echoed.iter().map(|b| u32::from(*b)).sum();

        // `write_all` gives back the vector it was given, emptied, its capacity kept.
        let (mut tx, mut rx) = wit_stream::new::<u8>();
        wit_bindgen::spawn_local(async move { while rx.next().await.is_some() {} });
        let mut values = Vec::with_capacity(1000);
        values.extend([7u8; 10]);
        let back = tx.write_all(values).await;
        format!(
            "echoed {} bytes, sum {sum}; write_all gave back {} values, capacity {}",
            echoed.len(),
            back.len(),
            back.capacity()
        )
    }

    async fn zero_read() -> String {
        let (mut tx, mut rx) = wit_stream::new::<u8>();
        let written = Rc::new(Cell::new(false));
        let writer = written.clone();
        wit_bindgen::spawn_local(async move {
            monotonic_clock::wait_for(5_000_000).await;
            writer.set(true);
            tx.write_all(vec![1, 2, 3]).await;
        });
        let (first, buf) = rx.read(Vec::new()).await;
        let first = format!("{first:?} after the write: {}, {buf:?}", written.get());
        let (second, buf) = rx.read(Vec::with_capacity(8)).await;
        let second = format!("{second:?} {buf:?}");
        let (third, buf) = rx.read(Vec::new()).await;
        let third = format!("{third:?} {buf:?}");
        format!("{first}; {second}; {third}")
    }

    async fn zero_waits() -> String {
        let wait_for = first_poll(monotonic_clock::wait_for(0)).await;
        let wait_until = first_poll(monotonic_clock::wait_until(monotonic_clock::now())).await;
        let past = first_poll(monotonic_clock::wait_until(0)).await;
        format!("wait-for(0): {wait_for}; wait-until(now): {wait_until}; wait-until(0): {past}")
    }

    async fn second_bindings() -> String {
        // `sink::consume` takes a `StreamReader<u8>` made by `bindings`' `wit_stream`; the
        // function is not called (the host need not provide it), only named.
        let consume: fn(StreamReader<u8>) -> _ = bindings::component::dropin::sink::consume;
        let _ = consume;
        let (mut tx, rx) = wit_stream::new::<u8>();
        wit_bindgen::spawn_local(async move {
            tx.write_all(b"second".to_vec()).await;
        });
        String::from_utf8_lossy(&rx.collect().await).into_owned()
    }
}

/// Awaits `future`; says whether its first poll found it ready.
async fn first_poll<F: Future<Output = ()>>(future: F) -> &'static str {
    let mut future = pin!(future);
    let mut first = true;
    let mut ready_at_once = false;
    std::future::poll_fn(|cx| {
        let poll = future.as_mut().poll(cx);
        if first {
            first = false;
            ready_at_once = poll.is_ready();
        }
        poll
    })
    .await;
    if ready_at_once { "ready" } else { "pending" }
}

bindings::export!(Component with_types_in bindings);
