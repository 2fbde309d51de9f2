//! `wasi:http/client@0.3.0`'s `send` on hyper: a real HTTP/1.1 request over a new TCP
//! connection, the request body streamed from the guest as it writes it and the response
//! body handed back as it arrives. The `handler` import is the same function, so a
//! component whose imported handler no other component provides talks to the network.

use std::sync::{Arc, PoisonError};
use std::time::Duration;

use hyper_util::rt::TokioIo;
use wasmtime::component::{Linker, Val};
use wasmtime::{Result, StoreContextMut, bail};

use super::body::{Body, Failure, outcome};
use super::error_code;
use super::types::{Request, Response, Scheme, remove_forbidden};
use crate::ctx::IsyswasfaView;
use crate::funcs::Finish;
use crate::funcs::func_new_async;
use crate::pipes::FutureWriter;
use isyswasfa_protocol::pipe::Pipe;

/// The client interface, as components import it.
pub const CLIENT: &str = "wasi:http/client@0.3.0";
/// The handler interface, as components import (and export) it.
pub const HANDLER: &str = "wasi:http/handler@0.3.0";

pub(super) fn add_to_linker<T: IsyswasfaView + Send + 'static>(
    linker: &mut Linker<T>,
) -> Result<()> {
    for (interface, name) in [(CLIENT, "send"), (HANDLER, "handle")] {
        let mut instance = linker.instance(interface)?;
        func_new_async(&mut instance, name, start_send::<T>)?;
    }
    Ok(())
}

fn start_send<T: IsyswasfaView + Send + 'static>(
    mut store: StoreContextMut<'_, T>,
    params: &[Val],
) -> Result<impl Future<Output = Finish<T>> + Send + 'static + use<T>> {
    let [Val::Resource(request)] = params else {
        bail!("isyswasfa: `send` expects one request");
    };
    let request = request.try_into_resource::<Request>(&mut store)?;
    let view = store.data_mut().isyswasfa();
    let defaults = Timeouts {
        connect: view.ctx.limits.connect_timeout,
        first_byte: view.ctx.limits.first_byte_timeout,
        outbound: std::sync::Arc::clone(&view.ctx.limits.outbound),
    };
    let request = view.table.delete(request)?;
    Ok(async move {
        let outcome = send(request, defaults).await;
        Box::new(move |mut store: StoreContextMut<'_, T>| {
            Ok(match outcome {
                Ok(response) => {
                    let response = store.data_mut().isyswasfa().table.push(response)?;
                    let any = response.try_into_resource_any(&mut store)?;
                    Val::Result(Ok(Some(Box::new(Val::Resource(any)))))
                }
                Err(code) => Val::Result(Err(Some(Box::new(code)))),
            })
        }) as Finish<T>
    })
}

fn nanos(value: Option<u64>, default: Duration) -> Duration {
    value.map_or(default, Duration::from_nanos)
}

/// The store's timeouts for a request whose options set none (see
/// [`crate::IsyswasfaCtxBuilder::connect_timeout`] and
/// [`crate::IsyswasfaCtxBuilder::first_byte_timeout`]).
#[derive(Clone)]
struct Timeouts {
    /// Where requests may go (not a timeout, but a store setting `send` needs all the same).
    outbound: std::sync::Arc<crate::outbound::OutboundPolicy>,
    connect: Duration,
    first_byte: Duration,
}

/// `DNS-error` with the payload wasmtime gives when a name does not resolve.
fn dns_error() -> Val {
    Val::Variant(
        "DNS-error".to_string(),
        Some(Box::new(Val::Record(vec![
            (
                "rcode".to_string(),
                Val::Option(Some(Box::new(Val::String(
                    "address not available".to_string(),
                )))),
            ),
            ("info-code".to_string(), Val::Option(None)),
        ]))),
    )
}

/// The error code of a failed connection, as wasmtime-wasi-http 48 reports it: a name that does
/// not resolve is a `DNS-error`, anything else `connection-refused`.
fn connect_error(error: &std::io::Error) -> Val {
    if error.kind() == std::io::ErrorKind::AddrNotAvailable
        || error
            .to_string()
            .starts_with("failed to lookup address information")
    {
        dns_error()
    } else {
        error_code::named("connection-refused")
    }
}

/// The "transmitted" future of a request a guest made: written, as wasmtime does, with the
/// outcome of the whole exchange once the connection is done (the body's own failure first);
/// with the error code when the request could not be sent at all.
struct Report {
    transmitted: Arc<Pipe<Val>>,
    failure: Failure,
}

impl Report {
    fn finish(self, error: Option<Val>) {
        let failed = self
            .failure
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        let _ = FutureWriter::new(self.transmitted).write(outcome(failed.or(error)));
    }
}

