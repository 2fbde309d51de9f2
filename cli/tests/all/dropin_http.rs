//! Drop-in ports (issue 17), the host's side: HTTP guests written the way wit-bindgen 0.61 async
//! guests are written, built unmodified for isyswasfa and with wit-bindgen itself, served or run
//! by the same `isyswasfa` beside each other, must give the same answers: the polyfilled build
//! is served by isyswasfa's host, the native one by wasmtime-wasi(-http) 48, whose behaviour is
//! the reference.
//!
//! `test-cases/port-http` (an HTTP service and proxy) and `test-cases/port-client` (a command
//! that sends requests) build the same `src/` and `wit/` as their `-native` twins; see their
//! sources for what each route or argument does. The backend the guests send requests to is a
//! hyper server of the test that answers with what it received.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use isyswasfa_test_support::Guest;
use isyswasfa_test_support::http::send;

use crate::common::http::ServeProcess;
use crate::dropin::{Outcome, dropin_guest, isyswasfa_timed};

/// A backend whose every request is answered with its method, its path, its headers (sorted,
/// `name: value`, one a line) and its body's length.
async fn echo_backend() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    |request: http::Request<hyper::body::Incoming>| async move {
                        let (parts, body) = request.into_parts();
                        let length = match body.collect().await {
                            Ok(body) => body.to_bytes().len().to_string(),
                            Err(error) => format!("unreadable ({error})"),
                        };
                        let mut headers: Vec<String> = parts
                            .headers
                            .iter()
                            .map(|(name, value)| {
                                format!("{name}: {}", String::from_utf8_lossy(value.as_bytes()))
                            })
                            .collect();
                        headers.sort();
                        let text = format!(
                            "{} {}\n{}\nbody: {length} bytes\n",
                            parts.method,
                            parts.uri,
                            headers.join("\n")
                        );
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(text))))
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

