//! A bounded pipe: the one mechanism behind every `stream<T>` and `future<T>`.
//!
//! A [`Pipe`] carries values of `T` from exactly one writer end to exactly one reader end through
//! a bounded buffer. The host library uses `u8` for byte streams, its dynamic value type for any
//! other payload, and `()` for payload-less streams; whoever holds an end waits on
//! [`Pipe::poll_readable`] / [`Pipe::poll_writable`], and the typed ends that embedders use are
//! built on the methods here.
//!
//! Backpressure: a write appends only as many values as there is room for (`capacity` minus what
//! is buffered) and gives back the excess, as a native component-model stream write completes
//! with fewer values than it was given; so the buffer never holds more than `capacity` values,
//! whatever a writer (a hostile guest included) does.
//!
//! A pipe can carry a *payload tag* ([`Pipe::bind_payload`]): the name of the one payload type it
//! carries, bound by whoever makes or first uses it, so that a pipe made for one payload is never
//! read or written as another.
//!
//! A pipe can be given a *discard sink* ([`Pipe::set_discard`]): values still buffered when the
//! reader closes go there instead of being dropped, so that an embedding can release the
//! resource handles inside them (running the guests' destructors) where it has the store at hand.
//!
//! Each pipe keeps one waker per side, so each side is meant to be waited on by one task at a
//! time (the holder of that end); a second task waiting on the same side replaces the first one's
//! waker. Nothing here busy-polls: a reader waiting for values and a writer waiting for room
//! sleep on wakers, which the other side wakes.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::io;
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
    /// True when the writer end went away without ending the stream itself (its component
    /// trapped, or its store was torn down): see [`Pipe::fail_writer`].
    writer_failed: bool,
    /// The reader waiting for values (or for the end of the stream).
    reader_waker: Option<Waker>,
    /// The writer waiting for room (or for the reader to go away).
    writer_waker: Option<Waker>,
    /// Where values still buffered when the reader closes go (see [`Pipe::set_discard`]).
    discard: Option<DiscardSink<T>>,
    /// The byte budget of a pipe made with [`Pipe::with_weight`].
    weight: Option<Weight<T>>,
}

/// Weighs one value (the host bytes it holds), for a pipe with a byte budget: see
/// [`Pipe::with_weight`].
pub type Weigh<T> = fn(&T) -> usize;

/// The byte budget of a pipe: what its buffered values weigh, and the most they may.
struct Weight<T> {
    weigh: Weigh<T>,
    /// A writer waits while the buffered values weigh this much or more (at least 1).
    max: usize,
    /// What the buffered values weigh.
    buffered: usize,
}

impl<T> State<T> {
    /// Whether a write would take a value now: fewer than `capacity` values are buffered and,
    /// with a byte budget, they weigh less than it.
    fn has_room(&self) -> bool {
        self.buffer.len() < self.capacity && self.weight.as_ref().is_none_or(|w| w.buffered < w.max)
    }

    /// How many of values weighing `weights` (in order) a write would take now.
    fn accepts(&self, weights: impl IntoIterator<Item = usize>) -> usize {
        let room = self.capacity.saturating_sub(self.buffer.len());
        let Some(weight) = &self.weight else {
            return weights.into_iter().take(room).count();
        };
        let mut buffered = weight.buffered;
        let mut n = 0;
        for w in weights {
            if n >= room || buffered >= weight.max {
                break;
            }
            buffered = buffered.saturating_add(w);
            n += 1;
        }
        n
    }