/// Sends `request`; the error is an `error-code` value, the one wasmtime-wasi-http 48 gives for
/// the same failure.
async fn send(mut request: Request, defaults: Timeouts) -> Result<Response, Val> {
    let mut report = request
        .body
        .take_transmitted()
        .map(|(transmitted, failure)| Report {
            transmitted,
            failure,
        });
    let sent = exchange(request, defaults, &mut report).await;
    if let (Err(code), Some(report)) = (&sent, report) {
        report.finish(Some(code.clone()));
    }
    sent
}

/// Sends `request` and returns the response's head; hands `report` to the connection's task.
async fn exchange(
    request: Request,
    defaults: Timeouts,
    report: &mut Option<Report>,
) -> Result<Response, Val> {
    let options = request.options.clone().unwrap_or_default();
    match request.scheme {
        None | Some(Scheme::Http) => {}
        Some(Scheme::Https) => {
            return Err(error_code::internal(
                "isyswasfa's client does not support https yet",
            ));
        }
        // wasmtime supports `http` and `https` only.
        Some(Scheme::Other(_)) => return Err(error_code::named("HTTP-protocol-error")),
    }
    let Some(authority) = request.authority.clone() else {
        return Err(error_code::named("HTTP-request-URI-invalid"));
    };
    let Ok(parsed) = authority.parse::<http::uri::Authority>() else {
        return Err(error_code::named("HTTP-request-URI-invalid"));
    };
    let host = parsed.host().trim_matches(['[', ']']);
    let port = parsed.port_u16().unwrap_or(80);
    let addresses = match tokio::net::lookup_host((host, port)).await {
        Ok(addresses) => addresses.collect::<Vec<_>>(),
        Err(error) => {
            tracing::debug!("isyswasfa: resolving {authority} failed: {error}");
            return Err(connect_error(&error));
        }
    };
    // Checked against the addresses it will really connect to, so that a name resolving to a
    // denied address (DNS rebinding included) is refused too.
    let allowed: Vec<_> = addresses
        .into_iter()
        .filter(|to| defaults.outbound.permits(host, *to))
        .collect();
    if allowed.is_empty() {
        tracing::debug!("isyswasfa: the outbound policy denies {authority}");
        return Err(error_code::named("destination-IP-prohibited"));
    }
    let connect = tokio::net::TcpStream::connect(&allowed[..]);
    let stream =
        match tokio::time::timeout(nanos(options.connect_timeout, defaults.connect), connect).await
        {
            Err(_) => return Err(error_code::named("connection-timeout")),
            Ok(Err(error)) => {
                tracing::debug!("isyswasfa: connecting to {authority} failed: {error}");
                return Err(connect_error(&error));
            }
            Ok(Ok(stream)) => stream,
        };
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| {
            tracing::debug!("isyswasfa: HTTP handshake with {authority} failed: {error}");
            error_code::named("HTTP-protocol-error")
        })?;
    let report = report.take();
    tokio::spawn(async move {
        let ended = connection.await;
        if let Err(error) = &ended {
            tracing::debug!("isyswasfa: outgoing HTTP connection ended: {error}");
        }
        if let Some(report) = report {
            report.finish(
                ended
                    .err()
                    .map(|_| error_code::named("HTTP-protocol-error")),
            );
        }
    });
    let method = http::Method::try_from(&request.method)
        .map_err(|_| error_code::named("HTTP-request-method-invalid"))?;
    let path = request.path_with_query.as_deref().unwrap_or("/");
    let mut outgoing = http::Request::builder()
        .method(method)
        .uri(path)
        .body(request.body)
        .map_err(|_| error_code::named("HTTP-request-URI-invalid"))?;
    *outgoing.headers_mut() = request.headers;
    // `host` is forbidden to guests: the host always sets it, from the authority.
    let host = http::HeaderValue::from_str(&authority)
        .map_err(|_| error_code::named("HTTP-request-URI-invalid"))?;
    outgoing.headers_mut().insert(http::header::HOST, host);
    let response = tokio::time::timeout(
        nanos(options.first_byte_timeout, defaults.first_byte),
        sender.send_request(outgoing),
    )
    .await
    .map_err(|_| error_code::named("connection-read-timeout"))?
    .map_err(|error| {
        tracing::debug!("isyswasfa: the HTTP request to {authority} failed: {error}");
        error_code::named("HTTP-protocol-error")
    })?;
    let (mut parts, body) = response.into_parts();
    remove_forbidden(&mut parts.headers);
    let body = match options.between_bytes_timeout {
        Some(nanos) => Body::network(super::StallBody::new(body, Duration::from_nanos(nanos))),
        None => Body::network(body),
    };
    Ok(Response {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    })
}
