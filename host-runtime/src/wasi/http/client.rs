//! `wasi:http/client@0.3.0`'s `send` on hyper: a real HTTP/1.1 request over a new TCP
//! connection, the request body streamed from the guest as it writes it and the response
//! body handed back as it arrives. The `handler` import is the same function, so a
//! component whose imported handler no other component provides talks to the network.

use std::time::Duration;

use hyper_util::rt::TokioIo;
use wasmtime::component::{Linker, Val};
use wasmtime::{Result, StoreContextMut, bail};

use super::body::Body;
use super::error_code;
use super::types::{Request, Response, Scheme};
use crate::ctx::IsyswasfaView;
use crate::funcs::Finish;
use crate::funcs::func_new_async;

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
#[derive(Clone, Copy)]
struct Timeouts {
    connect: Duration,
    first_byte: Duration,
}

/// Sends `request`; the error is an `error-code` value.
async fn send(request: Request, defaults: Timeouts) -> Result<Response, Val> {
    let options = request.options.clone().unwrap_or_default();
    match request.scheme {
        None | Some(Scheme::Http) => {}
        Some(Scheme::Https) => {
            return Err(error_code::internal(
                "isyswasfa's client does not support https yet",
            ));
        }
        Some(Scheme::Other(_)) => return Err(error_code::named("HTTP-request-URI-invalid")),
    }
    let Some(authority) = request.authority.clone() else {
        return Err(error_code::named("HTTP-request-URI-invalid"));
    };
    let Ok(parsed) = authority.parse::<http::uri::Authority>() else {
        return Err(error_code::named("HTTP-request-URI-invalid"));
    };
    let address = format!("{}:{}", parsed.host(), parsed.port_u16().unwrap_or(80));
    let connect = tokio::net::TcpStream::connect(address);
    let stream =
        match tokio::time::timeout(nanos(options.connect_timeout, defaults.connect), connect).await
        {
            Err(_) => return Err(error_code::named("connection-timeout")),
            Ok(Err(error)) => {
                return Err(match error.kind() {
                    std::io::ErrorKind::ConnectionRefused => {
                        error_code::named("connection-refused")
                    }
                    _ if error.to_string().contains("lookup") => {
                        error_code::named("destination-not-found")
                    }
                    _ => error_code::internal(format!("connecting to {authority} failed: {error}")),
                });
            }
            Ok(Ok(stream)) => stream,
        };
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|error| error_code::internal(format!("HTTP handshake failed: {error}")))?;
    tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::debug!("isyswasfa: outgoing HTTP connection ended: {error}");
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
    if !outgoing.headers().contains_key(http::header::HOST) {
        let host = http::HeaderValue::from_str(&authority)
            .map_err(|_| error_code::named("HTTP-request-URI-invalid"))?;
        outgoing.headers_mut().insert(http::header::HOST, host);
    }
    let response = tokio::time::timeout(
        nanos(options.first_byte_timeout, defaults.first_byte),
        sender.send_request(outgoing),
    )
    .await
    .map_err(|_| error_code::named("connection-read-timeout"))?
    .map_err(|error| error_code::internal(format!("HTTP request failed: {error}")))?;
    let (parts, body) = response.into_parts();
    Ok(Response {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body: Body::network(body),
    })
}
