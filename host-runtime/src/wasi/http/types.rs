//! `wasi:http/types@0.3.0`: the `fields`, `request`, `response` and `request-options`
//! resources, kept in the store's resource table, and the small variants their methods take.

use http::HeaderMap;
use wasmtime::component::{
    ComponentType, Lift, Linker, LinkerInstance, Lower, Resource, ResourceType,
};
use wasmtime::{Result, StoreContextMut};

pub use super::fields::{FORBIDDEN_HEADERS, Fields, HeaderError, is_forbidden, remove_forbidden};

use super::body::{Body, Message};
use super::fields::{push, table};
use crate::ctx::IsyswasfaView;
use crate::pipes::element::ReaderEnd;

/// The interface name, as components import it.
pub const TYPES: &str = "wasi:http/types@0.3.0";

/// `variant method`.
#[derive(ComponentType, Lift, Lower, Clone, Debug, PartialEq, Eq)]
#[component(variant)]
#[allow(missing_docs)]
pub enum Method {
    #[component(name = "get")]
    Get,
    #[component(name = "head")]
    Head,
    #[component(name = "post")]
    Post,
    #[component(name = "put")]
    Put,
    #[component(name = "delete")]
    Delete,
    #[component(name = "connect")]
    Connect,
    #[component(name = "options")]
    Options,
    #[component(name = "trace")]
    Trace,
    #[component(name = "patch")]
    Patch,
    #[component(name = "other")]
    Other(String),
}

impl From<&http::Method> for Method {
    fn from(method: &http::Method) -> Self {
        match *method {
            http::Method::GET => Self::Get,
            http::Method::HEAD => Self::Head,
            http::Method::POST => Self::Post,
            http::Method::PUT => Self::Put,
            http::Method::DELETE => Self::Delete,
            http::Method::CONNECT => Self::Connect,
            http::Method::OPTIONS => Self::Options,
            http::Method::TRACE => Self::Trace,
            http::Method::PATCH => Self::Patch,
            ref other => Self::Other(other.as_str().to_string()),
        }
    }
}

impl TryFrom<&Method> for http::Method {
    type Error = http::method::InvalidMethod;

    fn try_from(method: &Method) -> Result<Self, Self::Error> {
        Ok(match method {
            Method::Get => Self::GET,
            Method::Head => Self::HEAD,
            Method::Post => Self::POST,
            Method::Put => Self::PUT,
            Method::Delete => Self::DELETE,
            Method::Connect => Self::CONNECT,
            Method::Options => Self::OPTIONS,
            Method::Trace => Self::TRACE,
            Method::Patch => Self::PATCH,
            Method::Other(other) => Self::from_bytes(other.as_bytes())?,
        })
    }
}

/// `variant scheme`.
#[derive(ComponentType, Lift, Lower, Clone, Debug, PartialEq, Eq)]
#[component(variant)]
#[allow(missing_docs)]
pub enum Scheme {
    #[component(name = "HTTP")]
    Http,
    #[component(name = "HTTPS")]
    Https,
    #[component(name = "other")]
    Other(String),
}

impl Scheme {
    /// The scheme as URI text.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Http => "http",
            Self::Https => "https",
            Self::Other(other) => other,
        }
    }
}

/// `variant request-options-error`.
#[derive(ComponentType, Lift, Lower, Clone, Debug)]
#[component(variant)]
#[allow(missing_docs)]
pub enum RequestOptionsError {
    #[component(name = "not-supported")]
    NotSupported,
    #[component(name = "immutable")]
    Immutable,
    #[component(name = "other")]
    Other(Option<String>),
}

/// A `request-options` resource: timeouts in nanoseconds.
#[derive(Debug, Default, Clone)]
pub struct RequestOptions {
    /// How long connecting may take.
    pub connect_timeout: Option<u64>,
    /// How long the first byte of the response may take.
    pub first_byte_timeout: Option<u64>,
    /// How long may pass between two chunks of the response body.
    pub between_bytes_timeout: Option<u64>,
    /// Whether the guest may change them (not once they belong to a request).
    pub mutable: bool,
}

