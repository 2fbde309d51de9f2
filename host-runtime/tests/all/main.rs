//! The integration tests of isyswasfa-host, in one binary (one link of wasmtime): real guests
//! of `test-cases/` on the real host.
//!
//! Tests that measure the process itself live in binaries of their own: `cpu_time` (the
//! process's CPU time) and `stream_echo_64mib` (its peak resident memory).

#[path = "../common/mod.rs"]
mod common;
mod hardening;
mod hostile;
mod native;
mod pipe_payload;
mod port;
mod round_trip;
mod streams;
