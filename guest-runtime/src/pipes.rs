//! `stream<T>` and `future<T>` ends, with wit-bindgen's native async API.
//!
//! A pipe lives in the host; a component holds handles to its ends. The typed operations of
//! each payload are reached through a vtable that the generated bindings provide (see
//! `isyswasfa_bindgen::pipes`): reads and writes are plain calls, and only waiting for a pipe to
//! become readable or writable goes through the task protocol.

use std::cell::Cell;
use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::protocol::{Pending, Ready};
use crate::tasks::{ReadyFuture, await_ready};

/// A handle that is given away (lowered as `own`) is marked taken and not dropped again.
const TAKEN: u32 = u32::MAX;

/// An owned handle to a pipe end: dropped (through the pipe interface's `[resource-drop]`) when
/// this value is, unless it was given away first.
struct OwnedHandle {
    handle: Cell<u32>,
    drop: unsafe fn(u32),
}

impl OwnedHandle {
    fn new(handle: u32, drop: unsafe fn(u32)) -> Self {
        Self {
            handle: Cell::new(handle),
            drop,
        }
    }

    fn get(&self) -> u32 {
        self.handle.get()
    }

    fn take(&self) -> u32 {
        self.handle.replace(TAKEN)
    }
}

impl Drop for OwnedHandle {
    fn drop(&mut self) {
        let handle = self.take();
        if handle != TAKEN {
            // SAFETY: the handle is owned by this value and dropped once.
            unsafe { (self.drop)(handle) }
        }
    }
}

/// The operations of a `stream<T>` of one payload type (filled in by generated code).
#[doc(hidden)]
pub struct StreamVtable<T: 'static> {
    pub new: fn() -> (StreamWriter<T>, StreamReader<T>),
    /// Up to `max` values; `None` at the end; empty when nothing is there yet.
    pub read: fn(&StreamReader<T>, u32) -> Option<Vec<T>>,
    /// Writes as many of the buffer's remaining values as the pipe has room for (none when the
    /// reader is gone), takes them off the buffer and returns how many it wrote.
    pub write: fn(&StreamWriter<T>, &mut AbiBuffer<T>) -> usize,
    pub start_wait_readable: fn(&StreamReader<T>) -> Result<(), Pending>,
    pub finish_wait_readable: fn(Ready),
    pub start_wait_writable: fn(&StreamWriter<T>) -> Result<bool, Pending>,
    pub finish_wait_writable: fn(Ready) -> bool,
    pub drop_reader: unsafe fn(u32),
    pub drop_writer: unsafe fn(u32),
}

/// The operations of a `future<T>` of one payload type (filled in by generated code).
#[doc(hidden)]
pub struct FutureVtable<T: 'static> {
    pub new: fn() -> (FutureWriter<T>, FutureReader<T>),
    /// The value; `None` when the writer went away without one.
    pub read: fn(FutureReader<T>) -> Option<T>,
    /// Gives the value back when the reader is gone.
    pub write: fn(FutureWriter<T>, T) -> Option<T>,
    pub start_wait_readable: fn(&FutureReader<T>) -> Result<(), Pending>,
    pub finish_wait_readable: fn(Ready),
    pub drop_reader: unsafe fn(u32),
    pub drop_writer: unsafe fn(u32),
}

/// How a stream read or write ended.
#[derive(Copy, Clone, PartialEq, Eq, Debug)]
pub enum StreamResult {
    /// This many values were transferred.
    Complete(usize),
    /// Nothing was transferred: the other end is gone.
    Dropped,
    /// The operation was cancelled before it transferred anything.
    Cancelled,
}

/// The readable end of a `stream<T>`.
pub struct StreamReader<T: 'static> {
    end: OwnedHandle,
    vtable: &'static StreamVtable<T>,
    done: bool,
}