/// Both builds of `port-http`, each served by its own `isyswasfa serve`.
fn servers() -> [(&'static str, ServeProcess); 2] {
    [
        (
            "polyfilled",
            ServeProcess::start(&dropin_guest(Guest::PortHttp), &[]),
        ),
        (
            "native",
            ServeProcess::start(&dropin_guest(Guest::PortHttpNative), &[]),
        ),
    ]
}

/// Sends what `make` builds (given the server's URL) to both builds; checks that they answer
/// `200` and the same text, and returns it.
async fn same_answer(
    servers: &[(&str, ServeProcess)],
    make: impl Fn(&str) -> http::Request<Full<Bytes>>,
) -> String {
    let mut answers = Vec::new();
    for (build, server) in servers {
        let answer = send(&server.url, make(&server.url)).await;
        let text = String::from_utf8_lossy(&answer.body).into_owned();
        assert_eq!(answer.status, 200, "{build}: {text}\n{}", server.log());
        answers.push(text);
    }
    assert_eq!(
        answers[0], answers[1],
        "polyfilled (left) and native (right) answer differently"
    );
    answers.swap_remove(0)
}

/// A request to `url` + `path` with `headers` and `body`.
fn request_with(
    method: &str,
    url: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> http::Request<Full<Bytes>> {
    let mut request = http::Request::builder()
        .method(method)
        .uri(format!("{url}{path}"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request
        .body(Full::new(Bytes::copy_from_slice(body)))
        .expect("building a request")
}

/// Point 8: the header names a guest may not set, append, list, delete or take are exactly
/// wasmtime-wasi-http 48's `DEFAULT_FORBIDDEN_HEADERS` (`te` is allowed, `host` is not), with
/// the same answers polyfilled and native for each operation.
#[tokio::test]
async fn dropin_forbidden_headers_match_wasmtime() {
    let servers = servers();
    let wasmtime: Vec<String> = wasmtime_wasi_http::DEFAULT_FORBIDDEN_HEADERS
        .iter()
        .map(|name| name.as_str().to_string())
        .collect();
    let mut names = wasmtime.clone();
    names.extend(
        [
            "te",
            "trailer",
            "content-length",
            "content-type",
            "x-custom",
            "Host",
        ]
        .map(str::to_string),
    );
    let body = names.join("\n");
    let answer = same_answer(&servers, |url| {
        request_with("POST", url, "/forbidden", &[], body.as_bytes())
    })
    .await;
    let forbidden: Vec<&str> = answer
        .lines()
        .filter(|line| line.contains("set Err(HeaderError::Forbidden)"))
        .filter_map(|line| line.split(':').next())
        .collect();
    let mut expected: Vec<&str> = wasmtime.iter().map(String::as_str).collect();
    expected.push("Host");
    assert_eq!(forbidden, expected, "{answer}");
    assert!(answer.contains("te: set Ok(())"), "{answer}");
}

/// A value a client may send for the forbidden header `name` (each as real clients send it).
fn forbidden_value(name: &str) -> &'static str {
    match name {
        "host" => "client-chosen.example",
        "connection" => "close",
        "keep-alive" => "timeout=5",
        "proxy-connection" => "keep-alive",
        "transfer-encoding" => "chunked",
        "upgrade" => "websocket",
        "http2-settings" => "AAMAAABkAAQAAP__",
        _ => "Basic eA==",
    }
}

/// Issue 18's `serve_forbidden_headers` (issue 17's point 7): every hop-by-hop and forbidden
/// field (wasmtime-wasi-http's `DEFAULT_FORBIDDEN_HEADERS`: `connection`, `host`,
/// `transfer-encoding`, `upgrade`, …), sent by a real client, never reaches the guest: an
/// incoming request's headers are filtered as wasmtime filters them, so that a guest copying
/// them with `fields.from-list` is not refused (a chunked request with `te` here). And a guest
/// cannot put any of them on its response: `set`, `append` and `from-list` refuse them, and the
/// client gets none of them from the guest (while an allowed one goes through).
#[tokio::test]
async fn serve_forbidden_headers() {
    let servers = servers();
    let forbidden: Vec<String> = wasmtime_wasi_http::DEFAULT_FORBIDDEN_HEADERS
        .iter()
        .map(|name| name.as_str().to_string())
        .collect();
    let mut sent: Vec<(&str, &str)> = forbidden
        .iter()
        .map(|name| (name.as_str(), forbidden_value(name)))
        .collect();
    sent.extend([("te", "trailers"), ("x-custom", "yes")]);
    let answer = same_answer(&servers, |url| {
        request_with("POST", url, "/headers", &sent, b"hello")
    })
    .await;
    assert_eq!(answer, "te\nx-custom\n");

    let mut names = forbidden.clone();
    names.push("x-custom".into());
    let body = names.join("\n");
    let answer = same_answer(&servers, |url| {
        request_with("POST", url, "/respond-forbidden", &[], body.as_bytes())
    })
    .await;
    for name in &forbidden {
        assert!(
            answer.contains(&format!(
                "{name}: set Err(HeaderError::Forbidden), append Err(HeaderError::Forbidden)"
            )),
            "{name}: {answer}"
        );
    }
    assert!(
        answer.contains("from-list HeaderError::Forbidden"),
        "{answer}"
    );
    for (build, server) in &servers {
        let response = send(
            &server.url,
            request_with(
                "POST",
                &server.url,
                "/respond-forbidden",
                &[],
                body.as_bytes(),
            ),
        )
        .await;
        let mut from_guest: Vec<&str> = response
            .headers
            .iter()
            .filter(|(_, value)| value.as_bytes() == b"from-guest")
            .map(|(name, _)| name.as_str())
            .collect();
        // `set`, then `append`: twice.
        from_guest.dedup();
        assert_eq!(from_guest, ["x-custom"], "{build}: {:?}", response.headers);
    }
}

/// Point 7: a proxy that sends the request it got on to a backend (changing only where it goes)
/// or copies its headers into a new request does not pass on the client's `host` (nor any
/// hop-by-hop field): the backend sees the host it was reached as.
#[tokio::test]
async fn dropin_proxy_does_not_forward_host() {
    let backend = echo_backend().await;
    let servers = servers();
    let sent: &[(&str, &str)] = &[
        ("host", "client-chosen.example"),
        ("connection", "close"),
        ("keep-alive", "timeout=5"),
        ("te", "trailers"),
        ("x-custom", "yes"),
    ];
    for route in ["forward", "copy"] {
        let path = format!("/{route}?to={backend}");
        let answer = same_answer(&servers, |url| request_with("GET", url, &path, sent, b"")).await;
        assert!(
            answer.contains(&format!("\nhost: {backend}\n")),
            "{route}: {answer}"
        );
        for passed_on in ["te: trailers", "x-custom: yes"] {
            assert!(answer.contains(passed_on), "{route}: {answer}");
        }
        for dropped in ["client-chosen", "connection", "keep-alive"] {
            assert!(!answer.contains(dropped), "{route}: {answer}");
        }
    }
}

/// Point 10: the transmit future of a request a guest sent reports success once the request
/// went out whole: a GET without a body stream, with an empty one, a POST whose
/// `content-length` the body matches, and a chunked POST.
#[tokio::test]
async fn dropin_transmit_future_success() {
    let backend = echo_backend().await;
    let servers = servers();
    for (method, framing, received) in [
        ("GET", "none", "body: 0 bytes"),
        ("GET", "empty", "body: 0 bytes"),
        ("POST", "length", "body: 5 bytes"),
        ("POST", "chunked", "body: 5 bytes"),
    ] {
        let path = format!("/send?to={backend}&method={method}&framing={framing}");
        let answer = same_answer(&servers, |url| request_with("GET", url, &path, &[], b"")).await;
        assert!(
            answer.starts_with(&format!("200\n{method} /echo\n")),
            "{method} {framing}: {answer}"
        );
        assert!(answer.contains(received), "{method} {framing}: {answer}");
        assert!(
            answer.ends_with("transmitted: Ok(())\n"),
            "{method} {framing}: {answer}"
        );
    }
}

/// Point 11: the error codes of requests that cannot be sent, and what `set-authority` takes,
/// are wasmtime's: an unsupported scheme is `HTTP-protocol-error`, a name that does not resolve
/// a `DNS-error`, a closed port `connection-refused`; an authority whose port is not a 16-bit
/// number is refused.
#[tokio::test]
async fn dropin_error_codes_match_wasmtime() {
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address")
    };
    let servers = servers();
    let path = format!("/errors?to={closed}");
    let answer = same_answer(&servers, |url| request_with("GET", url, &path, &[], b"")).await;
    assert_eq!(
        answer,
        "set-authority bad-port:99999: Err(())\n\
         set-authority example.com:: Err(())\n\
         set-authority example.com:abc: Err(())\n\
         set-authority [::1]:8080: Ok(())\n\
         set-authority example.com:8080: Ok(())\n\
         ftp: Err(ErrorCode::HttpProtocolError)\n\
         unresolvable: Err(ErrorCode::DnsError(DnsErrorPayload { rcode: Some(\"address not \
         available\"), info-code: None }))\n\
         closed port: Err(ErrorCode::ConnectionRefused)\n"
    );
}

/// `isyswasfa run COMPONENT ARGS…`.
fn run(component: &Path, args: &[&str]) -> Outcome {
    run_with(&[], component, args)
}

/// `isyswasfa run OPTIONS… COMPONENT ARGS…`.
fn run_with(options: &[&str], component: &Path, args: &[&str]) -> Outcome {
    let mut all: Vec<&std::ffi::OsStr> = vec!["run".as_ref()];
    all.extend(options.iter().map(|option| std::ffi::OsStr::new(*option)));
    all.push(component.as_os_str());
    all.extend(args.iter().map(|arg| std::ffi::OsStr::new(*arg)));
    isyswasfa_timed(&all, &[], Duration::from_secs(60))
}

/// Point 15: `isyswasfa run` links `wasi:http@0.3` for a native component too: the native
/// build of a client program runs, and prints what the polyfilled build prints.
#[tokio::test]
async fn dropin_run_native_http_client() {
    let backend = echo_backend().await;
    let authority = backend.to_string();
    let mut outputs = Vec::new();
    for guest in [Guest::PortClient, Guest::PortClientNative] {
        let component = dropin_guest(guest);
        let authority = authority.clone();
        let outcome = tokio::task::spawn_blocking(move || {
            run(&component, &["fetch", &authority, "/echo?x=1"])
        })
        .await
        .expect("running isyswasfa");
        assert!(outcome.success, "{guest:?}: {}", outcome.stderr);
        outputs.push(outcome.stdout);
    }
    assert!(
        outputs[0].starts_with("status 200\nbody GET /echo?x=1\n"),
        "{}",
        outputs[0]
    );
    assert!(
        outputs[0].contains(&format!("host: {authority}\n")),
        "{}",
        outputs[0]
    );
    assert!(
        outputs[0].ends_with("trailers Ok(false)\ntransmitted Ok(())\n"),
        "{}",
        outputs[0]
    );
    assert_eq!(
        outputs[0], outputs[1],
        "polyfilled (left) and native (right)"
    );
}

/// Issue 18 point 8: a request's `between-bytes-timeout` is kept: an upstream that sends part of
/// its body and then nothing ends the body with `connection-read-timeout` in the trailers,
/// polyfilled as natively.
#[tokio::test]
async fn dropin_between_bytes_timeout() {
    let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let authority = upstream.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut held = Vec::new();
        while let Ok((mut socket, _)) = upstream.accept().await {
            let mut head = [0; 1024];
            let _ = socket.read(&mut head).await;
            let _ = socket
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
                .await;
            // Then nothing, with the connection kept open.
            held.push(socket);
        }
    });
    let mut outputs = Vec::new();
    for guest in [Guest::PortClient, Guest::PortClientNative] {
        let component = dropin_guest(guest);
        let authority = authority.clone();
        let started = std::time::Instant::now();
        let outcome = tokio::task::spawn_blocking(move || {
            run(&component, &["fetch-within", &authority, "/", "300"])
        })
        .await
        .expect("running isyswasfa");
        assert!(outcome.success, "{guest:?}: {}", outcome.stderr);
        assert!(started.elapsed() < Duration::from_secs(20), "{guest:?}");
        outputs.push(outcome.stdout);
    }
    assert!(
        outputs[0].starts_with(
            "status 200\nbody partial\ntrailers Err(ErrorCode::ConnectionReadTimeout)\n"
        ),
        "{}",
        outputs[0]
    );
    assert_eq!(
        outputs[0], outputs[1],
        "polyfilled (left) and native (right)"
    );
}

