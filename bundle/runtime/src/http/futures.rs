//! The futures of `wasi:http@0.3.0` and `wasi:cli@0.3.0` (transmit results and trailers): the
//! protocol crate's pipe with capacity 1, holding the runtime's own value of each payload
//! (trailers as a list of fields, not a handle), so no value is ever lifted generically.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};

use isyswasfa_protocol::pipe::Pipe;
use isyswasfa_protocol::tasks::HostFunction;

use crate::Runtime;
use crate::bindings::exports::isyswasfa::bundle::http_futures::Guest as FuturesGuest;
use crate::bindings::exports::isyswasfa::isyswasfa::isyswasfa::{Pending, Ready};
use crate::bindings::exports::isyswasfa::pipes::{
    future_result_none_wasi_cli_types_error_code as cli_done,
    future_result_none_wasi_http_types_error_code as transmit,
    future_result_option_wasi_http_types_fields_wasi_http_types_error_code as trailers,
};
use crate::bindings::exports::wasi::cli::types::ErrorCode as CliErrorCode;
use crate::bindings::exports::wasi::http0_3_0::types::{ErrorCode, Fields};
use crate::http::fields::{FieldList, HttpFields};
use crate::protocol::{PendingTask, ReadyTask};
use crate::state;

/// The value of a transmit future: whether a request or response went out.
pub type Transmit = Result<(), ErrorCode>;
/// The value of a trailers future.
pub type Trailers = Result<Option<FieldList>, ErrorCode>;
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

fn wait_readable<T: Send + 'static>(end: &FutureReaderEnd<T>) -> Result<(), Pending> {
    state::start(&WAIT_READABLE, end.pipe.readable()).map_err(PendingTask::handle)
}

fn wait_readable_result(ready: Ready) {
    state::take_value::<()>(&WAIT_READABLE, ReadyTask::take(ready))
}

/// The `isyswasfa:pipes/future-*` interface of one payload.
macro_rules! future_pipe {
    ($module:ident, $value:ty) => {
        impl $module::GuestReader for FutureReaderEnd<$value> {}
        impl $module::GuestWriter for FutureWriterEnd<$value> {}

        impl $module::Guest for Runtime {
            type Reader = FutureReaderEnd<$value>;
            type Writer = FutureWriterEnd<$value>;

            fn new() -> ($module::Writer, $module::Reader) {
                let (writer, reader) = future::<$value>();
                ($module::Writer::new(writer), $module::Reader::new(reader))
            }

            fn wait_readable_isyswasfa_start(
                end: $module::ReaderBorrow<'_>,
            ) -> Result<(), Pending> {
                wait_readable(end.get::<FutureReaderEnd<$value>>())
            }

            fn wait_readable_isyswasfa_result(ready: Ready) {
                wait_readable_result(ready)
            }
        }
    };
}

future_pipe!(transmit, Transmit);
future_pipe!(trailers, Trailers);
future_pipe!(cli_done, CliDone);

/// A guest's trailers value, as the runtime keeps it.
fn trailers_in(value: Result<Option<Fields>, ErrorCode>) -> Trailers {
    value.map(|fields| fields.map(|f| f.into_inner::<HttpFields>().into_list()))
}

/// A kept trailers value, as a guest receives it (a new, immutable `fields`).
pub fn trailers_out(value: Trailers) -> Result<Option<Fields>, ErrorCode> {
    value.map(|list| list.map(|list| Fields::new(HttpFields::frozen(list))))
}

impl FuturesGuest for Runtime {
    fn future_result_none_wasi_http_types_error_code_read(
        end: transmit::Reader,
    ) -> Option<Transmit> {
        end.into_inner::<FutureReaderEnd<Transmit>>().read()
    }

    fn future_result_none_wasi_http_types_error_code_write(
        end: transmit::Writer,
        value: Transmit,
    ) -> Option<Transmit> {
        end.into_inner::<FutureWriterEnd<Transmit>>().write(value)
    }

    fn future_result_option_wasi_http_types_fields_wasi_http_types_error_code_read(
        end: trailers::Reader,
    ) -> Option<Result<Option<Fields>, ErrorCode>> {
        end.into_inner::<FutureReaderEnd<Trailers>>()
            .read()
            .map(trailers_out)
    }

    fn future_result_option_wasi_http_types_fields_wasi_http_types_error_code_write(
        end: trailers::Writer,
        value: Result<Option<Fields>, ErrorCode>,
    ) -> Option<Result<Option<Fields>, ErrorCode>> {
        end.into_inner::<FutureWriterEnd<Trailers>>()
            .write(trailers_in(value))
            .map(trailers_out)
    }

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
