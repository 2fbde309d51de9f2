//! Bodies between WASI 0.2 streams and the runtime's `stream<u8>` pipes, and the lowered
//! `isyswasfa:pipes/stream-u8` and `wasi:cli` standard streams that use the same pipes.

use std::sync::Arc;

use wasi::http::types::{self as p2, IncomingBody, OutgoingBody};
use wasi::io::streams::{InputStream, OutputStream, StreamError};

use crate::Runtime;
use crate::bindings::exports::isyswasfa::isyswasfa::isyswasfa::{Pending, Ready};
use crate::bindings::exports::isyswasfa::pipes::future_result_none_wasi_cli_types_error_code as cli_done;
use crate::bindings::exports::isyswasfa::pipes::stream_u8::{
    self, Reader, ReaderBorrow, Writer, WriterBorrow,
};
use crate::bindings::exports::wasi::cli::types::ErrorCode as CliErrorCode;
use crate::bindings::exports::wasi::http0_3_0::types::ErrorCode;
use crate::http::FutureWriterEnd;
use crate::http::error::{from_p2, internal};
use crate::http::fields::visible;
use crate::http::futures::{CliDone, Trailers, future};
use crate::http::message::Body;
use crate::pipes::{self, BYTE_CAPACITY, PipeReader, PipeWriter, pipe_pair};
use crate::{reactor, state};

impl stream_u8::GuestReader for PipeReader {}
impl stream_u8::GuestWriter for PipeWriter {}

impl stream_u8::Guest for Runtime {
    type Reader = PipeReader;
    type Writer = PipeWriter;

    fn new() -> (Writer, Reader) {
        let (writer, reader) = pipe_pair();
        (Writer::new(writer), Reader::new(reader))
    }

    fn wait_readable_isyswasfa_start(end: ReaderBorrow<'_>) -> Result<(), Pending> {
        pipes::wait_readable(&end.get::<PipeReader>().pipe)
    }

    fn wait_readable_isyswasfa_result(ready: Ready) {
        pipes::wait_readable_result(ready)
    }

    fn wait_writable_isyswasfa_start(end: WriterBorrow<'_>) -> Result<bool, Pending> {
        pipes::wait_writable(&end.get::<PipeWriter>().pipe)
    }

    fn wait_writable_isyswasfa_result(ready: Ready) -> bool {
        pipes::wait_writable_result(ready)
    }

    fn read(end: ReaderBorrow<'_>, payload: String, size: u32, max: u32) -> Option<Vec<u8>> {
        pipes::read(&end.get::<PipeReader>().pipe, payload, size, max)
    }

    fn write(end: WriterBorrow<'_>, payload: String, size: u32, values: Vec<u8>) -> u32 {
        pipes::write(&end.get::<PipeWriter>().pipe, payload, size, values)
    }
}

fn stream_error(what: &str, error: StreamError) -> ErrorCode {
    match error {
        StreamError::Closed => internal(format!("{what}: the stream was closed")),
        StreamError::LastOperationFailed(e) => internal(format!("{what}: {}", e.to_debug_string())),
    }
}

/// The body of a WASI 0.2 request or response, streamed into a pipe by a background future as
/// the pipe's reader takes it; then its trailers.
pub fn incoming(body: IncomingBody) -> Body {
    let (writer, reader) = pipe_pair();
    let (trailers_writer, trailers) = future::<Trailers>();
    state::spawn_background(copy_in(body, writer, trailers_writer));
    Body {
        contents: Some(reader),
        trailers,
    }
}

async fn copy_in(body: IncomingBody, writer: PipeWriter, trailers: FutureWriterEnd<Trailers>) {
    let copied = copy_bytes_in(&body, &writer).await;
    // The end of the stream, before the trailers (a reader reads to the end, then waits for
    // them).
    drop(writer);
    let value = match copied {
        Ok(true) => incoming_trailers(body).await,
        Ok(false) => return,
        Err(error) => Err(error),
    };
    let _ = trailers.write(value);
}

