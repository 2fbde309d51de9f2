//! A ready-made store data type for hosts that need nothing of their own.

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::ctx::{IsyswasfaCtx, IsyswasfaCtxView, IsyswasfaView};

/// Store data with WASI 0.2 (from `wasmtime-wasi`) and the isyswasfa state.
pub struct State {
    /// The WASI context.
    pub wasi: WasiCtx,
    /// Resources of the WASI 0.2 implementation (and of the HTTP types).
    pub table: ResourceTable,
    /// The isyswasfa state.
    pub isyswasfa: IsyswasfaCtx,
}

impl State {
    /// WASI with the host's stdout and stderr, and the isyswasfa defaults.
    pub fn new() -> Self {
        Self::with_isyswasfa(IsyswasfaCtx::default())
    }

    /// WASI with the host's stdout and stderr, and the given isyswasfa state (made with
    /// [`IsyswasfaCtx::builder`]).
    pub fn with_isyswasfa(isyswasfa: IsyswasfaCtx) -> Self {
        Self::with(
            WasiCtx::builder().inherit_stdout().inherit_stderr().build(),
            isyswasfa,
        )
    }

    /// The given WASI context and isyswasfa state (made with [`IsyswasfaCtx::builder`]).
    pub fn with(wasi: WasiCtx, isyswasfa: IsyswasfaCtx) -> Self {
        Self {
            wasi,
            table: ResourceTable::new(),
            isyswasfa,
        }
    }
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl IsyswasfaView for State {
    fn isyswasfa(&mut self) -> IsyswasfaCtxView<'_> {
        IsyswasfaCtxView {
            ctx: &mut self.isyswasfa,
            table: &mut self.table,
        }
    }
}
