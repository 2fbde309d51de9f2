//! How much the pipes a store's guests make buffer: host memory per pipe is bounded whatever
//! its writer does (see [`crate::limits`] for the defaults and why).

use crate::limits::{BYTE_CAPACITY, PIPE_BYTES_BUDGET, UNIT_CAPACITY, VALUE_CAPACITY};

/// The buffer sizes of the pipes a store's components make with `new` (set with
/// [`crate::IsyswasfaCtx::builder`]); futures always buffer one value. Each is at least 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct StreamCapacities {
    /// Bytes of a `stream<u8>`.
    pub bytes: usize,
    /// Values of a stream of any other payload.
    pub values: usize,
    /// Items of a payload-less stream.
    pub units: usize,
    /// Bytes of the values of a `stream<list<u8>>` (its byte budget).
    pub list_bytes: usize,
}

impl Default for StreamCapacities {
    fn default() -> Self {
        Self {
            bytes: BYTE_CAPACITY,
            values: VALUE_CAPACITY,
            units: UNIT_CAPACITY,
            list_bytes: PIPE_BYTES_BUDGET,
        }
    }
}
