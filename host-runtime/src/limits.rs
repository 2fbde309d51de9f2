//! Every limit of a store: its default, why it is what it is, and the one value that carries a
//! store's settings ([`Limits`]). Embedders change them with [`IsyswasfaCtx::builder`].
//!
//! A guest cannot make the host grow without bound: a protocol call that would exceed a table
//! limit fails naming it (an [`ErrorKind::LimitExceeded`](crate::ErrorKind::LimitExceeded)
//! error), pipes never buffer more than their capacity, and a guest entry that computes for
//! longer than its CPU budget traps.
//!
//! [`IsyswasfaCtx::builder`]: crate::IsyswasfaCtx::builder

use std::time::Duration;

pub use isyswasfa_protocol::tasks::{
    DEFAULT_MAX_HOST_FUTURES, DEFAULT_MAX_LISTENERS_PER_COMPONENT,
    DEFAULT_MAX_QUEUED_EVENTS_PER_COMPONENT, DEFAULT_MAX_RESOURCES,
    DEFAULT_MAX_TASKS_PER_COMPONENT, TableLimits,
};

/// Buffer size of a byte stream (`stream<u8>`), in bytes: large enough for a network read or
/// write in one go, and the most host memory one byte pipe can hold, since writes beyond the room
/// left give back the excess.
pub const BYTE_CAPACITY: usize = 64 * 1024;
/// The most bytes one `stream<u8>` write may offer. The host takes at most the pipe's room and
/// gives the rest back, which costs it a copy of the rest; offering more than this in one call is
/// refused, so that one call is never more than a few milliseconds of host work, which a guest's
/// CPU deadline would not see (isyswasfa's guests offer at most 64 KiB per write).
pub const MAX_BYTES_PER_WRITE: usize = 4 * 1024 * 1024;
/// Buffer size of a stream of any other payload, in values: each value is a [`Val`](wasmtime::component::Val) tree of
/// unbounded size, so fewer of them are buffered.
pub const VALUE_CAPACITY: usize = 64;
/// Buffer size of a payload-less stream, in items (which take no memory).
pub const UNIT_CAPACITY: usize = 64 * 1024;
/// Byte budget of one `stream<list<u8>>`: its writer waits while the values buffered hold this
/// many bytes or more (a write takes values while they hold fewer, so the pipe holds at most
/// this plus one value; a value larger than this on its own is taken by an empty pipe, so any
/// value can be written). The values are kept as plain bytes, and a count of values bounds
/// nothing when one value may be megabytes; 1 MiB keeps a chunked transfer flowing.
pub const PIPE_BYTES_BUDGET: usize = 1024 * 1024;
/// Byte budget of all the `stream<list<u8>>` values a store's guests wrote and nobody has read
/// yet: a write that would take the store beyond it is refused (the store breaks with an error
/// naming this limit), since its writer has nothing to wait for that it controls. Bounds what
/// a guest that makes many pipes, each with one large value, makes the host hold.
pub const STORE_PIPE_BYTES_BUDGET: usize = 16 * 1024 * 1024;

/// How often the engine's ticker advances the epoch. A guest that computes yields to tokio once
/// per tick, so this bounds how long it holds the thread from the other hosts on it (a few
/// milliseconds keeps their calls' latency low); the ticker's cost (one wake-up per tick for the
/// whole process) stays negligible.
pub const EPOCH_TICK: Duration = Duration::from_millis(2);

/// How long one guest entry may run before it is stopped with a trap. An entry normally runs
/// for microseconds to milliseconds, since a component only runs until its tasks wait; ten
/// seconds of uninterrupted computation is far beyond that, and short enough that a guest stuck
/// in `loop {}` does not hold a thread and its memory for long. Time spent waiting in host
/// functions (a `block_on` on a timer) does not count.
pub const DEFAULT_CPU_BUDGET: Duration = Duration::from_secs(10);

/// How many deliveries (a poll export call, or an embedder's result collected) the event loop
/// makes before it goes back to its one wait. A component that keeps queuing events for itself
/// (or keeps asking to run again) would otherwise keep the loop delivering forever, starving the
/// embedder's commands, timers and the other hosts of the thread; after this many the loop lets
/// them in, then carries on. Large enough that a busy composition delivers in batches.
pub const MAX_DELIVERIES_PER_TURN: usize = 64;

