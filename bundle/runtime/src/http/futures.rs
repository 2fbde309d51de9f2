//! The futures of `wasi:http@0.3.0`: transmit results and trailers (kept as a list of fields,
//! not a handle), and their typed operations (`isyswasfa:bundle/http-futures`).

use crate::Runtime;
use crate::bindings::exports::isyswasfa::bundle::http_futures::Guest as FuturesGuest;
use crate::bindings::exports::isyswasfa::pipes::{
    future_result_none_wasi_http_types_error_code as transmit,
    future_result_option_wasi_http_types_fields_wasi_http_types_error_code as trailers,
};
use crate::bindings::exports::wasi::http0_3_0::types::{ErrorCode, Fields};
use crate::future_pipe;
use crate::futures::{FutureReaderEnd, FutureWriterEnd};
use crate::http::fields::{FieldList, HttpFields};

/// The value of a transmit future: whether a request or response went out.
pub type Transmit = Result<(), ErrorCode>;
/// The value of a trailers future.
pub type Trailers = Result<Option<FieldList>, ErrorCode>;

future_pipe!(transmit, Transmit);
future_pipe!(trailers, Trailers);

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
}