impl<T> StreamReader<T> {
    /// Wraps a handle received from the host.
    ///
    /// # Safety
    /// `handle` must be an owned reader handle of the pipe interface `vtable` belongs to.
    #[doc(hidden)]
    pub unsafe fn from_handle(handle: u32, vtable: &'static StreamVtable<T>) -> Self {
        Self {
            end: OwnedHandle::new(handle, vtable.drop_reader),
            vtable,
            done: false,
        }
    }

    /// The handle, for passing it borrowed.
    #[doc(hidden)]
    pub fn handle(&self) -> u32 {
        self.end.get()
    }

    /// Gives the handle away (passed as `own`): this value no longer drops it.
    #[doc(hidden)]
    pub fn take_handle(&self) -> u32 {
        self.end.take()
    }

    /// Reads values into the spare capacity of `buf` (at least one value, unless the stream
    /// ended), and gives `buf` back with how the read ended. With no spare capacity it reads
    /// nothing but still waits, as wit-bindgen's does: until the writer has written
    /// ([`StreamResult::Complete`]`(0)`) or is gone ([`StreamResult::Dropped`]).
    ///
    /// Dropping the returned future cancels the read; nothing is lost, since values leave the
    /// pipe only when the read completes. [`StreamRead::cancel`] gives `buf` back.
    pub fn read(&mut self, buf: Vec<T>) -> StreamRead<'_, T> {
        StreamRead {
            reader: self,
            buf: Some(buf),
            wait: None,
        }
    }

    /// Reads one value; `None` at the end of the stream.
    pub async fn next(&mut self) -> Option<T> {
        let (_, mut buf) = self.read(Vec::with_capacity(1)).await;
        buf.pop()
    }

    /// Reads every value until the writer is gone.
    pub async fn collect(mut self) -> Vec<T> {
        let mut all = Vec::new();
        loop {
            if all.len() == all.capacity() {
                all.reserve(64);
            }
            let (result, buf) = self.read(all).await;
            all = buf;
            if !matches!(result, StreamResult::Complete(_)) {
                return all;
            }
        }
    }
}

impl<T> fmt::Debug for StreamReader<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReader")
            .field("handle", &self.end.get())
            .finish()
    }
}

/// A read from a [`StreamReader`], returned by [`StreamReader::read`].
pub struct StreamRead<'a, T: 'static> {
    reader: &'a mut StreamReader<T>,
    buf: Option<Vec<T>>,
    wait: Option<ReadyFuture>,
}

impl<T> Unpin for StreamRead<'_, T> {}

impl<T> StreamRead<'_, T> {
    /// Cancels the read if it has not completed: gives back the buffer.
    pub fn cancel(mut self: Pin<&mut Self>) -> (StreamResult, Vec<T>) {
        self.wait = None;
        (StreamResult::Cancelled, self.buf.take().unwrap_or_default())
    }
}

impl<T> Future for StreamRead<'_, T> {
    type Output = (StreamResult, Vec<T>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let vtable = this.reader.vtable;
        loop {
            let mut readable = false;
            if let Some(wait) = &mut this.wait {
                let ready = std::task::ready!(Pin::new(wait).poll(cx));
                this.wait = None;
                (vtable.finish_wait_readable)(ready);
                readable = true;
            }
            let mut buf = this.buf.take().unwrap_or_default();
            if this.reader.done {
                return Poll::Ready((StreamResult::Dropped, buf));
            }
            let max = u32::try_from(buf.capacity() - buf.len()).unwrap_or(u32::MAX);
            if max == 0 {
                // A read with no room, as on a native stream, waits until the writer has
                // written (then `Complete(0)`, the values left in the pipe) or is gone.
                if !readable && let Err(pending) = (vtable.start_wait_readable)(this.reader) {
                    this.buf = Some(buf);
                    this.wait = Some(await_ready(pending));
                    continue;
                }
                if (vtable.read)(this.reader, 0).is_none() {
                    this.reader.done = true;
                    return Poll::Ready((StreamResult::Dropped, buf));
                }
                return Poll::Ready((StreamResult::Complete(0), buf));
            }
            match (vtable.read)(this.reader, max) {
                None => {
                    this.reader.done = true;
                    return Poll::Ready((StreamResult::Dropped, buf));
                }
                Some(values) if !values.is_empty() => {
                    let n = values.len();
                    buf.extend(values);
                    return Poll::Ready((StreamResult::Complete(n), buf));
                }
                Some(_) => {
                    this.buf = Some(buf);
                    match (vtable.start_wait_readable)(this.reader) {
                        Ok(()) => continue,
                        Err(pending) => this.wait = Some(await_ready(pending)),
                    }
                }
            }
        }
    }
}