/// The most bytes (names plus values) one `fields` may hold: a guest cannot grow host memory
/// without bound through headers, and 64 KiB is well above what real traffic sends.
pub const MAX_FIELDS_SIZE: usize = isyswasfa_protocol::http::MAX_FIELDS_SIZE;

/// The longest line kept whole in a log record; longer ones are split, so that a guest that
/// never writes a newline cannot make the host buffer without bound.
pub const MAX_LINE: usize = 16 * 1024;

/// The most bytes one `get-random-bytes` call returns (the WIT allows fewer than asked): a
/// guest asking for 4 GiB must not make the host allocate them.
pub const MAX_RANDOM_BYTES: u64 = 1024 * 1024;

/// How long connecting may take when the request's options do not say.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// How long the response head may take when the request's options do not say.
pub const DEFAULT_FIRST_BYTE_TIMEOUT: Duration = Duration::from_secs(60);

/// All the settings of one store, as the builder made them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Caps on the task table and the WASI resource table.
    pub table: TableLimits,
    /// Buffer size of each `stream<u8>` a guest makes, in bytes ([`BYTE_CAPACITY`]).
    pub byte_stream_capacity: usize,
    /// Buffer size of each stream of another payload a guest makes, in values
    /// ([`VALUE_CAPACITY`]).
    pub value_stream_capacity: usize,
    /// Buffer size of each payload-less stream a guest makes ([`UNIT_CAPACITY`]).
    pub unit_stream_capacity: usize,
    /// Byte budget of each `stream<list<u8>>` a guest makes ([`PIPE_BYTES_BUDGET`]).
    pub pipe_bytes_budget: usize,
    /// Byte budget of all the `stream<list<u8>>` values a store's guests wrote and nobody has
    /// read yet ([`STORE_PIPE_BYTES_BUDGET`]).
    pub store_pipe_bytes_budget: usize,
    /// How long one guest entry may run ([`DEFAULT_CPU_BUDGET`]).
    pub cpu_budget: Duration,
    /// Deliveries the event loop makes per turn ([`MAX_DELIVERIES_PER_TURN`]).
    pub max_deliveries_per_turn: usize,
    /// Bytes one HTTP `fields` may hold ([`MAX_FIELDS_SIZE`]).
    pub max_fields_size: usize,
    /// The longest guest stdout/stderr line kept whole in a log record ([`MAX_LINE`]).
    pub max_log_line: usize,
    /// The most bytes one `get-random-bytes` returns ([`MAX_RANDOM_BYTES`]).
    pub max_random_bytes: u64,
    /// Outgoing HTTP connect timeout when the request does not set one
    /// ([`DEFAULT_CONNECT_TIMEOUT`]).
    pub connect_timeout: Duration,
    /// Outgoing HTTP response-head timeout when the request does not set one
    /// ([`DEFAULT_FIRST_BYTE_TIMEOUT`]).
    pub first_byte_timeout: Duration,
    /// The most bytes one linear memory may grow to (`None`: wasm's own 4 GiB).
    pub max_memory_size: Option<usize>,
    /// Where guests may send HTTP requests (default: anywhere but link-local addresses).
    pub outbound: std::sync::Arc<crate::outbound::OutboundPolicy>,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            table: TableLimits::default(),
            byte_stream_capacity: BYTE_CAPACITY,
            value_stream_capacity: VALUE_CAPACITY,
            unit_stream_capacity: UNIT_CAPACITY,
            pipe_bytes_budget: PIPE_BYTES_BUDGET,
            store_pipe_bytes_budget: STORE_PIPE_BYTES_BUDGET,
            cpu_budget: DEFAULT_CPU_BUDGET,
            max_deliveries_per_turn: MAX_DELIVERIES_PER_TURN,
            max_fields_size: MAX_FIELDS_SIZE,
            max_log_line: MAX_LINE,
            max_random_bytes: MAX_RANDOM_BYTES,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            first_byte_timeout: DEFAULT_FIRST_BYTE_TIMEOUT,
            max_memory_size: None,
            outbound: Default::default(),
        }
    }
}
