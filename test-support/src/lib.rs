//! What the workspace's tests and benchmarks share: the guests of `test-cases/` (named by the
//! [`Guest`] enum, built for wasm32-wasip2 once per process), the process's CPU time, a TCP test
//! server, the timing lock and HTTP client helpers. A dev-dependency only; never published.

pub mod cpu;
pub mod figures;
mod guests;
pub mod http;
pub mod tcp;
pub mod timing;

pub use guests::{Guest, repo_root};
