//! `isyswasfa serve` end to end: the HTTP guests of `test-cases/` served by the real CLI (or,
//! where a test needs the server's tables, by its library in this process), over real TCP with
//! a real HTTP client.

use std::convert::Infallible;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};
use isyswasfa_test_support::http::{eventually, get, request, send, start};
use isyswasfa_test_support::{Guest, repo_root};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common;
use crate::common::http::{ServeProcess, peak_rss_kib, router_composition};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

#[tokio::test]
async fn http_hello() {
    let server = ServeProcess::start(&Guest::Hello.path(), &[]);
    let answer = get(&server.url, "/").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, "Hello, world!\n");
    assert_eq!(answer.headers["content-type"], "text/plain");
}

/// The upload's bytes: a pattern that differs per chunk, so reordering would show.
pub(crate) fn chunk(index: usize, size: usize) -> Bytes {
    Bytes::from(
        (0..size)
            .map(|i| (i.wrapping_mul(31) ^ index.wrapping_mul(7)) as u8)
            .collect::<Vec<u8>>(),
    )
}

#[tokio::test]
async fn http_echo_streaming() -> Result {
    let server = ServeProcess::start(&Guest::Echo.path(), &[]);
    check_echo_streaming(&server, "/").await
}

/// Echoes 64 MiB through `server` at `path` (an echo): byte-identical, the first bytes back
/// before the upload finished, and the server's peak RSS grown by less than 32 MiB.
pub(crate) async fn check_echo_streaming(server: &ServeProcess, path: &str) -> Result {
    // Warm up: the instance exists and has served once before the peak is taken.
    let warm = send(&server.url, request("POST", &server.url, path, "warm")).await;
    assert_eq!(warm.body, "warm");
    let rss_before = peak_rss_kib(server.pid());
    echo_streamed(server, path, 1024).await?; // 64 MiB
    let growth = peak_rss_kib(server.pid()).saturating_sub(rss_before);
    assert!(growth < 32 * 1024, "server peak RSS grew by {growth} KiB");
    Ok(())
}

/// Echoes `chunks` chunks of 64 KiB through `server` at `path`, streamed: byte-identical, and
/// the first bytes back before the upload finished.
pub(crate) async fn echo_streamed(server: &ServeProcess, path: &str, chunks: usize) -> Result {
    const CHUNK: usize = 64 * 1024;
    let (frames, receiver) =
        tokio::sync::mpsc::channel::<std::result::Result<Frame<Bytes>, Infallible>>(4);
    let body = StreamBody::new(tokio_stream_from(receiver));
    let upload = http::Request::builder()
        .method("POST")
        .uri(format!("{}{path}", server.url))
        .header("host", "localhost")
        .body(body)?;
    let uploader = tokio::spawn(async move {
        for index in 0..chunks {
            if frames
                .send(Ok(Frame::data(chunk(index, CHUNK))))
                .await
                .is_err()
            {
                break;
            }
        }
        Instant::now()
    });
    let response = start(&server.url, upload).await;
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut expected = Vec::with_capacity(chunks * CHUNK);
    let mut received = 0usize;
    let mut first_byte = None;
    let mut mismatch = None;
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame?.into_data() else {
            continue;
        };
        first_byte.get_or_insert_with(Instant::now);
        // Compare against the expected stream without holding 64 MiB twice.
        expected.extend_from_slice(&data);
        while expected.len() >= CHUNK {
            let index = received / CHUNK;
            if expected[..CHUNK] != chunk(index, CHUNK)[..] && mismatch.is_none() {
                mismatch = Some(index);
            }
            expected.drain(..CHUNK);
            received += CHUNK;
        }
    }
    let upload_done = uploader.await?;
    assert_eq!(mismatch, None, "echoed bytes differ in chunk {mismatch:?}");
    assert_eq!(received + expected.len(), chunks * CHUNK, "echoed length");
    let first_byte = first_byte.ok_or("no response bytes")?;
    assert!(
        first_byte < upload_done,
        "the first echoed bytes arrived only after the upload had finished"
    );
    Ok(())
}

