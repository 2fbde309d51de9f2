//! Bounded pipes: the one host-side mechanism behind every `stream<T>` and `future<T>`.
//!
//! A [`Pipe`] carries values of `T` from exactly one writer end to exactly one reader end through
//! a bounded buffer. `T` is `u8` for byte streams, [`wasmtime::component::Val`] for any other
//! payload, and `()` for payload-less streams. Either end may be held by a guest component (the
//! host keeps the [`Arc<Pipe<T>>`] behind a resource handle and its event loop waits on
//! [`Pipe::readable`] / [`Pipe::writable`]) or by the embedder's Rust code, through the typed ends
//! of this module:
//!
//! * [`StreamReader`] / [`StreamWriter`] (made in pairs by [`stream`]) with `async` `read`/`write`,
//!   [`futures::Stream`] / [`futures::Sink`] adapters, and for bytes
//!   [`tokio::io::AsyncRead`] / [`tokio::io::AsyncWrite`];
//! * [`FutureReader`] / [`FutureWriter`] (made in pairs by [`future`]): a pipe of capacity 1 that
//!   carries at most one value.
//!
//! Every end closes its side of the pipe when dropped. Nothing here busy-polls: a reader waiting
//! for values and a writer waiting for room sleep on wakers, which the other side wakes.
//!
//! Backpressure: a write appends only as many values as there is room for (`capacity` minus what
//! is buffered) and gives back the excess, as a native component-model stream write completes
//! with fewer values than it was given; so the buffer never holds more than `capacity` values,
//! whatever a writer (a hostile guest included) does. The embedder's [`StreamWriter::write`] and a
//! guest's `write_all` wait for room again until everything is written.
//!
//! A pipe can carry a *payload tag* ([`Pipe::bind_payload`]): the name of the one payload type it
//! carries, bound by whoever makes or first uses it, so that a pipe made for one payload is never
//! read or written as another (the host binds it to the pipe interface's name).
//!
//! A pipe can be given a *discard sink* ([`Pipe::set_discard`]): values still buffered when the
//! reader closes go there instead of being dropped, so that the host can release the resource
//! handles inside them (running the guests' destructors) where it has the store at hand.
//!
//! Each pipe keeps one waker per side, so each side is meant to be waited on by one task at a
//! time (the holder of that end); a second task waiting on the same side replaces the first one's
//! waker.
//!
//! All the ends are usable from any tokio task or thread: they are `Send + Sync` when `T: Send`,
//! and always `Unpin`.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::task::{Context, Poll, Waker};

/// A bounded single-reader, single-writer pipe of `T` values, shared (through an [`Arc`]) by its
/// two ends.
///
/// The methods here are the low-level protocol: `poll_readable` + `take` on the reader side,
/// `poll_writable` + `push` on the writer side, and `close_reader` / `close_writer`. The typed ends
/// ([`StreamReader`], [`StreamWriter`], [`FutureReader`], [`FutureWriter`]) are built on them.
pub struct Pipe<T> {
    state: Mutex<State<T>>,
    /// The payload type this pipe carries, once bound (see [`Pipe::bind_payload`]).
    payload: OnceLock<Arc<str>>,
}

/// The shared state of a pipe, behind its mutex.
struct State<T> {
    /// Values written and not read yet.
    buffer: VecDeque<T>,
    /// A writer waits while `buffer.len() >= capacity` (always at least 1).
    capacity: usize,
    /// False once the reader end is gone.
    reader_open: bool,
    /// False once the writer end is gone.
    writer_open: bool,
    /// The reader waiting for values (or for the end of the stream).
    reader_waker: Option<Waker>,
    /// The writer waiting for room (or for the reader to go away).
    writer_waker: Option<Waker>,
    /// Where values still buffered when the reader closes go (see [`Pipe::set_discard`]).
    discard: Option<DiscardSink<T>>,
}

/// Receives the values a pipe drops unread when its reader closes; see [`Pipe::set_discard`].
pub type DiscardSink<T> = Arc<dyn Fn(Vec<T>) + Send + Sync>;

/// Stores `cx`'s waker in `slot`, unless the waker already there would wake the same task.
fn register(slot: &mut Option<Waker>, cx: &Context<'_>) {
    match slot {
        Some(waker) if waker.will_wake(cx.waker()) => {}
        _ => *slot = Some(cx.waker().clone()),
    }
}

/// Wakes `waker`, if any. Called after the pipe's lock is released.
fn wake(waker: Option<Waker>) {
    if let Some(waker) = waker {
        waker.wake();
    }
}

impl<T> Pipe<T> {
    /// A pipe that buffers up to `capacity` values (at least 1).
    pub fn new(capacity: usize) -> Arc<Self> {
        let capacity = capacity.max(1);
        Arc::new(Pipe {
            state: Mutex::new(State {
                buffer: VecDeque::new(),
                capacity,
                reader_open: true,
                writer_open: true,
                reader_waker: None,
                writer_waker: None,
                discard: None,
            }),
            payload: OnceLock::new(),
        })
    }

