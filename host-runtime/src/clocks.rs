//! `wasi:clocks/monotonic-clock@0.3.0`, lowered: `now` and `get-resolution` as they are, and
//! `wait-for` / `wait-until` as async functions backed by tokio timers.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use wasmtime::Result;
use wasmtime::component::Linker;

use crate::funcs::func_wrap_async;
use crate::protocol::IsyswasfaView;

/// The interface name, as components import it.
pub const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.3.0";

/// The clock's zero: marks are nanoseconds since the first use of the clock in this process.
fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now() -> u64 {
    u64::try_from(epoch().elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Adds the lowered monotonic clock to `linker`.
pub fn add_to_linker<T: IsyswasfaView + 'static>(linker: &mut Linker<T>) -> Result<()> {
    let mut clock = linker.instance(MONOTONIC_CLOCK)?;
    clock.func_wrap("now", |_, (): ()| Ok((now(),)))?;
    clock.func_wrap("get-resolution", |_, (): ()| Ok((1u64,)))?;
    func_wrap_async(&mut clock, "wait-for", |(how_long,): (u64,)| {
        tokio::time::sleep(Duration::from_nanos(how_long))
    })?;
    func_wrap_async(&mut clock, "wait-until", |(when,): (u64,)| {
        let deadline = epoch().checked_add(Duration::from_nanos(when));
        async move {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
                // Beyond what this platform's clock can represent: never.
                None => std::future::pending().await,
            }
        }
    })?;
    Ok(())
}
