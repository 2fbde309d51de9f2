//! The isyswasfa state of a store ([`IsyswasfaCtx`], made by its one builder), the view through
//! which host functions reach it ([`IsyswasfaView`]), and the one rule of where a component may
//! wait ([`IsyswasfaCtx::may_wait`]).

use std::sync::Arc;
use std::time::Duration;

use isyswasfa_protocol::tasks::{ComponentId, TableLimits, TaskTable};
use isyswasfa_protocol::{Error, ErrorKind};
use wasmtime::Result;
use wasmtime::component::ResourceTable;

use crate::limits::Limits;
use crate::pipes::capacity::StreamCapacities;
use crate::pipes::table::PipeTable;
use crate::pollables::waits::PollableWaits;

pub use isyswasfa_protocol::context::Running;

/// The isyswasfa state of a store: its task table, its pipes, what is running, and its
/// settings. Make it with [`IsyswasfaCtx::builder`] (or take the defaults with
/// `IsyswasfaCtx::default()`).
#[derive(Default)]
pub struct IsyswasfaCtx {
    pub(crate) tasks: TaskTable,
    pub(crate) running: Running,
    pub(crate) pipes: PipeTable,
    pub(crate) pollables: PollableWaits,
    /// A weak handle to the store's own event loop (a `WeakHost<T>`), for host code that goes
    /// on after a host function returned and needs the store again (see [`crate::Host::of`]).
    pub(crate) host: Option<Box<dyn std::any::Any + Send>>,
    /// Names the store in the log lines of its guests' stdout/stderr (see [`crate::wasi::cli`]).
    pub(crate) label: Option<Arc<str>>,
    /// Set once entering the store failed (a trap, or a host function's error): the reason every
    /// later call fails with. Only the first cause is kept.
    pub(crate) broken: Option<Arc<str>>,
    /// The kind of the isyswasfa error that broke the store, if that is what broke it.
    pub(crate) broken_by: Option<ErrorKind>,
    /// The code a guest gave `wasi:cli/exit` when that is what ended the store (it is then
    /// broken too, but not by a failure).
    pub(crate) exited: Option<i32>,
    /// Epoch ticks the current guest entry has run (see [`crate::deadline`]).
    pub(crate) entry_ticks: u64,
    /// The store's settings.
    pub(crate) limits: Limits,
    /// The store's [`ResourceLimiter`](wasmtime::ResourceLimiter), made from `limits` (its
    /// memory cap): installed by [`crate::Host`] before the component is instantiated.
    pub(crate) memory: wasmtime::StoreLimits,
}

/// Builds an [`IsyswasfaCtx`]: the one place where a store's limits and settings are chosen.
/// Every setting starts at its default (see [`crate::limits`], which says why each is what it
/// is); sizes are at least 1.
///
/// ```
/// use std::time::Duration;
/// use isyswasfa_host::IsyswasfaCtx;
///
/// let ctx = IsyswasfaCtx::builder()
///     .cpu_budget(Duration::from_millis(300))
///     .max_tasks_per_component(100)
///     .byte_stream_capacity(16 * 1024)
///     .label("tenant-7")
///     .build();
/// assert_eq!(ctx.limits().cpu_budget, Duration::from_millis(300));
/// ```
#[derive(Debug, Clone, Default)]
pub struct IsyswasfaCtxBuilder {
    limits: Limits,
    label: Option<Arc<str>>,
}

impl IsyswasfaCtxBuilder {
    /// Exported async calls of one component in flight at once
    /// ([`DEFAULT_MAX_TASKS_PER_COMPONENT`](crate::limits::DEFAULT_MAX_TASKS_PER_COMPONENT)).
    pub fn max_tasks_per_component(mut self, n: usize) -> Self {
        self.limits.table.max_tasks_per_component = n;
        self
    }

    /// Tasks one component awaits at once
    /// ([`DEFAULT_MAX_LISTENERS_PER_COMPONENT`](crate::limits::DEFAULT_MAX_LISTENERS_PER_COMPONENT)).
    pub fn max_listeners_per_component(mut self, n: usize) -> Self {
        self.limits.table.max_listeners_per_component = n;
        self
    }

