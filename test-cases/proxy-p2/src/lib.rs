//! A plain WASI 0.2 HTTP proxy: answers `Hello from WASI 0.2: METHOD PATH` and the request's
//! `x-echo` header back.

use std::io::Write as _;

use wasi::http::types::{
    Fields, IncomingRequest, Method, OutgoingBody, OutgoingResponse, ResponseOutparam,
};

struct Component;

impl wasi::exports::http::incoming_handler::Guest for Component {
    fn handle(request: IncomingRequest, response_out: ResponseOutparam) {
        let method = match request.method() {
            Method::Get => "GET".to_string(),
            Method::Post => "POST".to_string(),
            Method::Other(other) => other,
            other => format!("{other:?}"),
        };
        let path = request.path_with_query().unwrap_or_default();
        let echo = request.headers().get("x-echo");
        let headers = Fields::new();
        let _ = headers.append("content-type", b"text/plain");
        for value in echo {
            let _ = headers.append("x-echo", &value);
        }
        let response = OutgoingResponse::new(headers);
        let Ok(body) = response.body() else {
            ResponseOutparam::set(
                response_out,
                Err(wasi::http::types::ErrorCode::InternalError(None)),
            );
            return;
        };
        ResponseOutparam::set(response_out, Ok(response));
        if let Ok(mut out) = body.write() {
            let _ = writeln!(out, "Hello from WASI 0.2: {method} {path}");
            let _ = out.flush();
        }
        let _ = OutgoingBody::finish(body, None);
    }
}

wasi::http::proxy::export!(Component);