    /// Binds the pipe to the payload type named `payload`, or checks that it is bound to it
    /// already: `Err` with the name it is bound to when that differs. The first call binds.
    pub fn bind_payload(&self, payload: &Arc<str>) -> Result<(), Arc<str>> {
        let bound = self.payload.get_or_init(|| Arc::clone(payload));
        if Arc::ptr_eq(bound, payload) || bound == payload {
            Ok(())
        } else {
            Err(Arc::clone(bound))
        }
    }

    /// The payload type the pipe is bound to, if any.
    pub fn payload(&self) -> Option<&str> {
        self.payload.get().map(|name| &**name)
    }

    /// Sends the values this pipe drops unread (buffered when the reader closes) to `sink`
    /// instead of dropping them: the host uses it to release the resources inside `Val`s.
    pub fn set_discard(&self, sink: DiscardSink<T>) {
        self.lock().discard = Some(sink);
    }

    /// Locks the state; a poisoned lock is still usable (every update leaves the state valid).
    fn lock(&self) -> MutexGuard<'_, State<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ready when a read would not wait: values are buffered, or the writer is closed (or the
    /// reader itself was closed, after which every read reports the end of the stream).
    pub fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.lock();
        if !state.buffer.is_empty() || !state.writer_open || !state.reader_open {
            Poll::Ready(())
        } else {
            register(&mut state.reader_waker, cx);
            Poll::Pending
        }
    }

    /// The reader-side core: when values are buffered, runs `f` on the buffer (which takes what
    /// it wants) and wakes the writer if that made room. `Ready(None)` at the end of the stream
    /// (writer closed and nothing left, or reader closed). Otherwise `Pending`, after registering
    /// `cx` (if given) to be woken when that changes.
    pub(crate) fn poll_take_with<R>(
        &self,
        cx: Option<&mut Context<'_>>,
        f: impl FnOnce(&mut VecDeque<T>) -> R,
    ) -> Poll<Option<R>> {
        let mut state = self.lock();
        if !state.reader_open {
            return Poll::Ready(None);
        }
        if !state.buffer.is_empty() {
            let result = f(&mut state.buffer);
            let writer = if state.buffer.len() < state.capacity {
                state.writer_waker.take()
            } else {
                None
            };
            drop(state);
            wake(writer);
            return Poll::Ready(Some(result));
        }
        if !state.writer_open {
            return Poll::Ready(None);
        }
        if let Some(cx) = cx {
            register(&mut state.reader_waker, cx);
        }
        Poll::Pending
    }

    /// Waits (through `cx`) until at least one value is buffered, then takes up to `max` of them;
    /// `Ready(None)` at the end of the stream. Cancellation-safe: values are only removed from
    /// the pipe in the same call that returns them.
    pub(crate) fn poll_take(&self, cx: &mut Context<'_>, max: usize) -> Poll<Option<Vec<T>>> {
        self.poll_take_with(Some(cx), |buffer| drain_front(buffer, max))
    }

    /// Takes up to `max` buffered values (wakes the writer). `None`: the writer is closed and
    /// nothing is left (end of stream), or the reader was closed. `Some(empty)`: nothing buffered
    /// yet (or `max == 0`).
    pub fn take(&self, max: usize) -> Option<Vec<T>> {
        match self.poll_take_with(None, |buffer| drain_front(buffer, max)) {
            Poll::Ready(values) => values,
            Poll::Pending => Some(Vec::new()),
        }
    }

    /// Ready(true) when the buffer has room (`len < capacity`); Ready(false) once the reader is
    /// closed (or this writer end was already closed: nothing more can be written).
    pub fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<bool> {
        let mut state = self.lock();
        if !state.reader_open || !state.writer_open {
            Poll::Ready(false)
        } else if state.buffer.len() < state.capacity {
            Poll::Ready(true)
        } else {
            register(&mut state.writer_waker, cx);
            Poll::Pending
        }
    }

    /// The writer-side core: waits (through `cx`) for room, then runs `f` on the buffer with the
    /// room available (at least 1) and wakes the reader if anything is buffered. `Ready(Err(()))`
    /// once the reader (or this writer) is closed.
    fn poll_push_with<R>(
        &self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut VecDeque<T>, usize) -> R,
    ) -> Poll<Result<R, ()>> {
        let mut state = self.lock();
        if !state.reader_open || !state.writer_open {
            return Poll::Ready(Err(()));
        }
        let len = state.buffer.len();
        if len >= state.capacity {
            register(&mut state.writer_waker, cx);
            return Poll::Pending;
        }
        let room = state.capacity - len;
        let result = f(&mut state.buffer, room);
        let reader = if state.buffer.is_empty() {
            None
        } else {
            state.reader_waker.take()
        };
        drop(state);
        wake(reader);
        Poll::Ready(Ok(result))
    }

    /// Appends one value without waiting (the caller waited for `poll_writable`). `Err(value)`
    /// when the pipe is closed or (if the caller did not wait) full.
    pub(crate) fn push_one(&self, value: T) -> Result<(), T> {
        let mut state = self.lock();
        if !state.reader_open || !state.writer_open || state.buffer.len() >= state.capacity {
            return Err(value);
        }
        state.buffer.push_back(value);
        let reader = state.reader_waker.take();
        drop(state);
        wake(reader);
        Ok(())
    }

    /// Appends as many of `values` as there is room for, without waiting (wakes the reader), and
    /// returns the rest: `Ok(excess)`, empty when everything fit. The buffer never exceeds its
    /// capacity, whatever the caller does. `Err(values)` when the reader is closed (or this
    /// writer end was already closed); nothing is appended then.
    pub fn push(&self, mut values: Vec<T>) -> Result<Vec<T>, Vec<T>> {
        let mut state = self.lock();
        if !state.reader_open || !state.writer_open {
            return Err(values);
        }
        let room = state.capacity.saturating_sub(state.buffer.len());
        let excess = values.split_off(room.min(values.len()));
        if values.is_empty() {
            return Ok(excess);
        }
        state.buffer.extend(values);
        let reader = state.reader_waker.take();
        drop(state);
        wake(reader);
        Ok(excess)
    }

    /// The reader end is gone: wakes both sides' waiters (a writer sees the pipe closed, a wait
    /// on the reader side sees the end); buffered values go to the discard sink, if any, or are
    /// dropped. Idempotent.
    pub fn close_reader(&self) {
        let mut state = self.lock();
        state.reader_open = false;
        let dropped = std::mem::take(&mut state.buffer);
        let writer = state.writer_waker.take();
        let reader = state.reader_waker.take();
        let discard = state.discard.clone();
        drop(state);
        // Values (e.g. `Val`s holding resources) are handed over outside the lock.
        match discard {
            Some(sink) if !dropped.is_empty() => sink(dropped.into()),
            _ => drop(dropped),
        }
        wake(writer);
        wake(reader);
    }

    /// The writer end is gone: wakes both sides' waiters (the reader reads what is left, then
    /// end of stream; a wait on the writer side sees the pipe closed). Idempotent.
    pub fn close_writer(&self) {
        let mut state = self.lock();
        state.writer_open = false;
        let reader = state.reader_waker.take();
        let writer = state.writer_waker.take();
        drop(state);
        wake(reader);
        wake(writer);
    }

    /// Whether the reader end is still open.
    pub fn is_reader_open(&self) -> bool {
        self.lock().reader_open
    }

    /// Whether the writer end is still open.
    pub fn is_writer_open(&self) -> bool {
        self.lock().writer_open
    }

    /// A `'static` future (holding an [`Arc`] of the pipe) that completes when
    /// [`poll_readable`](Self::poll_readable) is ready, for the host's event loop.
    pub fn readable(self: &Arc<Self>) -> impl Future<Output = ()> + Send + 'static
    where
        T: Send + 'static,
    {
        let pipe = Arc::clone(self);
        std::future::poll_fn(move |cx| pipe.poll_readable(cx))
    }

    /// A `'static` future (holding an [`Arc`] of the pipe) that completes with the result of
    /// [`poll_writable`](Self::poll_writable), for the host's event loop.
    pub fn writable(self: &Arc<Self>) -> impl Future<Output = bool> + Send + 'static
    where
        T: Send + 'static,
    {
        let pipe = Arc::clone(self);
        std::future::poll_fn(move |cx| pipe.poll_writable(cx))
    }

    /// Number of values buffered (for tests and diagnostics).
    pub fn len(&self) -> usize {
        self.lock().buffer.len()
    }

    /// Whether no value is buffered (for tests and diagnostics).
    pub fn is_empty(&self) -> bool {
        self.lock().buffer.is_empty()
    }

    /// The capacity the pipe was made with (at least 1).
    pub fn capacity(&self) -> usize {
        self.lock().capacity
    }
}

