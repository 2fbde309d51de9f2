//! Bundles on a host we did not write and that has no WASI 0.3 at all: jco, which transpiles a
//! component to JavaScript, run in Node with jco's own WASI 0.2 shim.
//!
//! jco and the shim are pinned in `cli/tests/jco/package.json`; `scripts/install-test-tools.sh`
//! installs them (`npm ci`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::bundle::bundled_caller;
use crate::common::scratch_dir;

/// `cli/tests/jco`: the pinned Node packages and the scripts the tests run.
fn jco_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jco")
}

/// The installed `jco` command; a clear failure when it is missing.
fn jco() -> PathBuf {
    let jco = jco_dir().join("node_modules/.bin/jco");
    assert!(
        jco.exists(),
        "jco is not installed at {}: run `bash scripts/install-test-tools.sh` (it runs `npm ci` \
         in cli/tests/jco)",
        jco.display()
    );
    jco
}

/// Transpiles the component at `wasm` with jco into a fresh directory for `test`; returns the
/// JavaScript module to import. The directory sees the pinned packages through a
/// `node_modules` link, so the module's imports of the WASI shim resolve.
fn transpile(wasm: &Path, test: &str) -> PathBuf {
    let dir = scratch_dir(test);
    std::os::unix::fs::symlink(jco_dir().join("node_modules"), dir.join("node_modules"))
        .expect("linking node_modules");
    std::fs::write(dir.join("package.json"), r#"{ "type": "module" }"#)
        .expect("writing package.json");
    let out = dir.join("transpiled");
    let output = Command::new(jco())
        .arg("transpile")
        .arg(wasm)
        .arg("--name")
        .arg("bundle")
        .arg("-o")
        .arg(&out)
        .output()
        .expect("running jco");
    assert!(
        output.status.success(),
        "jco transpile failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    out.join("bundle.js")
}

/// Runs one of `cli/tests/jco`'s scripts in Node; returns the JSON line it printed.
fn node(script: &str, args: &[&str]) -> serde_json::Value {
    let output = Command::new("node")
        .arg(jco_dir().join(script))
        .args(args)
        .output()
        .expect("running node (is Node.js installed?)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "node {script} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("node printed `{stdout}`: {e}"))
}

#[test]
fn bundle_on_jco() {
    let module = transpile(&bundled_caller("bundle_on_jco"), "bundle_on_jco");
    let result = node(
        "call-both.mjs",
        &[module.to_str().expect("a UTF-8 path"), "200"],
    );
    assert_eq!(
        result["warm"], "caller slept 1 ms beside [callee slept 1 ms]",
        "{result}"
    );
    assert_eq!(
        result["timed"], "caller slept 200 ms beside [callee slept 200 ms]",
        "{result}"
    );
    let took = Duration::from_secs_f64(result["ms"].as_f64().expect("ms is a number") / 1000.0);
    // Both components' timers ran at once, in the shim's one `poll`: one wait, not two.
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(
        took < Duration::from_millis(350),
        "both(200) took {took:?} on jco"
    );
}

/// `jco serve` of a bundle on a free port, stopped (with the Node processes it started) when
/// dropped.
struct JcoServer {
    child: std::process::Child,
    url: String,
}

impl JcoServer {
    fn start(wasm: &Path, test: &str) -> Self {
        use std::os::unix::process::CommandExt;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let log = std::fs::File::create(scratch_dir(test).join("jco-serve.log")).expect("a log");
        let child = Command::new(jco())
            .arg("serve")
            .arg(wasm)
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .stdout(log.try_clone().expect("the log"))
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("running jco serve");
        Self {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for JcoServer {
    fn drop(&mut self) {
        // SAFETY: signals the process group our own child leads.
        unsafe { libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}

/// The bundled demo router served from Node by `jco serve` (jco transpiles it and serves its
/// `wasi:http/incoming-handler@0.2.0` with the shim's HTTP server): `hello` and `echo` answer
/// as under `isyswasfa serve`.
#[tokio::test]
async fn bundle_serves_on_jco() {
    use isyswasfa_test_support::http::send;
    let bundle = crate::bundle_http::bundled_router("bundle_serves_on_jco");
    let server = JcoServer::start(&bundle, "bundle_serves_on_jco");
    // Origin-form request targets, as curl and browsers send them (Node's server hands an
    // absolute-form target to the component as its path).
    let host = server.url.trim_start_matches("http://").to_string();
    let request = |method: &str, path: &str, body: String| {
        http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", &host)
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .expect("a request")
    };
    // Transpiling and starting Node takes a few seconds.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while tokio::net::TcpStream::connect(server.url.trim_start_matches("http://"))
        .await
        .is_err()
    {
        assert!(
            std::time::Instant::now() < deadline,
            "jco serve did not listen within 60 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let hello = send(&server.url, request("GET", "/hello", String::new())).await;
    assert_eq!(
        (hello.status.as_u16(), &hello.body[..]),
        (200, &b"Hello, world!\n"[..])
    );
    let body = "echo me through Node ".repeat(1000);
    let echo = send(&server.url, request("POST", "/echo", body.clone())).await;
    assert_eq!(
        (echo.status.as_u16(), &echo.body[..]),
        (200, body.as_bytes())
    );
}
