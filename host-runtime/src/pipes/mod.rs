//! Bounded pipes: the one host-side mechanism behind every `stream<T>` and `future<T>`.
//!
//! A [`Pipe`] carries values of `T` from exactly one writer end to exactly one reader end through
//! a bounded buffer. `T` is `u8` for byte streams, [`ByteList`] for `stream<list<u8>>`,
//! [`wasmtime::component::Val`] for any other payload, and `()` for payload-less streams. Either end may be held by a guest component (the
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

pub(crate) mod byte_list;
pub(crate) mod capacity;
pub(crate) mod discarded;
pub(crate) mod element;
mod future;
pub(crate) mod guest;
pub(crate) mod link;
mod payload;
mod stream;
pub(crate) mod table;
#[cfg(test)]
mod tests;

pub use crate::limits::{BYTE_CAPACITY, PIPE_BYTES_BUDGET, UNIT_CAPACITY, VALUE_CAPACITY};
pub use byte_list::ByteList;
pub use element::{AnyPipe, PipeElement, ReaderEnd, WriterEnd};
pub use future::{FutureReader, FutureWriter, future};
pub use isyswasfa_protocol::pipe::{Closed, DiscardSink, Pipe};
pub use stream::{StreamReader, StreamWriter, stream};