impl<T> fmt::Debug for Pipe<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.lock();
        f.debug_struct("Pipe")
            .field("len", &state.buffer.len())
            .field("capacity", &state.capacity)
            .field("reader_open", &state.reader_open)
            .field("writer_open", &state.writer_open)
            .finish()
    }
}

/// Removes and returns up to `max` values from the front of `buffer`.
fn drain_front<T>(buffer: &mut VecDeque<T>, max: usize) -> Vec<T> {
    // Moved in blocks, never one element at a time (bytes streams move megabytes this way):
    // all of it hands over the buffer itself; part of it moves the rest to a new buffer.
    let n = max.min(buffer.len());
    if n == buffer.len() {
        return Vec::from(std::mem::take(buffer));
    }
    let rest = buffer.split_off(n);
    Vec::from(std::mem::replace(buffer, rest))
}

/// Copies bytes from the front of `buffer` into `out` (as many as fit) and removes them.
fn copy_front(buffer: &mut VecDeque<u8>, out: &mut [u8]) -> usize {
    let (first, second) = buffer.as_slices();
    let n1 = first.len().min(out.len());
    out[..n1].copy_from_slice(&first[..n1]);
    let n2 = second.len().min(out.len() - n1);
    out[n1..n1 + n2].copy_from_slice(&second[..n2]);
    buffer.drain(..n1 + n2);
    n1 + n2
}

