//! The integration tests of isyswasfa-bindgen, in one binary: lowering of WASI 0.3-style WIT,
//! generated Rust bindings, encoded components, the shipped WIT packages, and conformance with
//! wasmtime's `wasi:http@0.3.0`.

mod encode;
mod generate;
mod lowering;
mod shipped;
mod wit_conformance;