    /// Events waiting for one component's poll export
    /// ([`DEFAULT_MAX_QUEUED_EVENTS_PER_COMPONENT`](crate::limits::DEFAULT_MAX_QUEUED_EVENTS_PER_COMPONENT)).
    pub fn max_queued_events_per_component(mut self, n: usize) -> Self {
        self.limits.table.max_queued_events_per_component = n;
        self
    }

    /// Host futures (timers, host functions, pipe waits) in flight in the store
    /// ([`DEFAULT_MAX_HOST_FUTURES`](crate::limits::DEFAULT_MAX_HOST_FUTURES)).
    pub fn max_host_futures(mut self, n: usize) -> Self {
        self.limits.table.max_host_futures = n;
        self
    }

    /// Entries of the store's WASI resource table
    /// ([`DEFAULT_MAX_RESOURCES`](crate::limits::DEFAULT_MAX_RESOURCES)); applied when a
    /// [`crate::Host`] instantiates the component.
    pub fn max_resources(mut self, n: usize) -> Self {
        self.limits.table.max_resources = n;
        self
    }

    /// All the task-table caps at once.
    pub fn table_limits(mut self, limits: TableLimits) -> Self {
        self.limits.table = limits;
        self
    }

    /// Buffer size of each `stream<u8>` the guests make, in bytes
    /// ([`BYTE_CAPACITY`](crate::limits::BYTE_CAPACITY)).
    pub fn byte_stream_capacity(mut self, bytes: usize) -> Self {
        self.limits.byte_stream_capacity = bytes.max(1);
        self
    }

    /// Buffer size of each stream of any other payload the guests make, in values
    /// ([`VALUE_CAPACITY`](crate::limits::VALUE_CAPACITY)).
    pub fn value_stream_capacity(mut self, values: usize) -> Self {
        self.limits.value_stream_capacity = values.max(1);
        self
    }

    /// Buffer size of each payload-less stream the guests make
    /// ([`UNIT_CAPACITY`](crate::limits::UNIT_CAPACITY)).
    pub fn unit_stream_capacity(mut self, items: usize) -> Self {
        self.limits.unit_stream_capacity = items.max(1);
        self
    }

    /// Byte budget of each `stream<list<u8>>` the guests make: its writer waits while the values
    /// buffered hold this many bytes or more
    /// ([`PIPE_BYTES_BUDGET`](crate::limits::PIPE_BYTES_BUDGET)).
    pub fn pipe_bytes_budget(mut self, bytes: usize) -> Self {
        self.limits.pipe_bytes_budget = bytes.max(1);
        self
    }

    /// Byte budget of all the `stream<list<u8>>` values the store's guests wrote and nobody has
    /// read yet: a write beyond it breaks the store
    /// ([`STORE_PIPE_BYTES_BUDGET`](crate::limits::STORE_PIPE_BYTES_BUDGET)).
    pub fn store_pipe_bytes_budget(mut self, bytes: usize) -> Self {
        self.limits.store_pipe_bytes_budget = bytes;
        self
    }

    /// How long one guest entry (a call's start or result half, a poll export, a synchronous
    /// export) may run before it is stopped with a trap
    /// ([`DEFAULT_CPU_BUDGET`](crate::limits::DEFAULT_CPU_BUDGET)).
    pub fn cpu_budget(mut self, budget: Duration) -> Self {
        self.limits.cpu_budget = budget;
        self
    }

    /// Deliveries (poll-export calls and result collections) the event loop makes before it lets
    /// commands, timers and other hosts in again
    /// ([`MAX_DELIVERIES_PER_TURN`](crate::limits::MAX_DELIVERIES_PER_TURN)).
    pub fn max_deliveries_per_turn(mut self, deliveries: usize) -> Self {
        self.limits.max_deliveries_per_turn = deliveries.max(1);
        self
    }

    /// Bytes (names plus values) one HTTP `fields` may hold
    /// ([`MAX_FIELDS_SIZE`](crate::limits::MAX_FIELDS_SIZE)).
    pub fn max_fields_size(mut self, bytes: usize) -> Self {
        self.limits.max_fields_size = bytes;
        self
    }

    /// The longest guest stdout/stderr line kept whole in one log record
    /// ([`MAX_LINE`](crate::limits::MAX_LINE)).
    pub fn max_log_line(mut self, bytes: usize) -> Self {
        self.limits.max_log_line = bytes.max(1);
        self
    }

