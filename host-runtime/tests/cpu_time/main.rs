//! Tests that measure this process's CPU time (`getrusage`), to show that waiting costs none.
//!
//! A test binary of their own: the CPU time of a process is that of every test running in it,
//! so these cannot share a process with the other tests. Each holds the timing lock exclusively,
//! so they run one at a time.

#[path = "../common/mod.rs"]
mod common;
mod concurrency;
mod pollables;
