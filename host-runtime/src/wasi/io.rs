//! Copying between wasmtime-wasi's WASI 0.2 streams and pipes: the lowered WASI 0.3 interfaces
//! that wasmtime-wasi implements for WASI 0.2 (standard input, files, TCP connections) hand the
//! guest a `stream<u8>` fed from a 0.2 input stream, or drain the guest's `stream<u8>` into a 0.2
//! output stream, each copy in a task of its own with no borrow of the store.

use std::sync::Arc;

use bytes::Bytes;
use wasmtime::StoreContextMut;
use wasmtime::component::{Resource, Val};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, StreamError};

use crate::ctx::IsyswasfaView;
use crate::pipes::FutureWriter;
use crate::pipes::StreamReader;
use crate::pipes::StreamWriter;
use crate::pipes::element::{AnyPipe, End, ReaderEnd};
use isyswasfa_protocol::pipe::Pipe;

/// How much one read from a 0.2 input stream takes (as much as a `stream<u8>` pipe holds by
/// default).
const CHUNK: usize = 64 * 1024;

/// The WIT value of the error a failed 0.2 stream operation stands for (an `error-code` case of
/// the interface at hand).
pub(crate) type ErrorValue = fn(&StreamError) -> Val;

/// `result<_, error-code>`'s `err(code)`.
pub(crate) fn failed(code: Val) -> Val {
    Val::Result(Err(Some(Box::new(code))))
}

/// `result<_, error-code>`'s `ok`.
pub(crate) fn succeeded() -> Val {
    Val::Result(Ok(None))
}

/// Copies `input` into the guest's stream until the input ends (`ok` in `done`), fails (`err`,
/// from `error`), or the guest drops its end (then it stops reading, and leaves `done` unwritten).
pub(crate) async fn copy_input(
    mut input: DynInputStream,
    mut contents: StreamWriter<u8>,
    done: FutureWriter<Val>,
    error: ErrorValue,
) {
    let outcome = loop {
        input.ready().await;
        match input.read(CHUNK) {
            Ok(bytes) if bytes.is_empty() => continue,
            Ok(bytes) => {
                if contents.write(bytes.to_vec()).await.is_err() {
                    // The guest dropped its end: nobody is left to tell.
                    return;
                }
            }
            Err(StreamError::Closed) => break succeeded(),
            Err(e) => {
                tracing::debug!("isyswasfa: reading a WASI stream failed: {e:#}");
                break failed(error(&e));
            }
        }
    };
    drop(contents);
    let _ = done.write(outcome);
}

/// Copies the guest's stream `data` into `output` until the guest ends it (then flushes: `ok`
/// once all is out) or the output fails (`err`, from `error`; the rest of `data` is left unread).
pub(crate) async fn copy_output(
    mut data: StreamReader<u8>,
    output: &mut DynOutputStream,
    error: ErrorValue,
) -> Val {
    let outcome = async {
        while let Some(chunk) = data.read(CHUNK).await {
            let mut rest = Bytes::from(chunk);
            while !rest.is_empty() {
                let room = output.write_ready().await?;
                let piece = rest.split_to(room.min(rest.len()));
                output.write(piece)?;
            }
        }
        output.flush()?;
        output.write_ready().await?;
        Ok::<(), StreamError>(())
    }
    .await;
    match outcome {
        Ok(()) => succeeded(),
        Err(e) => {
            tracing::debug!("isyswasfa: writing a WASI stream failed: {e:#}");
            failed(error(&e))
        }
    }
}

/// A second handle to the table entry `resource` names, to pass to a WASI 0.2 method (which
/// only looks it up).
pub(crate) fn lend<R: 'static>(resource: &Resource<R>) -> Resource<R> {
    Resource::new_borrow(resource.rep())
}

/// A new stream of values (any payload but bytes and units) whose reading end goes to the guest.
pub(crate) fn value_stream_to_guest<T: IsyswasfaView>(
    store: &mut StoreContextMut<'_, T>,
) -> (Resource<ReaderEnd>, StreamWriter<Val>) {
    let ctx = &mut store.data_mut().isyswasfa().ctx;
    let pipe = Pipe::<Val>::new(ctx.limits.value_stream_capacity);
    let rep = ctx
        .pipes
        .insert(AnyPipe::Values(Arc::clone(&pipe)), End::Reader);
    (Resource::new_own(rep), StreamWriter::new(pipe))
}

/// A new `stream<u8>` whose reading end goes to the guest.
pub(crate) fn byte_stream_to_guest<T: IsyswasfaView>(
    store: &mut StoreContextMut<'_, T>,
) -> (Resource<ReaderEnd>, StreamWriter<u8>) {
    let ctx = &mut store.data_mut().isyswasfa().ctx;
    let pipe = Pipe::<u8>::new(ctx.limits.byte_stream_capacity);
    let rep = ctx
        .pipes
        .insert(AnyPipe::Bytes(Arc::clone(&pipe)), End::Reader);
    (Resource::new_own(rep), StreamWriter::new(pipe))
}