/// A `Stream` over an mpsc receiver (what `tokio-stream` would give).
pub(crate) fn tokio_stream_from<T: Send + 'static>(
    mut receiver: tokio::sync::mpsc::Receiver<T>,
) -> impl futures::Stream<Item = T> {
    futures::stream::poll_fn(move |cx| receiver.poll_recv(cx))
}

#[tokio::test]
async fn http_trailers() -> Result {
    let server = ServeProcess::start(&Guest::Echo.path(), &[]);
    check_trailers(&server, "/").await
}

/// Sends a body with trailers to `server` at `path` (an echo): the body and the trailers come
/// back.
pub(crate) async fn check_trailers(server: &ServeProcess, path: &str) -> Result {
    let mut trailers = http::HeaderMap::new();
    trailers.insert("x-checksum", "abc123".parse()?);
    let frames = vec![
        Ok::<_, Infallible>(Frame::data(Bytes::from_static(b"body with trailers"))),
        Ok(Frame::trailers(trailers)),
    ];
    let upload = http::Request::builder()
        .method("POST")
        .uri(format!("{}{path}", server.url))
        .header("host", "localhost")
        .header("te", "trailers")
        .header("trailer", "x-checksum")
        .body(StreamBody::new(futures::stream::iter(frames)))?;
    let answer = send(&server.url, upload).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, "body with trailers");
    let trailers = answer.trailers.ok_or("the response has no trailers")?;
    assert_eq!(trailers["x-checksum"], "abc123");
    Ok(())
}

/// A local upstream whose every path answers with the path's name after 300 ms.
pub(crate) async fn slow_upstream() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |request: http::Request<hyper::body::Incoming>| async move {
                        tokio::time::sleep(Duration::from_millis(300)).await;
                        let body = format!("content of {}", request.uri().path());
                        Ok::<_, Infallible>(http::Response::new(http_body_util::Full::new(
                            Bytes::from(body),
                        )))
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    address
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[tokio::test]
async fn http_hash_all() -> Result {
    let server = ServeProcess::start(&Guest::HashAll.path(), &[]);
    check_hash_all(&server, "/").await
}

/// Asks `server` at `path` (hash-all) to hash three upstream URLs that each answer after 300
/// ms: every hash right, all of them in less than 700 ms (the fetches overlap).
pub(crate) async fn check_hash_all(server: &ServeProcess, path: &str) -> Result {
    let upstream = slow_upstream().await;
    let urls: Vec<String> = ["/a", "/b", "/c"]
        .iter()
        .map(|p| format!("http://{upstream}{p}"))
        .collect();
    // Warm up the instance, so that the timing below is the requests' own.
    let _ = get(&server.url, path).await;
    let mut builder = http::Request::builder()
        .uri(format!("{}{path}", server.url))
        .header("host", "localhost");
    for url in &urls {
        builder = builder.header("url", url.as_str());
    }
    let began = Instant::now();
    let answer = send(
        &server.url,
        builder.body(http_body_util::Empty::<Bytes>::new())?,
    )
    .await;
    let elapsed = began.elapsed();
    assert_eq!(answer.status, 200);
    let text = String::from_utf8(answer.body.to_vec())?;
    for (url, path) in urls.iter().zip(["/a", "/b", "/c"]) {
        let line = format!(
            "{url}: {}",
            sha256_hex(format!("content of {path}").as_bytes())
        );
        assert!(
            text.lines().any(|l| l == line),
            "missing `{line}` in:\n{text}"
        );
    }
    assert!(elapsed < Duration::from_millis(700), "took {elapsed:?}");
    Ok(())
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(data).expect("deflate");
    encoder.finish().expect("deflate")
}

fn inflate(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(data)
        .read_to_end(&mut out)
        .expect("inflate");
    out
}

/// Serves `composed` (`middleware` in front of `service`) and checks that a deflated request body is
/// decoded and the response deflated when asked (and only then).
pub(crate) async fn check_middleware_deflate(composed: &std::path::Path) -> Result {
    let server = ServeProcess::start(composed, &[]);
    let text = "streamed through middleware and service ".repeat(2000);
    let mut upload = request("POST", &server.url, "/upper", deflate(text.as_bytes()));
    upload
        .headers_mut()
        .insert("content-encoding", "deflate".parse()?);
    upload
        .headers_mut()
        .insert("accept-encoding", "gzip, deflate".parse()?);
    let answer = send(&server.url, upload).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.headers["content-encoding"], "deflate");
    assert_eq!(inflate(&answer.body), text.to_uppercase().into_bytes());

    // Not asked for: a plain answer.
    let mut upload = request("POST", &server.url, "/upper", deflate(b"plain please"));
    upload
        .headers_mut()
        .insert("content-encoding", "deflate".parse()?);
    let answer = send(&server.url, upload).await;
    assert!(!answer.headers.contains_key("content-encoding"));
    assert_eq!(answer.body, "PLAIN PLEASE");
    Ok(())
}

