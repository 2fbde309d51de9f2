//! The embedder's ends of a stream pipe: [`StreamReader`] and [`StreamWriter`], made in pairs by
//! [`stream`], with `async` `read`/`write`, [`futures::Stream`] / [`futures::Sink`] adapters, and
//! for bytes [`tokio::io::AsyncRead`] / [`tokio::io::AsyncWrite`].

use std::collections::VecDeque;
use std::fmt;

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use isyswasfa_protocol::pipe::drain_front;
pub use isyswasfa_protocol::pipe::{Closed, Pipe};

/// A pair of embedder ends over a new stream pipe buffering up to `capacity` values (at least 1).
pub fn stream<T>(capacity: usize) -> (StreamWriter<T>, StreamReader<T>) {
    let pipe = Pipe::new(capacity);
    (
        StreamWriter::new(Arc::clone(&pipe)),
        StreamReader::new(pipe),
    )
}

/// The embedder's reading end of a stream pipe. Closes the reader side when dropped (buffered
/// values are dropped, and the writer's next write fails with [`Closed`]).
///
/// Read with [`read`](Self::read), as a [`futures::Stream`] of items, or (for bytes) as a
/// [`tokio::io::AsyncRead`]; these can be mixed: values the `Stream` adapter took from the pipe
/// in a chunk but has not yielded yet are returned first by every read.
pub struct StreamReader<T> {
    pipe: Arc<Pipe<T>>,
    /// Values taken from the pipe by the `Stream` adapter and not yielded yet. (A `Mutex` only so
    /// the reader is `Sync` when `T` is merely `Send`; it is only ever accessed through
    /// `&mut self`, with `get_mut`, so it is never locked.)
    local: Mutex<VecDeque<T>>,
}

impl<T> Unpin for StreamReader<T> {}

impl<T> StreamReader<T> {
    /// The reading end of `pipe` (which must have no other reader).
    pub fn new(pipe: Arc<Pipe<T>>) -> Self {
        StreamReader {
            pipe,
            local: Mutex::new(VecDeque::new()),
        }
    }

    /// The pipe this end reads from.
    pub fn pipe(&self) -> &Arc<Pipe<T>> {
        &self.pipe
    }

    fn local(&mut self) -> &mut VecDeque<T> {
        self.local.get_mut().unwrap_or_else(PoisonError::into_inner)
    }

    /// Polls for up to `max` values: those buffered locally first, else from the pipe.
    fn poll_read_values(&mut self, cx: &mut Context<'_>, max: usize) -> Poll<Option<Vec<T>>> {
        let local = self.local();
        if !local.is_empty() {
            return Poll::Ready(Some(drain_front(local, max)));
        }
        self.pipe.poll_take(cx, max)
    }

    /// Waits until at least one value is available, then returns up to `max` of them; `None` at
    /// the end of the stream (the writer closed and everything was read). With `max == 0` it
    /// does not wait: `Some(empty)`, or `None` at the end of the stream.
    ///
    /// Cancellation-safe: dropping the returned future before it completes loses no value.
    pub async fn read(&mut self, max: usize) -> Option<Vec<T>> {
        if max == 0 {
            return if self.local().is_empty() {
                self.pipe.take(0)
            } else {
                Some(Vec::new())
            };
        }
        std::future::poll_fn(|cx| self.poll_read_values(cx, max)).await
    }
}

impl<T> Drop for StreamReader<T> {
    fn drop(&mut self) {
        self.pipe.close_reader();
    }
}

impl<T> fmt::Debug for StreamReader<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReader")
            .field("pipe", &self.pipe)
            .finish_non_exhaustive()
    }
}

