//! A small HTTP service, the one the `middleware` tests put behind `middleware`, and the
//! `/service/…` route of the `router` composition:
//! - `GET /` → `200`, body `service: hello`;
//! - `POST /upper` → `200`, the request body with ASCII letters uppercased, streamed back chunk
//!   by chunk as it arrives (bytes that are not ASCII letters, UTF-8 included, pass unchanged, so
//!   chunk boundaries never matter); the request's `content-type` is copied;
//! - anything else → `404`.

wit_bindgen::generate!({ path: "wit", world: "service", generate_all });

use exports::wasi::http::handler::Guest;
use wasi::http::types::{ErrorCode, Fields, Method, Request, Response};
use wit_bindgen::StreamResult;

/// How many bytes one read asks for.
const CHUNK: usize = 16 * 1024;

struct Component;

impl Guest for Component {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let path = request.get_path_with_query().unwrap_or_default();
        // The query plays no part in routing.
        let path = path.split('?').next().unwrap_or_default();
        match (request.get_method(), path) {
            (Method::Get, "/") => fixed(200, b"service: hello"),
            (Method::Post, "/upper") => upper(request),
            _ => fixed(404, b"not found"),
        }
    }
}

/// A `text/plain` response with status `status` and body `body`.
fn fixed(status: u16, body: &'static [u8]) -> Result<Response, ErrorCode> {
    let headers = Fields::from_list(&[("content-type".to_string(), b"text/plain".to_vec())])
        .map_err(|e| internal(format!("{e:?}")))?;
    let (mut body_tx, body_rx) = wit_stream::new::<u8>();
    let (trailers_tx, trailers_rx) = wit_future::new(|| Ok(None));
    let (response, _sent) = Response::new(headers, Some(body_rx), trailers_rx);
    response
        .set_status_code(status)
        .map_err(|()| internal(format!("status {status} refused")))?;
    wit_bindgen::spawn_local(async move {
        body_tx.write_all(body.to_vec()).await;
        drop(body_tx);
        let _ = trailers_tx.write(Ok(None)).await;
    });
    Ok(response)
}

/// Streams the request body back uppercased.
fn upper(request: Request) -> Result<Response, ErrorCode> {
    let headers = Fields::new();
    for value in request.get_headers().get("content-type") {
        headers
            .append("content-type", &value)
            .map_err(|e| internal(format!("content-type: {e:?}")))?;
    }
    let (consumed, consumed_rx) = wit_future::new(|| Ok(()));
    let (mut body_in, _trailers_in) = Request::consume_body(request, consumed_rx);
    let (mut body_out, body_out_rx) = wit_stream::new::<u8>();
    let (trailers_out, trailers_out_rx) = wit_future::new(|| Ok(None));
    let (response, _sent) = Response::new(headers, Some(body_out_rx), trailers_out_rx);
    wit_bindgen::spawn_local(async move {
        loop {
            let (result, mut chunk) = body_in.read(Vec::with_capacity(CHUNK)).await;
            chunk.make_ascii_uppercase();
            if !chunk.is_empty() && !body_out.write_all(chunk).await.is_empty() {
                let _ = consumed
                    .write(Err(internal("response body reader gone".into())))
                    .await;
                return;
            }
            if !matches!(result, StreamResult::Complete(_)) {
                break;
            }
        }
        drop(body_out);
        let _ = trailers_out.write(Ok(None)).await;
        let _ = consumed.write(Ok(())).await;
    });
    Ok(response)
}

fn internal(message: String) -> ErrorCode {
    ErrorCode::InternalError(Some(message))
}

export!(Component);
