//! Bodies between WASI 0.2's `wasi:http` streams and the runtime's `stream<u8>` pipes.

use wasi::http::types::{self as p2, IncomingBody, OutgoingBody};
use wasi::io::streams::{InputStream, StreamError};

use crate::bindings::exports::wasi::http0_3_0::types::ErrorCode;
use crate::cli::{copy_in, copy_out};
use crate::futures::{FutureWriterEnd, future};
use crate::http::error::{from_p2, internal};
use crate::http::fields::visible;
use crate::http::futures::Trailers;
use crate::http::message::Body;
use crate::pipes::{PipeWriter, pipe_pair};
use crate::{reactor, state};

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
    state::spawn_background(pump_in(body, writer, trailers_writer));
    Body {
        contents: Some(reader),
        trailers,
    }
}

async fn pump_in(body: IncomingBody, writer: PipeWriter, trailers: FutureWriterEnd<Trailers>) {
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
    copy_in(&stream, &writer.pipe)
        .await
        .map_err(|e| stream_error("reading the body", e))
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