/// A `request` resource.
#[derive(Debug)]
pub struct Request {
    /// The method.
    pub method: Method,
    /// The scheme, if set.
    pub scheme: Option<Scheme>,
    /// The authority, if set.
    pub authority: Option<String>,
    /// The path and query, if set.
    pub path_with_query: Option<String>,
    /// The headers.
    pub headers: HeaderMap,
    /// The options, if any.
    pub options: Option<RequestOptions>,
    /// The body and trailers.
    pub body: Body,
}

impl Request {
    /// A request received from the network (or made by an embedder) for a guest to handle; its
    /// [`FORBIDDEN_HEADERS`] are removed, as wasmtime does (the authority is the URI's, else the
    /// `host` header's).
    pub fn from_http(request: http::Request<Body>) -> Self {
        let (mut parts, body) = request.into_parts();
        let authority = parts
            .uri
            .authority()
            .map(|a| a.as_str().to_string())
            .or_else(|| {
                parts
                    .headers
                    .get(http::header::HOST)
                    .and_then(|h| h.to_str().ok())
                    .map(str::to_string)
            });
        remove_forbidden(&mut parts.headers);
        Self {
            method: Method::from(&parts.method),
            scheme: parts.uri.scheme().map(|s| match s.as_str() {
                "http" => Scheme::Http,
                "https" => Scheme::Https,
                other => Scheme::Other(other.to_string()),
            }),
            authority,
            path_with_query: parts.uri.path_and_query().map(|p| p.as_str().to_string()),
            headers: parts.headers,
            options: None,
            body,
        }
    }
}

/// A `response` resource.
#[derive(Debug)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The headers.
    pub headers: HeaderMap,
    /// The body and trailers.
    pub body: Body,
}

/// Adds `wasi:http/types@0.3.0` to `linker`.
pub fn add_to_linker<T: IsyswasfaView + 'static>(linker: &mut Linker<T>) -> Result<()> {
    let mut types = linker.instance(TYPES)?;
    super::fields::add_fields(&mut types)?;
    add_request_options(&mut types)?;
    add_request(&mut types)?;
    add_response(&mut types)?;
    Ok(())
}

/// Defines a getter and a setter of one timeout of `request-options`.
fn add_timeout<T: IsyswasfaView + 'static>(
    types: &mut LinkerInstance<'_, T>,
    name: &str,
    field: fn(&mut RequestOptions) -> &mut Option<u64>,
) -> Result<()> {
    types.func_wrap(
        &format!("[method]request-options.get-{name}"),
        move |mut store, (options,): (Resource<RequestOptions>,)| {
            Ok((*field(table(&mut store).get_mut(&options)?),))
        },
    )?;
    types.func_wrap(
        &format!("[method]request-options.set-{name}"),
        move |mut store, (options, value): (Resource<RequestOptions>, Option<u64>)| {
            let options = table(&mut store).get_mut(&options)?;
            if !options.mutable {
                return Ok((Err(RequestOptionsError::Immutable),));
            }
            *field(options) = value;
            Ok((Ok(()),))
        },
    )
}

fn add_request_options<T: IsyswasfaView + 'static>(
    types: &mut LinkerInstance<'_, T>,
) -> Result<()> {
    types.resource(
        "request-options",
        ResourceType::host::<RequestOptions>(),
        |mut store, rep| {
            table(&mut store).delete(Resource::<RequestOptions>::new_own(rep))?;
            Ok(())
        },
    )?;
    types.func_wrap("[constructor]request-options", |mut store, (): ()| {
        let options = RequestOptions {
            mutable: true,
            ..RequestOptions::default()
        };
        Ok((push(&mut store, options, "[constructor]request-options")?,))
    })?;
    add_timeout(types, "connect-timeout", |o| &mut o.connect_timeout)?;
    add_timeout(types, "first-byte-timeout", |o| &mut o.first_byte_timeout)?;
    add_timeout(types, "between-bytes-timeout", |o| {
        &mut o.between_bytes_timeout
    })?;
    types.func_wrap(
        "[method]request-options.clone",
        |mut store, (options,): (Resource<RequestOptions>,)| {
            let copy = RequestOptions {
                mutable: true,
                ..table(&mut store).get(&options)?.clone()
            };
            Ok((push(&mut store, copy, "[method]request-options.clone")?,))
        },
    )?;
    Ok(())
}

