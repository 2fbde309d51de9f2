//! The integration tests of the `isyswasfa` CLI, in one binary (one link of wasmtime): the built
//! binary run on real guests, compositions run on the real host, `serve` over real TCP.
//!
//! Tests that need a process of their own live in binaries of their own:
//! `composition_timing` (measures the process's CPU time) and `blocking_poll_warning` (installs
//! the process's global tracing subscriber).

mod bundle;
mod bundle_http;
mod bundle_jco;
mod cli_compose_errors;
#[path = "../common/mod.rs"]
mod common;
mod compose;
mod compose_run;
mod composition;
mod dropin;
mod dropin_command;
mod dropin_http;
pub(crate) mod http;
mod python;
mod run;
mod serve_limits;
mod serve_soak;
mod wit;
