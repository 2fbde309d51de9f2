//! `isyswasfa bundle` of WASI 0.3 HTTP services: the bundle exports
//! `wasi:http/incoming-handler@0.2.0` and is served by `isyswasfa serve`'s plain WASI 0.2 proxy
//! path (wasmtime-wasi-http's own 0.2 code, no isyswasfa linker), over real TCP, with the checks
//! of the unbundled HTTP tests.

use std::path::PathBuf;
use std::time::Duration;

use isyswasfa_test_support::Guest;
use isyswasfa_test_support::http::{eventually, get, request, send};

use crate::bundle::bundle;
use crate::common::http::{ServeProcess, router_composition_named};
use crate::http::{
    check_echo_streaming, check_hash_all, check_middleware_deflate, check_router, check_trailers,
};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// What `serve` logs for a component it serves with wasmtime-wasi-http's WASI 0.2 code.
const P2_PROXY: &str = "is a WASI 0.2 proxy (wasi:http/incoming-handler@0.2)";

/// The demo router composition, bundled into `name`.wasm.
pub(crate) fn bundled_router(name: &str) -> PathBuf {
    bundle(&router_composition_named(&format!("{name}-composed")), name)
}

/// Serves the bundle at `path`, checking that `serve` took its plain WASI 0.2 proxy path.
async fn serve_p2(path: &std::path::Path) -> ServeProcess {
    let server = ServeProcess::start(path, &[]);
    let logged = eventually(Duration::from_secs(5), || server.log().contains(P2_PROXY)).await;
    assert!(
        logged,
        "the bundle was not served as a WASI 0.2 proxy:\n{}",
        server.log()
    );
    server
}

#[tokio::test]
async fn bundle_serves_on_wasmtime_p2() -> Result {
    let server = serve_p2(&bundled_router("bundle_serves_on_wasmtime_p2")).await;

    // hello and echo first.
    let hello = get(&server.url, "/hello").await;
    assert_eq!(
        (hello.status.as_u16(), &hello.body[..]),
        (200, &b"Hello, world!\n"[..])
    );
    assert_eq!(hello.headers["content-type"], "text/plain");
    let echoed = send(
        &server.url,
        request("POST", &server.url, "/echo", "bundled"),
    )
    .await;
    assert_eq!(echoed.body, "bundled");

    // Then what the unbundled composition passes.
    check_router(&server).await?;
    check_hash_all(&server, "/hash-all").await?;
    check_echo_streaming(&server, "/echo").await?;
    check_trailers(&server, "/echo").await?;

    let middleware = crate::common::http::compose(
        "bundle_serves_on_wasmtime_p2-middleware",
        &[
            Guest::Middleware.path().display().to_string(),
            "-d".into(),
            Guest::Service.path().display().to_string(),
        ],
    );
    let bundled = bundle(
        &middleware,
        "bundle_serves_on_wasmtime_p2-middleware-bundled",
    );
    drop(serve_p2(&bundled).await);
    check_middleware_deflate(&bundled).await
}

/// A trapping request on the bundled `http-faults` gets a 500 (wasmtime-wasi-http's own
/// handling of a trapped 0.2 handler), and the next request is served. (The same guest also
/// checks the runtime's `wasi:random@0.3.0` and `wasi:cli/stdout@0.3.0`.)
#[tokio::test]
async fn bundle_guest_trap() {
    let server = serve_p2(&bundle(&Guest::HttpFaults.path(), "bundle_guest_trap")).await;
    let ok = get(&server.url, "/").await;
    assert_eq!((ok.status.as_u16(), &ok.body[..]), (200, &b"ok"[..]));
    let random = [
        get(&server.url, "/random").await,
        get(&server.url, "/random").await,
    ];
    for answer in &random {
        assert_eq!(answer.status, 200);
        assert_eq!(answer.body.len(), 48, "{:?}", answer.body);
        assert!(answer.body.iter().all(u8::is_ascii_hexdigit));
    }
    assert_ne!(
        random[0].body, random[1].body,
        "the same random bytes twice"
    );
    // An `error-code` returned by `handle`: a 500, and the 0.2 host is told the error's text.
    let failed = get(&server.url, "/error").await;
    assert_eq!(failed.status, 500);
    let logged = eventually(Duration::from_secs(5), || {
        server
            .log()
            .lines()
            .any(|l| l.contains("/error") && l.contains("asked to fail"))
    })
    .await;
    assert!(logged, "no log line naming the error:\n{}", server.log());
    let printed = get(&server.url, "/print-controls").await;
    assert_eq!(
        (printed.status.as_u16(), &printed.body[..]),
        (200, &b"printed"[..])
    );
    let trapped = get(&server.url, "/trap").await;
    assert_eq!(trapped.status, 500);
    let next = get(&server.url, "/").await;
    assert_eq!((next.status.as_u16(), &next.body[..]), (200, &b"ok"[..]));
}