/// Yields the stream's values one by one, taking them from the pipe in chunks (everything
/// buffered at the time), and ends at the end of the stream.
impl<T: Send> futures::Stream for StreamReader<T> {
    type Item = T;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let this = self.get_mut();
        if let Some(value) = this.local().pop_front() {
            return Poll::Ready(Some(value));
        }
        match this.pipe.poll_take(cx, usize::MAX) {
            Poll::Ready(Some(values)) => {
                let local = this.local();
                local.extend(values);
                Poll::Ready(local.pop_front())
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Reads bytes without allocating. End of stream is a successful read of nothing.
impl tokio::io::AsyncRead for StreamReader<u8> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        let local = this.local();
        if !local.is_empty() {
            put_front(local, buf);
            return Poll::Ready(Ok(()));
        }
        match this
            .pipe
            .poll_take_with(Some(cx), |buffer| put_front(buffer, buf))
        {
            // Data, or end of stream (nothing filled).
            Poll::Ready(_) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Moves as many bytes from the front of `buffer` into `buf` as fit.
fn put_front(buffer: &mut VecDeque<u8>, buf: &mut tokio::io::ReadBuf<'_>) {
    let (first, second) = buffer.as_slices();
    let n1 = first.len().min(buf.remaining());
    buf.put_slice(&first[..n1]);
    let n2 = second.len().min(buf.remaining());
    buf.put_slice(&second[..n2]);
    buffer.drain(..n1 + n2);
}

/// The embedder's writing end of a stream pipe. Closes the writer side when dropped (the reader
/// reads what is left, then sees the end of the stream).
///
/// Write with [`write`](Self::write), as a [`futures::Sink`], or (for bytes) as a
/// [`tokio::io::AsyncWrite`].
pub struct StreamWriter<T> {
    pipe: Arc<Pipe<T>>,
}

impl<T> Unpin for StreamWriter<T> {}

impl<T> StreamWriter<T> {
    /// The writing end of `pipe` (which must have no other writer).
    pub fn new(pipe: Arc<Pipe<T>>) -> Self {
        StreamWriter { pipe }
    }

    /// The pipe this end writes to.
    pub fn pipe(&self) -> &Arc<Pipe<T>> {
        &self.pipe
    }

    /// Writes all of `values`, waiting for room as often as needed (the pipe never holds more
    /// than its capacity). `Err(rest)` when the reader is gone: `rest` are the values not
    /// written. An empty `values` does not wait.
    ///
    /// Dropping the returned future before it completes may have written a prefix of `values`;
    /// the others are dropped with it. A write that fits in the room left completes at once.
    pub async fn write(&mut self, mut values: Vec<T>) -> Result<(), Vec<T>> {
        let pipe = &self.pipe;
        loop {
            if values.is_empty() {
                return pipe.push(values).map(drop);
            }
            if !std::future::poll_fn(|cx| pipe.poll_writable(cx)).await {
                return Err(values);
            }
            values = pipe.push(values)?;
        }
    }
}

impl<T> Drop for StreamWriter<T> {
    fn drop(&mut self) {
        self.pipe.close_writer();
    }
}

impl<T> fmt::Debug for StreamWriter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWriter")
            .field("pipe", &self.pipe)
            .finish()
    }
}

/// Sends values one by one: `poll_ready` waits for room, `start_send` appends. Errors with
/// [`Closed`] once the reader is gone. `poll_flush` does not wait for the reader to consume
/// anything (sent values are already in the pipe); `poll_close` closes the writer side.
impl<T: Send> futures::Sink<T> for StreamWriter<T> {
    type Error = Closed;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Closed>> {
        match self.pipe.poll_writable(cx) {
            Poll::Ready(true) => Poll::Ready(Ok(())),
            Poll::Ready(false) => Poll::Ready(Err(Closed)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn start_send(self: Pin<&mut Self>, item: T) -> Result<(), Closed> {
        self.pipe.push_one(item).map_err(|_| Closed)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Closed>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<(), Closed>> {
        self.pipe.close_writer();
        Poll::Ready(Ok(()))
    }
}

/// Writes bytes without allocating. `poll_write` waits for room, then appends only as many bytes
/// as fit (so a byte pipe written this way never holds more than its capacity) and returns that
/// count. Writing once the reader is gone (or after `poll_shutdown`) fails with
/// [`io::ErrorKind::BrokenPipe`]. `poll_flush` does not wait for the reader; `poll_shutdown`
/// closes the writer side (the reader then sees the end of the stream).
impl tokio::io::AsyncWrite for StreamWriter<u8> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        self.pipe
            .poll_push_with(cx, |buffer, room| {
                let n = room.min(buf.len());
                buffer.extend(buf[..n].iter().copied());
                n
            })
            .map(|written| written.map_err(|()| io::Error::from(Closed)))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.pipe.close_writer();
        Poll::Ready(Ok(()))
    }
}
