//! An HTTP service and proxy written for wit-bindgen 0.61's async support (built unmodified by
//! `port-http` with isyswasfa, by `port-http-native` with wit-bindgen). Each route answers
//! `200` with a text the tests compare between the two builds under the same `isyswasfa serve`:
//!
//! - `GET /headers`: the names of the request's headers, sorted, one a line.
//! - `POST /forbidden`: for each header name of the body (one a line), what `fields` answers when
//!   the guest sets, appends, lists, deletes and takes it.
//! - `POST /respond-forbidden`: answers with a header `NAME: from-guest` for each header name of
//!   the body (one a line) that `fields` lets it set (first with `set`, then `append`, then
//!   `from-list`), and lists what each said.
//! - `GET /copy?to=AUTHORITY`: copies the request's headers with `fields.from-list` into a new
//!   `GET http://AUTHORITY/echo`, sends it, and answers with the response body.
//! - `ANY /forward?to=AUTHORITY`: sends the request itself on to `http://AUTHORITY/echo` (a proxy
//!   that only changes where the request goes) and answers with the response body.
//! - `GET /send?to=AUTHORITY&method=M&framing=F`: sends a new request `M http://AUTHORITY/echo`
//!   whose body is framed as F (`none`: no body stream; `empty`: a stream closed at once;
//!   `length`: `hello` with `content-length: 5`; `chunked`: `hello` without a length), reads the
//!   response, and answers with its body and what the request's transmit future said.
//! - `GET /errors?to=AUTHORITY`: what `set-authority` says to authorities with invalid ports, and
//!   the error codes of requests to an unsupported scheme, to a name that does not resolve, and
//!   to a closed port (`AUTHORITY` is one).

wit_bindgen::generate!({ path: "wit", world: "proxy", generate_all });

use exports::wasi::http::handler::Guest;
use wasi::http::types::{ErrorCode, Fields, Method, Request, Response, Scheme};
use wit_bindgen::{StreamReader, StreamResult};

struct Proxy;

impl Guest for Proxy {
    async fn handle(request: Request) -> Result<Response, ErrorCode> {
        let path = request.get_path_with_query().unwrap_or_default();
        let (route, query) = path.split_once('?').unwrap_or((&path, ""));
        let to = param(query, "to");
        let text = match route {
            "/headers" => header_names(&request),
            "/forbidden" => {
                let names = String::from_utf8_lossy(&request_body(request).await).into_owned();
                forbidden(&names)
            }
            "/respond-forbidden" => {
                let names = String::from_utf8_lossy(&request_body(request).await).into_owned();
                let (headers, text) = respond_forbidden(&names);
                return Ok(response_with(headers, text));
            }
            "/copy" => copy(&request, &to).await,
            "/forward" => forward(request, &to).await,
            "/send" => send(&to, &param(query, "method"), &param(query, "framing")).await,
            "/errors" => errors(&to).await,
            other => format!("no route {other}\n"),
        };
        Ok(text_response(text))
    }
}

/// The value of `name=` in a query (no decoding).
fn param(query: &str, name: &str) -> String {
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(name)?.strip_prefix('='))
        .unwrap_or_default()
        .to_string()
}

/// A `200` response whose body is `text`, written by a spawned task.
fn text_response(text: String) -> Response {
    response_with(Fields::new(), text)
}

/// [`text_response`] with `headers`.
fn response_with(headers: Fields, text: String) -> Response {
    let (mut body, body_rx) = wit_stream::new::<u8>();
    let (_, trailers_rx) = wit_future::new(|| Ok(None));
    let (response, _sent) = Response::new(headers, Some(body_rx), trailers_rx);
    wit_bindgen::spawn_local(async move {
        body.write_all(text.into_bytes()).await;
    });
    response
}

/// Every byte of `stream`.
async fn read_all(mut stream: StreamReader<u8>) -> Vec<u8> {
    let mut all = Vec::new();
    loop {
        let (result, chunk) = stream.read(Vec::with_capacity(16 * 1024)).await;
        all.extend_from_slice(&chunk);
        if !matches!(result, StreamResult::Complete(_)) {
            return all;
        }
    }
}

/// The body of an incoming request.
async fn request_body(request: Request) -> Vec<u8> {
    let (_, consumed_rx) = wit_future::new(|| Ok(()));
    let (body, _trailers) = Request::consume_body(request, consumed_rx);
    read_all(body).await
}

fn header_names(request: &Request) -> String {
    let mut names: Vec<String> = request
        .get_headers()
        .copy_all()
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    names.sort();
    names.dedup();
    names.into_iter().map(|name| name + "\n").collect()
}

fn forbidden(names: &str) -> String {
    let mut answer = String::new();
    for name in names.lines().map(str::trim).filter(|n| !n.is_empty()) {
        let value = b"v".to_vec();
        let set = Fields::new().set(name, std::slice::from_ref(&value));
        let append = Fields::new().append(name, &value);
        let listed = Fields::from_list(&[(name.to_string(), value.clone())]).map(|_| ());
        let delete = Fields::new().delete(name);
        let taken = Fields::new().get_and_delete(name).map(|_| ());
        answer.push_str(&format!(
            "{name}: set {set:?}, append {append:?}, from-list {listed:?}, delete {delete:?}, \
             get-and-delete {taken:?}\n"
        ));
    }
    answer
}

