//! What a pipe carries and how a guest holds its ends: [`AnyPipe`] (a pipe of bytes, byte
//! lists, units or values), [`PipeElement`] (the element types an embedder can read and write), and the reader
//! and writer resource types.

use std::sync::Arc;

use wasmtime::component::Val;
use wasmtime::{Result, bail};

use crate::limits::BYTE_CAPACITY;
use crate::limits::PIPE_BYTES_BUDGET;
use crate::limits::UNIT_CAPACITY;
use crate::limits::VALUE_CAPACITY;
use crate::pipes::byte_list::ByteList;
use crate::pipes::capacity::StreamCapacities;
use crate::pipes::discarded::Discarded;
use isyswasfa_protocol::pipe::Pipe;

/// Marker type of the `reader` resources of every pipe interface.
pub struct ReaderEnd;
/// Marker type of the `writer` resources of every pipe interface.
pub struct WriterEnd;

/// A pipe of any element type.
#[derive(Clone)]
pub enum AnyPipe {
    /// `stream<u8>`.
    Bytes(Arc<Pipe<u8>>),
    /// `stream<list<u8>>`: plain bytes, weighed against a byte budget.
    ByteLists(Arc<Pipe<ByteList>>),
    /// Any other payload.
    Values(Arc<Pipe<Val>>),
    /// Payload-less `stream` / `future`.
    Units(Arc<Pipe<()>>),
}

impl AnyPipe {
    /// A new pipe for the pipe interface named `name` (`stream-u8`, `future-string`, …).
    pub(crate) fn for_name(name: &str, capacities: StreamCapacities) -> Self {
        let future = name.starts_with("future");
        let capacity = |n: usize| if future { 1 } else { n };
        match name {
            "stream-u8" => Self::Bytes(Pipe::new(capacities.bytes)),
            "stream-list-u8" => Self::ByteLists(Pipe::with_weight(
                capacities.values,
                capacities.list_bytes,
                ByteList::weigh,
            )),
            "stream" | "future" => Self::Units(Pipe::new(capacity(capacities.units))),
            _ => Self::Values(Pipe::new(capacity(capacities.values))),
        }
    }

    /// Binds the pipe to the payload named `payload` (a pipe interface's name), or checks that it
    /// is bound to it (see [`Pipe::bind_payload`]); `Err` names the payload it carries instead.
    pub(crate) fn bind(&self, payload: &Arc<str>) -> Result<(), Arc<str>> {
        match self {
            Self::Bytes(p) => p.bind_payload(payload),
            Self::ByteLists(p) => p.bind_payload(payload),
            Self::Values(p) => p.bind_payload(payload),
            Self::Units(p) => p.bind_payload(payload),
        }
    }

    /// Sends the values a `Val` pipe drops unread to `discarded` (other pipes hold no resources).
    pub(crate) fn attach(&self, discarded: &Arc<Discarded>) {
        if let Self::Values(pipe) = self {
            let discarded = Arc::clone(discarded);
            pipe.set_discard(Arc::new(move |values| discarded.push(values)));
        }
    }

    pub(crate) fn close(&self, end: End) {
        match (self, end) {
            (Self::Bytes(p), End::Reader) => p.close_reader(),
            (Self::Bytes(p), End::Writer) => p.close_writer(),
            (Self::ByteLists(p), End::Reader) => p.close_reader(),
            (Self::ByteLists(p), End::Writer) => p.close_writer(),
            (Self::Values(p), End::Reader) => p.close_reader(),
            (Self::Values(p), End::Writer) => p.close_writer(),
            (Self::Units(p), End::Reader) => p.close_reader(),
            (Self::Units(p), End::Writer) => p.close_writer(),
        }
    }

    /// Closes `end` because its holder failed (its store broke or was torn down): a writer end
    /// is marked failed (see [`Pipe::fail_writer`]).
    pub(crate) fn fail(&self, end: End) {
        match (self, end) {
            (Self::Bytes(p), End::Writer) => p.fail_writer(),
            (Self::ByteLists(p), End::Writer) => p.fail_writer(),
            (Self::Values(p), End::Writer) => p.fail_writer(),
            (Self::Units(p), End::Writer) => p.fail_writer(),
            (_, End::Reader) => self.close(end),
        }
    }

