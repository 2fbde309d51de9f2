//! HTTP test support: `isyswasfa serve` started as a real process (or in this process, when a
//! test needs the server's tables), and a real hyper client over TCP.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use super::{guest_path, isyswasfa, stderr};

/// A running `isyswasfa serve` process; killed when dropped.
pub struct ServeProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    log: Arc<Mutex<String>>,
}

impl ServeProcess {
    /// Serves `target` on a free port with the extra `args`; returns once it listens.
    pub fn start(target: &Path, args: &[&str]) -> Self {
        Self::start_with_env(target, args, &[])
    }

    /// Like [`ServeProcess::start`], with environment variables for the server.
    pub fn start_with_env(target: &Path, args: &[&str], env: &[(&str, &Path)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_isyswasfa"))
            .envs(env.iter().copied())
            .arg("serve")
            .arg(target)
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting isyswasfa serve");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().expect("log");
                log.push_str(&line);
                log.push('\n');
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("Serving HTTP on ") {
                        break url.trim_end_matches('/').to_string();
                    }
                }
                _ => {
                    let _ = child.wait();
                    panic!("serve exited early: {}", log.lock().expect("log"));
                }
            }
        };
        // Keep draining stdout (the guests' own prints go there).
        std::thread::spawn(move || for _ in lines {});
        Self { child, url, log }
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        // SAFETY: `kill` with a valid pid and signal has no memory effects.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().expect("waiting for serve")
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The peak resident set size of process `pid`, in KiB (Linux `VmHWM`).
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("reading status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc status")
}

/// Composes with `isyswasfa compose` (arguments as given, output appended); returns the output.
pub fn compose(name: &str, args: &[String]) -> PathBuf {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.wasm"));
    let mut all: Vec<String> = vec!["compose".into()];
    all.extend(args.iter().cloned());
    all.push("-o".into());
    all.push(out.display().to_string());
    let output = isyswasfa(&all);
    assert!(
        output.status.success(),
        "compose failed: {}",
        stderr(&output)
    );
    out
}

/// The router composition of the HTTP guests (test-cases/router/compose.wac).
pub fn router_composition() -> PathBuf {
    let wac = super::repo_root().join("test-cases/router/compose.wac");
    let mut args = vec!["--wac".to_string(), wac.display().to_string()];
    for (package, guest) in [
        ("test:router", "router"),
        ("test:hello", "hello"),
        ("test:echo", "echo"),
        ("test:hash-all", "hash-all"),
        ("test:service", "service"),
        ("test:middleware", "middleware"),
    ] {
        args.push("-d".into());
        args.push(format!("{package}={}", guest_path(guest).display()));
    }
    compose("router-composed", &args)
}

/// A response with its whole body (and trailers) read.
pub struct Answer {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
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
