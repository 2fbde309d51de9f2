//! How much the pipes a store's guests make buffer: host memory per pipe is bounded whatever
//! its writer does (see [`crate::limits`] for the defaults and why).

use crate::limits::{BYTE_CAPACITY, UNIT_CAPACITY, VALUE_CAPACITY};

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
}

impl Default for StreamCapacities {
    fn default() -> Self {
        Self {
            bytes: BYTE_CAPACITY,
            values: VALUE_CAPACITY,
            units: UNIT_CAPACITY,
        }
    }
}
