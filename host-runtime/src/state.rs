//! A ready-made store data type for hosts that need nothing of their own.

use wasmtime::component::ResourceTable;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::protocol::{IsyswasfaCtx, IsyswasfaView};
use crate::tasks::TableLimits;

/// Store data with WASI 0.2 (from `wasmtime-wasi`) and the isyswasfa state.
pub struct State {
    /// The WASI context.
    pub wasi: WasiCtx,
    /// Resources of the WASI 0.2 implementation.
    pub table: ResourceTable,
    /// The isyswasfa task table.
    pub isyswasfa: IsyswasfaCtx,
}

impl State {
    /// WASI with the host's stdout and stderr, nothing else.
    pub fn new() -> Self {
        Self::with_wasi(WasiCtx::builder().inherit_stdout().inherit_stderr().build())
    }

    /// Uses the given WASI context.
    pub fn with_wasi(wasi: WasiCtx) -> Self {
        Self {
            wasi,
            table: ResourceTable::new(),
            isyswasfa: IsyswasfaCtx::default(),
        }
    }
}

impl State {
    /// Sets the caps on the store's task table (see [`TableLimits`]).
    pub fn with_limits(mut self, limits: TableLimits) -> Self {
        self.isyswasfa.set_limits(limits);
        self
    }
}

impl State {
    /// Sets how long one guest entry may run (see [`crate::DEFAULT_CPU_BUDGET`]).
    pub fn with_cpu_budget(mut self, budget: std::time::Duration) -> Self {
        self.isyswasfa.set_cpu_budget(budget);
        self
    }
}

impl State {
    /// Sets the buffer sizes of the streams the components make (see
    /// [`crate::IsyswasfaCtx::set_stream_capacities`]).
    pub fn with_stream_capacities(mut self, capacities: crate::StreamCapacities) -> Self {
        self.isyswasfa.set_stream_capacities(capacities);
        self
    }

    /// Sets how many deliveries the event loop makes per turn (see
    /// [`crate::IsyswasfaCtx::set_max_deliveries_per_turn`]).
    pub fn with_max_deliveries_per_turn(mut self, deliveries: usize) -> Self {
        self.isyswasfa.set_max_deliveries_per_turn(deliveries);
        self
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
    fn isyswasfa(&mut self) -> &mut IsyswasfaCtx {
        &mut self.isyswasfa
    }

    fn isyswasfa_and_table(&mut self) -> (&mut IsyswasfaCtx, &mut ResourceTable) {
        (&mut self.isyswasfa, &mut self.table)
    }
}
