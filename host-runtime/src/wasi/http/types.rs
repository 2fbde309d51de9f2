//! `wasi:http/types@0.3.0`: the `fields`, `request`, `response` and `request-options`
//! resources, kept in the store's resource table, and the small variants their methods take.

use http::{HeaderMap, HeaderName, HeaderValue};
use wasmtime::component::{
    ComponentType, Lift, Linker, LinkerInstance, Lower, Resource, ResourceTable, ResourceType,
};
use wasmtime::{Result, StoreContextMut, format_err};

use super::body::{Body, Message};
use crate::ctx::IsyswasfaView;
use crate::pipes::element::ReaderEnd;

/// The interface name, as components import it.
pub const TYPES: &str = "wasi:http/types@0.3.0";

/// The fields the host manages itself: guests may not set, append, delete or list them, and
/// they are removed from every header and trailer map that reaches a guest (an incoming
/// request's, a response `client.send` received). The same names as wasmtime-wasi-http 48's
/// `DEFAULT_FORBIDDEN_HEADERS`: the hop-by-hop fields, `host` (the host sets it from the
/// request's authority) and `http2-settings`.
pub const FORBIDDEN_HEADERS: [&str; 9] = [
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "host",
    "http2-settings",
];

/// Whether `name` is one of [`FORBIDDEN_HEADERS`].
pub fn is_forbidden(name: &HeaderName) -> bool {
    FORBIDDEN_HEADERS.contains(&name.as_str())
}

/// Removes the [`FORBIDDEN_HEADERS`] from `map`, before it reaches a guest.
pub fn remove_forbidden(map: &mut HeaderMap) {
    for name in FORBIDDEN_HEADERS {
        map.remove(name);
    }
}

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