/// The writable end of a `stream<T>`. Dropping it ends the stream.
pub struct StreamWriter<T: 'static> {
    end: OwnedHandle,
    vtable: &'static StreamVtable<T>,
}

impl<T> StreamWriter<T> {
    /// Wraps a handle received from the host.
    ///
    /// # Safety
    /// `handle` must be an owned writer handle of the pipe interface `vtable` belongs to.
    #[doc(hidden)]
    pub unsafe fn from_handle(handle: u32, vtable: &'static StreamVtable<T>) -> Self {
        Self {
            end: OwnedHandle::new(handle, vtable.drop_writer),
            vtable,
        }
    }

    /// The handle, for passing it borrowed.
    #[doc(hidden)]
    pub fn handle(&self) -> u32 {
        self.end.get()
    }

    /// Gives the handle away (passed as `own`): this value no longer drops it.
    #[doc(hidden)]
    pub fn take_handle(&self) -> u32 {
        self.end.take()
    }

    /// Writes `values` once the stream has room (buffers in the host are bounded, so a writer
    /// faster than its reader waits here), as many as there is room for: gives back
    /// [`StreamResult::Complete`] with the count written (the buffer may have values
    /// [`remaining`](AbiBuffer::remaining), as with a native component-model write), or
    /// [`StreamResult::Dropped`] when the reader is gone, and the buffer, which holds `values`
    /// (the same allocation) and knows which were written. [`write_all`](Self::write_all)
    /// writes everything.
    ///
    /// Dropping the returned future before it completes writes nothing.
    pub fn write(&mut self, values: Vec<T>) -> StreamWrite<'_, T> {
        self.write_buf(AbiBuffer::new(values))
    }

    /// Like [`write`](Self::write), for the values a previous write left in `values`.
    pub fn write_buf(&mut self, values: AbiBuffer<T>) -> StreamWrite<'_, T> {
        StreamWrite {
            writer: self,
            values: Some(values),
            wait: None,
        }
    }

    /// Writes all `values`, waiting for room as often as needed. Gives back the same vector:
    /// empty, or holding the values that were not written because the reader is gone.
    pub async fn write_all(&mut self, values: Vec<T>) -> Vec<T> {
        let (mut result, mut buf) = self.write(values).await;
        while let StreamResult::Complete(_) = result {
            if buf.remaining() == 0 {
                break;
            }
            (result, buf) = self.write_buf(buf).await;
        }
        buf.into_vec()
    }

    /// Writes one value; gives it back when the reader is gone.
    pub async fn write_one(&mut self, value: T) -> Option<T> {
        self.write_all(vec![value]).await.pop()
    }
}

/// The most bytes of values one stream write offers the host (see [`AbiBuffer::unwritten`]): the
/// host's default room in a byte stream, so that each write copies about what it can take.
pub(crate) const WRITE_CHUNK_BYTES: usize = 64 * 1024;

/// The values of a [`StreamWriter::write`]: the vector given to it, and how many of its values
/// were written (wit-bindgen's `AbiBuffer`, with the same methods).
pub struct AbiBuffer<T> {
    values: Vec<T>,
    /// How many values at the front of `values` were written (what is left there of them are
    /// copies, dropped by [`into_vec`](Self::into_vec)).
    written: usize,
}

