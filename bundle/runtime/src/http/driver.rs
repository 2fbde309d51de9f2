//! The `http-driver` interface (one WASI 0.2 `incoming-handler.handle` call served with a
//! bundled 0.3 handler) and `wasi:http/client@0.3.0` on WASI 0.2's `outgoing-handler`.

use std::sync::LazyLock;

use isyswasfa_protocol::tasks::{HostFunction, Value};
use wasi::http::outgoing_handler;
use wasi::http::types::{
    self as p2, FutureIncomingResponse, IncomingRequest, OutgoingRequest, OutgoingResponse,
    ResponseOutparam,
};

use crate::Runtime;
use crate::bindings::exports::isyswasfa::bundle::http_driver::Guest as DriverGuest;
use crate::bindings::exports::isyswasfa::isyswasfa::isyswasfa::{Pending, Ready};
use crate::bindings::exports::wasi::http0_3_0::client::Guest as ClientGuest;
use crate::bindings::exports::wasi::http0_3_0::types::{
    ErrorCode, Method, Request, Response, Scheme,
};
use crate::http::body;
use crate::http::error::{from_p2, internal, p2_case};
use crate::http::fields::{FieldList, visible};
use crate::http::message::{Body, RequestData, ResponseData};
use crate::http::{HttpRequest, HttpResponse};
use crate::protocol::{PendingTask, ReadyTask};
use crate::reactor;
use crate::state::{self, check};

static RESPOND: LazyLock<HostFunction> = LazyLock::new(|| HostFunction::new("respond"));
static SEND: LazyLock<HostFunction> =
    LazyLock::new(|| HostFunction::new("wasi:http/client@0.3.0#send"));

fn method_from_p2(method: p2::Method) -> Method {
    match method {
        p2::Method::Get => Method::Get,
        p2::Method::Head => Method::Head,
        p2::Method::Post => Method::Post,
        p2::Method::Put => Method::Put,
        p2::Method::Delete => Method::Delete,
        p2::Method::Connect => Method::Connect,
        p2::Method::Options => Method::Options,
        p2::Method::Trace => Method::Trace,
        p2::Method::Patch => Method::Patch,
        p2::Method::Other(other) => Method::Other(other),
    }
}

fn method_to_p2(method: Method) -> p2::Method {
    match method {
        Method::Get => p2::Method::Get,
        Method::Head => p2::Method::Head,
        Method::Post => p2::Method::Post,
        Method::Put => p2::Method::Put,
        Method::Delete => p2::Method::Delete,
        Method::Connect => p2::Method::Connect,
        Method::Options => p2::Method::Options,
        Method::Trace => p2::Method::Trace,
        Method::Patch => p2::Method::Patch,
        Method::Other(other) => p2::Method::Other(other),
    }
}

fn scheme_from_p2(scheme: p2::Scheme) -> Scheme {
    match scheme {
        p2::Scheme::Http => Scheme::Http,
        p2::Scheme::Https => Scheme::Https,
        p2::Scheme::Other(other) => Scheme::Other(other),
    }
}

fn scheme_to_p2(scheme: Scheme) -> p2::Scheme {
    match scheme {
        Scheme::Http => p2::Scheme::Http,
        Scheme::Https => p2::Scheme::Https,
        Scheme::Other(other) => p2::Scheme::Other(other),
    }
}

fn p2_fields(list: &FieldList, what: &str) -> Result<p2::Fields, ErrorCode> {
    p2::Fields::from_list(list).map_err(|e| internal(format!("{what} are refused: {e:?}")))
}

/// Answers `out`, and sends the body of `response`: the value of the `respond` task.
async fn respond(out: ResponseOutparam, response: ResponseData) -> Value {
    let ResponseData {
        status,
        headers,
        body,
        transmit,
    } = response;
    let answer = p2_fields(&headers, "the response's headers").and_then(|headers| {
        let answer = OutgoingResponse::new(headers);
        answer
            .set_status_code(status)
            .map_err(|()| internal(format!("the status code {status} is refused")))?;
        Ok(answer)
    });
    let outcome = match answer {
        Ok(answer) => match answer.body() {
            Ok(out_body) => {
                ResponseOutparam::set(out, Ok(answer));
                body::outgoing(body, out_body).await
            }
            Err(()) => {
                let error = internal("the response's body was taken already");
                ResponseOutparam::set(out, Err(p2::ErrorCode::InternalError(None)));
                Err(error)
            }
        },
        Err(error) => {
            let message = format!("{error:?}");
            ResponseOutparam::set(out, Err(p2::ErrorCode::InternalError(Some(message))));
            Err(error)
        }
    };
    if let Some(transmit) = transmit {
        let _ = transmit.write(outcome);
    }
    Box::new(())
}

