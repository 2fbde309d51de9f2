//! The integration tests of isyswasfa-host, in one binary (one link of wasmtime): real guests
//! of `test-cases/` on the real host.
//!
//! Tests that need a process of their own live in binaries of their own: `busy_guests` (busy
//! guests beside timed round trips, under the timing lock), `cpu_time` (measures the process's
//! CPU time) and `stream_echo_64mib` (measures its peak resident memory).

#[path = "../common/mod.rs"]
mod common;
mod dropin;
mod native;
mod port;
mod round_trip;
mod streams;