/// Takes a guest's `fields` for a request or response (the guest's handle is consumed).
fn take_fields<T: IsyswasfaView>(
    store: &mut StoreContextMut<'_, T>,
    fields: Resource<Fields>,
) -> Result<HeaderMap> {
    Ok(table(store).delete(fields)?.map)
}

/// An immutable copy of `map` as a new `fields` resource.
fn frozen<T: IsyswasfaView>(
    store: &mut StoreContextMut<'_, T>,
    map: &HeaderMap,
    call: &str,
) -> Result<Resource<Fields>> {
    let fields = Fields {
        map: map.clone(),
        mutable: false,
    };
    push(store, fields, call)
}

type PipeEnds = (Resource<ReaderEnd>, Resource<ReaderEnd>);

/// The parameters of `request.new`: headers, contents, trailers, options.
type NewRequest = (
    Resource<Fields>,
    Option<Resource<ReaderEnd>>,
    Resource<ReaderEnd>,
    Option<Resource<RequestOptions>>,
);

/// Defines `request.get-<name>` and `request.set-<name>`; the setter refuses (`err`) a value
/// that `valid` rejects and leaves the request as it was.
fn add_request_field<T, V>(
    types: &mut LinkerInstance<'_, T>,
    name: &str,
    field: fn(&mut Request) -> &mut V,
    valid: fn(&V) -> bool,
) -> Result<()>
where
    T: IsyswasfaView + 'static,
    V: ComponentType + Lift + Lower + Clone + Send + Sync + 'static,
{
    types.func_wrap(
        &format!("[method]request.get-{name}"),
        move |mut store, (request,): (Resource<Request>,)| {
            Ok((field(table(&mut store).get_mut(&request)?).clone(),))
        },
    )?;
    types.func_wrap(
        &format!("[method]request.set-{name}"),
        move |mut store, (request, value): (Resource<Request>, V)| {
            if !valid(&value) {
                return Ok((Err(()),));
            }
            *field(table(&mut store).get_mut(&request)?) = value;
            Ok((Ok(()),))
        },
    )?;
    Ok(())
}

/// Whether `set-path-with-query` takes `path`: empty, or starting with `/` or `?`, and a valid
/// URI path and query (wasmtime's rule).
fn valid_path_with_query(path: &str) -> bool {
    (path.is_empty() || path.starts_with('/') || path.starts_with('?'))
        && http::uri::PathAndQuery::try_from(path).is_ok()
}

/// Whether `set-authority` takes `authority`: a valid URI authority whose port, if it names one
/// (a `:` after the host, which may be a bracketed IPv6 address), is a number that fits in 16
/// bits (wasmtime's rule; the `http` crate alone accepts `host:99999` and `host:`).
fn valid_authority(authority: &str) -> bool {
    let names_port = match authority.rfind(']') {
        Some(end) => authority[end..].contains(':'),
        None => authority.contains(':'),
    };
    http::uri::Authority::try_from(authority)
        .is_ok_and(|parsed| !names_port || parsed.port_u16().is_some())
}