impl<T> AbiBuffer<T> {
    fn new(values: Vec<T>) -> Self {
        Self { values, written: 0 }
    }

    /// How many values have not been written yet.
    pub fn remaining(&self) -> usize {
        self.values.len() - self.written
    }

    /// The vector given to the write (its allocation unchanged), holding the values not written
    /// yet, at its front.
    pub fn into_vec(mut self) -> Vec<T> {
        self.values.drain(..self.written);
        self.values
    }

    /// The values not written yet, for a write that copies them: at most
    /// [`WRITE_CHUNK_BYTES`] of them. The host takes no more than its pipe has room for (64 KiB of
    /// a byte stream by default) and every value offered is copied into it first, so offering
    /// the whole rest on each call would make one `write_all` of N bytes copy O(N²) bytes.
    #[doc(hidden)]
    pub fn unwritten(&self) -> &[T] {
        let most = (WRITE_CHUNK_BYTES / std::mem::size_of::<T>().max(1)).max(1);
        let end = self.values.len().min(self.written.saturating_add(most));
        &self.values[self.written..end]
    }

    /// Marks the first `count` of the [`unwritten`](Self::unwritten) values written.
    #[doc(hidden)]
    pub fn advance(&mut self, count: usize) {
        self.written = (self.written + count).min(self.values.len());
    }

    /// Takes the values not written yet, for a write that moves them; give the ones it did not
    /// write back with [`put_back`](Self::put_back).
    #[doc(hidden)]
    pub fn take_unwritten(&mut self) -> Vec<T> {
        self.values.drain(self.written..).collect()
    }

    /// Gives back values [`take_unwritten`](Self::take_unwritten) took and the write did not.
    #[doc(hidden)]
    pub fn put_back(&mut self, values: Vec<T>) {
        self.values.extend(values);
    }
}

impl<T> fmt::Debug for AbiBuffer<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AbiBuffer")
            .field("remaining", &self.remaining())
            .finish()
    }
}

impl<T> fmt::Debug for StreamWriter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamWriter")
            .field("handle", &self.end.get())
            .finish()
    }
}

/// A write to a [`StreamWriter`], returned by [`StreamWriter::write`].
pub struct StreamWrite<'a, T: 'static> {
    writer: &'a mut StreamWriter<T>,
    values: Option<AbiBuffer<T>>,
    wait: Option<ReadyFuture>,
}

impl<T> Unpin for StreamWrite<'_, T> {}

impl<T> StreamWrite<'_, T> {
    /// Cancels the write if it has not completed: gives back the values, none of them written.
    pub fn cancel(mut self: Pin<&mut Self>) -> (StreamResult, AbiBuffer<T>) {
        self.wait = None;
        let values = self
            .values
            .take()
            .unwrap_or_else(|| AbiBuffer::new(Vec::new()));
        (StreamResult::Cancelled, values)
    }
}

impl<T> Future for StreamWrite<'_, T> {
    type Output = (StreamResult, AbiBuffer<T>);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let vtable = this.writer.vtable;
        let writable = match &mut this.wait {
            Some(wait) => {
                let ready = std::task::ready!(Pin::new(wait).poll(cx));
                this.wait = None;
                (vtable.finish_wait_writable)(ready)
            }
            None => match (vtable.start_wait_writable)(this.writer) {
                Ok(writable) => writable,
                Err(pending) => {
                    this.wait = Some(await_ready(pending));
                    return Pin::new(&mut *this).poll(cx);
                }
            },
        };
        let mut values = this
            .values
            .take()
            .unwrap_or_else(|| AbiBuffer::new(Vec::new()));
        if !writable {
            return Poll::Ready((StreamResult::Dropped, values));
        }
        let count = values.remaining();
        let written = (vtable.write)(this.writer, &mut values);
        // The host takes what fits in the room left; nothing at all means the reader is gone.
        Poll::Ready(match written {
            0 if count > 0 => (StreamResult::Dropped, values),
            written => (StreamResult::Complete(written), values),
        })
    }
}

