//! Routes each request by the first segment of its path to one of the handlers it imports, the
//! root of the `router` composition (`compose.wac`), which the HTTP composition tests serve:
//!
//! | path | handler |
//! | --- | --- |
//! | `/hello`, `/hello/…` | `hello` |
//! | `/echo`, `/echo/…` | `echo` |
//! | `/hash-all`, `/hash-all/…` | `hash-all` |
//! | `/service`, `/service/…` | `middleware` in front of `service` |
//!
//! The route's prefix is stripped before the request is passed on, as a reverse proxy does
//! for an application mounted under a path: the handler sees the path below its mount point
//! (`/service/upper?x=1` → `/upper?x=1`, `/service` → `/`), so `service`, which routes on
//! `/` and `/upper`, answers the same under `/service` as on its own. Anything else is a `404`
//! whose body lists the routes.

wit_bindgen::generate!({ path: "wit", world: "router", generate_all });

use exports::wasi::http::handler::Guest;
use test_cases::router::{echo, hash_all, hello, service};
use wasi::http::types::{ErrorCode, Fields, Request, Response};

/// The routes, for the `404` body.
const ROUTES: &str = "routes: /hello, /echo, /hash-all, /service/ (GET /, POST /upper)\n";

struct Component;

impl Guest for Component {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let path = request.get_path_with_query().unwrap_or_default();
        let Some((route, rest)) = split_route(&path) else {
            return not_found();
        };
        if !matches!(route, "hello" | "echo" | "hash-all" | "service") {
            return not_found();
        }
        request
            .set_path_with_query(Some(&rest))
            .map_err(|()| ErrorCode::HttpRequestUriInvalid)?;
        match route {
            "hello" => hello::handle(request).await,
            "echo" => echo::handle(request).await,
            "hash-all" => hash_all::handle(request).await,
            _ => service::handle(request).await,
        }
    }
}

/// Splits `/first/rest?query` into `first` and `/rest?query` (`/` or `/?query` when there is
/// no rest). `None` for a path that does not start with `/`.
fn split_route(path_with_query: &str) -> Option<(&str, String)> {
    let path = path_with_query.strip_prefix('/')?;
    let end = path.find(['/', '?']).unwrap_or(path.len());
    let (first, rest) = path.split_at(end);
    let rest = match rest.starts_with('/') {
        true => rest.to_string(),
        false => format!("/{rest}"),
    };
    Some((first, rest))
}

/// `404`, with the routes in the body.
fn not_found() -> Result<Response, ErrorCode> {
    let internal = |message: String| ErrorCode::InternalError(Some(message));
    let headers = Fields::from_list(&[("content-type".to_string(), b"text/plain".to_vec())])
        .map_err(|e| internal(format!("{e:?}")))?;
    let (mut body, body_rx) = wit_stream::new::<u8>();
    let (trailers, trailers_rx) = wit_future::new(|| Ok(None));
    let (response, _sent) = Response::new(headers, Some(body_rx), trailers_rx);
    response
        .set_status_code(404)
        .map_err(|()| internal("status 404 refused".into()))?;
    wit_bindgen::spawn_local(async move {
        body.write_all(ROUTES.as_bytes().to_vec()).await;
        drop(body);
        let _ = trailers.write(Ok(None)).await;
    });
    Ok(response)
}

export!(Component);