fn add_request<T: IsyswasfaView + 'static>(types: &mut LinkerInstance<'_, T>) -> Result<()> {
    types.resource(
        "request",
        ResourceType::host::<Request>(),
        |mut store, rep| {
            table(&mut store).delete(Resource::<Request>::new_own(rep))?;
            Ok(())
        },
    )?;
    types.func_wrap(
        "[static]request.new",
        |mut store, (headers, contents, trailers, options): NewRequest| {
            let headers = take_fields(&mut store, headers)?;
            let options = match options {
                Some(options) => Some(RequestOptions {
                    mutable: false,
                    ..table(&mut store).delete(options)?
                }),
                None => None,
            };
            let (body, transmitted) =
                Body::from_guest(&mut store, contents, trailers, &headers, Message::Request)?;
            let request = Request {
                method: Method::Get,
                scheme: None,
                authority: None,
                path_with_query: None,
                headers,
                options,
                body,
            };
            Ok(((
                push(&mut store, request, "[static]request.new")?,
                transmitted,
            ),))
        },
    )?;
    add_request_field(
        types,
        "method",
        |r| &mut r.method,
        |m| http::Method::try_from(m).is_ok(),
    )?;
    add_request_field(
        types,
        "path-with-query",
        |r| &mut r.path_with_query,
        |p| p.as_deref().is_none_or(valid_path_with_query),
    )?;
    add_request_field(
        types,
        "scheme",
        |r| &mut r.scheme,
        |s| {
            s.as_ref()
                .is_none_or(|s| http::uri::Scheme::try_from(s.as_str()).is_ok())
        },
    )?;
    add_request_field(
        types,
        "authority",
        |r| &mut r.authority,
        |a| a.as_deref().is_none_or(valid_authority),
    )?;
    types.func_wrap(
        "[method]request.get-options",
        |mut store, (request,): (Resource<Request>,)| {
            let options = table(&mut store).get(&request)?.options.clone();
            let handle = match options {
                Some(options) => {
                    let frozen = RequestOptions {
                        mutable: false,
                        ..options
                    };
                    Some(push(&mut store, frozen, "[method]request.get-options")?)
                }
                None => None,
            };
            Ok((handle,))
        },
    )?;
    types.func_wrap(
        "[method]request.get-headers",
        |mut store, (request,): (Resource<Request>,)| {
            let headers = table(&mut store).get(&request)?.headers.clone();
            Ok((frozen(&mut store, &headers, "[method]request.get-headers")?,))
        },
    )?;
    types.func_wrap(
        "[static]request.consume-body",
        |mut store, (request, res): (Resource<Request>, Resource<ReaderEnd>)| {
            let request = table(&mut store).delete(request)?;
            let ends: PipeEnds = request.body.consume(&mut store, res)?;
            Ok((ends,))
        },
    )?;
    Ok(())
}

fn add_response<T: IsyswasfaView + 'static>(types: &mut LinkerInstance<'_, T>) -> Result<()> {
    types.resource(
        "response",
        ResourceType::host::<Response>(),
        |mut store, rep| {
            table(&mut store).delete(Resource::<Response>::new_own(rep))?;
            Ok(())
        },
    )?;
    types.func_wrap(
        "[static]response.new",
        |mut store,
         (headers, contents, trailers): (
            Resource<Fields>,
            Option<Resource<ReaderEnd>>,
            Resource<ReaderEnd>,
        )| {
            let headers = take_fields(&mut store, headers)?;
            let (body, transmitted) =
                Body::from_guest(&mut store, contents, trailers, &headers, Message::Response)?;
            let response = Response {
                status: 200,
                headers,
                body,
            };
            Ok(((
                push(&mut store, response, "[static]response.new")?,
                transmitted,
            ),))
        },
    )?;
    types.func_wrap(
        "[method]response.get-status-code",
        |mut store, (response,): (Resource<Response>,)| {
            Ok((table(&mut store).get(&response)?.status,))
        },
    )?;
    types.func_wrap(
        "[method]response.set-status-code",
        |mut store, (response, status): (Resource<Response>, u16)| {
            let valid = http::StatusCode::from_u16(status).is_ok();
            if valid {
                table(&mut store).get_mut(&response)?.status = status;
            }
            Ok((if valid { Ok(()) } else { Err(()) },))
        },
    )?;
    types.func_wrap(
        "[method]response.get-headers",
        |mut store, (response,): (Resource<Response>,)| {
            let headers = table(&mut store).get(&response)?.headers.clone();
            Ok((frozen(
                &mut store,
                &headers,
                "[method]response.get-headers",
            )?,))
        },
    )?;
    types.func_wrap(
        "[static]response.consume-body",
        |mut store, (response, res): (Resource<Response>, Resource<ReaderEnd>)| {
            let response = table(&mut store).delete(response)?;
            let ends: PipeEnds = response.body.consume(&mut store, res)?;
            Ok((ends,))
        },
    )?;
    Ok(())
}
