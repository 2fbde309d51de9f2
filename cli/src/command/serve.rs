//! `isyswasfa serve`: serve HTTP with a component that exports `wasi:http/handler@0.3.0`
//! (built with isyswasfa, or a native WASI 0.3 component) or `wasi:http/incoming-handler@0.2`,
//! as `wasmtime serve` does. TARGET is a component, or a guest crate directory, which is built
//! first (`cargo build --release --target wasm32-wasip2`).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use isyswasfa::serve::{
    DEFAULT_MAX_CONCURRENT_CONNECTIONS, DEFAULT_MAX_CONCURRENT_REQUESTS,
    DEFAULT_MAX_INSTANCE_CONCURRENCY, DEFAULT_MAX_INSTANCE_REUSE, PoolingChoice, ServeConfig,
    Server,
};
use isyswasfa::wasi_options::{WasiOption, WasiOptions};
use tokio::sync::watch;

/// Arguments of `isyswasfa serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// The component to serve (`.wasm`, as built or composed), a guest crate's directory, or a
    /// Python guest's directory (`app.py` and `wit/`, built as `isyswasfa build-py` does).
    pub target: PathBuf,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub addr: SocketAddr,
    /// Requests handled at once; more wait.
    #[arg(long, default_value_t = DEFAULT_MAX_CONCURRENT_REQUESTS, value_parser = at_least_one)]
    pub max_concurrent_requests: usize,
    /// Connections open at once; beyond it new clients wait until one closes.
    #[arg(long, default_value_t = DEFAULT_MAX_CONCURRENT_CONNECTIONS, value_parser = at_least_one)]
    pub max_concurrent_connections: usize,
    /// How long a client may take to send a request head, e.g. `10s`; an idle keep-alive
    /// connection waiting for its next request is closed after the same time.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub header_read_timeout: Duration,
    /// The most one linear memory of an instance may grow to, in bytes, or with a suffix:
    /// `64MiB`, `1GiB`, `512KiB` (default: wasm's own 4 GiB). Like `wasmtime -W max-memory-size`.
    #[arg(long, value_parser = parse_size)]
    pub max_memory_size: Option<usize>,
    /// How long a response may wait for a client that takes none of its bytes before the
    /// connection is closed, e.g. `30s`.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub write_stall_timeout: Duration,
    /// How long a guest's read of a request body may wait for the client to send a byte before
    /// the body fails, e.g. `30s`.
    #[arg(long, value_parser = parse_duration, default_value = "30s")]
    pub read_stall_timeout: Duration,
    /// How long a guest may compute without pausing before it is stopped (its request fails,
    /// its instance is retired), e.g. `10s`.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub cpu_budget: Duration,
    /// Compile the component even if wasmtime's compilation cache has it (the cache is on by
    /// default, as with `wasmtime serve`; `--no-cache` neither reads nor writes it).
    #[arg(long)]
    pub no_cache: bool,
    /// Let guests send requests only to these destinations (repeat for more): `HOST`,
    /// `HOST:PORT`, `IP`, `IP:PORT` or `CIDR` such as `10.0.0.0/8`. Default: anywhere not denied.
    #[arg(long = "outbound-allow", value_name = "DESTINATION")]
    pub outbound_allow: Vec<isyswasfa_host::wasi::http::Destination>,
    /// Never let guests send requests to these destinations (same forms; repeat for more).
    /// Link-local addresses (`169.254.0.0/16`, `fe80::/10`: cloud metadata services) and the
    /// server's own address are always denied.
    #[arg(long = "outbound-deny", value_name = "DESTINATION")]
    pub outbound_deny: Vec<isyswasfa_host::wasi::http::Destination>,
    /// How long a handler may take to give a response head, e.g. `30s`, `500ms`
    /// (default: no limit). A late request gets a 500 and its guest work is cancelled.
    #[arg(long, value_parser = parse_duration)]
    pub request_timeout: Option<Duration>,
    /// Requests one instance handles at once.
    #[arg(long, default_value_t = DEFAULT_MAX_INSTANCE_CONCURRENCY)]
    pub max_instance_concurrency: u32,
    /// Requests one instance handles in all before a fresh one takes over.
    #[arg(long, default_value_t = DEFAULT_MAX_INSTANCE_REUSE)]
    pub max_instance_reuse: u32,
    /// How long in-flight requests may go on after Ctrl-C / SIGTERM, e.g. `10s`.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    pub shutdown_grace: Duration,
    /// Pass an environment variable to the component: `NAME=VALUE`, or `NAME` for the value it
    /// has here (left unset when it has none), as with `wasmtime serve`. Repeat for more.
    #[arg(long = "env", value_name = "NAME[=VALUE]", value_parser = super::run::parse_env)]
    pub env: Vec<super::run::EnvVar>,
    /// WASI settings, as `wasmtime serve -S` names them: `max-resources=N`,
    /// `max-random-size=N`, `max-http-fields-size=N`, `inherit-env`, `inherit-network`,
    /// `allow-ip-name-lookup`, `tcp`, `udp` (`=n` turns a switch off). Repeat, or separate with
    /// commas.
    #[arg(short = 'S', value_name = "NAME[=VALUE]", value_delimiter = ',', value_parser = WasiOption::parse)]
    pub wasi: Vec<WasiOption>,
    /// wasmtime's `-O` settings `serve` takes: `pooling-allocator[=y|n]`. Without it, the
    /// pooling allocator is used when the machine can reserve its virtual memory, else
    /// instances are allocated on demand (as `wasmtime serve` decides); `=y` insists on the
    /// pool, `=n` allocates on demand.
    #[arg(short = 'O', value_name = "NAME[=VALUE]", value_delimiter = ',', value_parser = parse_optimize)]
    pub optimize: Vec<PoolingChoice>,
}

