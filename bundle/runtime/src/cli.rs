//! The standard streams of `wasi:cli@0.3.0`, lowered, on WASI 0.2's, and the copying between
//! WASI 0.2 streams and the runtime's byte pipes that they (and HTTP bodies) use: background
//! futures that move a pipe's capacity at a time, never a whole stream.

use std::sync::Arc;

use isyswasfa_protocol::pipe::Pipe;
use wasi::io::streams::{InputStream, OutputStream, StreamError};

use crate::Runtime;
use crate::bindings::exports::isyswasfa::pipes::future_result_none_wasi_cli_types_error_code as cli_done;
use crate::bindings::exports::isyswasfa::pipes::stream_u8::Reader;
use crate::bindings::exports::wasi::cli::types::ErrorCode as CliErrorCode;
use crate::futures::{CliDone, future};
use crate::pipes::{BYTE_CAPACITY, PipeReader, pipe_pair};
use crate::{reactor, state};

/// Copies `stream` into `pipe` as the pipe's reader takes the bytes: `Ok(true)` at the end of
/// the stream, `Ok(false)` when the reader went away first.
pub async fn copy_in(stream: &InputStream, pipe: &Arc<Pipe<u8>>) -> Result<bool, StreamError> {
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
            Err(error) => return Err(error),
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
pub async fn copy_out(contents: &PipeReader, stream: &OutputStream) -> Result<(), StreamError> {
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

impl crate::bindings::exports::wasi::cli::stdin::Guest for Runtime {
    fn read_via_stream() -> (Reader, cli_done::Reader) {
        let (writer, reader) = pipe_pair();
        let (done, done_reader) = future::<CliDone>();
        state::spawn_background(async move {
            let stdin = wasi::cli::stdin::get_stdin();
            let outcome = match copy_in(&stdin, &writer.pipe).await {
                Ok(_) => Ok(()),
                Err(_) => Err(CliErrorCode::Io),
            };
            drop(writer);
            let _ = done.write(outcome);
        });
        (Reader::new(reader), cli_done::Reader::new(done_reader))
    }
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