#[tokio::test]
async fn http_middleware_deflate() -> Result {
    let composed = common::http::compose(
        "middleware-service",
        &[
            Guest::Middleware.path().display().to_string(),
            "-d".into(),
            Guest::Service.path().display().to_string(),
        ],
    );
    check_middleware_deflate(&composed).await
}

/// The same sources built with `--features native`, composed by the same CLI and served through
/// wasmtime-wasi-http, give the same answers as the polyfilled build above.
#[tokio::test]
async fn compose_native() -> Result {
    let composed = common::http::compose(
        "middleware-service-native",
        &[
            Guest::Middleware.native_path().display().to_string(),
            "-d".into(),
            Guest::Service.native_path().display().to_string(),
        ],
    );
    check_middleware_deflate(&composed).await
}

#[tokio::test]
async fn http_router() -> Result {
    let server = ServeProcess::start(&router_composition(), &[]);
    check_router(&server).await
}

/// The routes of the router composition served by `server`.
pub(crate) async fn check_router(server: &ServeProcess) -> Result {
    let upstream = slow_upstream().await;
    assert_eq!(get(&server.url, "/hello").await.body, "Hello, world!\n");
    let echoed = send(
        &server.url,
        request("POST", &server.url, "/echo", "round and round"),
    )
    .await;
    assert_eq!(echoed.body, "round and round");
    assert_eq!(get(&server.url, "/service/").await.body, "service: hello");
    let mut upload = request(
        "POST",
        &server.url,
        "/service/upper",
        deflate(b"via router"),
    );
    upload
        .headers_mut()
        .insert("content-encoding", "deflate".parse()?);
    assert_eq!(send(&server.url, upload).await.body, "VIA ROUTER");
    let mut hashing = request("GET", &server.url, "/hash-all", Bytes::new());
    hashing
        .headers_mut()
        .insert("url", format!("http://{upstream}/x").parse()?);
    let hashed = send(&server.url, hashing).await;
    let expected = format!("http://{upstream}/x: {}", sha256_hex(b"content of /x"));
    assert_eq!(String::from_utf8(hashed.body.to_vec())?.trim(), expected);
    let missing = get(&server.url, "/nowhere").await;
    assert_eq!(missing.status, 404);
    Ok(())
}

/// Checks that one failing request got a 500 and one log line naming it, and that the server
/// goes on serving.
async fn fails_alone(server: &ServeProcess, path: &str, cause: &str) {
    let answer = get(&server.url, path).await;
    assert_eq!(answer.status, 500, "{path}");
    let logged = eventually(Duration::from_secs(5), || {
        server
            .log()
            .lines()
            .any(|l| l.contains("request ") && l.contains(path) && l.contains(cause))
    })
    .await;
    assert!(
        logged,
        "no log line for {path} naming `{cause}`:\n{}",
        server.log()
    );
    let next = get(&server.url, "/").await;
    assert_eq!((next.status.as_u16(), &next.body[..]), (200, &b"ok"[..]));
}