/// Parses one `-O` setting: `pooling-allocator`, `pooling-allocator=y` or `=n` (also `yes`,
/// `true`, `no`, `false`).
fn parse_optimize(text: &str) -> Result<PoolingChoice, String> {
    let (name, value) = match text.split_once('=') {
        Some((name, value)) => (name, Some(value)),
        None => (text, None),
    };
    if name != "pooling-allocator" {
        return Err(format!(
            "`{text}`: the only -O setting `serve` takes is `pooling-allocator[=y|n]`"
        ));
    }
    match value {
        None | Some("y" | "yes" | "true") => Ok(PoolingChoice::On),
        Some("n" | "no" | "false") => Ok(PoolingChoice::Off),
        Some(other) => Err(format!(
            "`{text}`: `{other}` is not y or n (or yes, no, true, false)"
        )),
    }
}

/// The most requests or connections a flag may allow: far above what one process can serve,
/// and small enough for tokio's semaphore (which panics above `usize::MAX >> 3`).
const MAX_CONCURRENCY: usize = 1 << 20;

/// Parses a count between 1 and [`MAX_CONCURRENCY`].
fn at_least_one(text: &str) -> Result<usize, String> {
    let n: usize = text
        .parse()
        .map_err(|_| format!("`{text}` is not a whole number"))?;
    if (1..=MAX_CONCURRENCY).contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "`{text}`: it must be between 1 and {MAX_CONCURRENCY}"
        ))
    }
}

/// Parses a size in bytes: `1048576`, `512KiB`, `64MiB`, `1GiB`.
fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit()) {
        Some(at) => text.split_at(at),
        None => (text, ""),
    };
    let shift = match unit {
        "" => 0,
        "KiB" => 10,
        "MiB" => 20,
        "GiB" => 30,
        _ => {
            return Err(format!(
                "`{text}`: the unit must be KiB, MiB or GiB (or none: bytes)"
            ));
        }
    };
    number
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(1 << shift))
        .ok_or_else(|| format!("`{text}` is not a size like 64MiB"))
}

