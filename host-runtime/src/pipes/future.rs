//! The embedder's ends of a future: [`FutureReader`] and [`FutureWriter`], made in pairs by
//! [`future`] (a pipe of capacity 1 that carries at most one value).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

pub use isyswasfa_protocol::pipe::Pipe;

/// A pair of embedder ends over a new pipe of capacity 1 that carries at most one value.
pub fn future<T>() -> (FutureWriter<T>, FutureReader<T>) {
    let pipe = Pipe::new(1);
    (
        FutureWriter::new(Arc::clone(&pipe)),
        FutureReader::new(pipe),
    )
}

/// The embedder's reading end of a `future<T>`: a [`Future`] of the value, `None` when the
/// writer was dropped without writing one. Closes the reader side when dropped.
pub struct FutureReader<T> {
    pipe: Arc<Pipe<T>>,
}

impl<T> Unpin for FutureReader<T> {}

impl<T> FutureReader<T> {
    /// The reading end of `pipe` (which must have no other reader).
    pub fn new(pipe: Arc<Pipe<T>>) -> Self {
        FutureReader { pipe }
    }

    /// The pipe this end reads from.
    pub fn pipe(&self) -> &Arc<Pipe<T>> {
        &self.pipe
    }
}

impl<T> Drop for FutureReader<T> {
    fn drop(&mut self) {
        self.pipe.close_reader();
    }
}

impl<T> fmt::Debug for FutureReader<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FutureReader")
            .field("pipe", &self.pipe)
            .finish()
    }
}

/// Completes with the value once written, or `None` once the writer is gone without one.
/// Polling again after completion yields `None`.
impl<T: Send> Future for FutureReader<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.pipe
            .poll_take_with(Some(cx), |buffer| buffer.pop_front())
            .map(Option::flatten)
    }
}

/// The embedder's writing end of a `future<T>`: [`write`](Self::write) the value once. Dropping
/// it without writing closes the writer side, and the reader gets `None`.
pub struct FutureWriter<T> {
    pipe: Arc<Pipe<T>>,
}

impl<T> Unpin for FutureWriter<T> {}

impl<T> FutureWriter<T> {
    /// The writing end of `pipe` (which must have no other writer).
    pub fn new(pipe: Arc<Pipe<T>>) -> Self {
        FutureWriter { pipe }
    }

    /// The pipe this end writes to.
    pub fn pipe(&self) -> &Arc<Pipe<T>> {
        &self.pipe
    }

    /// Writes the value (never waits: the pipe has room for it) and closes the writer side.
    /// `Err(value)` when the reader is gone.
    pub fn write(self, value: T) -> Result<(), T> {
        self.pipe.push_one(value)
        // `self` is dropped here, closing the writer side.
    }
}

impl<T> Drop for FutureWriter<T> {
    fn drop(&mut self) {
        self.pipe.close_writer();
    }
}

impl<T> fmt::Debug for FutureWriter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FutureWriter")
            .field("pipe", &self.pipe)
            .finish()
    }
}
