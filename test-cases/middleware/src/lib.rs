//! HTTP middleware that adds `deflate` content coding in front of the handler it imports
//! (`wasi:http/middleware`: imports `wasi:http/handler`, exports it). Composed with `service` in
//! the middleware tests, and on the `/service/…` route of the `router` composition.
//!
//! - A request with `content-encoding: deflate` has its body decoded while it streams through;
//!   the imported handler sees the decoded body, without `content-encoding` and
//!   `content-length`. Invalid or truncated data ends the forwarded body with an error (an
//!   `internal-error` in the trailers future). A request with any other content coding (or with
//!   several, like `deflate, gzip`) is passed on untouched.
//! - When the request's `accept-encoding` accepts `deflate` (not with `q=0`), the handler's
//!   response body is encoded while it streams (each chunk is sync-flushed, so what has been
//!   sent always decodes), with `content-encoding: deflate` and `vary: accept-encoding` added
//!   and `content-length` removed. Responses that already have a `content-encoding`, responses
//!   to `HEAD`, and `1xx`/`204`/`304` responses are passed on untouched.
//!
//! `deflate` here means what HTTP means by it (RFC 9110 §8.4.1.2): the zlib format (RFC 1950,
//! a two-byte header and an Adler-32 trailer around RFC 1951 data), not raw RFC 1951 data.
//!
//! Trailers pass through in both directions. The coding itself is in `codec.rs`, whose unit
//! tests run on the host (`cargo test -p middleware` in `test-cases/`).

wit_bindgen::generate!({ path: "wit", world: "middleware", generate_all });

mod codec;

use codec::Coder;
use exports::wasi::http::handler::Guest;
use wasi::http::types::{ErrorCode, Fields, Method, Request, Response};
use wit_bindgen::{FutureReader, FutureWriter, StreamReader, StreamResult, StreamWriter};

/// How many bytes one read of a body asks for.
const CHUNK: usize = 16 * 1024;

type Trailers = Result<Option<Fields>, ErrorCode>;

struct Component;

impl Guest for Component {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let headers = request.get_headers();
        let decode = is_deflate(&headers.get("content-encoding"));
        let encode = accepts_deflate(&headers.get("accept-encoding"));
        drop(headers);
        let head = matches!(request.get_method(), Method::Head);

        let request = if decode {
            inflate_request(request)?
        } else {
            request
        };
        let response = wasi::http::handler::handle(request).await?;

        let status = response.get_status_code();
        let has_body = !head && !matches!(status, 100..=199 | 204 | 304);
        if encode && has_body && !response.get_headers().has("content-encoding") {
            deflate_response(response)
        } else {
            Ok(response)
        }
    }
}

/// `request`, with its body decoded and the headers that described the coded body removed.
fn inflate_request(request: Request) -> Result<Request, ErrorCode> {
    let headers = request.get_headers().clone();
    for name in ["content-encoding", "content-length"] {
        headers
            .delete(name)
            .map_err(|e| internal(format!("removing {name}: {e:?}")))?;
    }
    let method = request.get_method();
    let path = request.get_path_with_query();
    let scheme = request.get_scheme();
    let authority = request.get_authority();
    let options = request.get_options();

    let (consumed, consumed_rx) = wit_future::new(|| Ok(()));
    let (body_in, trailers_in) = Request::consume_body(request, consumed_rx);
    let (body_out, body_out_rx) = wit_stream::new::<u8>();
    let (trailers_out, trailers_out_rx) = wit_future::new(|| Ok(None));
    let (forwarded, _sent) = Request::new(headers, Some(body_out_rx), trailers_out_rx, options);
    let refused = |what: &str| internal(format!("the forwarded request refused its {what}"));
    forwarded
        .set_method(&method)
        .map_err(|()| refused("method"))?;
    forwarded
        .set_path_with_query(path.as_deref())
        .map_err(|()| refused("path"))?;
    forwarded
        .set_scheme(scheme.as_ref())
        .map_err(|()| refused("scheme"))?;
    forwarded
        .set_authority(authority.as_deref())
        .map_err(|()| refused("authority"))?;

    wit_bindgen::spawn_local(transcode(
        Coder::inflate(),
        Body {
            contents: body_in,
            trailers: trailers_in,
            consumed,
        },
        body_out,
        trailers_out,
    ));
    Ok(forwarded)
}