    /// Recomputes what the buffered values weigh, after the buffer changed (at most `capacity`
    /// values, so this stays cheap).
    fn reweigh(&mut self) {
        if let Some(weight) = &mut self.weight {
            let weigh = weight.weigh;
            weight.buffered = self.buffer.iter().map(weigh).fold(0, usize::saturating_add);
        }
    }
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
                writer_failed: false,
                reader_waker: None,
                writer_waker: None,
                discard: None,
                weight: None,
            }),
            payload: OnceLock::new(),
        })
    }

    /// A pipe that buffers up to `capacity` values (at least 1) weighing, by `weigh`, less than
    /// `max_weight` bytes (at least 1) before the last one: a writer waits while the buffered
    /// values weigh `max_weight` or more, and a write takes values while they weigh less, so
    /// the buffer never holds more than `max_weight` plus one value (which may be larger than
    /// `max_weight` on its own, so that any value can be written). For payloads whose values
    /// differ much in size (a `stream<list<u8>>`), where a count of values bounds nothing.
    pub fn with_weight(capacity: usize, max_weight: usize, weigh: Weigh<T>) -> Arc<Self> {
        let pipe = Self::new(capacity);
        pipe.lock().weight = Some(Weight {
            weigh,
            max: max_weight.max(1),
            buffered: 0,
        });
        pipe
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

    /// Changes the capacity, for an embedding that learns a pipe's element size only when the
    /// pipe is first read or written (the bundle's in-wasm runtime keeps whole elements of a
    /// payload as bytes, so it sets a multiple of the element size). Values already buffered stay.
    pub fn set_capacity(&self, capacity: usize) {
        self.lock().capacity = capacity.max(1);
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
    pub fn poll_take_with<R>(
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
            state.reweigh();
            let writer = if state.has_room() {
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
    pub fn poll_take(&self, cx: &mut Context<'_>, max: usize) -> Poll<Option<Vec<T>>> {
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
        } else if state.has_room() {
            Poll::Ready(true)
        } else {
            register(&mut state.writer_waker, cx);
            Poll::Pending
        }
    }

    /// The writer-side core: waits (through `cx`) for room, then runs `f` on the buffer with the
    /// room available (at least 1) and wakes the reader if anything is buffered. `Ready(Err(()))`
    /// once the reader (or this writer) is closed.
    #[allow(
        clippy::result_unit_err,
        reason = "the only error is the reader being gone"
    )]
    pub fn poll_push_with<R>(
        &self,
        cx: &mut Context<'_>,
        f: impl FnOnce(&mut VecDeque<T>, usize) -> R,
    ) -> Poll<Result<R, ()>> {
        let mut state = self.lock();
        if !state.reader_open || !state.writer_open {
            return Poll::Ready(Err(()));
        }
        if !state.has_room() {
            register(&mut state.writer_waker, cx);
            return Poll::Pending;
        }
        let room = state.capacity - state.buffer.len();
        let result = f(&mut state.buffer, room);
        state.reweigh();
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
    pub fn push_one(&self, value: T) -> Result<(), T> {
        let mut state = self.lock();
        if !state.reader_open || !state.writer_open || !state.has_room() {
            return Err(value);
        }
        if let Some(weight) = &mut state.weight {
            weight.buffered = weight.buffered.saturating_add((weight.weigh)(&value));
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
        let taken = match &state.weight {
            Some(weight) => state.accepts(values.iter().map(weight.weigh)),
            None => state.accepts(std::iter::repeat_n(0, values.len())),
        };
        let excess = values.split_off(taken);
        if values.is_empty() {
            return Ok(excess);
        }
        state.buffer.extend(values);
        state.reweigh();
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
        state.reweigh();
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

    /// The writer end is gone because its side failed, not because it finished: like
    /// [`close_writer`](Self::close_writer), and the reader can tell
    /// ([`writer_failed`](Self::writer_failed)), so that a body cut short by a trap is not
    /// passed on as a complete one.
    pub fn fail_writer(&self) {
        self.lock().writer_failed = true;
        self.close_writer();
    }

    /// Whether the writer end went away through [`fail_writer`](Self::fail_writer).
    pub fn writer_failed(&self) -> bool {
        self.lock().writer_failed
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

    /// What the buffered values weigh, for a pipe made with [`Pipe::with_weight`] (0 for
    /// another).
    pub fn weight(&self) -> usize {
        self.lock().weight.as_ref().map_or(0, |w| w.buffered)
    }

    /// How many of values weighing `weights` (in order) a [`push`](Self::push) would take now
    /// (0 once the pipe is closed). Only the writer pushes, so a push right after takes at
    /// least this many (a read in between only makes room).
    pub fn accepts(&self, weights: impl IntoIterator<Item = usize>) -> usize {
        let state = self.lock();
        if !state.reader_open || !state.writer_open {
            return 0;
        }
        state.accepts(weights)
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
pub fn drain_front<T>(buffer: &mut VecDeque<T>, max: usize) -> Vec<T> {
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