/// Parses `250ms`, `10s`, `2m` (a bare number is seconds).
fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{text}` is not a duration like 500ms, 10s or 2m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("`{text}`: the unit must be ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|e| format!("`{text}`: {e}"))
}

/// Runs `isyswasfa serve`.
pub fn run(args: &ServeArgs) -> Result<ExitCode> {
    // A Python guest is built to a file of its own, removed when serving ends.
    let mut _built = None;
    let component = if args.target.is_dir() && super::build_py::is_python_guest(&args.target) {
        let output =
            std::env::temp_dir().join(format!("isyswasfa-serve-{}.wasm", std::process::id()));
        super::build_py::build(&args.target, &output, None, "app", None)?;
        _built = Some(super::build_py::RemoveOnDrop(output.clone()));
        output
    } else if args.target.is_dir() {
        build_crate(&args.target)?
    } else {
        args.target.clone()
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("failed to start the async runtime")?;
    runtime.block_on(async {
        let cache = if args.no_cache {
            isyswasfa::serve::CompileCache::Off
        } else {
            isyswasfa::serve::CompileCache::Default
        };
        let pooling = args.optimize.last().copied().unwrap_or_default();
        let (engine, allocator) =
            isyswasfa::serve::serve_engine(cache, pooling, args.max_memory_size)?;
        eprintln!("instances use {allocator}");
        let listener = tokio::net::TcpListener::bind(args.addr)
            .await
            .with_context(|| format!("cannot listen on {}", args.addr))?;
        let local = listener.local_addr()?;
        let options = WasiOptions(args.wasi.clone());
        let config = ServeConfig {
            addr: args.addr,
            max_concurrent_requests: args.max_concurrent_requests,
            request_timeout: args.request_timeout,
            max_instance_concurrency: args.max_instance_concurrency.max(1),
            max_instance_reuse: args.max_instance_reuse.max(1),
            shutdown_grace: args.shutdown_grace,
            env: {
                let mut env = Vec::new();
                if options.inherit_env() {
                    env.extend(std::env::vars());
                }
                env.extend(super::run::env_values(&args.env));
                env
            },
            wasi: options,
            max_concurrent_connections: args.max_concurrent_connections,
            header_read_timeout: args.header_read_timeout,
            max_memory_size: args.max_memory_size,
            write_stall_timeout: args.write_stall_timeout,
            read_stall_timeout: args.read_stall_timeout,
            cpu_budget: args.cpu_budget,
            outbound: {
                use isyswasfa_host::wasi::http::{Destination, OutboundPolicy};
                // The server itself: a guest calling it would loop through it.
                let mut policy = OutboundPolicy::default().deny(Destination::socket(local));
                if local.ip().is_unspecified() {
                    for loopback in [
                        std::net::IpAddr::from([127, 0, 0, 1]),
                        std::net::Ipv6Addr::LOCALHOST.into(),
                    ] {
                        policy = policy.deny(Destination::socket((loopback, local.port()).into()));
                    }
                }
                for destination in &args.outbound_deny {
                    policy = policy.deny(destination.clone());
                }
                for destination in &args.outbound_allow {
                    policy = policy.allow(destination.clone());
                }
                policy
            },
        };
        let server = Arc::new(Server::new(&engine, &component, config)?);
        eprintln!("{} is {}", component.display(), server.kind());
        println!("Serving HTTP on http://{local}/");
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop.send(true);
        });
        server.run(listener, stopped).await;
        Ok(ExitCode::SUCCESS)
    })
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Builds the guest crate in `dir` and returns its component.
fn build_crate(dir: &Path) -> Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("Building {} …", dir.display());
    let output = Command::new(&cargo)
        .args([
            "build",
            "--release",
            "--target",
            "wasm32-wasip2",
            "--message-format=json-render-diagnostics",
        ])
        .current_dir(dir)
        .stderr(std::process::Stdio::inherit())
        .output()
        .with_context(|| format!("failed to run `{cargo}`"))?;
    if !output.status.success() {
        bail!("building `{}` failed (see the errors above)", dir.display());
    }
    // The last artifact that is a `.wasm` file of a cdylib in this directory's package.
    let manifest = std::fs::canonicalize(dir.join("Cargo.toml"))
        .with_context(|| format!("`{}` has no Cargo.toml", dir.display()))?;
    let mut found = None;
    for line in output.stdout.split(|b| *b == b'\n') {
        let Ok(message) = serde_json::from_slice::<serde_json::Value>(line) else {
            continue;
        };
        if message["reason"] != "compiler-artifact" {
            continue;
        }
        let ours = message["manifest_path"]
            .as_str()
            .and_then(|p| std::fs::canonicalize(p).ok())
            .is_some_and(|p| p == manifest);
        if !ours {
            continue;
        }
        if let Some(files) = message["filenames"].as_array() {
            for file in files.iter().filter_map(|f| f.as_str()) {
                if file.ends_with(".wasm") {
                    found = Some(PathBuf::from(file));
                }
            }
        }
    }
    found.ok_or_else(|| {
        anyhow!(
            "`{}` built no component: is it a crate with `crate-type = [\"cdylib\"]`?",
            dir.display()
        )
    })
}
