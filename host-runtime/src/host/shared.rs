//! What a store's event loop shares with its [`Host`](crate::Host) handles, without a lock.

use std::sync::atomic::{AtomicU64, Ordering};

/// What a store's event loop shares with its handles.
#[derive(Default)]
pub(crate) struct LoopShared {
    /// The id of the next exported call.
    pub(crate) next_call: AtomicU64,
    /// When the loop entered the store for its current entry, in microseconds since
    /// [`clock_base`] plus one; 0 while it is not inside the store.
    pub(super) entered_at: AtomicU64,
    /// Stops the loop's task (see [`Host::abort`](crate::Host::abort)).
    pub(super) abort: std::sync::OnceLock<tokio::task::AbortHandle>,
}

/// The instant [`LoopShared::entered_at`] counts from.
fn clock_base() -> std::time::Instant {
    static BASE: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *BASE.get_or_init(std::time::Instant::now)
}

impl LoopShared {
    /// Records that the loop entered the store (`true`) or left it (`false`).
    pub(super) fn set_entered(&self, entered: bool) {
        let at = if entered {
            u64::try_from(clock_base().elapsed().as_micros())
                .unwrap_or(u64::MAX - 1)
                .saturating_add(1)
        } else {
            0
        };
        self.entered_at.store(at, Ordering::Relaxed);
    }

    /// How long the loop has been inside the store, if it is.
    pub(super) fn entered_for(&self) -> Option<std::time::Duration> {
        match self.entered_at.load(Ordering::Relaxed) {
            0 => None,
            at => {
                let now = clock_base().elapsed();
                Some(now.saturating_sub(std::time::Duration::from_micros(at - 1)))
            }
        }
    }
}
