//! The library behind the `isyswasfa` command line, for its tests and for the subcommands that
//! build on one another (`serve` and `run` take what `compose` produces).
//!
//! - [`python`]: the glue that makes componentize-py's bindings of a lowered world async Python.
//! - [`serve`]: an HTTP server whose requests a component's `wasi:http/handler` handles.
//! - [`wasi_options`]: the `-S` WASI settings `run` and `serve` share.
//!
//! Composition (`isyswasfa compose`) is the library crate `isyswasfa-compose`; the command only
//! reads the files it names and writes the result.

#![warn(missing_docs)]

pub mod python;
pub mod serve;
pub mod wasi_options;