/// Point 12: the tasks a `run` spawned stop when it returns, as natively: the line the
/// lingering task would print 300 ms later (after a wait, or after yielding for a second) never
/// appears.
#[test]
fn dropin_run_stops_spawned_tasks() {
    for guest in [Guest::PortClient, Guest::PortClientNative] {
        for mode in ["linger", "linger-busy"] {
            let outcome = run(&dropin_guest(guest), &[mode]);
            assert!(outcome.success, "{guest:?} {mode}: {}", outcome.stderr);
            assert_eq!(outcome.stdout, "run returns\n", "{guest:?} {mode}");
        }
    }
}

/// Point 16: stopping `serve` with a native component is no failure: its idle instances are
/// dropped without a "worker panicked" line, and the server exits 0.
#[tokio::test]
async fn dropin_serve_native_shutdown_quiet() {
    let server = ServeProcess::start(&dropin_guest(Guest::PortHttpNative), &[]);
    let answer = send(
        &server.url,
        request_with("GET", &server.url, "/headers", &[("x-custom", "1")], b""),
    )
    .await;
    assert_eq!(answer.status, 200);
    let (status, log) = tokio::task::spawn_blocking(move || server.terminate_logged())
        .await
        .expect("terminating serve");
    assert!(status.success(), "serve exited with {status}: {log}");
    assert!(log.contains("shutting down"), "{log}");
    for failure in ["panicked", "retired after a failure"] {
        assert!(!log.contains(failure), "{log}");
    }
}

