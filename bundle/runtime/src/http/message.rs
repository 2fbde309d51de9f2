//! The `request`, `response` and `request-options` resources.

use std::cell::{Cell, RefCell};

use crate::bindings::exports::isyswasfa::pipes::stream_u8;
use crate::bindings::exports::wasi::http0_3_0::types::{
    Duration, Fields, GuestRequest, GuestRequestOptions, GuestResponse, Headers, Method, Request,
    RequestOptions, RequestOptionsError, Response, Scheme, StatusCode,
};
use crate::futures::{FutureReaderEnd, FutureWriterEnd, future};
use crate::http::fields::{FieldList, HttpFields};
use crate::http::futures::{Trailers, Transmit};
use crate::pipes::{PipeReader, pipe_pair};

type StreamReader = stream_u8::Reader;
type TransmitReader =
    crate::bindings::exports::isyswasfa::pipes::future_result_none_wasi_http_types_error_code::Reader;
type TrailersReader = crate::bindings::exports::isyswasfa::pipes::future_result_option_wasi_http_types_fields_wasi_http_types_error_code::Reader;

/// A body: its bytes (none for an empty body) and its trailers.
pub struct Body {
    /// The bytes.
    pub contents: Option<PipeReader>,
    /// The trailers, or the error that cut the body short.
    pub trailers: FutureReaderEnd<Trailers>,
}

impl Body {
    /// The body's ends for a guest: an ended stream when there are no contents.
    fn into_guest(self) -> (StreamReader, TrailersReader) {
        let contents = self.contents.unwrap_or_else(|| {
            let (writer, reader) = pipe_pair();
            drop(writer);
            reader
        });
        (
            StreamReader::new(contents),
            TrailersReader::new(self.trailers),
        )
    }

    fn from_guest(contents: Option<StreamReader>, trailers: TrailersReader) -> Self {
        Body {
            contents: contents.map(|c| c.into_inner::<PipeReader>()),
            trailers: trailers.into_inner::<FutureReaderEnd<Trailers>>(),
        }
    }
}

/// What a request is made of.
pub struct RequestData {
    /// The method.
    pub method: Method,
    /// The path and query.
    pub path_with_query: Option<String>,
    /// The scheme.
    pub scheme: Option<Scheme>,
    /// The authority.
    pub authority: Option<String>,
    /// The headers.
    pub headers: FieldList,
    /// The body.
    pub body: Body,
    /// The options.
    pub options: Option<OptionsData>,
    /// Where to report whether the request went out.
    pub transmit: Option<FutureWriterEnd<Transmit>>,
}

/// A `request` resource.
pub struct HttpRequest {
    data: RefCell<RequestData>,
}

impl HttpRequest {
    /// A request of `data`.
    pub fn new(data: RequestData) -> Self {
        HttpRequest {
            data: RefCell::new(data),
        }
    }

    /// What the request is made of.
    pub fn into_data(self) -> RequestData {
        self.data.into_inner()
    }
}

/// What a response is made of.
pub struct ResponseData {
    /// The status code.
    pub status: StatusCode,
    /// The headers.
    pub headers: FieldList,
    /// The body.
    pub body: Body,
    /// Where to report whether the response went out.
    pub transmit: Option<FutureWriterEnd<Transmit>>,
}

/// A `response` resource.
pub struct HttpResponse {
    data: RefCell<ResponseData>,
}

impl HttpResponse {
    /// A response of `data`.
    pub fn new(data: ResponseData) -> Self {
        HttpResponse {
            data: RefCell::new(data),
        }
    }

    /// What the response is made of.
    pub fn into_data(self) -> ResponseData {
        self.data.into_inner()
    }
}

fn take_fields(headers: Headers) -> FieldList {
    headers.into_inner::<HttpFields>().into_list()
}

fn valid_path_with_query(path: &str) -> bool {
    (path.is_empty() || path.starts_with('/') || path.starts_with('?'))
        && path.bytes().all(|b| b.is_ascii_graphic())
}

fn valid_authority(authority: &str) -> bool {
    if authority.is_empty()
        || !authority
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"/?#".contains(&b))
    {
        return false;
    }
    let host_end = authority.rfind(']').unwrap_or(0);
    match authority[host_end..].rsplit_once(':') {
        Some((_, port)) => port.parse::<u16>().is_ok(),
        None => true,
    }
}

fn valid_token(text: &str) -> bool {
    isyswasfa_protocol::http::valid_field_name(text)
}

impl GuestRequest for HttpRequest {
    fn new(
        headers: Headers,
        contents: Option<StreamReader>,
        trailers: TrailersReader,
        options: Option<RequestOptions>,
    ) -> (Request, TransmitReader) {
        let (transmit, transmit_reader) = future::<Transmit>();
        let data = RequestData {
            method: Method::Get,
            path_with_query: None,
            scheme: None,
            authority: None,
            headers: take_fields(headers),
            body: Body::from_guest(contents, trailers),
            options: options.map(|o| o.into_inner::<Options>().data.get()),
            transmit: Some(transmit),
        };
        (
            Request::new(HttpRequest::new(data)),
            TransmitReader::new(transmit_reader),
        )
    }

    fn get_method(&self) -> Method {
        self.data.borrow().method.clone()
    }

