//! The timing lock of a test process: tests that keep a core busy (a spinning guest, a flood)
//! take it exclusively, tests that time something take it shared, so that on a small machine a
//! busy test never steals the cores a timed one measures. Tests that measure the process's own
//! CPU time take it exclusively too: nothing else may run while they measure.

use tokio::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

static TIMING: RwLock<()> = RwLock::const_new(());

/// Held by a test that keeps a core busy or measures the process's CPU time: no other holder of
/// the lock runs meanwhile.
pub async fn exclusive() -> RwLockWriteGuard<'static, ()> {
    TIMING.write().await
}

/// Held by a test whose assertions bound a wall time: it runs beside other timed tests, never
/// beside an [`exclusive`] one.
pub async fn shared() -> RwLockReadGuard<'static, ()> {
    TIMING.read().await
}
