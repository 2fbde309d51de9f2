//! Python guests end to end: `isyswasfa wit --out-dir` read by componentize-py, `isyswasfa
//! build-py` (and `serve DIR`) building the guests of `test-cases/python/` with the real
//! componentize-py, and the components run on the real host and served over real TCP.
//!
//! Each Python guest is built once per test run: the component is kept in the target directory
//! under a name derived from everything the build reads (the guest's files and the `isyswasfa`
//! binary), so a later run with nothing changed reuses it (a build takes about ten seconds).
//! componentize-py must be installed (`pip install componentize-py==0.25.1`); without it these
//! tests fail with `build-py`'s error saying so.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use isyswasfa_host::{Host, State};
use isyswasfa_test_support::http::{eventually, get, request, send};
use isyswasfa_test_support::{Guest, repo_root};
use wasmtime::Store;
use wasmtime::component::Component;

use crate::common::http::{ServeProcess, router_composition_with};
use crate::common::{copy_dir, isyswasfa, scratch_dir, stderr};
use crate::http::{check_middleware_deflate, same_answers, sha256_hex, slow_upstream};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error>>;

/// The directory of the Python guest `name`.
fn python_dir(name: &str) -> PathBuf {
    repo_root().join("test-cases").join("python").join(name)
}

/// Feeds every file under `dir` (names and contents, in a stable order) to `hasher`.
fn hash_tree(dir: &Path, hasher: &mut impl Hasher) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("reading a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        path.file_name().hash(hasher);
        if path.is_dir() {
            hash_tree(&path, hasher);
        } else {
            std::fs::read(&path)
                .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
                .hash(hasher);
        }
    }
}

/// Builds the Python guest `name` with `isyswasfa build-py` (once per test run: see the module's
/// docs) and returns the component's path.
fn python_guest(name: &str) -> PathBuf {
    built_once(name, name, |out| {
        let output = isyswasfa([
            "build-py".as_ref(),
            python_dir(name).as_os_str(),
            "-o".as_ref(),
            out.as_os_str(),
        ]);
        assert!(
            output.status.success(),
            "building the Python guest `{name}` failed (these tests need componentize-py: \
             `pip install componentize-py==0.25.1`):\n{}",
            stderr(&output)
        );
    })
}

/// Builds the Python guest `name` (world `world`) natively, with componentize-py alone, from the
/// unlowered WIT and the WASI 0.3 packages isyswasfa ships: a native WASI 0.3 component from the
/// same source (once per test run).
fn python_native_guest(name: &str, world: &str) -> PathBuf {
    built_once(&format!("native-{name}"), name, |out| {
        let dir = scratch_dir(&format!("python-native-{name}"));
        copy_dir(&python_dir(name), &dir.join("guest"));
        copy_dir(
            &repo_root().join("bindgen/wit/deps"),
            &dir.join("guest/wit/deps"),
        );
        let output = std::process::Command::new("componentize-py")
            .arg("-d")
            .arg(dir.join("guest/wit"))
            .args(["-w", world, "componentize", "app", "-p"])
            .arg(dir.join("guest"))
            .arg("-o")
            .arg(out)
            .output()
            .expect("running componentize-py (install it: pip install componentize-py==0.25.1)");
        assert!(
            output.status.success(),
            "building the Python guest `{name}` natively failed:\n{}",
            stderr(&output)
        );
    })
}

/// The component `key` made by `build` (which writes it to the path it is given), once per test
/// run: it is kept under a name derived from the files of the Python guest `guest` and the
/// `isyswasfa` binary, and built again only when one of them changed.
fn built_once(key: &str, guest: &str, build: impl FnOnce(&Path)) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, Arc<OnceLock<PathBuf>>>>> = OnceLock::new();
    let slot = BUILT
        .get_or_init(Default::default)
        .lock()
        .expect("the table of built Python guests")
        .entry(key.to_string())
        .or_default()
        .clone();
    slot.get_or_init(|| {
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        hash_tree(&python_dir(guest), &mut hasher);
        std::fs::read(env!("CARGO_BIN_EXE_isyswasfa"))
            .expect("reading the isyswasfa binary")
            .hash(&mut hasher);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("python-guests");
        std::fs::create_dir_all(&dir).expect("creating the Python guests' directory");
        let out = dir.join(format!("{key}-{:016x}.wasm", hasher.finish()));
        if out.is_file() {
            return out;
        }
        // Earlier builds of this guest are stale now.
        for entry in std::fs::read_dir(&dir).expect("reading the Python guests' directory") {
            let path = entry.expect("reading a directory entry").path();
            let stale = path
                .file_name()
                .and_then(|n| n.to_str())
                .and_then(|n| n.strip_prefix(key))
                .and_then(|rest| rest.strip_prefix('-'))
                .is_some_and(|rest| rest.len() == "0123456789abcdef.wasm".len());
            if stale {
                let _ = std::fs::remove_file(&path);
            }
        }
        let partial = out.with_extension("partial.wasm");
        build(&partial);
        std::fs::rename(&partial, &out).expect("moving the built component in place");
        out
    })
    .clone()
}

