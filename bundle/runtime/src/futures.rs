//! Futures whose values the runtime keeps itself, typed (their payloads hold strings and
//! resources, so no value is ever lifted generically): the protocol crate's pipe with capacity
//! one. Here the ends, the pipe interface of each payload, and the future of the
//! `wasi:cli@0.3.0` standard streams; the `wasi:http` ones are in `http::futures`.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};

use isyswasfa_protocol::pipe::Pipe;
use isyswasfa_protocol::tasks::HostFunction;

use crate::Runtime;
use crate::bindings::exports::isyswasfa::bundle::cli_futures::Guest as CliFuturesGuest;
use crate::bindings::exports::isyswasfa::isyswasfa::isyswasfa::{Pending, Ready};
use crate::bindings::exports::isyswasfa::pipes::future_result_none_wasi_cli_types_error_code as cli_done;
use crate::bindings::exports::wasi::cli::types::ErrorCode as CliErrorCode;
use crate::protocol::{PendingTask, ReadyTask};
use crate::state;

/// The value of a standard stream's future.
pub type CliDone = Result<(), CliErrorCode>;

/// The readable end of a future.
pub struct FutureReaderEnd<T> {
    pipe: Arc<Pipe<T>>,
}

/// The writable end of a future.
pub struct FutureWriterEnd<T> {
    pipe: Arc<Pipe<T>>,
}

impl<T> Drop for FutureReaderEnd<T> {
    fn drop(&mut self) {
        self.pipe.close_reader();
    }
}

impl<T> Drop for FutureWriterEnd<T> {
    fn drop(&mut self) {
        self.pipe.close_writer();
    }
}

/// A new future: its writable and readable ends.
pub fn future<T>() -> (FutureWriterEnd<T>, FutureReaderEnd<T>) {
    let pipe = Pipe::new(1);
    (
        FutureWriterEnd {
            pipe: Arc::clone(&pipe),
        },
        FutureReaderEnd { pipe },
    )
}

impl<T> FutureWriterEnd<T> {
    /// Writes the value; gives it back when the reader is gone.
    pub fn write(self, value: T) -> Option<T> {
        self.pipe
            .push(vec![value])
            .unwrap_or_else(|all| all)
            .into_iter()
            .next()
    }
}

impl<T> FutureReaderEnd<T> {
    /// The value, if written (and not read yet); `None` when the writer went away without one.
    pub fn read(self) -> Option<T> {
        self.pipe.take(1).and_then(|mut values| values.pop())
    }
}

/// Completes with the value, or `None` once the writer is gone without one.
impl<T> Future for FutureReaderEnd<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.pipe
            .poll_take_with(Some(cx), |buffer| buffer.pop_front())
            .map(Option::flatten)
    }
}

static WAIT_READABLE: LazyLock<HostFunction> =
    LazyLock::new(|| HostFunction::new("future wait-readable"));

pub fn wait_readable<T: Send + 'static>(end: &FutureReaderEnd<T>) -> Result<(), Pending> {
    state::start(&WAIT_READABLE, end.pipe.readable()).map_err(PendingTask::handle)
}

pub fn wait_readable_result(ready: Ready) {
    state::take_value::<()>(&WAIT_READABLE, ReadyTask::take(ready))
}

/// The `isyswasfa:pipes/future-*` interface of one payload.
#[macro_export]
macro_rules! future_pipe {
    ($module:ident, $value:ty) => {
        impl $module::GuestReader for $crate::futures::FutureReaderEnd<$value> {}
        impl $module::GuestWriter for $crate::futures::FutureWriterEnd<$value> {}

        impl $module::Guest for $crate::Runtime {
            type Reader = $crate::futures::FutureReaderEnd<$value>;
            type Writer = $crate::futures::FutureWriterEnd<$value>;

            fn new() -> ($module::Writer, $module::Reader) {
                let (writer, reader) = $crate::futures::future::<$value>();
                ($module::Writer::new(writer), $module::Reader::new(reader))
            }

            fn wait_readable_isyswasfa_start(
                end: $module::ReaderBorrow<'_>,
            ) -> Result<(), $crate::bindings::exports::isyswasfa::isyswasfa::isyswasfa::Pending>
            {
                $crate::futures::wait_readable(
                    end.get::<$crate::futures::FutureReaderEnd<$value>>(),
                )
            }

            fn wait_readable_isyswasfa_result(
                ready: $crate::bindings::exports::isyswasfa::isyswasfa::isyswasfa::Ready,
            ) {
                $crate::futures::wait_readable_result(ready)
            }
        }
    };
}

future_pipe!(cli_done, CliDone);

impl CliFuturesGuest for Runtime {
    fn future_result_none_wasi_cli_types_error_code_read(end: cli_done::Reader) -> Option<CliDone> {
        end.into_inner::<FutureReaderEnd<CliDone>>().read()
    }

    fn future_result_none_wasi_cli_types_error_code_write(
        end: cli_done::Writer,
        value: CliDone,
    ) -> Option<CliDone> {
        end.into_inner::<FutureWriterEnd<CliDone>>().write(value)
    }
}
