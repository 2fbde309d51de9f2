//! The values of a `stream<list<u8>>`: plain bytes ([`ByteList`]), not a tree of `Val`s (which
//! costs the host some 32 bytes per guest byte), weighed against a byte budget per pipe
//! ([`PIPE_BYTES_BUDGET`](crate::limits::PIPE_BYTES_BUDGET)) and per store
//! ([`STORE_PIPE_BYTES_BUDGET`](crate::limits::STORE_PIPE_BYTES_BUDGET)).

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// One `list<u8>` value of a `stream<list<u8>>`. A value a guest wrote counts against its
/// store's pipe byte budget until it is dropped (or turned into its bytes).
pub struct ByteList {
    bytes: Vec<u8>,
    /// The share of the store's budget this value holds, given back when it is dropped.
    _charge: Option<Charge>,
}

impl ByteList {
    /// A value of `bytes` (the embedder's: it counts against no budget).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self {
            bytes,
            _charge: None,
        }
    }

    /// A value a guest wrote, holding `charge` of its store's budget.
    pub(crate) fn charged(bytes: Vec<u8>, charge: Charge) -> Self {
        Self {
            bytes,
            _charge: Some(charge),
        }
    }

    /// The bytes (giving back the budget they held).
    pub fn into_vec(self) -> Vec<u8> {
        self.bytes
    }

    /// What the value weighs in a pipe: its bytes.
    pub(crate) fn weigh(&self) -> usize {
        self.bytes.len()
    }
}

impl From<Vec<u8>> for ByteList {
    fn from(bytes: Vec<u8>) -> Self {
        Self::new(bytes)
    }
}

impl Deref for ByteList {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl PartialEq for ByteList {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for ByteList {}

impl fmt::Debug for ByteList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ByteList")
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// How many bytes a store's guests keep in the `stream<list<u8>>` pipes they wrote, against
/// the most they may ([`STORE_PIPE_BYTES_BUDGET`](crate::limits::STORE_PIPE_BYTES_BUDGET)).
#[derive(Debug)]
pub(crate) struct ByteBudget {
    used: AtomicUsize,
    limit: usize,
}

impl ByteBudget {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            used: AtomicUsize::new(0),
            limit,
        })
    }

    /// The most bytes the store's pipes may hold.
    pub(crate) fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes held now.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// Takes `bytes` of the budget, or `None` (taking nothing) when that would exceed it.
    pub(crate) fn charge(self: &Arc<Self>, bytes: usize) -> Option<Charge> {
        self.used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                used.checked_add(bytes).filter(|&total| total <= self.limit)
            })
            .ok()?;
        Some(Charge {
            budget: Arc::clone(self),
            bytes,
        })
    }
}

impl Default for ByteBudget {
    fn default() -> Self {
        Self {
            used: AtomicUsize::new(0),
            limit: crate::limits::STORE_PIPE_BYTES_BUDGET,
        }
    }
}

/// A share of a [`ByteBudget`], given back when dropped.
pub(crate) struct Charge {
    budget: Arc<ByteBudget>,
    bytes: usize,
}

impl Charge {
    /// Splits `bytes` off into a charge of its own (at most what this one holds).
    pub(crate) fn split(&mut self, bytes: usize) -> Charge {
        let bytes = bytes.min(self.bytes);
        self.bytes -= bytes;
        Charge {
            budget: Arc::clone(&self.budget),
            bytes,
        }
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}
