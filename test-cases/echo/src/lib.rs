//! Echoes every request: the response body is the request body, streamed back chunk by chunk as
//! it arrives (never buffered whole), the response trailers are the request trailers, and the
//! request's `content-type` header, if any, is copied onto the response.
//!
//! Used by the HTTP serving tests (streamed bodies in both directions, trailers, concurrent
//! requests) and, behind `/echo`, by the `router` composition.

wit_bindgen::generate!({ path: "wit", world: "echo", generate_all });

use exports::wasi::http::handler::Guest;
use wasi::http::types::{ErrorCode, Fields, Request, Response};
use wit_bindgen::StreamResult;

/// How many bytes one read asks for.
const CHUNK: usize = 16 * 1024;

struct Component;

impl Guest for Component {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let headers = Fields::new();
        // `trailer` announces the trailer fields, which HTTP/1.1 needs to send them on.
        for name in ["content-type", "trailer"] {
            for value in request.get_headers().get(name) {
                headers
                    .append(name, &value)
                    .map_err(|e| ErrorCode::InternalError(Some(format!("{name}: {e:?}"))))?;
            }
        }

        // `consumed` tells whoever sent the request how reading its body went.
        let (consumed, consumed_rx) = wit_future::new(|| Ok(()));
        let (mut body_in, trailers_in) = Request::consume_body(request, consumed_rx);

        let (mut body_out, body_out_rx) = wit_stream::new::<u8>();
        let (trailers_out, trailers_out_rx) = wit_future::new(|| Ok(None));
        let (response, _sent) = Response::new(headers, Some(body_out_rx), trailers_out_rx);

        // The body streams on after `handle` has returned the response.
        wit_bindgen::spawn_local(async move {
            loop {
                let (result, chunk) = body_in.read(Vec::with_capacity(CHUNK)).await;
                if !chunk.is_empty() && !body_out.write_all(chunk).await.is_empty() {
                    // Whoever reads the response is gone: stop reading the request too.
                    drop(body_out);
                    let gone = ErrorCode::InternalError(Some("response body reader gone".into()));
                    let _ = consumed.write(Err(gone)).await;
                    return;
                }
                if !matches!(result, StreamResult::Complete(_)) {
                    break;
                }
            }
            // End the response body, then pass on the trailers (or the error the request body
            // ended with).
            drop(body_out);
            let trailers = trailers_in.await;
            let _ = trailers_out.write(trailers).await;
            let _ = consumed.write(Ok(())).await;
        });
        Ok(response)
    }
}

export!(Component);