    /// The most bytes one `get-random-bytes` call returns
    /// ([`MAX_RANDOM_BYTES`](crate::limits::MAX_RANDOM_BYTES)).
    pub fn max_random_bytes(mut self, bytes: u64) -> Self {
        self.limits.max_random_bytes = bytes;
        self
    }

    /// Outgoing HTTP connect timeout for requests that set none
    /// ([`DEFAULT_CONNECT_TIMEOUT`](crate::limits::DEFAULT_CONNECT_TIMEOUT)).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.limits.connect_timeout = timeout;
        self
    }

    /// Outgoing HTTP response-head timeout for requests that set none
    /// ([`DEFAULT_FIRST_BYTE_TIMEOUT`](crate::limits::DEFAULT_FIRST_BYTE_TIMEOUT)).
    pub fn first_byte_timeout(mut self, timeout: Duration) -> Self {
        self.limits.first_byte_timeout = timeout;
        self
    }

    /// Sends the guests' stdout/stderr lines to the log (`tracing`, target
    /// `isyswasfa::guest`), each prefixed with `label`, instead of the process's own streams.
    pub fn label(mut self, label: impl Into<Arc<str>>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// The most bytes one linear memory of the store may grow to (default: no limit beyond
    /// wasm's own 4 GiB, as in wasmtime). A `memory.grow` beyond it fails, as it does when the
    /// system is out of memory; most guests then trap. Like `wasmtime -W max-memory-size`.
    pub fn max_memory_size(mut self, bytes: usize) -> Self {
        self.limits.max_memory_size = Some(bytes);
        self
    }

    /// Where the store's guests may send HTTP requests (`wasi:http/client`): the default
    /// [`OutboundPolicy`](crate::wasi::http::OutboundPolicy) denies link-local addresses only.
    /// A denied request fails with `destination-IP-prohibited` before any connection is made.
    pub fn outbound_policy(mut self, policy: crate::outbound::OutboundPolicy) -> Self {
        self.limits.outbound = std::sync::Arc::new(policy);
        self
    }

    /// The context.
    pub fn build(self) -> IsyswasfaCtx {
        let limits = self.limits;
        let mut ctx = IsyswasfaCtx {
            label: self.label,
            ..IsyswasfaCtx::default()
        };
        ctx.tasks.set_limits(limits.table);
        ctx.pipes.capacities = StreamCapacities {
            bytes: limits.byte_stream_capacity,
            values: limits.value_stream_capacity,
            units: limits.unit_stream_capacity,
            list_bytes: limits.pipe_bytes_budget,
        };
        ctx.pipes.byte_budget =
            crate::pipes::byte_list::ByteBudget::new(limits.store_pipe_bytes_budget);
        let mut memory = wasmtime::StoreLimitsBuilder::new();
        if let Some(bytes) = limits.max_memory_size {
            memory = memory.memory_size(bytes);
        }
        ctx.memory = memory.build();
        ctx.limits = limits;
        ctx
    }
}

impl IsyswasfaCtxView<'_> {
    /// Cancels `task` (its `pending` or `ready` was dropped): when it was a pollable wait, the
    /// pollable is let go at once, so that the guest may drop its parent resource next.
    pub(crate) fn cancel_task(&mut self, task: isyswasfa_protocol::tasks::TaskId) {
        self.ctx.tasks.cancel(task);
        self.ctx.pollables.reap(&self.ctx.tasks, self.table);
    }
}

impl IsyswasfaCtx {
    /// The builder of a context: every limit and setting of a store.
    pub fn builder() -> IsyswasfaCtxBuilder {
        IsyswasfaCtxBuilder::default()
    }

    /// The store's settings.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The task table.
    pub fn tasks(&self) -> &TaskTable {
        &self.tasks
    }

    /// Why the store cannot be entered any more, once a guest entry failed.
    pub fn broken(&self) -> Option<&str> {
        self.broken.as_deref()
    }