impl Pipe<u8> {
    /// Copies up to `buf.len()` buffered bytes into `buf` without allocating (wakes the writer).
    /// `None`: end of stream (as for [`take`](Self::take)). `Some(0)`: nothing buffered yet (or
    /// `buf` is empty).
    pub fn take_into(&self, buf: &mut [u8]) -> Option<usize> {
        match self.poll_take_with(None, |buffer| copy_front(buffer, buf)) {
            Poll::Ready(n) => n,
            Poll::Pending => Some(0),
        }
    }

    /// Appends as many of `bytes` as there is room for (wakes the reader), like
    /// [`push`](Self::push) without a `Vec`, and returns how many were appended.
    /// `Err(())` when the reader is closed (nothing appended).
    #[allow(
        clippy::result_unit_err,
        reason = "the only error is the reader being gone"
    )]
    pub fn push_slice(&self, bytes: &[u8]) -> Result<usize, ()> {
        let mut state = self.lock();
        if !state.reader_open || !state.writer_open {
            return Err(());
        }
        let n = state
            .capacity
            .saturating_sub(state.buffer.len())
            .min(bytes.len());
        if n == 0 {
            return Ok(0);
        }
        // A slice extends a deque by block copies (an iterator of bytes would go one by one).
        state.buffer.extend(&bytes[..n]);
        let reader = state.reader_waker.take();
        drop(state);
        wake(reader);
        Ok(n)
    }
}

/// Error of writing to a pipe whose reader is gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

impl fmt::Display for Closed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the reading end of the pipe is closed")
    }
}

impl std::error::Error for Closed {}