/// Point 9: a polyfilled command has `wasi:cli@0.3.0`'s `environment` (its arguments, the
/// `--env` variables, no initial directory) and `terminal-stdout`, served by wasmtime-wasi as
/// natively, and what it writes through the 0.3 stdout stream is out, flushed, before what it
/// prints next through std (WASI 0.2): the lines come in the order written.
#[test]
fn dropin_cli_environment_and_stdout_order() {
    let mut outputs = Vec::new();
    for guest in [Guest::PortClient, Guest::PortClientNative] {
        let outcome = run_with(&["--env", "GREETING=hello"], &dropin_guest(guest), &["cli"]);
        assert!(outcome.success, "{guest:?}: {}", outcome.stderr);
        outputs.push(outcome.stdout);
    }
    assert_eq!(
        outputs[0],
        "arguments [\"cli\"]\n\
         environment [(\"GREETING\", \"hello\")]\n\
         initial cwd None\n\
         stdout is a terminal: false\n\
         done\n"
    );
    assert_eq!(
        outputs[0], outputs[1],
        "polyfilled (left) and native (right)"
    );
}

/// Point 9: `wasi:cli/exit@0.3.0` ends a polyfilled command with the status it gives (`exit`'s
/// success or failure, `exit-with-code`'s code), at once and without an error, as natively.
#[test]
fn dropin_cli_exit() {
    for (argument, code) in [("ok", 0), ("err", 1), ("3", 3)] {
        for guest in [Guest::PortClient, Guest::PortClientNative] {
            let outcome = run(&dropin_guest(guest), &["exit", argument]);
            assert_eq!(
                outcome.code,
                Some(code),
                "{guest:?} exit {argument}: {outcome:?}"
            );
            assert_eq!(
                outcome.stdout,
                format!("exiting with {argument}\n"),
                "{guest:?} exit {argument}"
            );
            assert!(
                !outcome.stderr.contains("broken"),
                "{guest:?} exit {argument}: {}",
                outcome.stderr
            );
        }
    }
}
