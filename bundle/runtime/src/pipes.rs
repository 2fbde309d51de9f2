//! `isyswasfa:bundle/streams`: the bounded pipe of the protocol crate, holding whole values of
//! any plain-data payload as bytes. The bundle plugs every stream interface a component imports
//! with this one; the payload (its name and size) is bound when a pipe is first read or written.

use std::sync::{Arc, LazyLock};

use isyswasfa_protocol::pipe::Pipe;
use isyswasfa_protocol::tasks::HostFunction;

use crate::Runtime;
use crate::bindings::exports::isyswasfa::bundle::streams::{
    Guest, GuestReader, GuestWriter, Reader, ReaderBorrow, Writer, WriterBorrow,
};
use crate::bindings::exports::isyswasfa::isyswasfa::isyswasfa::{Pending, Ready};
use crate::bindings::exports::isyswasfa::pipes::stream_u8;
use crate::protocol::{PendingTask, ReadyTask};
use crate::state::{self, trap};

/// Bytes a pipe of bytes buffers (as the host's `BYTE_CAPACITY`).
pub const BYTE_CAPACITY: usize = 64 * 1024;
/// Values a pipe of any other payload buffers (as the host's `VALUE_CAPACITY`).
pub const VALUE_CAPACITY: usize = 64;

/// The readable end of a pipe.
pub struct PipeReader {
    pub(crate) pipe: Arc<Pipe<u8>>,
}

/// The writable end of a pipe.
pub struct PipeWriter {
    pub(crate) pipe: Arc<Pipe<u8>>,
}

impl Drop for PipeReader {
    fn drop(&mut self) {
        self.pipe.close_reader();
    }
}

impl Drop for PipeWriter {
    fn drop(&mut self) {
        self.pipe.close_writer();
    }
}

impl GuestReader for PipeReader {}
impl GuestWriter for PipeWriter {}

static WAIT_READABLE: LazyLock<HostFunction> = LazyLock::new(|| HostFunction::new("wait-readable"));
static WAIT_WRITABLE: LazyLock<HostFunction> = LazyLock::new(|| HostFunction::new("wait-writable"));

/// Binds `pipe` to `payload` of `size` bytes per value, or traps naming both payloads.
fn bind(pipe: &Pipe<u8>, call: &str, payload: String, size: u32) -> usize {
    let size = (size as usize).max(1);
    let name: Arc<str> = format!("{payload} ({size} bytes)").into();
    if pipe.payload().is_none() {
        let values = if size == 1 {
            BYTE_CAPACITY
        } else {
            VALUE_CAPACITY
        };
        pipe.set_capacity(values * size);
    }
    if let Err(bound) = pipe.bind_payload(&name) {
        trap(format!(
            "isyswasfa: `{call}`: the pipe carries {bound}, not {name}"
        ));
    }
    size
}

/// A new pipe of bytes: its writable and readable ends.
pub(crate) fn pipe_pair() -> (PipeWriter, PipeReader) {
    let pipe = Pipe::new(BYTE_CAPACITY);
    (
        PipeWriter {
            pipe: Arc::clone(&pipe),
        },
        PipeReader { pipe },
    )
}

pub(crate) fn wait_readable(pipe: &Arc<Pipe<u8>>) -> Result<(), Pending> {
    state::start(&WAIT_READABLE, pipe.readable()).map_err(PendingTask::handle)
}

pub(crate) fn wait_readable_result(ready: Ready) {
    state::take_value::<()>(&WAIT_READABLE, ReadyTask::take(ready))
}

pub(crate) fn wait_writable(pipe: &Arc<Pipe<u8>>) -> Result<bool, Pending> {
    state::start(&WAIT_WRITABLE, pipe.writable()).map_err(PendingTask::handle)
}

pub(crate) fn wait_writable_result(ready: Ready) -> bool {
    state::take_value::<bool>(&WAIT_WRITABLE, ReadyTask::take(ready))
}