    fn set_method(&self, method: Method) -> Result<(), ()> {
        if let Method::Other(other) = &method
            && !valid_token(other)
        {
            return Err(());
        }
        self.data.borrow_mut().method = method;
        Ok(())
    }

    fn get_path_with_query(&self) -> Option<String> {
        self.data.borrow().path_with_query.clone()
    }

    fn set_path_with_query(&self, path_with_query: Option<String>) -> Result<(), ()> {
        if path_with_query
            .as_deref()
            .is_some_and(|p| !valid_path_with_query(p))
        {
            return Err(());
        }
        self.data.borrow_mut().path_with_query = path_with_query;
        Ok(())
    }

    fn get_scheme(&self) -> Option<Scheme> {
        self.data.borrow().scheme.clone()
    }

    fn set_scheme(&self, scheme: Option<Scheme>) -> Result<(), ()> {
        if let Some(Scheme::Other(other)) = &scheme
            && !(other.starts_with(|c: char| c.is_ascii_alphabetic())
                && other
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)))
        {
            return Err(());
        }
        self.data.borrow_mut().scheme = scheme;
        Ok(())
    }

    fn get_authority(&self) -> Option<String> {
        self.data.borrow().authority.clone()
    }

    fn set_authority(&self, authority: Option<String>) -> Result<(), ()> {
        if authority.as_deref().is_some_and(|a| !valid_authority(a)) {
            return Err(());
        }
        self.data.borrow_mut().authority = authority;
        Ok(())
    }

    fn get_options(&self) -> Option<RequestOptions> {
        self.data.borrow().options.map(|data| {
            RequestOptions::new(Options {
                data: Cell::new(data),
                mutable: false,
            })
        })
    }

    fn get_headers(&self) -> Headers {
        Fields::new(HttpFields::frozen(self.data.borrow().headers.clone()))
    }

    fn consume_body(this: Request, res: TransmitReader) -> (StreamReader, TrailersReader) {
        drop(res);
        this.into_inner::<HttpRequest>()
            .into_data()
            .body
            .into_guest()
    }
}

impl GuestResponse for HttpResponse {
    fn new(
        headers: Headers,
        contents: Option<StreamReader>,
        trailers: TrailersReader,
    ) -> (Response, TransmitReader) {
        let (transmit, transmit_reader) = future::<Transmit>();
        let data = ResponseData {
            status: 200,
            headers: take_fields(headers),
            body: Body::from_guest(contents, trailers),
            transmit: Some(transmit),
        };
        (
            Response::new(HttpResponse::new(data)),
            TransmitReader::new(transmit_reader),
        )
    }

    fn get_status_code(&self) -> StatusCode {
        self.data.borrow().status
    }

    fn set_status_code(&self, status_code: StatusCode) -> Result<(), ()> {
        if !(100..=999).contains(&status_code) {
            return Err(());
        }
        self.data.borrow_mut().status = status_code;
        Ok(())
    }

    fn get_headers(&self) -> Headers {
        Fields::new(HttpFields::frozen(self.data.borrow().headers.clone()))
    }

    fn consume_body(this: Response, res: TransmitReader) -> (StreamReader, TrailersReader) {
        drop(res);
        this.into_inner::<HttpResponse>()
            .into_data()
            .body
            .into_guest()
    }
}

/// The timeouts of a request's options.
#[derive(Clone, Copy, Default)]
pub struct OptionsData {
    /// How long connecting may take.
    pub connect: Option<Duration>,
    /// How long the first byte may take.
    pub first_byte: Option<Duration>,
    /// How long may pass between two chunks.
    pub between_bytes: Option<Duration>,
}

/// A `request-options` resource.
pub struct Options {
    data: Cell<OptionsData>,
    mutable: bool,
}

impl Options {
    fn change(&self, f: impl FnOnce(&mut OptionsData)) -> Result<(), RequestOptionsError> {
        if !self.mutable {
            return Err(RequestOptionsError::Immutable);
        }
        let mut data = self.data.get();
        f(&mut data);
        self.data.set(data);
        Ok(())
    }
}

impl GuestRequestOptions for Options {
    fn new() -> Self {
        Options {
            data: Cell::new(OptionsData::default()),
            mutable: true,
        }
    }

    fn get_connect_timeout(&self) -> Option<Duration> {
        self.data.get().connect
    }

    fn set_connect_timeout(&self, duration: Option<Duration>) -> Result<(), RequestOptionsError> {
        self.change(|d| d.connect = duration)
    }

    fn get_first_byte_timeout(&self) -> Option<Duration> {
        self.data.get().first_byte
    }

    fn set_first_byte_timeout(
        &self,
        duration: Option<Duration>,
    ) -> Result<(), RequestOptionsError> {
        self.change(|d| d.first_byte = duration)
    }

    fn get_between_bytes_timeout(&self) -> Option<Duration> {
        self.data.get().between_bytes
    }

    fn set_between_bytes_timeout(
        &self,
        duration: Option<Duration>,
    ) -> Result<(), RequestOptionsError> {
        self.change(|d| d.between_bytes = duration)
    }

    fn clone(&self) -> RequestOptions {
        RequestOptions::new(Options {
            data: Cell::new(self.data.get()),
            mutable: true,
        })
    }
}