/// Response headers with `NAME: from-guest` for each of `names` that `fields` lets the guest
/// set in any way, and what each way said.
fn respond_forbidden(names: &str) -> (Fields, String) {
    let value = b"from-guest".to_vec();
    let headers = Fields::new();
    let mut answer = String::new();
    for name in names.lines().map(str::trim).filter(|n| !n.is_empty()) {
        let set = headers.set(name, std::slice::from_ref(&value));
        let append = headers.append(name, &value);
        answer.push_str(&format!("{name}: set {set:?}, append {append:?}\n"));
    }
    // Every name at once, as a guest copying a list of headers would.
    let listed: Vec<(String, Vec<u8>)> = names
        .lines()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|name| (name.to_string(), value.clone()))
        .collect();
    match Fields::from_list(&listed) {
        Ok(all) => {
            answer.push_str("from-list Ok\n");
            return (all, answer);
        }
        Err(error) => answer.push_str(&format!("from-list {error:?}\n")),
    }
    (headers, answer)
}

/// Points `request` at `http://to/echo`; `None` when the host refuses a part.
fn aim(request: &Request, to: &str) -> Option<()> {
    request.set_scheme(Some(&Scheme::Http)).ok()?;
    request.set_authority(Some(to)).ok()?;
    request.set_path_with_query(Some("/echo")).ok()
}

/// Sends `request`: the response's status and body, or the error code.
async fn fetch(request: Request) -> String {
    match wasi::http::client::send(request).await {
        Ok(response) => {
            let status = response.get_status_code();
            let (_, consumed_rx) = wit_future::new(|| Ok(()));
            let (body, trailers) = Response::consume_body(response, consumed_rx);
            let body = read_all(body).await;
            let trailers = trailers.await.map(|fields| fields.is_some());
            format!(
                "{status}\n{}trailers: {trailers:?}\n",
                String::from_utf8_lossy(&body)
            )
        }
        Err(code) => format!("error {code:?}\n"),
    }
}

async fn copy(request: &Request, to: &str) -> String {
    let headers = match Fields::from_list(&request.get_headers().copy_all()) {
        Ok(headers) => headers,
        Err(error) => return format!("from-list refused the request's headers: {error:?}\n"),
    };
    let (_, trailers_rx) = wit_future::new(|| Ok(None));
    let (copy, _sent) = Request::new(headers, None, trailers_rx, None);
    if aim(&copy, to).is_none() {
        return format!("the host refused to aim the copy at {to}\n");
    }
    fetch(copy).await
}

async fn forward(request: Request, to: &str) -> String {
    if aim(&request, to).is_none() {
        return format!("the host refused to aim the request at {to}\n");
    }
    fetch(request).await
}

async fn send(to: &str, method: &str, framing: &str) -> String {
    let method = match method {
        "POST" => Method::Post,
        "PUT" => Method::Put,
        _ => Method::Get,
    };
    let headers = Fields::new();
    if framing == "length"
        && let Err(error) = headers.set("content-length", &[b"5".to_vec()])
    {
        return format!("content-length refused: {error:?}\n");
    }
    let (_, trailers_rx) = wit_future::new(|| Ok(None));
    let contents = match framing {
        "none" => None,
        _ => {
            let (mut writer, reader) = wit_stream::new::<u8>();
            if framing != "empty" {
                wit_bindgen::spawn_local(async move {
                    writer.write_all(b"hello".to_vec()).await;
                });
            }
            Some(reader)
        }
    };
    let (request, transmitted) = Request::new(headers, contents, trailers_rx, None);
    if request.set_method(&method).is_err() || aim(&request, to).is_none() {
        return format!("the host refused the request to {to}\n");
    }
    let answer = fetch(request).await;
    format!("{answer}transmitted: {:?}\n", transmitted.await)
}

async fn errors(to: &str) -> String {
    let mut answer = String::new();
    let (_, trailers_rx) = wit_future::new(|| Ok(None));
    let (probe, _sent) = Request::new(Fields::new(), None, trailers_rx, None);
    for authority in [
        "bad-port:99999",
        "example.com:",
        "example.com:abc",
        "[::1]:8080",
        "example.com:8080",
    ] {
        let outcome = probe.set_authority(Some(authority));
        answer.push_str(&format!("set-authority {authority}: {outcome:?}\n"));
    }
    let cases = [
        ("ftp", Scheme::Other("ftp".to_string()), "example.com"),
        ("unresolvable", Scheme::Http, "nonexistent.invalid"),
        ("closed port", Scheme::Http, to),
    ];
    for (what, scheme, authority) in cases {
        let (_, trailers_rx) = wit_future::new(|| Ok(None));
        let (request, _sent) = Request::new(Fields::new(), None, trailers_rx, None);
        let aimed = request.set_scheme(Some(&scheme)).is_ok()
            && request.set_authority(Some(authority)).is_ok()
            && request.set_path_with_query(Some("/")).is_ok();
        if !aimed {
            answer.push_str(&format!("{what}: the host refused the request\n"));
            continue;
        }
        let outcome = wasi::http::client::send(request).await.map(|_| ());
        answer.push_str(&format!("{what}: {outcome:?}\n"));
    }
    answer
}

export!(Proxy);
