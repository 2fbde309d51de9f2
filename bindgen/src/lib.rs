//! Lowering of WASI 0.3-style WIT for WASI 0.2 hosts, and Rust guest code generation.
//!
//! [`lower`] turns a world that uses `async func` into a plain WASI 0.2 world: each async
//! function becomes a start/result pair and the world gains its poll export (see [`lower`]'s
//! module docs for the exact rules). [`rust::generate`] then generates Rust guest bindings for
//! the lowered world with `wit-bindgen-rust`, plus an async façade with wit-bindgen's native async
//! API on top.
//!
//! ```
//! use isyswasfa_bindgen::{LowerOptions, lower, wit_parser::Resolve};
//!
//! let mut resolve = Resolve::default();
//! let pkg = resolve.push_str("demo.wit", r#"
//!     package demo:app;
//!     world app { export run: async func(s: string) -> string; }
//! "#)?;
//! let world = resolve.select_world(&[pkg], None)?;
//! let lowered = lower(&resolve, world, &LowerOptions::for_crate("demo-app"))?;
//! let wit = lowered.to_wit()?;
//! assert!(wit.contains("export run-isyswasfa-start: func(s: string) -> result<string, isyswasfa-pending>;"));
//! assert!(wit.contains("export isyswasfa-poll-demo-app: func(input: list<isyswasfa-poll-input>);"));
//! # Ok::<(), anyhow::Error>(())
//! ```

#![warn(missing_docs)]

mod elaborate;
mod lower;
pub mod pipes;
pub mod rust;
mod rust_pipes;
mod rust_pollables;
pub mod shipped;
mod wit_dir;

pub use lower::*;
pub use wit_bindgen_core::wit_parser;
