//! The library behind the `isyswasfa` command line, for its tests and for the subcommands that
//! build on one another (`serve` and `run` take what `compose` produces).
//!
//! - [`compose`]: plug components together into one, exporting every isyswasfa poll function.
//! - [`serve`]: an HTTP server whose requests a component's `wasi:http/handler` handles.

pub mod compose;
pub mod serve;
