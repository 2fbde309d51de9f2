//! `wasi:cli@0.3.0` standard streams, lowered: `stdout` and `stderr` copy a guest's
//! `stream<u8>` line by line to the host's log (labelled with the store's label, see
//! [`IsyswasfaCtx::set_label`](crate::IsyswasfaCtx::set_label)) or, unlabelled, to the
//! process's own stdout/stderr (flushed as they are written); `stdin` streams the store's WASI
//! context's standard input (what `WasiCtxBuilder::stdin` set: empty unless the embedder gave
//! one). The synchronous interfaces (`environment`, `exit`, `terminal-*`) are wasmtime-wasi's,
//! linked by [`crate::linker`].

use std::sync::Arc;

use tokio::io::AsyncWriteExt;
use wasmtime::component::{Linker, Resource, Val};
use wasmtime::{Result, bail};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::cli::WasiCliView;

use crate::ctx::IsyswasfaView;
use crate::pipes::FutureWriter;
use crate::pipes::StreamReader;
use crate::pipes::element::AnyPipe;
use crate::pipes::element::ReaderEnd;
use crate::pipes::guest::guest_future;
use crate::pipes::guest::take_reader;

/// The interface names, as components import them.
pub const STDOUT: &str = "wasi:cli/stdout@0.3.0";
/// See [`STDOUT`].
pub const STDERR: &str = "wasi:cli/stderr@0.3.0";
/// See [`STDOUT`].
pub const STDIN: &str = "wasi:cli/stdin@0.3.0";

#[derive(Clone, Copy)]
enum Output {
    Stdout,
    Stderr,
}

/// Adds the lowered `stdin`, `stdout` and `stderr` to `linker`.
pub fn add_to_linker<T: WasiView + IsyswasfaView + 'static>(linker: &mut Linker<T>) -> Result<()> {
    for (name, output) in [(STDOUT, Output::Stdout), (STDERR, Output::Stderr)] {
        linker.instance(name)?.func_wrap(
            "write-via-stream",
            move |mut store, (data,): (Resource<ReaderEnd>,)| {
                let AnyPipe::Bytes(data) = take_reader(&mut store, data)? else {
                    bail!(
                        "isyswasfa: `write-via-stream` was given a pipe that is not a stream<u8>"
                    );
                };
                let ctx = &store.data_mut().isyswasfa().ctx;
                let (label, max_line) = (ctx.label.clone(), ctx.limits.max_log_line);
                let (done, reader) = guest_future(&mut store);
                let done = FutureWriter::new(done);
                tokio::spawn(copy(StreamReader::new(data), output, label, max_line, done));
                Ok((reader,))
            },
        )?;
    }
    linker
        .instance(STDIN)?
        .func_wrap("read-via-stream", |mut store, (): ()| {
            // wasmtime-wasi's WASI 0.2 `get-stdin` gives a stream over the context's stdin,
            // sharing its progress with every other handle; taken out of the table, it is ours
            // to read from a task of its own, with no borrow of the store.
            let stdin = {
                let mut cli = WasiCliView::cli(store.data_mut());
                let handle = wasmtime_wasi::p2::bindings::cli::stdin::Host::get_stdin(&mut cli)?;
                cli.table.delete(handle)?
            };
            let (contents, writer) = super::io::byte_stream_to_guest(&mut store);
            let (done, reader) = guest_future(&mut store);
            let done = FutureWriter::new(done);
            tokio::spawn(super::io::copy_input(stdin, writer, done, |_| {
                Val::Enum("io".to_string())
            }));
            Ok(((contents, reader),))
        })?;
    Ok(())
}

async fn copy(
    mut data: StreamReader<u8>,
    output: Output,
    label: Option<Arc<str>>,
    max_line: usize,
    done: FutureWriter<Val>,
) {
    let mut line = Vec::new();
    while let Some(chunk) = data.read(64 * 1024).await {
        match &label {
            Some(label) => {
                for byte in chunk {
                    if byte == b'\n' || line.len() >= max_line {
                        log(label, output, &line);
                        line.clear();
                    }
                    if byte != b'\n' {
                        line.push(byte);
                    }
                }
            }
            None => {
                // Flushed at once: the bytes are out before the guest learns the stream is
                // done, and so before whatever it prints next by other means.
                let written = match output {
                    Output::Stdout => write_flushed(&mut tokio::io::stdout(), &chunk).await,
                    Output::Stderr => write_flushed(&mut tokio::io::stderr(), &chunk).await,
                };
                if written.is_err() {
                    // `error-code.pipe`: the host's own stream is gone.
                    let code = Val::Enum("pipe".to_string());
                    let _ = done.write(Val::Result(Err(Some(Box::new(code)))));
                    return;
                }
            }
        }
    }
    if let Some(label) = &label
        && !line.is_empty()
    {
        log(label, output, &line);
    }
    let _ = done.write(Val::Result(Ok(None)));
}

async fn write_flushed(
    out: &mut (impl tokio::io::AsyncWrite + Unpin),
    bytes: &[u8],
) -> std::io::Result<()> {
    out.write_all(bytes).await?;
    out.flush().await
}

fn log(label: &str, output: Output, line: &[u8]) {
    let line = printable(line);
    match output {
        Output::Stdout => tracing::info!(target: "isyswasfa::guest", "{label} stdout: {line}"),
        Output::Stderr => tracing::warn!(target: "isyswasfa::guest", "{label} stderr: {line}"),
    }
}

/// A guest's line as it goes into a log record: control characters other than tab (an ANSI
/// escape sequence, a carriage return, a newline inside the record) are escaped (`\u{1b}`), so
/// that a guest can neither forge nor hide log records, nor drive the operator's terminal.
fn printable(line: &[u8]) -> std::borrow::Cow<'_, str> {
    let text = String::from_utf8_lossy(line);
    if !text.chars().any(|c| c.is_control() && c != '\t') {
        return text;
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() && c != '\t' {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    std::borrow::Cow::Owned(escaped)
}
