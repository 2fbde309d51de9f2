//! The isyswasfa task protocol, with nothing of any particular host in it.
//!
//! A lowered component calls an async function in two halves (start, then result once a `ready`
//! arrives), learns of finished tasks through its poll export, and moves `stream<T>` /
//! `future<T>` values through bounded pipes. This crate holds what every embedding of that
//! protocol shares: the stable [`names`], the protocol [`wit`], the state machine of the task
//! table ([`tasks`]) and of a pipe ([`pipe`]), and the one [`Error`] type. It does not depend on
//! wasmtime, so the host library and an in-wasm runtime can both build on it; bindgen and the
//! guest runtime take the names and the WIT from here.

#![warn(missing_docs)]

pub mod context;
pub mod error;
pub mod http;
pub mod names;
pub mod pipe;
pub mod tasks;
pub mod wit;

pub use error::{Error, ErrorKind, Result};
