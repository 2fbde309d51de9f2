//! The call loops of `tasks` (`call-sync`, `call-ready`, `call-pending-once`), built as a native
//! WASI 0.3 component with wit-bindgen's async support: the baseline of the call-overhead
//! benchmark.

wit_bindgen::generate!({ path: "wit", world: "native", generate_all });

use component::tasks::host;

struct Component;

impl exports::component::tasks::tasks::Guest for Component {
    async fn call_pending_once(n: u32) -> u64 {
        let mut sum = 0;
        for i in 0..n {
            sum += u64::from(host::pending_once(i).await);
        }
        sum
    }

    async fn call_ready(n: u32) -> u64 {
        let mut sum = 0;
        for i in 0..n {
            sum += u64::from(host::ready(i).await);
        }
        sum
    }

    async fn call_sync(n: u32) -> u64 {
        let mut sum = 0;
        for i in 0..n {
            sum += u64::from(host::sync_echo(i));
        }
        sum
    }
}

export!(Component);