#[tokio::test]
async fn http_guest_trap() {
    let server = ServeProcess::start(&Guest::HttpFaults.path(), &[]);
    assert_eq!(get(&server.url, "/").await.status, 200);
    fails_alone(&server, "/trap", "trap").await;
}

#[tokio::test]
async fn http_timeout() {
    let server = ServeProcess::start(&Guest::HttpFaults.path(), &["--request-timeout", "300ms"]);
    let began = Instant::now();
    fails_alone(&server, "/slow", "no response within").await;
    assert!(began.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn http_malformed_response() {
    let server = ServeProcess::start(&Guest::HttpFaults.path(), &[]);
    fails_alone(&server, "/malformed", "malformed").await;
}

/// A guest that makes `fields` without end is stopped by the cap on its store's resource table,
/// with a log record naming the call and the limit; the next request is served.
#[tokio::test]
async fn http_guest_resource_flood() {
    let server = ServeProcess::start(&Guest::HttpFaults.path(), &[]);
    let answer = get(&server.url, "/fields-flood").await;
    assert_eq!(answer.status, 500);
    let cause = "`[constructor]fields`: the store already holds 10000 resources (limit \
                 `IsyswasfaCtxBuilder::max_resources`)";
    let logged = eventually(Duration::from_secs(5), || {
        let log = server.log();
        log.contains("request 1: GET") && log.contains(cause)
    })
    .await;
    assert!(logged, "{}", server.log());
    let next = get(&server.url, "/").await;
    assert_eq!((next.status.as_u16(), &next.body[..]), (200, &b"ok"[..]));
}

/// `serve -S max-resources=500` (wasmtime's name) caps each instance's resource table there.
#[tokio::test]
async fn serve_wasi_options() {
    let server = ServeProcess::start(&Guest::HttpFaults.path(), &["-S", "max-resources=500"]);
    let answer = get(&server.url, "/fields-flood").await;
    assert_eq!(answer.status, 500);
    let cause = "`[constructor]fields`: the store already holds 500 resources";
    let logged = eventually(Duration::from_secs(5), || server.log().contains(cause)).await;
    assert!(logged, "{}", server.log());
}

/// `fields.from-list` with 25 000 distinct empty-valued names (beyond what an `http::HeaderMap`
/// can hold, which panics when appended to without a check): the guest gets `size-exceeded`,
/// the host does not panic, and the next request is served by the same process.
#[tokio::test]
async fn fields_from_list_many_names() {
    let server = ServeProcess::start(&Guest::HttpFaults.path(), &[]);
    let answer = get(&server.url, "/many-names").await;
    assert_eq!(
        (
            answer.status.as_u16(),
            String::from_utf8_lossy(&answer.body).into_owned()
        ),
        (200, "HeaderError::SizeExceeded".to_string()),
        "{}",
        server.log()
    );
    let next = get(&server.url, "/").await;
    assert_eq!((next.status.as_u16(), &next.body[..]), (200, &b"ok"[..]));
}

#[tokio::test]
async fn http_concurrency() {
    let server = ServeProcess::start(&Guest::HttpFaults.path(), &[]);
    let _ = get(&server.url, "/").await;
    let began = Instant::now();
    let requests: Vec<_> = (0..200)
        .map(|_| {
            let url = server.url.clone();
            tokio::spawn(async move { get(&url, "/wait").await })
        })
        .collect();
    for request in requests {
        let answer = request.await.expect("request task");
        assert_eq!(
            (answer.status.as_u16(), &answer.body[..]),
            (200, &b"waited"[..])
        );
    }
    let elapsed = began.elapsed();
    assert!(
        elapsed < Duration::from_secs(2),
        "200 requests took {elapsed:?}"
    );
}

/// The http-faults guest served by a [`Server`](isyswasfa::serve::Server) in this process (so
/// that its table sizes can be read); serves until the returned sender is dropped.
async fn in_process_faults_server() -> Result<(
    Arc<isyswasfa::serve::Server>,
    String,
    tokio::sync::watch::Sender<bool>,
)> {
    use isyswasfa::serve::{ServeConfig, Server};
    let engine = isyswasfa_host::engine()?;
    let server = Arc::new(Server::new(
        &engine,
        &Guest::HttpFaults.path(),
        ServeConfig::default(),
    )?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(Arc::clone(&server).run(listener, stopped));
    Ok((server, url, stop))
}

#[tokio::test]
async fn http_client_disconnect_cancels() -> Result {
    let (server, url, _stop) = in_process_faults_server().await?;

    assert_eq!(get(&url, "/forever-status").await.body, "dropped 0");
    let before = server.table_sizes().await?;
    assert_eq!(before.len(), 1, "one instance");

    let mut stream = tokio::net::TcpStream::connect(url.trim_start_matches("http://")).await?;
    stream
        .write_all(b"GET /forever HTTP/1.1\r\nhost: localhost\r\n\r\n")
        .await?;
    let mut buffer = vec![0; 64 * 1024];
    let mut read = 0;
    while read < 100 * 1024 {
        let n = stream.read(&mut buffer).await?;
        assert!(n > 0, "the server ended the endless body");
        read += n;
    }
    drop(stream);

    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = get(&url, "/forever-status").await.body;
        if status == "dropped 1" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the guest's writer never saw the drop: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut after = server.table_sizes().await?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while after != before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        after = server.table_sizes().await?;
    }
    assert_eq!(after, before, "host tables after the disconnect");
    Ok(())
}

#[test]
fn serve_refuses_non_handler() {
    let output = common::isyswasfa(["serve".as_ref(), Guest::RoundTrip.path().as_os_str()]);
    assert!(!output.status.success());
    let stderr = common::stderr(&output);
    assert!(
        stderr.contains("does not export `wasi:http/handler@0.3.0`")
            && stderr.contains("component:test/baz"),
        "{stderr}"
    );
}

#[tokio::test]
async fn serve_builds_crate_dir() {
    let dir = repo_root().join("test-cases").join("hello");
    // Build where the test guests are built, so that nothing is compiled twice.
    let target = Guest::Hello.path();
    let target_dir = target
        .ancestors()
        .nth(3)
        .expect("the guests' target directory");
    let server = ServeProcess::start_with_env(&dir, &[], &[("CARGO_TARGET_DIR", target_dir)]);
    assert_eq!(get(&server.url, "/").await.body, "Hello, world!\n");
    assert!(server.log().contains("Building"), "{}", server.log());
}

#[tokio::test]
async fn serve_graceful_shutdown() {
    let server = ServeProcess::start(&Guest::HttpFaults.path(), &["--shutdown-grace", "5s"]);
    let url = server.url.clone();
    let _ = get(&url, "/").await;
    let in_flight = tokio::spawn(async move { get(&url, "/wait").await });
    tokio::time::sleep(Duration::from_millis(30)).await;
    let url = server.url.clone();
    let status = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .expect("terminate");
    let answer = in_flight.await.expect("in-flight request");
    assert_eq!(
        (answer.status.as_u16(), &answer.body[..]),
        (200, &b"waited"[..])
    );
    assert!(status.success(), "serve exited with {status}");
    let refused = tokio::net::TcpStream::connect(url.trim_start_matches("http://")).await;
    assert!(refused.is_err(), "still accepting after shutdown");
}

/// A native WASI 0.3 component (the `hello` source built with `--features native`) served by
/// the same CLI, through wasmtime-wasi-http's handler.
#[tokio::test]
async fn serve_native_p3() {
    let server = ServeProcess::start(&Guest::Hello.native_path(), &[]);
    let answer = get(&server.url, "/").await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, "Hello, world!\n");
    assert_eq!(answer.headers["content-type"], "text/plain");
    // Concurrent requests share the instances wasmtime-wasi-http keeps.
    let answers = futures::future::join_all((0..20).map(|_| get(&server.url, "/"))).await;
    assert!(answers.iter().all(|a| a.body == "Hello, world!\n"));
    assert!(
        server.log().contains("native WASI 0.3"),
        "the kind is not logged:\n{}",
        server.log()
    );
}

/// The native `echo` streams a 4 MiB body back byte for byte, with its trailers.
#[tokio::test]
async fn serve_native_p3_echo() -> Result {
    let server = ServeProcess::start(&Guest::Echo.native_path(), &[]);
    let body: Vec<u8> = (0..4 * 1024 * 1024)
        .map(|i: usize| (i * 7 % 251) as u8)
        .collect();
    let answer = send(&server.url, request("POST", &server.url, "/", body.clone())).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body.len(), body.len());
    assert!(answer.body == body, "the echoed body differs");
    Ok(())
}

