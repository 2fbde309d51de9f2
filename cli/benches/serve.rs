//! Serving throughput: the `hello` and `echo` guests built with isyswasfa (polyfilled, served by
//! isyswasfa's host), the same builds bundled by `isyswasfa bundle` (plain WASI 0.2 proxies,
//! served by wasmtime-wasi-http's own WASI 0.2 code), and the same sources built with
//! `--features native` (native WASI 0.3, served by wasmtime-wasi-http's handler), all by
//! `isyswasfa::serve::Server` in this process,
//! behind the same hyper accept loop, driven by the same in-process load generator (hyper
//! clients over TCP, keep-alive connections).
//!
//! `cargo test --workspace --bench serve` (or `cargo bench --workspace --bench serve`).
//! `SERVE_BENCH_SECONDS` (one hello load, default 3), `SERVE_BENCH_ROUNDS` (hello loads per
//! kind, taken in turn with the other kinds, default 3), `SERVE_BENCH_CONNECTIONS` (default 16)
//! and `SERVE_BENCH_ECHO_MIB` (upload sizes, comma-separated; default `64,256`) change the load.

#[path = "../tests/common/mod.rs"]
mod common;

use std::convert::Infallible;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body::Frame;
use http_body_util::{BodyExt, Empty, StreamBody};
use hyper_util::rt::TokioIo;
use isyswasfa::serve::{ServeConfig, Server};
use isyswasfa_test_support::Guest;
use isyswasfa_test_support::figures::{Figure, Goal};

type Result<T = ()> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `component` bundled into a plain WASI 0.2 proxy (as `isyswasfa bundle` does), written beside
/// the benchmark's other files; its path.
fn bundled(component: &Path) -> Result<std::path::PathBuf> {
    let name = component
        .file_stem()
        .map_or_else(|| "component".into(), |s| s.to_string_lossy().into_owned());
    let bundle = isyswasfa_bundle::bundle(&std::fs::read(component)?, &name)?;
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-{name}-bundled.wasm"));
    std::fs::write(&path, bundle.bytes)?;
    Ok(path)
}

