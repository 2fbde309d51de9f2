//! `error-code` between WASI 0.2's `wasi:http` and the lowered 0.3 one: the same cases, in the
//! same order, with payload records of the same fields.

use crate::bindings::exports::wasi::http0_3_0::types as p3;
use wasi::http::types as p2;

/// The 0.3 error for a message.
pub fn internal(message: impl Into<String>) -> p3::ErrorCode {
    p3::ErrorCode::InternalError(Some(message.into()))
}

macro_rules! field_size {
    ($from:expr, $to:ident) => {{
        let p = $from;
        $to::FieldSizePayload {
            field_name: p.field_name,
            field_size: p.field_size,
        }
    }};
}

macro_rules! convert {
    ($value:expr, $from:ident => $to:ident) => {{
        use $from::ErrorCode as F;
        use $to::ErrorCode as T;
        match $value {
            F::DnsTimeout => T::DnsTimeout,
            F::DnsError(p) => T::DnsError($to::DnsErrorPayload {
                rcode: p.rcode,
                info_code: p.info_code,
            }),
            F::DestinationNotFound => T::DestinationNotFound,
            F::DestinationUnavailable => T::DestinationUnavailable,
            F::DestinationIpProhibited => T::DestinationIpProhibited,
            F::DestinationIpUnroutable => T::DestinationIpUnroutable,
            F::ConnectionRefused => T::ConnectionRefused,
            F::ConnectionTerminated => T::ConnectionTerminated,
            F::ConnectionTimeout => T::ConnectionTimeout,
            F::ConnectionReadTimeout => T::ConnectionReadTimeout,
            F::ConnectionWriteTimeout => T::ConnectionWriteTimeout,
            F::ConnectionLimitReached => T::ConnectionLimitReached,
            F::TlsProtocolError => T::TlsProtocolError,
            F::TlsCertificateError => T::TlsCertificateError,
            F::TlsAlertReceived(p) => T::TlsAlertReceived($to::TlsAlertReceivedPayload {
                alert_id: p.alert_id,
                alert_message: p.alert_message,
            }),
            F::HttpRequestDenied => T::HttpRequestDenied,
            F::HttpRequestLengthRequired => T::HttpRequestLengthRequired,
            F::HttpRequestBodySize(p) => T::HttpRequestBodySize(p),
            F::HttpRequestMethodInvalid => T::HttpRequestMethodInvalid,
            F::HttpRequestUriInvalid => T::HttpRequestUriInvalid,
            F::HttpRequestUriTooLong => T::HttpRequestUriTooLong,
            F::HttpRequestHeaderSectionSize(p) => T::HttpRequestHeaderSectionSize(p),
            F::HttpRequestHeaderSize(p) => T::HttpRequestHeaderSize(p.map(|p| field_size!(p, $to))),
            F::HttpRequestTrailerSectionSize(p) => T::HttpRequestTrailerSectionSize(p),
            F::HttpRequestTrailerSize(p) => T::HttpRequestTrailerSize(field_size!(p, $to)),
            F::HttpResponseIncomplete => T::HttpResponseIncomplete,
            F::HttpResponseHeaderSectionSize(p) => T::HttpResponseHeaderSectionSize(p),
            F::HttpResponseHeaderSize(p) => T::HttpResponseHeaderSize(field_size!(p, $to)),
            F::HttpResponseBodySize(p) => T::HttpResponseBodySize(p),
            F::HttpResponseTrailerSectionSize(p) => T::HttpResponseTrailerSectionSize(p),
            F::HttpResponseTrailerSize(p) => T::HttpResponseTrailerSize(field_size!(p, $to)),
            F::HttpResponseTransferCoding(p) => T::HttpResponseTransferCoding(p),
            F::HttpResponseContentCoding(p) => T::HttpResponseContentCoding(p),
            F::HttpResponseTimeout => T::HttpResponseTimeout,
            F::HttpUpgradeFailed => T::HttpUpgradeFailed,
            F::HttpProtocolError => T::HttpProtocolError,
            F::LoopDetected => T::LoopDetected,
            F::ConfigurationError => T::ConfigurationError,
            F::InternalError(p) => T::InternalError(p),
        }
    }};
}

/// A WASI 0.2 error as the 0.3 one.
pub fn from_p2(error: p2::ErrorCode) -> p3::ErrorCode {
    convert!(error, p2 => p3)
}

/// The 0.2 error of case number `case` of `error-code` (its payload, if any, empty; `message`
/// for an `internal-error`): what the driver passes on when a handler returns an error.
pub fn p2_case(case: u8, message: Option<String>) -> p2::ErrorCode {
    use p2::ErrorCode as E;
    let empty_size = || p2::FieldSizePayload {
        field_name: None,
        field_size: None,
    };
    match case {
        0 => E::DnsTimeout,
        1 => E::DnsError(p2::DnsErrorPayload {
            rcode: None,
            info_code: None,
        }),
        2 => E::DestinationNotFound,
        3 => E::DestinationUnavailable,
        4 => E::DestinationIpProhibited,
        5 => E::DestinationIpUnroutable,
        6 => E::ConnectionRefused,
        7 => E::ConnectionTerminated,
        8 => E::ConnectionTimeout,
        9 => E::ConnectionReadTimeout,
        10 => E::ConnectionWriteTimeout,
        11 => E::ConnectionLimitReached,
        12 => E::TlsProtocolError,
        13 => E::TlsCertificateError,
        14 => E::TlsAlertReceived(p2::TlsAlertReceivedPayload {
            alert_id: None,
            alert_message: None,
        }),
        15 => E::HttpRequestDenied,
        16 => E::HttpRequestLengthRequired,
        17 => E::HttpRequestBodySize(None),
        18 => E::HttpRequestMethodInvalid,
        19 => E::HttpRequestUriInvalid,
        20 => E::HttpRequestUriTooLong,
        21 => E::HttpRequestHeaderSectionSize(None),
        22 => E::HttpRequestHeaderSize(None),
        23 => E::HttpRequestTrailerSectionSize(None),
        24 => E::HttpRequestTrailerSize(empty_size()),
        25 => E::HttpResponseIncomplete,
        26 => E::HttpResponseHeaderSectionSize(None),
        27 => E::HttpResponseHeaderSize(empty_size()),
        28 => E::HttpResponseBodySize(None),
        29 => E::HttpResponseTrailerSectionSize(None),
        30 => E::HttpResponseTrailerSize(empty_size()),
        31 => E::HttpResponseTransferCoding(None),
        32 => E::HttpResponseContentCoding(None),
        33 => E::HttpResponseTimeout,
        34 => E::HttpUpgradeFailed,
        35 => E::HttpProtocolError,
        36 => E::LoopDetected,
        37 => E::ConfigurationError,
        38 => E::InternalError(message),
        _ => E::InternalError(Some(format!(
            "the bundled handler returned error-code case {case}, which WASI 0.2 does not have"
        ))),
    }
}
