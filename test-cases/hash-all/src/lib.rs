//! Fetches every URL named by a `url` request header (repeat the header for several), all at
//! once through `wasi:http/client`, and answers with one line per URL, in the order the
//! responses finish, as each finishes:
//! - `URL: <hex SHA-256 of the response body>` (whatever the status code), or
//! - `URL: error <error code>` when the URL is unusable or the request fails.
//!
//! Only `http://host[:port][/path][?query]` URLs are fetched (a `#fragment` is ignored); anything
//! else is `error HttpRequestUriInvalid`. No `url` header at all is a `400`.
//!
//! Used by the HTTP tests of concurrent outgoing requests (`client.send`) and, behind
//! `/hash-all`, by the `router` composition.

wit_bindgen::generate!({ path: "wit", world: "hash-all", generate_all });

use exports::wasi::http::handler::Guest;
use futures::stream::{FuturesUnordered, StreamExt};
use sha2::{Digest, Sha256};
use wasi::http::types::{ErrorCode, Fields, Method, Request, Response, Scheme};
use wit_bindgen::StreamResult;

/// How many bytes one read of a response body asks for.
const CHUNK: usize = 16 * 1024;

struct Component;

impl Guest for Component {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let urls: Vec<String> = request
            .get_headers()
            .get("url")
            .into_iter()
            .map(|value| String::from_utf8_lossy(&value).trim().to_string())
            .collect();
        drop(request);

        let headers = Fields::from_list(&[("content-type".to_string(), b"text/plain".to_vec())])
            .map_err(|e| ErrorCode::InternalError(Some(format!("{e:?}"))))?;
        let (mut body, body_rx) = wit_stream::new::<u8>();
        let (trailers, trailers_rx) = wit_future::new(|| Ok(None));
        let (response, _sent) = Response::new(headers, Some(body_rx), trailers_rx);

        if urls.is_empty() {
            response
                .set_status_code(400)
                .map_err(|()| ErrorCode::InternalError(Some("status 400 refused".into())))?;
            wit_bindgen::spawn_local(async move {
                body.write_all(b"no `url` header\n".to_vec()).await;
            });
            return Ok(response);
        }

        wit_bindgen::spawn_local(async move {
            // All fetches run at once; each line is written as soon as its fetch is done.
            let mut fetches: FuturesUnordered<_> = urls.into_iter().map(line_for).collect();
            while let Some(line) = fetches.next().await {
                if !body.write_all(line.into_bytes()).await.is_empty() {
                    // The client is gone; dropping `fetches` cancels what is still running.
                    return;
                }
            }
            drop(body);
            let _ = trailers.write(Ok(None)).await;
        });
        Ok(response)
    }
}

/// The response line for `url`.
async fn line_for(url: String) -> String {
    match hash(&url).await {
        Ok(digest) => format!("{url}: {digest}\n"),
        Err(code) => format!("{url}: error {code:?}\n"),
    }
}

/// GETs `url` and returns the hex SHA-256 of the response body.
async fn hash(url: &str) -> Result<String, ErrorCode> {
    let (authority, path) = parse_http_url(url).ok_or(ErrorCode::HttpRequestUriInvalid)?;

    // No body; the trailers future's default (written when the writer is dropped) is "none".
    let (_, no_trailers) = wit_future::new(|| Ok(None));
    let (request, _sent) = Request::new(Fields::new(), None, no_trailers, None);
    let invalid = |()| ErrorCode::HttpRequestUriInvalid;
    request.set_method(&Method::Get).map_err(invalid)?;
    request.set_scheme(Some(&Scheme::Http)).map_err(invalid)?;
    request.set_authority(Some(authority)).map_err(invalid)?;
    request.set_path_with_query(Some(&path)).map_err(invalid)?;

    let response = wasi::http::client::send(request).await?;
    let (consumed, consumed_rx) = wit_future::new(|| Ok(()));
    let (mut body, trailers) = Response::consume_body(response, consumed_rx);
    let mut hasher = Sha256::new();
    loop {
        let (result, chunk) = body.read(Vec::with_capacity(CHUNK)).await;
        hasher.update(&chunk);
        if !matches!(result, StreamResult::Complete(_)) {
            break;
        }
    }
    let _ = consumed.write(Ok(())).await;
    // The body ended: it is whole only if the trailers say so.
    trailers.await?;
    Ok(hex(&hasher.finalize()))
}

/// Splits `http://authority[/path][?query][#fragment]` into the authority and the path with
/// query (`/` when there is none). `None` for any other scheme or an empty authority.
fn parse_http_url(url: &str) -> Option<(&str, String)> {
    let scheme = url.get(.."http://".len())?;
    if !scheme.eq_ignore_ascii_case("http://") {
        return None;
    }
    let rest = &url[scheme.len()..];
    let rest = rest.split('#').next().unwrap_or_default();
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    // Credentials in URLs are not supported.
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    Some((authority, path))
}

/// Lowercase hexadecimal.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

export!(Component);
