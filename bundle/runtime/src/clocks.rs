//! `wasi:clocks@0.3.0`, lowered, on the WASI 0.2 clocks: `wait-for` and `wait-until` are
//! runtime tasks waiting for a 0.2 clock pollable.

use std::sync::LazyLock;

use isyswasfa_protocol::tasks::HostFunction;
use wasi::clocks::{monotonic_clock, wall_clock};

use crate::bindings::exports::isyswasfa::isyswasfa::isyswasfa::{Pending, Ready};
use crate::bindings::exports::wasi::clocks::{monotonic_clock as mono, system_clock};
use crate::protocol::{PendingTask, ReadyTask};
use crate::state;
use crate::{Runtime, reactor};

static WAIT_FOR: LazyLock<HostFunction> = LazyLock::new(|| HostFunction::new("wait-for"));
static WAIT_UNTIL: LazyLock<HostFunction> = LazyLock::new(|| HostFunction::new("wait-until"));

fn wait(
    function: &HostFunction,
    pollable: Option<wasi::io::poll::Pollable>,
) -> Result<(), Pending> {
    // A wait that is already due finishes in its start half.
    let Some(pollable) = pollable else {
        return Ok(());
    };
    state::start(function, reactor::ready(pollable)).map_err(PendingTask::handle)
}

impl mono::Guest for Runtime {
    fn now() -> u64 {
        monotonic_clock::now()
    }

    fn get_resolution() -> u64 {
        monotonic_clock::resolution()
    }

    fn wait_until_isyswasfa_start(when: u64) -> Result<(), Pending> {
        let due = when <= monotonic_clock::now();
        wait(
            &WAIT_UNTIL,
            (!due).then(|| monotonic_clock::subscribe_instant(when)),
        )
    }

    fn wait_until_isyswasfa_result(ready: Ready) {
        state::take_value::<()>(&WAIT_UNTIL, ReadyTask::take(ready))
    }

    fn wait_for_isyswasfa_start(how_long: u64) -> Result<(), Pending> {
        wait(
            &WAIT_FOR,
            (how_long > 0).then(|| monotonic_clock::subscribe_duration(how_long)),
        )
    }

    fn wait_for_isyswasfa_result(ready: Ready) {
        state::take_value::<()>(&WAIT_FOR, ReadyTask::take(ready))
    }
}

impl system_clock::Guest for Runtime {
    fn now() -> system_clock::Instant {
        let now = wall_clock::now();
        system_clock::Instant {
            seconds: i64::try_from(now.seconds).unwrap_or(i64::MAX),
            nanoseconds: now.nanoseconds,
        }
    }

    fn get_resolution() -> u64 {
        let resolution = wall_clock::resolution();
        resolution
            .seconds
            .saturating_mul(1_000_000_000)
            .saturating_add(u64::from(resolution.nanoseconds))
    }
}