/// `response`, with its body encoded and its headers saying so.
fn deflate_response(response: Response) -> Result<Response, ErrorCode> {
    let headers = response.get_headers().clone();
    let header_error = |name: &str, e| internal(format!("setting {name}: {e:?}"));
    headers
        .delete("content-length")
        .map_err(|e| header_error("content-length", e))?;
    headers
        .set("content-encoding", &[b"deflate".to_vec()])
        .map_err(|e| header_error("content-encoding", e))?;
    headers
        .append("vary", b"accept-encoding")
        .map_err(|e| header_error("vary", e))?;
    let status = response.get_status_code();

    let (consumed, consumed_rx) = wit_future::new(|| Ok(()));
    let (body_in, trailers_in) = Response::consume_body(response, consumed_rx);
    let (body_out, body_out_rx) = wit_stream::new::<u8>();
    let (trailers_out, trailers_out_rx) = wit_future::new(|| Ok(None));
    let (encoded, _sent) = Response::new(headers, Some(body_out_rx), trailers_out_rx);
    encoded
        .set_status_code(status)
        .map_err(|()| internal(format!("status {status} refused")))?;

    wit_bindgen::spawn_local(transcode(
        Coder::deflate(),
        Body {
            contents: body_in,
            trailers: trailers_in,
            consumed,
        },
        body_out,
        trailers_out,
    ));
    Ok(encoded)
}

/// A consumed body: its contents, its trailers, and the future that tells its sender how
/// reading it went.
struct Body {
    contents: StreamReader<u8>,
    trailers: FutureReader<Trailers>,
    consumed: FutureWriter<Result<(), ErrorCode>>,
}

/// Streams `body` through `coder` into `out`, then passes the trailers on to `trailers_out`
/// (or the error that ended the body or the coding).
async fn transcode(
    mut coder: Coder,
    body: Body,
    mut out: StreamWriter<u8>,
    trailers_out: FutureWriter<Trailers>,
) {
    let Body {
        mut contents,
        trailers,
        consumed,
    } = body;
    let outcome: Result<Option<Fields>, ErrorCode> = async {
        loop {
            let (result, chunk) = contents.read(Vec::with_capacity(CHUNK)).await;
            write(&mut out, coder.chunk(&chunk)).await?;
            if !matches!(result, StreamResult::Complete(_)) {
                break;
            }
        }
        // A body that ended with an error is not coded to its end.
        let trailers = trailers.await?;
        write(&mut out, coder.finish()).await?;
        Ok(trailers)
    }
    .await;
    drop(out);
    let _ = consumed
        .write(outcome.as_ref().map(|_| ()).map_err(Clone::clone))
        .await;
    let _ = trailers_out.write(outcome).await;
}

/// Writes coded output, or turns a coding error into the error that ends the body.
async fn write(
    out: &mut StreamWriter<u8>,
    coded: Result<Vec<u8>, String>,
) -> Result<(), ErrorCode> {
    let bytes = coded.map_err(internal)?;
    if !bytes.is_empty() && !out.write_all(bytes).await.is_empty() {
        return Err(internal("the body's reader is gone".into()));
    }
    Ok(())
}

/// Whether `content-encoding` values say the body is coded with `deflate` and nothing else.
fn is_deflate(values: &[Vec<u8>]) -> bool {
    let mut codings = tokens(values);
    matches!((codings.next(), codings.next()), (Some(c), None) if c.eq_ignore_ascii_case("deflate"))
}

/// Whether `accept-encoding` values accept `deflate` (named, with a non-zero `q` if any).
fn accepts_deflate(values: &[Vec<u8>]) -> bool {
    tokens(values).any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or_default();
        let refused = parts.any(|param| {
            let (name, value) = param.split_once('=').unwrap_or((param, ""));
            name.trim().eq_ignore_ascii_case("q")
                && value.trim().parse::<f32>().is_ok_and(|q| q == 0.0)
        });
        coding.eq_ignore_ascii_case("deflate") && !refused
    })
}

/// The comma-separated items of header `values`, trimmed; values that are not UTF-8 are
/// skipped.
fn tokens(values: &[Vec<u8>]) -> impl Iterator<Item = &str> {
    values
        .iter()
        .filter_map(|value| std::str::from_utf8(value).ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|item| !item.is_empty())
}

fn internal(message: String) -> ErrorCode {
    ErrorCode::InternalError(Some(message))
}

export!(Component);