/// A native guest that traps or is too slow: a 500 for that request, the usual log line, and
/// the next request is served.
#[tokio::test]
async fn serve_native_p3_failures() {
    let faults = Guest::HttpFaults.native_path();
    let server = ServeProcess::start(&faults, &["--request-timeout", "300ms"]);
    assert_eq!(get(&server.url, "/").await.status, 200);
    fails_alone(&server, "/trap", "trap").await;
    let began = Instant::now();
    fails_alone(&server, "/slow", "no response within").await;
    assert!(began.elapsed() < Duration::from_secs(5));
}

/// A plain WASI 0.2 `wasi:http/proxy` component (test-cases/proxy-p2, the `wasi` crate)
/// served by the same CLI, through wasmtime-wasi-http's p2 implementation.
#[tokio::test]
async fn serve_p2_proxy() -> Result {
    let server = ServeProcess::start(&Guest::ProxyP2.path(), &[]);
    let mut hello = request("GET", &server.url, "/greet?who=p2", Bytes::new());
    hello.headers_mut().insert("x-echo", "hi".parse()?);
    let answer = send(&server.url, hello).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.body, "Hello from WASI 0.2: GET /greet?who=p2\n");
    assert_eq!(answer.headers["x-echo"], "hi");
    let answer = send(&server.url, request("POST", &server.url, "/", "x")).await;
    assert_eq!(answer.body, "Hello from WASI 0.2: POST /\n");
    assert!(
        server.log().contains("WASI 0.2 proxy"),
        "the kind is not logged:\n{}",
        server.log()
    );
    Ok(())
}