/// The readable end of a `future<T>`: `.await` it for the value.
pub struct FutureReader<T: 'static> {
    end: OwnedHandle,
    vtable: &'static FutureVtable<T>,
}

impl<T> FutureReader<T> {
    /// Wraps a handle received from the host.
    ///
    /// # Safety
    /// `handle` must be an owned reader handle of the pipe interface `vtable` belongs to.
    #[doc(hidden)]
    pub unsafe fn from_handle(handle: u32, vtable: &'static FutureVtable<T>) -> Self {
        Self {
            end: OwnedHandle::new(handle, vtable.drop_reader),
            vtable,
        }
    }

    /// The handle, for passing it borrowed.
    #[doc(hidden)]
    pub fn handle(&self) -> u32 {
        self.end.get()
    }

    /// Gives the handle away (passed as `own`): this value no longer drops it.
    #[doc(hidden)]
    pub fn take_handle(&self) -> u32 {
        self.end.take()
    }
}

impl<T> fmt::Debug for FutureReader<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FutureReader")
            .field("handle", &self.end.get())
            .finish()
    }
}

impl<T> IntoFuture for FutureReader<T> {
    type Output = T;
    type IntoFuture = FutureRead<T>;

    fn into_future(self) -> FutureRead<T> {
        FutureRead {
            reader: Some(self),
            wait: None,
        }
    }
}

/// Reading a [`FutureReader`]'s value (its `IntoFuture`). Dropping it drops the reader.
pub struct FutureRead<T: 'static> {
    reader: Option<FutureReader<T>>,
    wait: Option<ReadyFuture>,
}

impl<T> Unpin for FutureRead<T> {}

impl<T> Future for FutureRead<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = &mut *self;
        let Some(reader) = this.reader.as_ref() else {
            panic!("isyswasfa: a future's value was read twice");
        };
        let vtable = reader.vtable;
        match &mut this.wait {
            Some(wait) => {
                let ready = std::task::ready!(Pin::new(wait).poll(cx));
                this.wait = None;
                (vtable.finish_wait_readable)(ready);
            }
            None => {
                if let Err(pending) = (vtable.start_wait_readable)(reader) {
                    this.wait = Some(await_ready(pending));
                    return Pin::new(&mut *this).poll(cx);
                }
            }
        }
        let Some(reader) = this.reader.take() else {
            unreachable!("checked above")
        };
        match (vtable.read)(reader) {
            Some(value) => Poll::Ready(value),
            None => panic!(
                "isyswasfa: the writer of a future went away without writing a value \
                 (a component trapped, or a host end was dropped)"
            ),
        }
    }
}

/// The writable end of a `future<T>`. Dropped without a write, it writes its default value.
pub struct FutureWriter<T: 'static> {
    end: OwnedHandle,
    vtable: &'static FutureVtable<T>,
    default: Option<fn() -> T>,
}

impl<T> FutureWriter<T> {
    /// Wraps a handle received from the host.
    ///
    /// # Safety
    /// `handle` must be an owned writer handle of the pipe interface `vtable` belongs to.
    #[doc(hidden)]
    pub unsafe fn from_handle(handle: u32, vtable: &'static FutureVtable<T>) -> Self {
        Self {
            end: OwnedHandle::new(handle, vtable.drop_writer),
            vtable,
            default: None,
        }
    }

    /// The handle, for passing it borrowed.
    #[doc(hidden)]
    pub fn handle(&self) -> u32 {
        self.end.get()
    }

    /// Gives the handle away (passed as `own`): this value no longer drops it.
    #[doc(hidden)]
    pub fn take_handle(&self) -> u32 {
        self.end.take()
    }