/// `variant header-error`.
#[derive(ComponentType, Lift, Lower, Clone, Debug)]
#[component(variant)]
#[allow(missing_docs)]
pub enum HeaderError {
    #[component(name = "invalid-syntax")]
    InvalidSyntax,
    #[component(name = "forbidden")]
    Forbidden,
    #[component(name = "immutable")]
    Immutable,
    #[component(name = "size-exceeded")]
    SizeExceeded,
    #[component(name = "other")]
    Other(Option<String>),
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

/// A `fields` resource: headers or trailers.
#[derive(Debug, Default, Clone)]
pub struct Fields {
    /// The fields, in order.
    pub map: HeaderMap,
    /// Whether the guest may change them (not when they belong to a request or response).
    pub mutable: bool,
}

impl Fields {
    fn change(&mut self) -> Result<&mut HeaderMap, HeaderError> {
        if self.mutable {
            Ok(&mut self.map)
        } else {
            Err(HeaderError::Immutable)
        }
    }
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

fn table<'a, T: IsyswasfaView>(store: &'a mut StoreContextMut<'_, T>) -> &'a mut ResourceTable {
    store.data_mut().isyswasfa().table
}

/// Adds `value` to the store's resource table for the guest's call `call`; a full table (see
/// [`crate::IsyswasfaCtxBuilder::max_resources`]) is an error naming the call and the limit.
pub(crate) fn push<T: IsyswasfaView, V: Send + 'static>(
    store: &mut StoreContextMut<'_, T>,
    value: V,
    call: &str,
) -> Result<Resource<V>> {
    let table = table(store);
    table.push(value).map_err(|error| match error {
        wasmtime::component::ResourceTableError::Full => format_err!(
            "isyswasfa: `{call}`: the store already holds {} resources (limit \
             `IsyswasfaCtxBuilder::max_resources`)",
            table.max_capacity()
        ),
        other => other.into(),
    })
}

fn field_name(name: &str) -> Result<HeaderName, HeaderError> {
    HeaderName::from_bytes(name.as_bytes()).map_err(|_| HeaderError::InvalidSyntax)
}

/// Checks a name a guest wants to set: valid and not one the host manages.
fn settable_name(name: &str) -> Result<HeaderName, HeaderError> {
    let name = field_name(name)?;
    if is_forbidden(&name) {
        return Err(HeaderError::Forbidden);
    }
    Ok(name)
}

/// Checks a value a guest wants to give the field `name`: valid, and for `content-length` one
/// or more decimal digits that fit in 64 bits (wasmtime's rule: `+5` or ` 5` is refused).
fn field_value(name: &HeaderName, value: &[u8]) -> Result<HeaderValue, HeaderError> {
    if name == http::header::CONTENT_LENGTH {
        let digits = !value.is_empty() && value.iter().all(u8::is_ascii_digit);
        let fits = std::str::from_utf8(value).is_ok_and(|text| text.parse::<u64>().is_ok());
        if !(digits && fits) {
            return Err(HeaderError::InvalidSyntax);
        }
    }
    HeaderValue::from_bytes(value).map_err(|_| HeaderError::InvalidSyntax)
}

/// Refuses a second `content-length` value: several make a message's framing ambiguous.
fn single_length(map: &HeaderMap, name: &HeaderName) -> Result<(), HeaderError> {
    if name == http::header::CONTENT_LENGTH && map.contains_key(name) {
        return Err(HeaderError::InvalidSyntax);
    }
    Ok(())
}

fn size_of(map: &HeaderMap) -> usize {
    map.iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum()
}

/// The store's cap on the bytes of one `fields` (see [`IsyswasfaCtxBuilder::max_fields_size`]).
///
/// [`IsyswasfaCtxBuilder::max_fields_size`]: crate::IsyswasfaCtxBuilder::max_fields_size
fn fields_limit<T: IsyswasfaView>(store: &mut StoreContextMut<'_, T>) -> usize {
    store.data_mut().isyswasfa().ctx.limits.max_fields_size
}

/// Appends `name: value` to `map` unless that would take it beyond `limit` bytes (names plus
/// values) or beyond the entries a `HeaderMap` can hold: both are `size-exceeded`, never a
/// panic, whatever the guest sends.
fn append_within(
    map: &mut HeaderMap,
    size: &mut usize,
    name: HeaderName,
    value: HeaderValue,
    limit: usize,
) -> Result<(), HeaderError> {
    let grown = *size + name.as_str().len() + value.len();
    if grown > limit {
        return Err(HeaderError::SizeExceeded);
    }
    map.try_append(name, value)
        .map_err(|_| HeaderError::SizeExceeded)?;
    *size = grown;
    Ok(())
}

fn copy_all(map: &HeaderMap) -> Vec<(String, Vec<u8>)> {
    map.iter()
        .map(|(name, value)| (name.as_str().to_string(), value.as_bytes().to_vec()))
        .collect()
}

/// Adds `wasi:http/types@0.3.0` to `linker`.
pub fn add_to_linker<T: IsyswasfaView + 'static>(linker: &mut Linker<T>) -> Result<()> {
    let mut types = linker.instance(TYPES)?;
    add_fields(&mut types)?;
    add_request_options(&mut types)?;
    add_request(&mut types)?;
    add_response(&mut types)?;
    Ok(())
}

