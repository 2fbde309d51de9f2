//! The lowered WASI 0.3 interfaces the host implements, one module per WASI area (WASI 0.2
//! itself comes from `wasmtime-wasi`).

pub mod cli;
pub mod clocks;
pub mod filesystem;
pub mod http;
mod io;
pub mod random;
pub mod sockets;

use wasmtime::Result;
use wasmtime::component::Linker;

use wasmtime_wasi::WasiView;

use crate::ctx::IsyswasfaView;

/// Adds every lowered WASI 0.3 interface of this module to `linker`.
pub fn add_to_linker<T: WasiView + IsyswasfaView + 'static>(linker: &mut Linker<T>) -> Result<()> {
    clocks::add_to_linker(linker)?;
    cli::add_to_linker(linker)?;
    random::add_to_linker(linker)?;
    http::add_to_linker(linker)?;
    filesystem::add_to_linker(linker)?;
    sockets::add_to_linker(linker)?;
    Ok(())
}