/// `read` of the byte-level stream interfaces.
pub(crate) fn read(pipe: &Pipe<u8>, payload: String, size: u32, max: u32) -> Option<Vec<u8>> {
    let size = bind(pipe, "stream read", payload, size);
    let values = (max as usize).min(pipe.capacity() / size);
    let mut buf = vec![0; values * size];
    let n = pipe.take_into(&mut buf)?;
    buf.truncate(n);
    Some(buf)
}

/// `write` of the byte-level stream interfaces.
pub(crate) fn write(pipe: &Pipe<u8>, payload: String, size: u32, values: Vec<u8>) -> u32 {
    let size = bind(pipe, "stream write", payload, size);
    if !values.len().is_multiple_of(size) {
        trap(format!(
            "isyswasfa: `stream write`: {} bytes are no whole number of {size}-byte values",
            values.len()
        ));
    }
    match pipe.push_slice(&values) {
        Ok(n) => (n / size) as u32,
        Err(()) => 0,
    }
}

impl Guest for Runtime {
    type Reader = PipeReader;
    type Writer = PipeWriter;

    fn new() -> (Writer, Reader) {
        let (writer, reader) = pipe_pair();
        (Writer::new(writer), Reader::new(reader))
    }

    fn wait_readable_isyswasfa_start(end: ReaderBorrow<'_>) -> Result<(), Pending> {
        wait_readable(&end.get::<PipeReader>().pipe)
    }

    fn wait_readable_isyswasfa_result(ready: Ready) {
        wait_readable_result(ready)
    }

    fn wait_writable_isyswasfa_start(end: WriterBorrow<'_>) -> Result<bool, Pending> {
        wait_writable(&end.get::<PipeWriter>().pipe)
    }

    fn wait_writable_isyswasfa_result(ready: Ready) -> bool {
        wait_writable_result(ready)
    }

    fn read(end: ReaderBorrow<'_>, payload: String, size: u32, max: u32) -> Option<Vec<u8>> {
        read(&end.get::<PipeReader>().pipe, payload, size, max)
    }

    fn write(end: WriterBorrow<'_>, payload: String, size: u32, values: Vec<u8>) -> u32 {
        write(&end.get::<PipeWriter>().pipe, payload, size, values)
    }
}

/// `isyswasfa:pipes/stream-u8`: the same pipes as `isyswasfa:bundle/streams`, under the name
/// the lowered `wasi:cli` and `wasi:http` interfaces refer to.
impl stream_u8::GuestReader for PipeReader {}
impl stream_u8::GuestWriter for PipeWriter {}

impl stream_u8::Guest for Runtime {
    type Reader = PipeReader;
    type Writer = PipeWriter;

    fn new() -> (stream_u8::Writer, stream_u8::Reader) {
        let (writer, reader) = pipe_pair();
        (
            stream_u8::Writer::new(writer),
            stream_u8::Reader::new(reader),
        )
    }

    fn wait_readable_isyswasfa_start(end: stream_u8::ReaderBorrow<'_>) -> Result<(), Pending> {
        wait_readable(&end.get::<PipeReader>().pipe)
    }

    fn wait_readable_isyswasfa_result(ready: Ready) {
        wait_readable_result(ready)
    }

    fn wait_writable_isyswasfa_start(end: stream_u8::WriterBorrow<'_>) -> Result<bool, Pending> {
        wait_writable(&end.get::<PipeWriter>().pipe)
    }

    fn wait_writable_isyswasfa_result(ready: Ready) -> bool {
        wait_writable_result(ready)
    }

    fn read(
        end: stream_u8::ReaderBorrow<'_>,
        payload: String,
        size: u32,
        max: u32,
    ) -> Option<Vec<u8>> {
        read(&end.get::<PipeReader>().pipe, payload, size, max)
    }

    fn write(end: stream_u8::WriterBorrow<'_>, payload: String, size: u32, values: Vec<u8>) -> u32 {
        write(&end.get::<PipeWriter>().pipe, payload, size, values)
    }
}
