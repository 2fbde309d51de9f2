//! `wasi:clocks/monotonic-clock@0.3.0`, lowered: `now` and `get-resolution` as they are, and
//! `wait-for` / `wait-until` as async functions backed by tokio timers.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use wasmtime::Result;
use wasmtime::component::{ComponentType, Linker, Lower};

use crate::ctx::IsyswasfaView;
use crate::funcs::func_wrap_async;

/// The interface name, as components import it.
pub const MONOTONIC_CLOCK: &str = "wasi:clocks/monotonic-clock@0.3.0";
/// The interface name, as components import it.
pub const SYSTEM_CLOCK: &str = "wasi:clocks/system-clock@0.3.0";

/// `system-clock.instant`.
#[derive(ComponentType, Lower, Clone, Copy)]
#[component(record)]
struct SystemInstant {
    seconds: i64,
    nanoseconds: u32,
}

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
    // A wait that is already due finishes in its start half, as natively (a tokio timer would
    // first wait for the timer wheel's next tick).
    func_wrap_async(&mut clock, "wait-for", |(how_long,): (u64,)| {
        let sleep = (how_long > 0).then(|| tokio::time::sleep(Duration::from_nanos(how_long)));
        async move {
            if let Some(sleep) = sleep {
                sleep.await
            }
        }
    })?;
    func_wrap_async(&mut clock, "wait-until", |(when,): (u64,)| {
        let due = when <= now();
        let deadline = epoch().checked_add(Duration::from_nanos(when));
        async move {
            match deadline {
                _ if due => {}
                Some(deadline) => tokio::time::sleep_until(deadline.into()).await,
                // Beyond what this platform's clock can represent: never.
                None => std::future::pending().await,
            }
        }
    })?;
    let mut system = linker.instance(SYSTEM_CLOCK)?;
    system.func_wrap("now", |_, (): ()| {
        let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        let instant = match since {
            Ok(d) => SystemInstant {
                seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
                nanoseconds: d.subsec_nanos(),
            },
            // Before 1970: whole seconds rounded down, nanoseconds counted up from there.
            Err(e) => {
                let d = e.duration();
                let (seconds, nanoseconds) = match d.subsec_nanos() {
                    0 => (d.as_secs() as i64, 0),
                    n => (d.as_secs() as i64 + 1, 1_000_000_000 - n),
                };
                SystemInstant {
                    seconds: -seconds,
                    nanoseconds,
                }
            }
        };
        Ok((instant,))
    })?;
    system.func_wrap("get-resolution", |_, (): ()| Ok((1u64,)))?;
    Ok(())
}