impl DriverGuest for Runtime {
    fn incoming(incoming: IncomingRequest) -> Request {
        let method = method_from_p2(incoming.method());
        let path_with_query = incoming.path_with_query();
        let scheme = incoming.scheme().map(scheme_from_p2);
        let authority = incoming.authority();
        let headers = visible(incoming.headers().entries());
        let body = match incoming.consume() {
            Ok(incoming_body) => body::incoming(incoming_body),
            Err(()) => {
                let (writer, reader) = crate::pipes::pipe_pair();
                drop(writer);
                let (trailers_writer, trailers) = crate::futures::future();
                let _ = trailers_writer.write(Ok(None));
                Body {
                    contents: Some(reader),
                    trailers,
                }
            }
        };
        drop(incoming);
        Request::new(HttpRequest::new(RequestData {
            method,
            path_with_query,
            scheme,
            authority,
            headers,
            body,
            options: None,
            transmit: None,
        }))
    }

    fn respond(out: ResponseOutparam, response: Response) -> Pending {
        let data = response.into_inner::<HttpResponse>().into_data();
        let id = state::with(|s| check(s.tasks.spawn_host(RESPOND.clone(), respond(out, data))));
        PendingTask::handle(id)
    }

    fn respond_error(out: ResponseOutparam, case: u8, message: Option<String>) {
        ResponseOutparam::set(out, Err(p2_case(case, message)));
    }

    fn finish(ready: Ready) {
        state::take_value::<()>(&RESPOND, ReadyTask::take(ready))
    }
}

/// The response parts a `send` task finishes with (a response handle is made in the result
/// half).
type Sent = Result<ResponseData, ErrorCode>;

/// Starts sending `data` through WASI 0.2's `outgoing-handler`: the request goes out now, its
/// body is copied in the background, and the returned future waits for the response head.
fn send(data: RequestData) -> Result<FutureIncomingResponse, ErrorCode> {
    let RequestData {
        method,
        path_with_query,
        scheme,
        authority,
        headers,
        body,
        options,
        transmit,
    } = data;
    let request = OutgoingRequest::new(p2_fields(&headers, "the request's headers")?);
    let refused = |what: &str| internal(format!("the request's {what} is refused"));
    request
        .set_method(&method_to_p2(method))
        .map_err(|()| refused("method"))?;
    // A request without a scheme goes out as `http`, as on the host.
    request
        .set_scheme(Some(&scheme.map_or(p2::Scheme::Http, scheme_to_p2)))
        .map_err(|()| refused("scheme"))?;
    request
        .set_authority(authority.as_deref())
        .map_err(|()| refused("authority"))?;
    request
        .set_path_with_query(path_with_query.as_deref())
        .map_err(|()| refused("path"))?;
    let out_body = request
        .body()
        .map_err(|()| internal("the request's body was taken already"))?;
    let p2_options = options.map(|o| {
        let p2_options = p2::RequestOptions::new();
        let _ = p2_options.set_connect_timeout(o.connect);
        let _ = p2_options.set_first_byte_timeout(o.first_byte);
        let _ = p2_options.set_between_bytes_timeout(o.between_bytes);
        p2_options
    });
    let response = outgoing_handler::handle(request, p2_options).map_err(from_p2)?;
    state::spawn_background(async move {
        let outcome = body::outgoing(body, out_body).await;
        if let Some(transmit) = transmit {
            let _ = transmit.write(outcome);
        }
    });
    Ok(response)
}

async fn response_head(response: FutureIncomingResponse) -> Sent {
    let incoming = loop {
        match response.get() {
            Some(Ok(outcome)) => break outcome.map_err(from_p2)?,
            Some(Err(())) => return Err(internal("the response was taken already")),
            None => reactor::ready(response.subscribe()).await,
        }
    };
    let status = incoming.status();
    let headers = visible(incoming.headers().entries());
    let body = incoming
        .consume()
        .map_err(|()| internal("the response's body was taken already"))?;
    Ok(ResponseData {
        status,
        headers,
        body: body::incoming(body),
        transmit: None,
    })
}

fn response(sent: Sent) -> Result<Response, ErrorCode> {
    sent.map(|data| Response::new(HttpResponse::new(data)))
}

impl ClientGuest for Runtime {
    fn send_isyswasfa_start(request: Request) -> Result<Result<Response, ErrorCode>, Pending> {
        let data = request.into_inner::<HttpRequest>().into_data();
        let head = match send(data) {
            Ok(head) => head,
            Err(error) => return Ok(Err(error)),
        };
        match state::start(&SEND, response_head(head)) {
            Ok(sent) => Ok(response(sent)),
            Err(id) => Err(PendingTask::handle(id)),
        }
    }

    fn send_isyswasfa_result(ready: Ready) -> Result<Response, ErrorCode> {
        response(state::take_value::<Sent>(&SEND, ReadyTask::take(ready)))
    }
}