    /// Records that entering the store failed with `cause` (a trap, or an error of a host
    /// function the guest called): wasmtime refuses to enter an instance again after that, so
    /// the [`crate::Host`] fails every call from now on with the first cause recorded. Embedders
    /// whose [`crate::Host::with_store`] job calls into the instance and gets an error call this.
    /// Returns the error the calls fail with.
    ///
    /// A guest that called `wasi:cli/exit` ends the store the same way, without a failure: the
    /// calls fail with wasmtime-wasi's `I32Exit` and its code, which a runner turns into its exit
    /// status (see [`IsyswasfaCtx::exited`]).
    pub fn record_failure(&mut self, cause: &wasmtime::Error) -> wasmtime::Error {
        if self.broken.is_none() {
            let names: Vec<String> = (0..self.tasks.component_count())
                .map(|c| format!("`{}`", self.tasks.component_name(c)))
                .collect();
            let which = match names.len() {
                1 => format!("component {}", names[0]),
                _ => format!("the composition of components {}", names.join(", ")),
            };
            let exited = cause
                .downcast_ref::<wasmtime_wasi::I32Exit>()
                .map(|exit| exit.0);
            let reason = match exited {
                Some(code) => {
                    let reason = format!("isyswasfa: {which} exited with code {code}");
                    tracing::debug!("{reason}");
                    reason
                }
                None => {
                    let reason = format!(
                        "isyswasfa: {which} is broken and cannot be entered any more: {cause:#}"
                    );
                    tracing::error!("{reason}");
                    reason
                }
            };
            self.exited = exited;
            self.broken = Some(reason.into());
            self.broken_by = cause
                .chain()
                .find_map(|c| c.downcast_ref::<Error>())
                .and_then(|e| match e.kind() {
                    ErrorKind::Broken => e.cause(),
                    kind => Some(kind),
                });
        }
        self.broken_error().unwrap_or_else(|| {
            Error::new(ErrorKind::Broken, "isyswasfa: the instance is broken").into()
        })
    }

    /// The code a guest gave `wasi:cli/exit`, once that ended the store.
    pub fn exited(&self) -> Option<i32> {
        self.exited
    }

    /// The error calls of a broken store fail with: wasmtime-wasi's `I32Exit` when the guest
    /// exited.
    pub(crate) fn broken_error(&self) -> Option<wasmtime::Error> {
        if let Some(code) = self.exited {
            return Some(wasmtime::Error::new(wasmtime_wasi::I32Exit(code)));
        }
        self.broken.as_deref().map(|reason| {
            Error::new(ErrorKind::Broken, reason)
                .with_cause(self.broken_by)
                .into()
        })
    }

    /// May `component` wait for events now, from inside a synchronous call (`block_on`)?
    ///
    /// The single rule of DESIGN.md §3: never inside the component's own poll export (it must
    /// await instead), and elsewhere only when a task the *host* implements can wake what it
    /// waits for (`waiting_for`: the tokens its blocked future awaits; empty means any of its
    /// tasks), since no component can be entered while one is on the stack.
    pub fn may_wait(&self, component: ComponentId, waiting_for: &[u32]) -> Result<()> {
        Ok(isyswasfa_protocol::context::may_wait(
            &self.tasks,
            &self.running,
            component,
            waiting_for,
        )?)
    }
}

/// What host functions reach through [`IsyswasfaView`]: the store's isyswasfa state and its
/// WASI resource table (WASI 0.2 pollables that components await, and the HTTP resources, live
/// in the table, and the host waits for the pollables next to its tasks).
pub struct IsyswasfaCtxView<'a> {
    /// The isyswasfa state.
    pub ctx: &'a mut IsyswasfaCtx,
    /// The store's resource table (the same one `wasmtime_wasi::WasiView` gives).
    pub table: &'a mut ResourceTable,
}

/// Gives the store data's isyswasfa state to the host functions, as `WasiView` does for WASI.
pub trait IsyswasfaView: Send {
    /// The store's isyswasfa state and resource table.
    fn isyswasfa(&mut self) -> IsyswasfaCtxView<'_>;
}

impl IsyswasfaCtx {
    /// Who is running now, for log lines: the component in its poll export, or the export the
    /// embedder called.
    pub(crate) fn running_description(&self) -> String {
        match &self.running {
            Running::Poll(component) => {
                format!("component `{}`", self.tasks.component_name(*component))
            }
            Running::Export(export) => {
                let names: Vec<&str> = (0..self.tasks.component_count())
                    .map(|c| self.tasks.component_name(c))
                    .collect();
                format!(
                    "the call to `{export}` (component(s) `{}`)",
                    names.join("`, `")
                )
            }
            Running::Idle => "a component".to_string(),
        }
    }
}