    pub(crate) fn readable(&self) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
        match self {
            Self::Bytes(p) => Box::pin(p.readable()),
            Self::ByteLists(p) => Box::pin(p.readable()),
            Self::Values(p) => Box::pin(p.readable()),
            Self::Units(p) => Box::pin(p.readable()),
        }
    }

    pub(crate) fn writable(&self) -> std::pin::Pin<Box<dyn Future<Output = bool> + Send>> {
        match self {
            Self::Bytes(p) => Box::pin(p.writable()),
            Self::ByteLists(p) => Box::pin(p.writable()),
            Self::Values(p) => Box::pin(p.writable()),
            Self::Units(p) => Box::pin(p.writable()),
        }
    }
}

/// The element types a pipe can have, for the embedder's typed ends.
pub trait PipeElement: Sized + Send + 'static {
    /// Wraps a pipe of this element type.
    fn wrap(pipe: Arc<Pipe<Self>>) -> AnyPipe;
    /// The pipe, if it has this element type.
    fn unwrap(pipe: &AnyPipe) -> Option<Arc<Pipe<Self>>>;
    /// The buffer size of a new stream of this element type.
    const CAPACITY: usize;
    /// A new stream pipe of this element type, as a guest's `new` makes it by default.
    fn new_stream_pipe() -> Arc<Pipe<Self>> {
        Pipe::new(Self::CAPACITY)
    }
}

impl PipeElement for u8 {
    fn wrap(pipe: Arc<Pipe<Self>>) -> AnyPipe {
        AnyPipe::Bytes(pipe)
    }
    fn unwrap(pipe: &AnyPipe) -> Option<Arc<Pipe<Self>>> {
        match pipe {
            AnyPipe::Bytes(p) => Some(Arc::clone(p)),
            _ => None,
        }
    }
    const CAPACITY: usize = BYTE_CAPACITY;
}

impl PipeElement for ByteList {
    fn wrap(pipe: Arc<Pipe<Self>>) -> AnyPipe {
        AnyPipe::ByteLists(pipe)
    }
    fn unwrap(pipe: &AnyPipe) -> Option<Arc<Pipe<Self>>> {
        match pipe {
            AnyPipe::ByteLists(p) => Some(Arc::clone(p)),
            _ => None,
        }
    }
    const CAPACITY: usize = VALUE_CAPACITY;
    fn new_stream_pipe() -> Arc<Pipe<Self>> {
        Pipe::with_weight(Self::CAPACITY, PIPE_BYTES_BUDGET, ByteList::weigh)
    }
}

impl PipeElement for Val {
    fn wrap(pipe: Arc<Pipe<Self>>) -> AnyPipe {
        AnyPipe::Values(pipe)
    }
    fn unwrap(pipe: &AnyPipe) -> Option<Arc<Pipe<Self>>> {
        match pipe {
            AnyPipe::Values(p) => Some(Arc::clone(p)),
            _ => None,
        }
    }
    const CAPACITY: usize = VALUE_CAPACITY;
}

impl PipeElement for () {
    fn wrap(pipe: Arc<Pipe<Self>>) -> AnyPipe {
        AnyPipe::Units(pipe)
    }
    fn unwrap(pipe: &AnyPipe) -> Option<Arc<Pipe<Self>>> {
        match pipe {
            AnyPipe::Units(p) => Some(Arc::clone(p)),
            _ => None,
        }
    }
    const CAPACITY: usize = UNIT_CAPACITY;
}

/// Which end of a pipe a handle is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    /// The readable end.
    Reader,
    /// The writable end.
    Writer,
}

/// The pipe and the side of an ops interface's function: `<pipe>-read` reads, `<pipe>-write`
/// writes.
pub(crate) fn split_op(func: &str) -> Result<(&str, End)> {
    match (func.strip_suffix("-read"), func.strip_suffix("-write")) {
        (Some(pipe), _) => Ok((pipe, End::Reader)),
        (_, Some(pipe)) => Ok((pipe, End::Writer)),
        _ => bail!("not a pipe operation"),
    }
}
