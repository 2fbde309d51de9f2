//! HTTP client helpers for the tests of `isyswasfa serve`: a real hyper client over a new TCP
//! connection per request, and requests with fixed bodies.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

/// A response with its whole body (and trailers) read.
pub struct Answer {
    /// The response's status.
    pub status: http::StatusCode,
    /// The response's headers.
    pub headers: http::HeaderMap,
    /// The whole body.
    pub body: Bytes,
    /// The trailers, if the body ended with any.
    pub trailers: Option<http::HeaderMap>,
}

/// Sends `request` to `url`'s host over a new connection and reads the whole answer.
pub async fn send<B>(url: &str, request: http::Request<B>) -> Answer
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let response = start(url, request).await;
    let (parts, body) = response.into_parts();
    let collected = body.collect().await.expect("reading the response body");
    let trailers = collected.trailers().cloned();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: collected.to_bytes(),
        trailers,
    }
}

/// Sends `request` over a new connection; returns the response as soon as its head arrived.
pub async fn start<B>(url: &str, request: http::Request<B>) -> http::Response<hyper::body::Incoming>
where
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let address = url.trim_start_matches("http://");
    let stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connecting to the server");
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP handshake");
    tokio::spawn(connection);
    sender
        .send_request(request)
        .await
        .expect("sending the request")
}

/// `GET url+path` with no body.
pub async fn get(url: &str, path: &str) -> Answer {
    send(url, request("GET", url, path, Bytes::new())).await
}

/// A request with a fixed body.
pub fn request(
    method: &str,
    url: &str,
    path: &str,
    body: impl Into<Bytes>,
) -> http::Request<Full<Bytes>> {
    http::Request::builder()
        .method(method)
        .uri(format!("{url}{path}"))
        .header("host", url.trim_start_matches("http://"))
        .body(Full::new(body.into()))
        .expect("building a request")
}

/// Waits until `f` holds (checked every 20 ms) or `limit` passes.
pub async fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    while tokio::time::Instant::now() < deadline {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    f()
}
