//! Tests where a guest keeps a core busy (spinning, flooding, self-waking) or traps, while the
//! test times another host's round trips, which must still answer in their normal time.
//!
//! A test binary of their own, and every test in it holds the timing lock of
//! isyswasfa-test-support: the busy ones exclusively, the others shared. A timed test then never
//! runs beside a busy one, which in a shared process only a lock taken by every test could
//! promise (a busy guest beside the `all` binary's tests stopped 3 s late on a loaded machine).

#[path = "../common/mod.rs"]
mod common;
mod hardening;
mod hostile;
mod pipe_payload;
