//! A guest written for wit-bindgen 0.61's native async support, exactly as such a guest is
//! written. `port-unmodified` builds this source with isyswasfa-guest (renamed to `wit-bindgen`
//! in its `Cargo.toml`, the only difference); `port-unmodified-native` builds the same files with
//! wit-bindgen 0.61 itself.

wit_bindgen::generate!({ path: "wit", world: "port" });

use component::port::host;
use exports::component::port::api::{Guest, Point};
use wit_bindgen::{FutureReader, StreamReader, StreamResult};

struct Component;

impl Guest for Component {
    async fn count(n: u32) -> u32 {
        let mut last = 0;
        for _ in 0..n {
            last = host::next(last).await;
        }
        last
    }

    async fn shift(mut s: StreamReader<Point>, dx: i32, dy: i32) -> StreamReader<Point> {
        let (mut tx, rx) = wit_stream::new::<Point>();
        wit_bindgen::spawn_local(async move {
            while let Some(p) = s.next().await {
                let moved = Point {
                    x: p.x + dx,
                    y: p.y + dy,
                };
                if tx.write_one(moved).await.is_some() {
                    break;
                }
            }
        });
        rx
    }

    async fn mirror(f: FutureReader<Point>) -> FutureReader<Point> {
        let (tx, rx) = wit_future::new(|| Point { x: 0, y: 0 });
        wit_bindgen::spawn_local(async move {
            let p = f.await;
            let _ = tx.write(Point { x: p.y, y: p.x }).await;
        });
        rx
    }

    async fn total(mut s: StreamReader<Point>) -> Point {
        let mut sum = Point { x: 0, y: 0 };
        loop {
            let (result, chunk) = s.read(Vec::with_capacity(16)).await;
            for p in chunk {
                sum.x += p.x;
                sum.y += p.y;
            }
            if !matches!(result, StreamResult::Complete(_)) {
                break;
            }
        }
        sum
    }
}

export!(Component);