/// Copies the bytes; `Ok(false)` when the reader went away first.
async fn copy_bytes_in(body: &IncomingBody, writer: &PipeWriter) -> Result<bool, ErrorCode> {
    let stream: InputStream = body
        .stream()
        .map_err(|()| internal("the body's stream was taken already"))?;
    let pipe = &writer.pipe;
    loop {
        if !pipe.writable().await {
            return Ok(false);
        }
        let room = pipe.capacity().saturating_sub(pipe.len()).max(1);
        match stream.read(room as u64) {
            Ok(bytes) if bytes.is_empty() => reactor::ready(stream.subscribe()).await,
            Ok(bytes) => {
                let mut rest = &bytes[..];
                while !rest.is_empty() {
                    if !pipe.writable().await {
                        return Ok(false);
                    }
                    match pipe.push_slice(rest) {
                        Ok(n) => rest = &rest[n..],
                        Err(()) => return Ok(false),
                    }
                }
            }
            Err(StreamError::Closed) => return Ok(true),
            Err(error) => return Err(stream_error("reading the body", error)),
        }
    }
}

async fn incoming_trailers(body: IncomingBody) -> Trailers {
    let trailers = IncomingBody::finish(body);
    loop {
        match trailers.get() {
            Some(Ok(Ok(fields))) => return Ok(fields.map(|f| visible(f.entries()))),
            Some(Ok(Err(error))) => return Err(from_p2(error)),
            Some(Err(())) => return Err(internal("the trailers were taken already")),
            None => reactor::ready(trailers.subscribe()).await,
        }
    }
}

/// Waits until `stream` takes more bytes; how many.
async fn permit(stream: &OutputStream) -> Result<u64, StreamError> {
    loop {
        match stream.check_write()? {
            0 => reactor::ready(stream.subscribe()).await,
            n => return Ok(n),
        }
    }
}

/// Copies `contents` to `stream` as they arrive, then flushes it.
async fn copy_out(contents: &PipeReader, stream: &OutputStream) -> Result<(), StreamError> {
    let pipe = Arc::clone(&contents.pipe);
    let mut buf = Vec::new();
    loop {
        pipe.readable().await;
        let room = permit(stream).await?;
        buf.resize((room as usize).min(BYTE_CAPACITY), 0);
        match pipe.take_into(&mut buf) {
            None => break,
            Some(0) => {}
            Some(n) => stream.write(&buf[..n])?,
        }
    }
    stream.flush()?;
    permit(stream).await?;
    Ok(())
}

/// Sends `body` on the WASI 0.2 `out`: the bytes as the guest writes them, then the trailers.
pub async fn outgoing(body: Body, out: OutgoingBody) -> Result<(), ErrorCode> {
    let Body { contents, trailers } = body;
    let stream = out
        .write()
        .map_err(|()| internal("the outgoing body's stream was taken already"))?;
    if let Some(contents) = &contents {
        copy_out(contents, &stream)
            .await
            .map_err(|e| stream_error("writing the body", e))?;
    } else {
        stream
            .flush()
            .map_err(|e| stream_error("writing the body", e))?;
    }
    drop(contents);
    drop(stream);
    let fields = match trailers.await {
        Some(Ok(Some(list))) => Some(
            p2::Fields::from_list(&list)
                .map_err(|e| internal(format!("the trailers are refused: {e:?}")))?,
        ),
        Some(Ok(None)) | None => None,
        Some(Err(error)) => return Err(error),
    };
    OutgoingBody::finish(out, fields).map_err(from_p2)
}

/// Copies `data` to a WASI 0.2 standard stream in the background; the future tells how it went.
fn write_via_stream(data: Reader, stream: OutputStream) -> cli_done::Reader {
    let (done, reader) = future::<CliDone>();
    let data = data.into_inner::<PipeReader>();
    state::spawn_background(async move {
        let outcome = copy_out(&data, &stream).await.map_err(|_| CliErrorCode::Io);
        drop(data);
        drop(stream);
        let _ = done.write(outcome);
    });
    cli_done::Reader::new(reader)
}

impl crate::bindings::exports::wasi::cli::stdout::Guest for Runtime {
    fn write_via_stream(data: Reader) -> cli_done::Reader {
        write_via_stream(data, wasi::cli::stdout::get_stdout())
    }
}

impl crate::bindings::exports::wasi::cli::stderr::Guest for Runtime {
    fn write_via_stream(data: Reader) -> cli_done::Reader {
        write_via_stream(data, wasi::cli::stderr::get_stderr())
    }
}