/// A request for [`same_answers`]: method, path, body, headers.
pub(crate) type Sent<'a> = (
    &'a str,
    &'a str,
    &'a [u8],
    &'a [(&'static str, &'static str)],
);

/// Sends the same requests to the polyfilled and the native (`--features native`) build of the
/// same source, each served by the same CLI, and checks both give the same answers.
pub(crate) async fn same_answers(
    polyfilled: &std::path::Path,
    native: &std::path::Path,
    requests: &[Sent<'_>],
) {
    let polyfilled = ServeProcess::start(polyfilled, &[]);
    let native = ServeProcess::start(native, &[]);
    for (method, path, body, headers) in requests {
        let mut answers = Vec::new();
        for server in [&polyfilled, &native] {
            let mut sent = request(method, &server.url, path, body.to_vec());
            for (name, value) in *headers {
                sent.headers_mut().insert(
                    http::HeaderName::from_static(name),
                    http::HeaderValue::from_static(value),
                );
            }
            let answer = send(&server.url, sent).await;
            let encoding = answer.headers.get("content-encoding").cloned();
            answers.push((answer.status, encoding, answer.body));
        }
        assert_eq!(answers[0], answers[1], "{method} {path}");
        assert_eq!(answers[0].0, 200, "{method} {path}");
    }
}

#[tokio::test]
async fn native_same_source_hello() {
    same_answers(
        &Guest::Hello.path(),
        &Guest::Hello.native_path(),
        &[("GET", "/", b"", &[]), ("GET", "/any/path?x=1", b"", &[])],
    )
    .await;
}

#[tokio::test]
async fn native_same_source_echo() {
    let big: Vec<u8> = (0..1024 * 1024).map(|i: usize| (i % 253) as u8).collect();
    same_answers(
        &Guest::Echo.path(),
        &Guest::Echo.native_path(),
        &[
            (
                "POST",
                "/",
                b"a small body",
                &[("content-type", "text/plain")],
            ),
            ("POST", "/", &big, &[]),
        ],
    )
    .await;
}

#[tokio::test]
async fn native_same_source_middleware_service() {
    let compose = |name: &str, middleware: PathBuf, service: PathBuf| {
        common::http::compose(
            name,
            &[
                middleware.display().to_string(),
                "-d".into(),
                service.display().to_string(),
            ],
        )
    };
    let polyfilled = compose(
        "same-source-middleware-service",
        Guest::Middleware.path(),
        Guest::Service.path(),
    );
    let native = compose(
        "same-source-middleware-service-native",
        Guest::Middleware.native_path(),
        Guest::Service.native_path(),
    );
    let deflated = deflate(b"same answers either way");
    same_answers(
        &polyfilled,
        &native,
        &[
            ("GET", "/", b"", &[]),
            (
                "POST",
                "/upper",
                &deflated,
                &[
                    ("content-encoding", "deflate"),
                    ("accept-encoding", "deflate"),
                ],
            ),
        ],
    )
    .await;
}

/// A hostile client: garbage instead of HTTP, a header far beyond any sane size (both with the
/// client's write side left open, so that the server must end the connection itself, not wait
/// for an EOF), and a body shorter than its `content-length` followed by a hang-up. Each costs
/// only its own connection (hyper refuses it) and the next request is served.
#[tokio::test]
async fn http_hostile_client() -> Result {
    let server = ServeProcess::start(&Guest::Echo.path(), &[]);
    let address = server.url.trim_start_matches("http://").to_string();
    let huge = format!(
        "GET / HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let truncated =
        "POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\nonly a little".to_string();
    // The truncated upload may get its response head (echo answers at once, streaming); what
    // matters is that the connection ends rather than hangs.
    for (attack, may_start) in [
        ("\x00\x01 not http at all\r\n\r\n".to_string(), false),
        (huge, false),
        (truncated, true),
    ] {
        let mut stream = tokio::net::TcpStream::connect(&address).await?;
        let _ = stream.write_all(attack.as_bytes()).await;
        if may_start {
            // The truncated upload hangs up; the other attacks keep the connection open.
            let _ = stream.shutdown().await;
        }
        let mut answer = Vec::new();
        let ended =
            tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await;
        assert!(ended.is_ok(), "the connection hung after the attack");
        assert!(
            may_start || !answer.starts_with(b"HTTP/1.1 200"),
            "the attack got a 200: {}",
            String::from_utf8_lossy(&answer)
        );
        let next = send(&server.url, request("POST", &server.url, "/", "still here")).await;
        assert_eq!(next.body, "still here");
    }
    Ok(())
}

/// A request with trailers whose handler drops the trailers future unread: when the trailers
/// arrive, the host makes no `fields` resource for nobody (the store's tables go back to their
/// size once the request is over).
#[tokio::test]
async fn trailers_dropped_no_leak() -> Result {
    let (server, url, _stop) = in_process_faults_server().await?;

    assert_eq!(get(&url, "/").await.body, "ok");
    let before = server.table_sizes().await?;
    for _ in 0..3 {
        let mut stream = tokio::net::TcpStream::connect(url.trim_start_matches("http://")).await?;
        stream
            .write_all(
                b"POST /drop-trailers HTTP/1.1\r\nhost: localhost\r\ntransfer-encoding: chunked\r\n\
                  trailer: x-sum\r\nconnection: close\r\n\r\n5\r\nhello\r\n0\r\nx-sum: 5\r\n\r\n",
            )
            .await?;
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer)).await??;
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.contains("read 5"), "{answer}");
    }
    let mut after = server.table_sizes().await?;
    let deadline = Instant::now() + Duration::from_secs(5);
    while after != before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        after = server.table_sizes().await?;
    }
    assert_eq!(
        after, before,
        "host tables after requests whose trailers were dropped"
    );
    Ok(())
}