/// A server for `component` on a free port; its URL's address.
async fn serve(component: &Path) -> Result<(String, tokio::sync::watch::Sender<bool>)> {
    let engine = isyswasfa::serve::engine()?;
    let server = Arc::new(Server::new(&engine, component, ServeConfig::default())?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?.to_string();
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(server.run(listener, stopped));
    Ok((address, stop))
}

async fn connect(
    address: &str,
) -> Result<
    hyper::client::conn::http1::SendRequest<
        http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>,
    >,
> {
    let stream = tokio::net::TcpStream::connect(address).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// A load's answers: every request's latency, sorted, over `elapsed`.
struct Rate {
    latencies: Vec<Duration>,
    elapsed: Duration,
}

impl Rate {
    /// Adds another load of the same server: its requests and its time.
    fn pool(&mut self, other: Rate) {
        self.latencies.extend(other.latencies);
        self.latencies.sort();
        self.elapsed += other.elapsed;
    }

    /// The latency at quantile `q` (0.5 for the median).
    fn at(&self, q: f64) -> Duration {
        let last = self.latencies.len().saturating_sub(1);
        self.latencies
            .get(((self.latencies.len() as f64 * q) as usize).min(last))
            .copied()
            .unwrap_or_default()
    }
}

/// `connections` keep-alive connections each sending `GET /` for `duration`; every answer must
/// be `200` with `expected` as its body.
async fn hello_load(
    address: &str,
    connections: u64,
    duration: Duration,
    expected: &'static str,
) -> Result<Rate> {
    let began = Instant::now();
    let deadline = began + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let address = address.to_string();
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(&address).await?;
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let request = http::Request::get("/")
                    .header("host", &address)
                    .body(Empty::new().boxed_unsync())?;
                let sent = Instant::now();
                sender.ready().await?;
                let response = sender.send_request(request).await?;
                let status = response.status();
                let body = response.into_body().collect().await?.to_bytes();
                if status != 200 || body != expected {
                    return Err(format!("unexpected answer {status} {body:?}").into());
                }
                latencies.push(sent.elapsed());
            }
            Result::<_>::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = began.elapsed();
    latencies.sort();
    Ok(Rate { latencies, elapsed })
}

/// One `POST path` of `mib` MiB in 64 KiB chunks, streamed while the answer streams back (as
/// many bytes as were sent); returns the MB/s of the round trip (bytes answered / time).
async fn echo_load(address: &str, path: &str, mib: u64) -> Result<f64> {
    const CHUNK: usize = 64 * 1024;
    let chunks = (mib * 1024 * 1024) as usize / CHUNK;
    let mut sender = connect(address).await?;
    let (frames, receiver) =
        tokio::sync::mpsc::channel::<std::result::Result<Frame<Bytes>, Infallible>>(8);
    let body = StreamBody::new(futures::stream::unfold(receiver, |mut r| async move {
        r.recv().await.map(|frame| (frame, r))
    }));
    let payload = Bytes::from((0..CHUNK).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
    let request = http::Request::post(path)
        .header("host", address)
        .body(body.boxed_unsync())?;
    let began = Instant::now();
    let uploader = tokio::spawn(async move {
        for _ in 0..chunks {
            if frames.send(Ok(Frame::data(payload.clone()))).await.is_err() {
                break;
            }
        }
    });
    let response = sender.send_request(request).await?;
    if response.status() != 200 {
        return Err(format!("echo answered {}", response.status()).into());
    }
    let mut body = response.into_body();
    let mut received = 0usize;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame?.into_data() {
            received += data.len();
        }
    }
    let elapsed = began.elapsed();
    uploader.await?;
    if received != chunks * CHUNK {
        return Err(format!("echoed {received} of {} bytes", chunks * CHUNK).into());
    }
    Ok(received as f64 / 1e6 / elapsed.as_secs_f64())
}

const HELLO: &str = "Hello, world!\n";

/// P8 and P9: the `middleware` guest composed (by the CLI) with the `service` guest it imports,
/// isyswasfa builds against the native builds of the same sources. `GET /` is one async call
/// from middleware into service per request (P8, requests/s); `POST /upper` streams the body
/// through middleware into service and the uppercased answer back out through middleware
/// (P9, MB/s of 64 MiB).
async fn composed(connections: u64, duration: Duration) -> Result<Vec<Figure>> {
    let compositions = [
        ("isyswasfa", Guest::Middleware.path(), Guest::Service.path()),
        (
            "native",
            Guest::Middleware.native_path(),
            Guest::Service.native_path(),
        ),
    ];
    let mut rates = Vec::new();
    let mut streams = Vec::new();
    for (kind, middleware, service) in compositions {
        let composed = common::http::compose(
            &format!("bench-middleware-service-{kind}"),
            &[
                middleware.display().to_string(),
                "-d".into(),
                service.display().to_string(),
            ],
        );
        let (address, _stop) = serve(&composed).await?;
        hello_load(
            &address,
            connections,
            Duration::from_millis(500),
            "service: hello",
        )
        .await?;
        let rate = hello_load(&address, connections, duration, "service: hello").await?;
        echo_load(&address, "/upper", 1).await?; // warm-up
        let mut runs = Vec::new();
        for _ in 0..3 {
            runs.push(echo_load(&address, "/upper", 64).await?);
        }
        runs.sort_by(f64::total_cmp);
        eprintln!(
            "{kind} middleware → service: {} requests, /upper {runs:?} MB/s",
            rate.latencies.len()
        );
        rates.push(rate.latencies.len() as f64 / rate.elapsed.as_secs_f64());
        streams.push(runs[runs.len() / 2]);
    }
    Ok(vec![
        Figure {
            id: "P8",
            figure: "middleware → service composed, GET / requests/s".into(),
            isyswasfa: rates[0],
            baseline: Some(rates[1]),
            goal: Goal::RatioAtLeast(1.0),
        },
        Figure {
            id: "P9",
            figure: "middleware → service composed, 64 MiB body MB/s".into(),
            isyswasfa: streams[0],
            baseline: Some(streams[1]),
            goal: Goal::RatioAtLeast(1.0),
        },
    ])
}

#[tokio::main]
async fn main() -> Result {
    let seconds = setting("SERVE_BENCH_SECONDS", 3);
    let rounds = setting("SERVE_BENCH_ROUNDS", 3).max(1);
    let connections = setting("SERVE_BENCH_CONNECTIONS", 16);
    let sizes: Vec<u64> = std::env::var("SERVE_BENCH_ECHO_MIB")
        .unwrap_or_else(|_| "64,256".into())
        .split(',')
        .map(|size| size.trim().parse())
        .collect::<std::result::Result<_, _>>()
        .map_err(|error| format!("SERVE_BENCH_ECHO_MIB: {error}"))?;
    let duration = Duration::from_secs(seconds);
    let kinds = [
        ("isyswasfa", Guest::Hello.path(), Guest::Echo.path()),
        (
            "native 0.3",
            Guest::Hello.native_path(),
            Guest::Echo.native_path(),
        ),
        (
            "bundled (0.2)",
            bundled(&Guest::Hello.path())?,
            bundled(&Guest::Echo.path())?,
        ),
    ];
    // hello: every kind in turn, `rounds` times over, each round `duration` long, so that a
    // slow or fast spell of the shared machine falls on all kinds alike; a kind's figure pools
    // its rounds (all requests over all time, the p99 of all latencies).
    let mut servers = Vec::new();
    for (_, hello_wasm, _) in &kinds {
        let (address, stop) = serve(hello_wasm).await?;
        hello_load(&address, connections, Duration::from_millis(500), HELLO).await?; // warm-up
        servers.push((address, stop));
    }
    let mut hello: Vec<Rate> = Vec::new();
    for round in 0..rounds {
        for (k, (address, _)) in servers.iter().enumerate() {
            let rate = hello_load(address, connections, duration, HELLO).await?;
            eprintln!(
                "round {round}: {} hello: {} requests",
                kinds[k].0,
                rate.latencies.len()
            );
            match hello.get_mut(k) {
                Some(pooled) => pooled.pool(rate),
                None => hello.push(rate),
            }
        }
    }
    drop(servers);
    let mut echo = Vec::new();
    for (kind, _, echo_wasm) in &kinds {
        let (address, _stop) = serve(echo_wasm).await?;
        echo_load(&address, "/", 1).await?; // warm-up
        let mut medians = Vec::new();
        for &mib in &sizes {
            let mut runs = Vec::new();
            for _ in 0..3 {
                runs.push(echo_load(&address, "/", mib).await?);
            }
            runs.sort_by(f64::total_cmp);
            eprintln!("{kind} echo {mib} MiB: {runs:?} MB/s");
            medians.push(runs[runs.len() / 2]);
        }
        echo.push(medians);
    }
    let rps = |r: &Rate| r.latencies.len() as f64 / r.elapsed.as_secs_f64();
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "hello: {connections} keep-alive connections, {rounds} rounds of {seconds} s per kind, \
         the kinds in turn; echo: one upload of each size streamed back (median of 3)"
    );
    println!(
        "| measure | isyswasfa | native 0.3 (wasmtime-wasi-http) | isyswasfa / native | \
         bundled, WASI 0.2 (wasmtime-wasi-http) | bundled / isyswasfa |"
    );
    println!("| --- | ---: | ---: | ---: | ---: | ---: |");
    println!(
        "| hello requests/s | {:.0} | {:.0} | {:.2} | {:.0} | {:.2} |",
        rps(&hello[0]),
        rps(&hello[1]),
        rps(&hello[0]) / rps(&hello[1]),
        rps(&hello[2]),
        rps(&hello[2]) / rps(&hello[0])
    );
    println!(
        "| hello p50 latency | {:.2} ms | {:.2} ms | {:.2} | {:.2} ms | {:.2} |",
        ms(hello[0].at(0.50)),
        ms(hello[1].at(0.50)),
        ms(hello[0].at(0.50)) / ms(hello[1].at(0.50)),
        ms(hello[2].at(0.50)),
        ms(hello[2].at(0.50)) / ms(hello[0].at(0.50))
    );
    println!(
        "| hello p99 latency | {:.2} ms | {:.2} ms | {:.2} | {:.2} ms | {:.2} |",
        ms(hello[0].at(0.99)),
        ms(hello[1].at(0.99)),
        ms(hello[0].at(0.99)) / ms(hello[1].at(0.99)),
        ms(hello[2].at(0.99)),
        ms(hello[2].at(0.99)) / ms(hello[0].at(0.99))
    );
    for (i, mib) in sizes.iter().enumerate() {
        println!(
            "| echo {mib} MiB MB/s | {:.0} | {:.0} | {:.2} | {:.0} | {:.2} |",
            echo[0][i],
            echo[1][i],
            echo[0][i] / echo[1][i],
            echo[2][i],
            echo[2][i] / echo[0][i]
        );
    }
    println!();
    Figure {
        id: "P3",
        figure: "serve hello, requests/s".into(),
        isyswasfa: rps(&hello[0]),
        baseline: Some(rps(&hello[1])),
        goal: Goal::RatioAtLeast(1.0),
    }
    .print();
    Figure {
        id: "P3",
        figure: "serve hello, p99 latency (ms)".into(),
        isyswasfa: ms(hello[0].at(0.99)),
        baseline: Some(ms(hello[1].at(0.99))),
        goal: Goal::RatioAtMost(1.0),
    }
    .print();
    for (i, mib) in sizes.iter().enumerate() {
        Figure {
            id: "P4",
            figure: format!("serve echo {mib} MiB, MB/s"),
            isyswasfa: echo[0][i],
            baseline: Some(echo[1][i]),
            goal: Goal::RatioAtLeast(1.0),
        }
        .print();
    }
    for figure in composed(connections, duration).await? {
        figure.print();
    }
    for figure in startup::figures().await? {
        figure.print();
    }
    Ok(())
}