impl From<Closed> for io::Error {
    fn from(_: Closed) -> io::Error {
        io::Error::new(io::ErrorKind::BrokenPipe, Closed)
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use futures::{SinkExt, StreamExt};
    use std::cell::Cell;
    use std::rc::Rc;
    use std::time::Duration;
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    /// Polls `fut` once with a no-op waker.
    fn poll_once<F: Future + Unpin>(fut: &mut F) -> Poll<F::Output> {
        let mut cx = Context::from_waker(Waker::noop());
        Pin::new(fut).poll(&mut cx)
    }

    #[allow(dead_code)]
    fn assert_send_sync_unpin<X: Send + Sync + Unpin>() {}

    #[test]
    fn ends_are_send_sync_unpin() {
        // `Cell` is `Send` but not `Sync`: the ends must still be `Send + Sync`.
        assert_send_sync_unpin::<StreamReader<Cell<u8>>>();
        assert_send_sync_unpin::<StreamWriter<Cell<u8>>>();
        assert_send_sync_unpin::<FutureReader<Cell<u8>>>();
        assert_send_sync_unpin::<FutureWriter<Cell<u8>>>();
        assert_send_sync_unpin::<StreamReader<wasmtime::component::Val>>();
        // `PhantomPinned` is `!Unpin`: the ends must still be `Unpin`.
        fn unpin<X: Unpin>() {}
        unpin::<StreamReader<std::marker::PhantomPinned>>();
        unpin::<FutureReader<std::marker::PhantomPinned>>();
        // `Rc` is neither `Send` nor `Sync`; the ends are still usable on one thread.
        let (_w, _r) = stream::<Rc<u8>>(1);
    }

    #[test]
    fn pipe_protocol() {
        let pipe = Pipe::<u32>::new(0);
        assert_eq!(pipe.capacity(), 1);
        let mut cx = Context::from_waker(Waker::noop());
        assert_eq!(pipe.poll_readable(&mut cx), Poll::Pending);
        assert_eq!(pipe.take(10), Some(vec![]));
        assert_eq!(pipe.poll_writable(&mut cx), Poll::Ready(true));
        // Only what fits is appended; the excess is given back.
        assert_eq!(pipe.push(vec![1, 2, 3]), Ok(vec![2, 3]));
        assert_eq!(pipe.len(), 1);
        assert_eq!(pipe.poll_writable(&mut cx), Poll::Pending);
        assert_eq!(pipe.push(vec![2, 3]), Ok(vec![2, 3]));
        assert_eq!(pipe.poll_readable(&mut cx), Poll::Ready(()));
        assert_eq!(pipe.take(0), Some(vec![]));
        assert_eq!(pipe.take(2), Some(vec![1]));
        assert_eq!(pipe.poll_writable(&mut cx), Poll::Ready(true));
        pipe.push(vec![4]).unwrap();
        pipe.close_writer();
        assert!(!pipe.is_writer_open());
        assert_eq!(pipe.take(10), Some(vec![4]));
        assert_eq!(pipe.poll_readable(&mut cx), Poll::Ready(()));
        assert_eq!(pipe.take(10), None);
        assert_eq!(pipe.take(0), None);
    }

    #[test]
    fn wakers_are_woken() {
        struct Flag(std::sync::atomic::AtomicBool);
        impl std::task::Wake for Flag {
            fn wake(self: Arc<Self>) {
                self.0.store(true, std::sync::atomic::Ordering::SeqCst);
            }
        }
        let woken = |flag: &Arc<Flag>| flag.0.swap(false, std::sync::atomic::Ordering::SeqCst);
        let flag = Arc::new(Flag(false.into()));
        let waker = Waker::from(Arc::clone(&flag));
        let mut cx = Context::from_waker(&waker);

        let pipe = Pipe::<u8>::new(2);
        assert_eq!(pipe.poll_readable(&mut cx), Poll::Pending);
        assert!(!woken(&flag));
        pipe.push_slice(b"ab").unwrap();
        assert!(woken(&flag), "push wakes the reader");
        assert_eq!(pipe.poll_writable(&mut cx), Poll::Pending);
        let mut buf = [0; 1];
        assert_eq!(pipe.take_into(&mut buf), Some(1));
        assert_eq!(&buf, b"a");
        assert!(woken(&flag), "take wakes the writer");
        assert_eq!(pipe.take_into(&mut buf), Some(1));
        assert_eq!(pipe.poll_readable(&mut cx), Poll::Pending);
        pipe.close_writer();
        assert!(woken(&flag), "close_writer wakes the reader");
        assert_eq!(pipe.take_into(&mut buf), None);

        // Closing an end also wakes a wait registered on that same end.
        let pipe = Pipe::<u8>::new(1);
        assert_eq!(pipe.poll_readable(&mut cx), Poll::Pending);
        pipe.close_reader();
        assert!(woken(&flag), "close_reader wakes a wait on the reader side");
        assert_eq!(pipe.poll_readable(&mut cx), Poll::Ready(()));
        let pipe = Pipe::<u8>::new(1);
        pipe.push_slice(b"x").unwrap();
        assert_eq!(pipe.poll_writable(&mut cx), Poll::Pending);
        pipe.close_writer();
        assert!(woken(&flag), "close_writer wakes a wait on the writer side");
        assert_eq!(pipe.poll_writable(&mut cx), Poll::Ready(false));

        let pipe = Pipe::<u8>::new(1);
        pipe.push_slice(b"x").unwrap();
        assert_eq!(pipe.poll_writable(&mut cx), Poll::Pending);
        pipe.close_reader();
        assert!(woken(&flag), "close_reader wakes the writer");
        assert_eq!(pipe.len(), 0, "close_reader drops buffered values");
        assert_eq!(pipe.poll_writable(&mut cx), Poll::Ready(false));
        assert_eq!(pipe.push_slice(b"y"), Err(()));
    }

    #[tokio::test]
    async fn readable_and_writable_futures() {
        let pipe = Pipe::<u8>::new(1);
        let readable = tokio::spawn(pipe.readable());
        tokio::task::yield_now().await;
        assert!(!readable.is_finished());
        pipe.push(vec![1]).unwrap();
        readable.await.unwrap();
        let writable = tokio::spawn(pipe.writable());
        tokio::task::yield_now().await;
        assert!(!writable.is_finished());
        assert_eq!(pipe.take(1), Some(vec![1]));
        assert!(writable.await.unwrap());
        pipe.push(vec![2]).unwrap();
        let writable = tokio::spawn(pipe.writable());
        pipe.close_reader();
        assert!(!writable.await.unwrap());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn backpressure() {
        const CAPACITY: usize = 4;
        const CHUNK: usize = 3;
        let (mut writer, mut reader) = stream::<u32>(CAPACITY);
        let pipe = Arc::clone(reader.pipe());
        let max_seen = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let writes = tokio::spawn({
            let max_seen = Arc::clone(&max_seen);
            let pipe = Arc::clone(&pipe);
            async move {
                let mut waited = 0;
                for chunk in 0..50u32 {
                    let values: Vec<u32> = (0..CHUNK as u32).map(|i| chunk * 10 + i).collect();
                    let mut write = Box::pin(writer.write(values));
                    match poll_once(&mut write) {
                        Poll::Ready(result) => result.unwrap(),
                        Poll::Pending => {
                            waited += 1;
                            write.await.unwrap();
                        }
                    }
                    max_seen.fetch_max(pipe.len(), std::sync::atomic::Ordering::SeqCst);
                }
                waited
            }
        });
        let mut received = Vec::new();
        while let Some(values) = reader.read(2).await {
            assert!(!values.is_empty() && values.len() <= 2);
            received.extend(values);
            if received.len() % 10 == 0 {
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        }
        let waited = writes.await.unwrap();
        let expected: Vec<u32> = (0..50u32)
            .flat_map(|chunk| (0..CHUNK as u32).map(move |i| chunk * 10 + i))
            .collect();
        assert_eq!(received, expected);
        assert!(waited > 0, "the faster writer must have waited for room");
        let max_seen = max_seen.load(std::sync::atomic::Ordering::SeqCst);
        assert!(
            max_seen <= CAPACITY - 1 + CHUNK,
            "buffer held {max_seen} values"
        );
    }

    #[tokio::test]
    async fn writer_waits_exactly_while_full() {
        let (mut writer, mut reader) = stream::<u8>(2);
        writer.write(vec![1]).await.unwrap();
        // Room for one more: a write of three appends one value, then waits for room.
        let mut write = Box::pin(writer.write(vec![2, 3, 4]));
        assert!(poll_once(&mut write).is_pending());
        assert_eq!(reader.pipe().len(), 2);
        assert_eq!(reader.read(1).await, Some(vec![1]));
        assert!(poll_once(&mut write).is_pending());
        assert_eq!(reader.pipe().len(), 2, "never more than the capacity");
        assert_eq!(reader.read(3).await, Some(vec![2, 3]));
        assert_eq!(poll_once(&mut write), Poll::Ready(Ok(())));
        drop(write);
        // Only what fits is appended; a write that fits completes at once.
        let mut write = Box::pin(writer.write(vec![5, 6]));
        assert!(poll_once(&mut write).is_pending());
        assert_eq!(reader.read(3).await, Some(vec![4, 5]));
        assert_eq!(poll_once(&mut write), Poll::Ready(Ok(())));
        drop(write);
        assert_eq!(
            poll_once(&mut Box::pin(writer.write(vec![7]))),
            Poll::Ready(Ok(()))
        );
    }

    #[test]
    fn push_never_exceeds_capacity_and_discards_to_the_sink() {
        let pipe = Pipe::<u32>::new(64);
        let excess = pipe.push((0..1000).collect()).unwrap();
        assert_eq!((pipe.len(), excess.len()), (64, 936));
        assert_eq!(excess[0], 64);
        assert_eq!(pipe.push(excess.clone()), Ok(excess));
        let discarded = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&discarded);
        pipe.set_discard(Arc::new(move |values| sink.lock().unwrap().extend(values)));
        pipe.close_reader();
        assert_eq!(*discarded.lock().unwrap(), (0..64).collect::<Vec<u32>>());
        assert_eq!(pipe.len(), 0);
    }

    #[tokio::test]
    async fn end_of_stream_after_writer_dropped() {
        let (mut writer, mut reader) = stream::<String>(8);
        writer
            .write(vec!["a".into(), "b".into(), "c".into()])
            .await
            .unwrap();
        drop(writer);
        assert!(!reader.pipe().is_writer_open());
        assert_eq!(
            reader.read(2).await,
            Some(vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(reader.read(2).await, Some(vec!["c".to_string()]));
        assert_eq!(reader.read(2).await, None);
        assert_eq!(reader.read(0).await, None);
    }

    #[tokio::test]
    async fn pending_read_sees_end_of_stream() {
        let (writer, mut reader) = stream::<u8>(8);
        let read = tokio::spawn(async move { reader.read(4).await });
        tokio::task::yield_now().await;
        assert!(!read.is_finished());
        drop(writer);
        assert_eq!(read.await.unwrap(), None);
    }

    #[tokio::test]
    async fn write_after_reader_dropped() {
        let (mut writer, reader) = stream::<u32>(2);
        writer.write(vec![1, 2]).await.unwrap();
        // A write pending for room fails once the reader goes away.
        let pending = tokio::spawn(async move {
            let result = writer.write(vec![3]).await;
            (writer, result)
        });
        tokio::task::yield_now().await;
        assert!(!pending.is_finished());
        drop(reader);
        let (mut writer, result) = pending.await.unwrap();
        assert_eq!(result, Err(vec![3]));
        assert_eq!(writer.write(vec![4, 5]).await, Err(vec![4, 5]));
        assert_eq!(writer.pipe().len(), 0);
        assert_eq!(writer.send(6).await, Err(Closed));

        let (mut writer, reader) = stream::<u8>(2);
        drop(reader);
        let error = std::future::poll_fn(|cx| Pin::new(&mut writer).poll_write(cx, b"x"))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::BrokenPipe);
        assert_eq!(writer.pipe().push_slice(b"y"), Err(()));
    }

    #[tokio::test]
    async fn cancelled_read_loses_nothing() {
        let (mut writer, mut reader) = stream::<u32>(4);
        {
            let mut read = Box::pin(reader.read(10));
            assert!(poll_once(&mut read).is_pending());
            // Dropped while pending.
        }
        writer.write(vec![1, 2]).await.unwrap();
        {
            // Cancelled even though values are buffered: nothing was taken without being polled.
            let _read = Box::pin(reader.read(10));
        }
        writer.write(vec![3]).await.unwrap();
        assert_eq!(reader.read(10).await, Some(vec![1, 2, 3]));
        // Via timeout, a real cancellation of a waiting read.
        let timed_out = tokio::time::timeout(Duration::from_millis(2), reader.read(10)).await;
        assert!(timed_out.is_err());
        writer.write(vec![4]).await.unwrap();
        writer.write(vec![5]).await.unwrap();
        drop(writer);
        assert_eq!(reader.read(10).await, Some(vec![4, 5]));
        assert_eq!(reader.read(10).await, None);
    }

    #[tokio::test]
    async fn cancelled_write_loses_nothing() {
        let (mut writer, mut reader) = stream::<u32>(2);
        writer.write(vec![1, 2]).await.unwrap();
        {
            let mut write = Box::pin(writer.write(vec![100, 101]));
            assert!(poll_once(&mut write).is_pending());
            // Dropped while waiting for room: none of its values are written.
        }
        let timed_out =
            tokio::time::timeout(Duration::from_millis(2), writer.write(vec![200])).await;
        assert!(timed_out.is_err());
        assert_eq!(reader.pipe().len(), 2);
        assert_eq!(reader.read(2).await, Some(vec![1, 2]));
        writer.write(vec![3, 4]).await.unwrap();
        assert_eq!(reader.read(10).await, Some(vec![3, 4]));
        writer.write(vec![5]).await.unwrap();
        drop(writer);
        let rest: Vec<u32> = reader.collect().await;
        assert_eq!(rest, vec![5]);
    }

    #[tokio::test]
    async fn future_written_before_read() {
        let (writer, reader) = future::<String>();
        writer.write("hello".to_string()).unwrap();
        assert_eq!(reader.await, Some("hello".to_string()));
    }

    #[tokio::test]
    async fn future_read_before_written() {
        let (writer, reader) = future::<u64>();
        let read = tokio::spawn(reader);
        tokio::task::yield_now().await;
        assert!(!read.is_finished());
        writer.write(42).unwrap();
        assert_eq!(read.await.unwrap(), Some(42));
    }

    #[tokio::test]
    async fn future_writer_dropped_without_value() {
        let (writer, reader) = future::<u64>();
        let read = tokio::spawn(reader);
        tokio::task::yield_now().await;
        assert!(!read.is_finished());
        drop(writer);
        assert_eq!(read.await.unwrap(), None);
    }

    #[tokio::test]
    async fn future_reader_dropped() {
        let (writer, reader) = future::<String>();
        drop(reader);
        assert_eq!(writer.write("lost".to_string()), Err("lost".to_string()));
    }

    #[tokio::test]
    async fn future_polled_again_after_value() {
        let (writer, mut reader) = future::<u8>();
        writer.write(7).unwrap();
        assert_eq!(poll_once(&mut reader), Poll::Ready(Some(7)));
        assert_eq!(poll_once(&mut reader), Poll::Ready(None));
    }

    /// Copies everything from `reader` to `writer` through a small stack buffer, then shuts the
    /// writer down (what `tokio::io::copy` does, without needing tokio's `io-util` feature).
    async fn copy(
        mut reader: impl AsyncRead + Unpin,
        mut writer: impl AsyncWrite + Unpin,
    ) -> io::Result<u64> {
        let mut buf = [0u8; 1000];
        let mut total = 0;
        loop {
            let mut read_buf = ReadBuf::new(&mut buf);
            std::future::poll_fn(|cx| Pin::new(&mut reader).poll_read(cx, &mut read_buf)).await?;
            let filled = read_buf.filled();
            if filled.is_empty() {
                break;
            }
            let mut rest = filled;
            while !rest.is_empty() {
                let n =
                    std::future::poll_fn(|cx| Pin::new(&mut writer).poll_write(cx, rest)).await?;
                assert!(n > 0);
                rest = &rest[n..];
                total += n as u64;
            }
        }
        std::future::poll_fn(|cx| Pin::new(&mut writer).poll_shutdown(cx)).await?;
        Ok(total)
    }

    /// A source of bytes that yields them in odd-sized pieces.
    struct Source<'a>(&'a [u8]);
    impl AsyncRead for Source<'_> {
        fn poll_read(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let n = self.0.len().min(buf.remaining()).min(777);
            buf.put_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Poll::Ready(Ok(()))
        }
    }

    /// A sink of bytes that records them and checks the pipe never exceeds its capacity.
    struct Recorder(Vec<u8>);
    impl AsyncWrite for Recorder {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.0.extend_from_slice(buf);
            Poll::Ready(Ok(buf.len()))
        }
        fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
        fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn async_read_write_round_trip() {
        let data: Vec<u8> = (0..1024 * 1024u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        let (writer, reader) = stream::<u8>(4096);
        let pipe = Arc::clone(writer.pipe());
        let source = data.clone();
        let produce = tokio::spawn(async move { copy(Source(&source), writer).await });
        let consume = tokio::spawn(async move {
            let mut recorder = Recorder(Vec::new());
            let n = copy(reader, &mut recorder).await?;
            io::Result::Ok((n, recorder.0))
        });
        assert_eq!(produce.await.unwrap().unwrap(), data.len() as u64);
        let (n, received) = consume.await.unwrap().unwrap();
        assert_eq!(n, data.len() as u64);
        assert!(received == data, "bytes differ");
        assert!(pipe.len() <= pipe.capacity());
        assert!(!pipe.is_reader_open() && !pipe.is_writer_open());
    }

    #[tokio::test]
    async fn async_write_is_bounded_by_capacity() {
        let (mut writer, mut reader) = stream::<u8>(4);
        let n = std::future::poll_fn(|cx| Pin::new(&mut writer).poll_write(cx, b"abcdef"))
            .await
            .unwrap();
        assert_eq!(n, 4);
        assert_eq!(writer.pipe().len(), 4);
        let mut pending = Box::pin(std::future::poll_fn(|cx| {
            Pin::new(&mut writer).poll_write(cx, b"ef")
        }));
        assert!(poll_once(&mut pending).is_pending());
        drop(pending);
        let mut buf = [0u8; 3];
        let mut read_buf = ReadBuf::new(&mut buf);
        std::future::poll_fn(|cx| Pin::new(&mut reader).poll_read(cx, &mut read_buf))
            .await
            .unwrap();
        assert_eq!(read_buf.filled(), b"abc");
        std::future::poll_fn(|cx| Pin::new(&mut writer).poll_shutdown(cx))
            .await
            .unwrap();
        let err = std::future::poll_fn(|cx| Pin::new(&mut writer).poll_write(cx, b"z"))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        let mut read_buf = ReadBuf::new(&mut buf);
        std::future::poll_fn(|cx| Pin::new(&mut reader).poll_read(cx, &mut read_buf))
            .await
            .unwrap();
        assert_eq!(read_buf.filled(), b"d");
        let mut read_buf = ReadBuf::new(&mut buf);
        std::future::poll_fn(|cx| Pin::new(&mut reader).poll_read(cx, &mut read_buf))
            .await
            .unwrap();
        assert!(read_buf.filled().is_empty(), "end of stream");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn stream_and_sink_adapters() {
        let (mut writer, reader) = stream::<u32>(3);
        let send = tokio::spawn(async move {
            let mut values = futures::stream::iter(0..1000u32).map(Ok);
            writer.send_all(&mut values).await?;
            writer.close().await
        });
        let received: Vec<u32> = reader.collect().await;
        send.await.unwrap().unwrap();
        assert_eq!(received, (0..1000).collect::<Vec<_>>());
    }

    #[tokio::test]
    async fn stream_adapter_mixes_with_read() {
        let (mut writer, mut reader) = stream::<u32>(8);
        writer.write(vec![1, 2, 3, 4]).await.unwrap();
        assert_eq!(reader.next().await, Some(1));
        // 2, 3 and 4 were taken into the reader's local buffer: `read` returns them first.
        assert_eq!(reader.pipe().len(), 0);
        writer.write(vec![5]).await.unwrap();
        assert_eq!(reader.read(2).await, Some(vec![2, 3]));
        assert_eq!(reader.read(0).await, Some(vec![]));
        assert_eq!(reader.read(5).await, Some(vec![4]));
        drop(writer);
        assert_eq!(reader.next().await, Some(5));
        assert_eq!(reader.next().await, None);
    }

    #[tokio::test]
    async fn val_payloads() {
        use wasmtime::component::Val;
        let (mut writer, mut reader) = stream::<Val>(2);
        writer
            .write(vec![Val::String("a".into()), Val::U32(7)])
            .await
            .unwrap();
        drop(writer);
        assert_eq!(
            reader.read(10).await,
            Some(vec![Val::String("a".into()), Val::U32(7)])
        );
        assert_eq!(reader.read(10).await, None);
    }
}