    /// Sends `value`. It fails, giving the value back, when the reader is gone.
    ///
    /// Unlike a native WASI 0.3 future, the write completes once the host holds the value, not
    /// once the reader has taken it.
    pub fn write(mut self, value: T) -> FutureWrite<T> {
        self.default = None;
        let vtable = self.vtable;
        let outcome = match (vtable.write)(self, value) {
            None => Ok(()),
            Some(value) => Err(FutureWriteError { value }),
        };
        FutureWrite {
            outcome: Some(outcome),
        }
    }
}

impl<T> fmt::Debug for FutureWriter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FutureWriter")
            .field("handle", &self.end.get())
            .finish()
    }
}

impl<T> Drop for FutureWriter<T> {
    fn drop(&mut self) {
        // Not written yet: send the default. (Otherwise the handle drops itself, or was given
        // away by a write.)
        if let Some(default) = self.default.take()
            && self.end.get() != TAKEN
        {
            let writer = FutureWriter {
                end: OwnedHandle::new(self.end.take(), self.vtable.drop_writer),
                vtable: self.vtable,
                default: None,
            };
            // The reader may be gone too; then the default is simply dropped.
            let _ = (self.vtable.write)(writer, default());
        }
    }
}

/// Writing a future's value, returned by [`FutureWriter::write`].
pub struct FutureWrite<T> {
    outcome: Option<Result<(), FutureWriteError<T>>>,
}

impl<T> Unpin for FutureWrite<T> {}

impl<T> Future for FutureWrite<T> {
    type Output = Result<(), FutureWriteError<T>>;

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.outcome.take() {
            Some(outcome) => Poll::Ready(outcome),
            None => panic!("isyswasfa: FutureWrite polled after it completed"),
        }
    }
}

/// The value a [`FutureWriter`] could not send: the reader is gone.
pub struct FutureWriteError<T> {
    /// The value that was not sent.
    pub value: T,
}

impl<T> fmt::Debug for FutureWriteError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FutureWriteError").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for FutureWriteError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the future's reader is gone")
    }
}

impl<T> std::error::Error for FutureWriteError<T> {}

/// Creates a stream through its payload's vtable (used by the generated `wit_stream::new`).
#[doc(hidden)]
pub fn new_stream<T>(vtable: &'static StreamVtable<T>) -> (StreamWriter<T>, StreamReader<T>) {
    (vtable.new)()
}

/// Creates a future through its payload's vtable (used by the generated `wit_future::new`).
#[doc(hidden)]
pub fn new_future<T>(
    vtable: &'static FutureVtable<T>,
    default: fn() -> T,
) -> (FutureWriter<T>, FutureReader<T>) {
    let (mut writer, reader) = (vtable.new)();
    writer.default = Some(default);
    (writer, reader)
}

#[cfg(test)]
mod tests {
    use super::{AbiBuffer, WRITE_CHUNK_BYTES};

    /// A write of a large buffer offers the host one chunk at a time, and `write_all`'s loop
    /// walks the buffer chunk by chunk: each byte is offered (copied) about once, so writing N
    /// bytes costs O(N), not O(N²).
    #[test]
    fn writes_offer_one_chunk_at_a_time() {
        let mut buffer = AbiBuffer::new(vec![7u8; 4 * WRITE_CHUNK_BYTES + 10]);
        let mut offered = 0;
        while buffer.remaining() > 0 {
            let chunk = buffer.unwritten().len();
            assert!(chunk <= WRITE_CHUNK_BYTES);
            offered += chunk;
            // The host takes what fits in a pipe of half a chunk.
            buffer.advance(chunk.min(WRITE_CHUNK_BYTES / 2));
        }
        assert!(offered <= 2 * (4 * WRITE_CHUNK_BYTES + 10), "{offered}");
        // Values larger than the chunk still go one at a time.
        let big = AbiBuffer::new(vec![[0u8; 2 * WRITE_CHUNK_BYTES]; 3]);
        assert_eq!(big.unwritten().len(), 1);
        assert_eq!(buffer.into_vec().capacity(), 4 * WRITE_CHUNK_BYTES + 10);
    }
}