/// P10, start-up: `isyswasfa serve` started as a process and timed to the end of its first
/// response, with a fresh compilation cache (cold) and again with the same cache (warm), for the
/// isyswasfa build of `hello` and its native WASI 0.3 build.
mod startup {
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use isyswasfa_test_support::Guest;
    use isyswasfa_test_support::figures::{Figure, Goal};

    use crate::Result;
    use crate::common::http::ServeProcess;

    /// A new, empty cache directory (`XDG_CACHE_HOME`) named `name`.
    fn fresh_cache(name: &str) -> Result<PathBuf> {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("bench-cache-{name}"));
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    /// `isyswasfa serve component` started, to the end of its first response to `GET /`.
    async fn first_response(component: &Path, cache: &Path) -> Result<Duration> {
        let started = Instant::now();
        let (component, cache) = (component.to_path_buf(), cache.to_path_buf());
        let server = tokio::task::spawn_blocking(move || {
            ServeProcess::start_with_env(&component, &[], &[("XDG_CACHE_HOME", cache.as_path())])
        })
        .await?;
        let answer = isyswasfa_test_support::http::get(&server.url, "/").await;
        let elapsed = started.elapsed();
        server.terminate();
        if answer.status != 200 {
            return Err(format!("serve answered {}", answer.status).into());
        }
        Ok(elapsed)
    }

    /// The P10 figures: `serve` of `hello` to its first response, cold (a fresh cache) and
    /// warm (the best of three starts with that cache), isyswasfa against native.
    pub async fn figures() -> Result<Vec<Figure>> {
        let mut times = Vec::new();
        for (kind, component) in [
            ("isyswasfa", Guest::Hello.path()),
            ("native", Guest::Hello.native_path()),
        ] {
            let cache = fresh_cache(&format!("serve-{kind}"))?;
            let cold = first_response(&component, &cache).await?;
            let mut warm = Duration::MAX;
            for _ in 0..3 {
                warm = warm.min(first_response(&component, &cache).await?);
            }
            times.push((cold, warm));
        }
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let what = "serve hello, first response (ms)";
        Ok(vec![
            Figure {
                id: "P10",
                figure: format!("{what}, cold cache"),
                isyswasfa: ms(times[0].0),
                baseline: Some(ms(times[1].0)),
                goal: Goal::None,
            },
            Figure {
                id: "P10",
                figure: format!("{what}, warm cache"),
                isyswasfa: ms(times[0].1),
                baseline: Some(ms(times[1].1)),
                goal: Goal::RatioAtMost(1.0),
            },
        ])
    }
}
