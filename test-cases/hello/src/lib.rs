//! Answers every request with `200 OK` and a fixed body, the smallest useful HTTP service.

wit_bindgen::generate!({ path: "wit", world: "hello", generate_all });

use exports::wasi::http::handler::Guest;
use wasi::http::types::{ErrorCode, Fields, Request, Response};

struct Component;

impl Guest for Component {
    async fn handle(_request: Request) -> Result<Response, ErrorCode> {
        let headers = Fields::from_list(&[("content-type".to_string(), b"text/plain".to_vec())])
            .map_err(|e| ErrorCode::InternalError(Some(format!("{e:?}"))))?;
        let (mut body, contents) = wit_stream::new::<u8>();
        let (trailers_tx, trailers) = wit_future::new(|| Ok(None));
        let (response, _sent) = Response::new(headers, Some(contents), trailers);
        wit_bindgen::spawn_local(async move {
            body.write_all(b"Hello, world!\n".to_vec()).await;
            drop(body);
            let _ = trailers_tx.write(Ok(None)).await;
        });
        Ok(response)
    }
}

export!(Component);