/// `isyswasfa wit --out-dir` writes the lowered world with every package it needs, and
/// componentize-py generates its bindings from that directory alone.
#[test]
fn wit_out_dir_feeds_componentize_py() {
    let dir = scratch_dir("wit_out_dir_feeds_componentize_py");
    let wit = dir.join("wit");
    let output = isyswasfa([
        "wit".as_ref(),
        repo_root().join("test-cases/echo/wit").as_os_str(),
        "--out-dir".as_ref(),
        wit.as_os_str(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let deps: Vec<String> = std::fs::read_dir(wit.join("deps"))
        .expect("deps written")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    for package in [
        "isyswasfa-isyswasfa-0.1.0.wit",
        "isyswasfa-pipes-0.1.0.wit",
        "wasi-http-0.3.0.wit",
    ] {
        assert!(
            deps.iter().any(|d| d == package),
            "{package} missing from {deps:?}"
        );
    }
    let bindings = dir.join("bindings");
    let generated = std::process::Command::new("componentize-py")
        .arg("-d")
        .arg(&wit)
        .args(["-w", "echo", "bindings"])
        .arg(&bindings)
        .output()
        .expect("running componentize-py (install it: pip install componentize-py==0.25.1)");
    assert!(
        generated.status.success(),
        "componentize-py bindings failed: {}",
        String::from_utf8_lossy(&generated.stderr)
    );
    let exports = std::fs::read_to_string(bindings.join("wit_world/exports/__init__.py"))
        .expect("the exports module");
    assert!(exports.contains("def handle_isyswasfa_start("), "{exports}");
    assert!(
        exports.contains("def handle_isyswasfa_result("),
        "{exports}"
    );
    let world = std::fs::read_to_string(bindings.join("wit_world/__init__.py")).expect("world");
    assert!(world.contains("def isyswasfa_poll_echo("), "{world}");
}

/// A missing componentize-py and a Python syntax error each stop `build-py` with an error that
/// says what to do (how to install it) or where the error is (file and line).
#[test]
fn python_build_errors() {
    let dir = scratch_dir("python_build_errors");
    let empty_path = dir.join("empty-path");
    std::fs::create_dir_all(&empty_path).expect("empty PATH directory");
    let missing = std::process::Command::new(env!("CARGO_BIN_EXE_isyswasfa"))
        .arg("build-py")
        .arg(python_dir("round-trip"))
        .arg("-o")
        .arg(dir.join("never.wasm"))
        .env("PATH", &empty_path)
        .env_remove("ISYSWASFA_COMPONENTIZE_PY")
        .output()
        .expect("running isyswasfa");
    assert!(!missing.status.success());
    let message = stderr(&missing);
    assert!(
        message.contains("componentize-py was not found")
            && message.contains("pip install componentize-py==0.25.1"),
        "{message}"
    );
    assert!(!dir.join("never.wasm").exists());

    let broken = dir.join("broken");
    copy_dir(&python_dir("round-trip"), &broken);
    std::fs::write(
        broken.join("app.py"),
        "\"\"\"Broken on purpose.\"\"\"\n\ndef foo(:\n    pass\n",
    )
    .expect("writing app.py");
    let output = isyswasfa([
        "build-py".as_ref(),
        broken.as_os_str(),
        "-o".as_ref(),
        dir.join("broken.wasm").as_os_str(),
    ]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("syntax error") && message.contains("app.py:3:"),
        "{message}"
    );
    assert!(message.contains("def foo(:"), "{message}");
    assert!(!dir.join("broken.wasm").exists());
}

/// A host for the Python `round-trip`: its imported `foo` answers at once, or never when asked
/// for `forever`.
async fn round_trip_host() -> anyhow::Result<Host<State>> {
    let engine = crate::common::composition::engine();
    let mut linker = isyswasfa_host::linker::<State>(engine)?;
    let mut baz = linker.instance("component:test/baz")?;
    isyswasfa_host::func_wrap_async(&mut baz, "foo", |(s,): (String,)| async move {
        if s.starts_with("forever") {
            std::future::pending::<()>().await;
        }
        format!("{s} - entered host - exited host")
    })?;
    static COMPONENT: OnceLock<Component> = OnceLock::new();
    let component = COMPONENT.get_or_init(|| {
        Component::from_file(engine, python_guest("round-trip"))
            .expect("compiling the Python round-trip")
    });
    Ok(Host::instantiate(Store::new(engine, State::new()), &linker, component).await?)
}

/// Three concurrent calls of the Python `round-trip`, each awaiting a 100 ms `asyncio.sleep`
/// and a host import (`asyncio.gather`), finish together in well under 3 × 100 ms.
#[tokio::test]
async fn python_round_trip() -> anyhow::Result<()> {
    let host = round_trip_host().await?;
    let foo = host
        .func::<(String,), String>(Some("component:test/baz"), "foo")
        .await?;
    // Warm up (the first call initializes the poller and the interpreter's lazy state).
    let _ = host.call(&foo, ("warm".to_string(),)).await?;
    let _timing = isyswasfa_test_support::timing::shared().await;
    let began = Instant::now();
    let calls = (0..3).map(|i| host.call(&foo, (format!("call {i}"),)));
    let answers = futures::future::try_join_all(calls).await?;
    let elapsed = began.elapsed();
    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(
            answer,
            &format!("call {i} - entered guest - entered host - exited host - exited guest")
        );
    }
    assert!(
        elapsed >= Duration::from_millis(100),
        "the timer was skipped: {elapsed:?}"
    );
    assert!(elapsed < Duration::from_millis(250), "took {elapsed:?}");
    Ok(())
}

/// Dropping a call of a Python export raises `CancelledError` inside its coroutine (the guest
/// counts it) and cancels the import it awaited: the host's tables return to their size.
#[tokio::test]
async fn python_cancel() -> anyhow::Result<()> {
    let host = round_trip_host().await?;
    let foo = host
        .func::<(String,), String>(Some("component:test/baz"), "foo")
        .await?;
    let cancelled = host.sync_func::<(), (u32,)>(None, "cancelled").await?;
    let _ = host.call(&foo, ("warm".to_string(),)).await?;
    let before = host.table_sizes().await?;
    assert_eq!(host.call_sync(&cancelled, ()).await?.0, 0);

    let call = host.call(&foo, ("forever".to_string(),));
    let outcome = tokio::time::timeout(Duration::from_millis(300), call).await;
    assert!(
        outcome.is_err(),
        "a call awaiting `forever` must not finish"
    );
    let mut seen = 0;
    for _ in 0..200 {
        seen = host.call_sync(&cancelled, ()).await?.0;
        if seen == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(seen, 1, "the coroutine saw CancelledError");
    assert_eq!(
        host.table_sizes().await?,
        before,
        "host tables back to their size"
    );
    // Still usable afterwards.
    let answer = host.call(&foo, ("again".to_string(),)).await?;
    assert!(answer.starts_with("again - entered guest"), "{answer}");
    Ok(())
}

/// `asyncio.create_task`, `await` on WASI 0.2 pollables and `asyncio.wait_for` in the Python
/// `round-trip`: two tasks wait 200 ms at once, then a 2 s wait is timed out after 200 ms, while a
/// call of `foo` beside them finishes in its own 100 ms (the pollables never block the instance);
/// the timed-out pollable's task leaves the host's tables.
#[tokio::test]
async fn python_asyncio_pollables() -> anyhow::Result<()> {
    let host = round_trip_host().await?;
    let foo = host
        .func::<(String,), String>(Some("component:test/baz"), "foo")
        .await?;
    let pollables = host.func::<(u32,), String>(None, "pollables").await?;
    let _ = host.call(&foo, ("warm".to_string(),)).await?;
    let before = host.table_sizes().await?;
    let _timing = isyswasfa_test_support::timing::shared().await;
    let began = Instant::now();
    let (waited, beside) = tokio::join!(
        async {
            let answer = host.call(&pollables, (200,)).await;
            (answer, began.elapsed())
        },
        async {
            let answer = host.call(&foo, ("beside".to_string(),)).await;
            (answer, began.elapsed())
        }
    );
    assert_eq!(waited.0?, "timed out");
    assert!(
        waited.1 >= Duration::from_millis(400) && waited.1 < Duration::from_millis(600),
        "two 200 ms pollables at once, then a 200 ms timeout: took {:?}",
        waited.1
    );
    assert!(beside.0?.starts_with("beside - entered guest"));
    assert!(
        beside.1 < Duration::from_millis(200),
        "`foo` waited for the pollables: {:?}",
        beside.1
    );
    assert_eq!(
        host.table_sizes().await?,
        before,
        "host tables back to their size"
    );
    Ok(())
}

/// The Python `hash-all`, served from its directory (`serve DIR` builds it): three upstream
/// URLs answering after 300 ms each are fetched at once.
#[tokio::test]
async fn python_http_hash_all() -> Result {
    let upstream = slow_upstream().await;
    let server = ServeProcess::start(&python_guest("hash-all"), &[]);
    let urls: Vec<String> = ["/a", "/b", "/c"]
        .iter()
        .map(|p| format!("http://{upstream}{p}"))
        .collect();
    // Warm up the instance (no `url` header: a 400), so that the timing is the request's own.
    let warm = get(&server.url, "/").await;
    assert_eq!(warm.status, 400, "{:?}", warm.body);
    let mut builder = http::Request::builder()
        .uri(format!("{}/", server.url))
        .header("host", "localhost");
    for url in &urls {
        builder = builder.header("url", url.as_str());
    }
    let _timing = isyswasfa_test_support::timing::shared().await;
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

/// 16 MiB echoed byte for byte through the Python `echo`, streamed: the first bytes come back
/// before the upload has finished.
#[tokio::test]
async fn python_http_echo_streaming() -> Result {
    let server = ServeProcess::start(&python_guest("echo"), &[]);
    let warm = send(&server.url, request("POST", &server.url, "/", "warm")).await;
    assert_eq!(warm.body, "warm");
    crate::http::echo_streamed(&server, "/", 256).await // 16 MiB
}

/// The Rust `middleware` composed in front of the Python `service` by `isyswasfa compose`:
/// deflate both ways, as `http_middleware_deflate` checks with the Rust service.
#[tokio::test]
async fn python_middleware_deflate() -> Result {
    let composed = crate::common::http::compose(
        "middleware-python-service",
        &[
            Guest::Middleware.path().display().to_string(),
            "-d".into(),
            python_guest("service").display().to_string(),
        ],
    );
    check_middleware_deflate(&composed).await
}

/// An exception raised in the Python `handle` answers 500 with a log line naming the request
/// and the exception; the next request is served.
#[tokio::test]
async fn python_guest_exception() -> Result {
    let server = ServeProcess::start(&python_guest("service"), &[]);
    assert_eq!(get(&server.url, "/").await.body, "service: hello");
    let answer = get(&server.url, "/boom").await;
    assert_eq!(answer.status, 500);
    let logged = eventually(Duration::from_secs(5), || {
        let log = server.log();
        log.lines()
            .any(|l| l.contains("request ") && l.contains("/boom"))
            && log.contains("ValueError: boom: the Python service failed on purpose")
    })
    .await;
    assert!(logged, "no log line for /boom:\n{}", server.log());
    let next = get(&server.url, "/").await;
    assert_eq!(
        (next.status.as_u16(), &next.body[..]),
        (200, &b"service: hello"[..])
    );
    Ok(())
}

/// `isyswasfa serve DIR` recognises a Python guest's directory and builds it first.
#[tokio::test]
async fn python_serve_dir() -> Result {
    let server = ServeProcess::start(&python_dir("service"), &[]);
    assert_eq!(get(&server.url, "/").await.body, "service: hello");
    Ok(())
}

/// The Rust `router` in front of the Python `hash-all` and `echo` (and the Rust `hello` and
/// `middleware` + `service`), composed by `isyswasfa compose --wac`.
#[tokio::test]
async fn python_router() -> Result {
    let upstream = slow_upstream().await;
    let composed = router_composition_with(
        "router-python",
        &[
            ("test:hash-all", python_guest("hash-all")),
            ("test:echo", python_guest("echo")),
        ],
    );
    let server = ServeProcess::start(&composed, &[]);
    assert_eq!(get(&server.url, "/hello").await.body, "Hello, world!\n");
    let echoed = send(
        &server.url,
        request("POST", &server.url, "/echo", "round and round"),
    )
    .await;
    assert_eq!(echoed.body, "round and round");
    let mut hashing = request("GET", &server.url, "/hash-all", Bytes::new());
    hashing
        .headers_mut()
        .insert("url", format!("http://{upstream}/x").parse()?);
    let hashed = send(&server.url, hashing).await;
    let expected = format!("http://{upstream}/x: {}", sha256_hex(b"content of /x"));
    assert_eq!(String::from_utf8(hashed.body.to_vec())?.trim(), expected);
    Ok(())
}

/// The same `app.py` built by `isyswasfa build-py` and natively by componentize-py (a WASI 0.3
/// component), each served by the same CLI, gives the same answers.
#[tokio::test]
async fn python_same_source_native() {
    let body = "the same source, built two ways ".repeat(1000);
    same_answers(
        &python_guest("service"),
        &python_native_guest("service", "service"),
        &[
            ("GET", "/", b"", &[]),
            (
                "POST",
                "/upper",
                body.as_bytes(),
                &[("content-type", "text/plain")],
            ),
        ],
    )
    .await;
}