fn add_fields<T: IsyswasfaView + 'static>(types: &mut LinkerInstance<'_, T>) -> Result<()> {
    types.resource(
        "fields",
        ResourceType::host::<Fields>(),
        |mut store, rep| {
            table(&mut store).delete(Resource::<Fields>::new_own(rep))?;
            Ok(())
        },
    )?;
    types.func_wrap("[constructor]fields", |mut store, (): ()| {
        let fields = Fields {
            map: HeaderMap::new(),
            mutable: true,
        };
        Ok((push(&mut store, fields, "[constructor]fields")?,))
    })?;
    types.func_wrap(
        "[static]fields.from-list",
        |mut store, (entries,): (Vec<(String, Vec<u8>)>,)| {
            let limit = fields_limit(&mut store);
            let map = (|| {
                let mut map = HeaderMap::new();
                let mut size = 0;
                for (name, value) in &entries {
                    let name = settable_name(name)?;
                    let value = field_value(&name, value)?;
                    single_length(&map, &name)?;
                    append_within(&mut map, &mut size, name, value, limit)?;
                }
                Ok(map)
            })();
            Ok((match map {
                Ok(map) => Ok(push(
                    &mut store,
                    Fields { map, mutable: true },
                    "[static]fields.from-list",
                )?),
                Err(error) => Err::<_, HeaderError>(error),
            },))
        },
    )?;
    types.func_wrap(
        "[method]fields.get",
        |mut store, (fields, name): (Resource<Fields>, String)| {
            let fields = table(&mut store).get(&fields)?;
            let values = match field_name(&name) {
                Ok(name) => fields
                    .map
                    .get_all(name)
                    .iter()
                    .map(|v| v.as_bytes().to_vec())
                    .collect(),
                Err(_) => Vec::new(),
            };
            Ok((values,))
        },
    )?;
    types.func_wrap(
        "[method]fields.has",
        |mut store, (fields, name): (Resource<Fields>, String)| {
            let fields = table(&mut store).get(&fields)?;
            Ok((field_name(&name).is_ok_and(|name| fields.map.contains_key(name)),))
        },
    )?;
    types.func_wrap(
        "[method]fields.set",
        |mut store, (fields, name, values): (Resource<Fields>, String, Vec<Vec<u8>>)| {
            let limit = fields_limit(&mut store);
            let fields = table(&mut store).get_mut(&fields)?;
            let outcome = (|| {
                let name = settable_name(&name)?;
                let values = values
                    .iter()
                    .map(|v| field_value(&name, v))
                    .collect::<Result<Vec<_>, _>>()?;
                if name == http::header::CONTENT_LENGTH && values.len() > 1 {
                    return Err(HeaderError::InvalidSyntax);
                }
                let mut changed = fields.change()?.clone();
                changed.remove(&name);
                let mut size = size_of(&changed);
                for value in values {
                    append_within(&mut changed, &mut size, name.clone(), value, limit)?;
                }
                fields.map = changed;
                Ok::<_, HeaderError>(())
            })();
            Ok((outcome,))
        },
    )?;
    types.func_wrap(
        "[method]fields.delete",
        |mut store, (fields, name): (Resource<Fields>, String)| {
            let fields = table(&mut store).get_mut(&fields)?;
            let outcome = (|| {
                let name = settable_name(&name)?;
                fields.change()?.remove(&name);
                Ok::<_, HeaderError>(())
            })();
            Ok((outcome,))
        },
    )?;
    types.func_wrap(
        "[method]fields.get-and-delete",
        |mut store, (fields, name): (Resource<Fields>, String)| {
            let fields = table(&mut store).get_mut(&fields)?;
            let outcome = (|| {
                let name = settable_name(&name)?;
                let map = fields.change()?;
                let values = map
                    .get_all(&name)
                    .iter()
                    .map(|v| v.as_bytes().to_vec())
                    .collect::<Vec<_>>();
                map.remove(&name);
                Ok::<_, HeaderError>(values)
            })();
            Ok((outcome,))
        },
    )?;
    types.func_wrap(
        "[method]fields.append",
        |mut store, (fields, name, value): (Resource<Fields>, String, Vec<u8>)| {
            let limit = fields_limit(&mut store);
            let fields = table(&mut store).get_mut(&fields)?;
            let outcome = (|| {
                let name = settable_name(&name)?;
                let value = field_value(&name, &value)?;
                let map = fields.change()?;
                single_length(map, &name)?;
                let mut size = size_of(map);
                append_within(map, &mut size, name, value, limit)?;
                Ok::<_, HeaderError>(())
            })();
            Ok((outcome,))
        },
    )?;
    types.func_wrap(
        "[method]fields.copy-all",
        |mut store, (fields,): (Resource<Fields>,)| {
            Ok((copy_all(&table(&mut store).get(&fields)?.map),))
        },
    )?;
    types.func_wrap(
        "[method]fields.clone",
        |mut store, (fields,): (Resource<Fields>,)| {
            let map = table(&mut store).get(&fields)?.map.clone();
            Ok((push(
                &mut store,
                Fields { map, mutable: true },
                "[method]fields.clone",
            )?,))
        },
    )?;
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
