//! A guest written for wit-bindgen 0.61's native async support, exactly as such a guest is
//! written. `port-dropin` builds it with isyswasfa-guest (renamed to `wit-bindgen` in its
//! `Cargo.toml`, the only difference); `port-dropin-native` builds the same files with
//! wit-bindgen 0.61 itself. Each function of `component:dropin/checks` exercises one of the
//! differences issue 17 found, and answers a text both builds must agree on.

wit_bindgen::generate!({ path: "wit", world: "dropin", generate_all });

use exports::component::dropin::api::{Guest as Api, Point};
use exports::component::dropin::checks::{Guest as Checks, Perms};
use wit_bindgen::StreamReader;

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
}

export!(Component);
