//! `isyswasfa serve`: an HTTP/1.1 server (hyper on tokio) whose requests a component handles.
//!
//! Three kinds of components are served, told apart by their exports ([`Kind`]):
//!
//! - **isyswasfa-polyfilled** (`wasi:http/handler@0.3.0` lowered, plus `isyswasfa-poll-*`):
//!   served by isyswasfa's own host ([`polyfill`]);
//! - **native WASI 0.3** (`wasi:http/handler@0.3.x` with a native async `handle`) and
//!   **plain WASI 0.2 proxies** (`wasi:http/incoming-handler@0.2.x`): served by
//!   wasmtime-wasi-http's own handler ([`native`]).
//!
//! Whatever the kind, the accept loop, the limits, the request timeout, the graceful shutdown and
//! the failure report (a 500 and one log line `request N: METHOD URI failed: cause`) are the
//! same, and live here.

mod native;
mod polyfill;
mod stall;

pub use native::NativeState;

use std::convert::Infallible;
use std::fmt;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use http_body::Frame;
use http_body_util::BodyExt;
use http_body_util::combinators::UnsyncBoxBody;
use hyper::body::Incoming;

/// A request's body as the backends get it: the network's, with the read-stall timeout.
type RequestBody = isyswasfa_host::wasi::http::StallBody<Incoming>;
use hyper_util::rt::{TokioIo, TokioTimer};
use isyswasfa_host::wasi::http::BodyError;
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use wasmtime::component::{Component, types::ComponentItem};
use wasmtime::{Config, Engine};

/// The limits and addresses of a server.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where to listen.
    pub addr: SocketAddr,
    /// Requests handled at once, over all instances; more wait for a slot.
    pub max_concurrent_requests: usize,
    /// How long a guest may take to return a response head; then the request gets a 500 and
    /// the guest's work for it is cancelled.
    pub request_timeout: Option<Duration>,
    /// Requests one instance handles at once.
    pub max_instance_concurrency: u32,
    /// Requests one instance handles in all before it is retired.
    pub max_instance_reuse: u32,
    /// How long in-flight requests may go on after a shutdown signal.
    pub shutdown_grace: Duration,
    /// The environment variables of every instance (`wasi:cli/environment`).
    pub env: Vec<(String, String)>,
    /// Connections open at once; beyond it the server stops accepting (new clients wait in the
    /// listen backlog) until one closes.
    pub max_concurrent_connections: usize,
    /// How long a client may take to send a request head. It also bounds an idle keep-alive
    /// connection, which is waiting for its next request head: either way the connection is
    /// closed, so a client that sends half a head, or nothing, cannot hold it open.
    pub header_read_timeout: Duration,
    /// The most bytes one linear memory of an instance may grow to (`None`: wasm's 4 GiB).
    pub max_memory_size: Option<usize>,
    /// How long writing a response may wait for a client that takes none of its bytes; then
    /// the connection is closed (the response aborted), freeing its instance and its slot.
    pub write_stall_timeout: Duration,
    /// How long a guest's read of a request body may wait for the client to send a byte; then
    /// the body fails (the guest sees an error), so a client that stops or trickles its upload
    /// cannot hold an instance and a slot forever.
    pub read_stall_timeout: Duration,
    /// How long a guest may compute without a pause (polyfilled: one entry; native: the
    /// instance running wasm without stopping) before it is stopped with a trap.
    pub cpu_budget: Duration,
    /// Where the guests may send requests (polyfilled components). `isyswasfa serve` adds the
    /// server's own address to its deny list, so a guest cannot make the server call itself.
    pub outbound: isyswasfa_host::wasi::http::OutboundPolicy,
    /// The `-S` WASI settings of every instance (limits, network).
    pub wasi: crate::wasi_options::WasiOptions,
}

/// Default of [`ServeConfig::max_concurrent_requests`].
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 1000;
/// Default of [`ServeConfig::max_instance_concurrency`] (what `wasmtime serve` uses for 0.3).
pub const DEFAULT_MAX_INSTANCE_CONCURRENCY: u32 = 16;
/// Default of [`ServeConfig::max_instance_reuse`] (what `wasmtime serve` uses for 0.3).
pub const DEFAULT_MAX_INSTANCE_REUSE: u32 = 128;
/// Default of [`ServeConfig::shutdown_grace`].
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// Default of [`ServeConfig::max_concurrent_connections`]: below the usual soft limit of 1024
/// open files per process, so that the cap, not `EMFILE`, is what a connection flood meets
/// first, and leaving room for the files and outgoing sockets of the instances.
pub const DEFAULT_MAX_CONCURRENT_CONNECTIONS: usize = 768;
/// Default of [`ServeConfig::header_read_timeout`]: ample for a real client on a slow network
/// to send a request head, and short enough that idle and half-sent connections do not pile up.
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default of [`ServeConfig::write_stall_timeout`]: a client on a slow network still takes
/// some bytes every few seconds; one that takes none for this long has stopped reading.
pub const DEFAULT_WRITE_STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Default of [`ServeConfig::read_stall_timeout`]: the same reasoning for uploads (nginx's
/// `client_body_timeout`, also between two reads, is 60 s).
pub const DEFAULT_READ_STALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The first pause after `accept` fails (typically `EMFILE`: out of file descriptors, which
/// fails again at once on every retry); it doubles on each further failure up to
/// [`MAX_ACCEPT_BACKOFF`], so the accept loop never spins.
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(5);
/// The longest pause between two failed `accept`s.
pub const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);
/// While `accept` keeps failing, at most one log record per this interval (with the count of
/// failures since the last one), so the log cannot fill the disk.
const ACCEPT_LOG_INTERVAL: Duration = Duration::from_secs(10);

impl Default for ServeConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 8080)),
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            request_timeout: None,
            max_instance_concurrency: DEFAULT_MAX_INSTANCE_CONCURRENCY,
            max_instance_reuse: DEFAULT_MAX_INSTANCE_REUSE,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            env: Vec::new(),
            max_concurrent_connections: DEFAULT_MAX_CONCURRENT_CONNECTIONS,
            header_read_timeout: DEFAULT_HEADER_READ_TIMEOUT,
            max_memory_size: None,
            write_stall_timeout: DEFAULT_WRITE_STALL_TIMEOUT,
            read_stall_timeout: DEFAULT_READ_STALL_TIMEOUT,
            cpu_budget: isyswasfa_host::limits::DEFAULT_CPU_BUDGET,
            outbound: Default::default(),
            wasi: Default::default(),
        }
    }
}

/// An engine that compiles every kind of servable component: the component model, with its
/// async ABI for native WASI 0.3 components, and epoch interruption driven by isyswasfa's one
/// ticker (the CPU deadline of polyfilled guests; native stores yield on each tick).
pub fn engine() -> Result<Engine> {
    engine_with(CompileCache::Off)
}

/// Whether an engine keeps compiled components on disk between runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompileCache {
    /// Compile every time.
    Off,
    /// wasmtime's compilation cache with its default settings (as `wasmtime run` and `serve`
    /// have it): machine code for a component already compiled by this wasmtime with this
    /// configuration is read back instead of compiled again. The directory is the user's
    /// cache directory (`$XDG_CACHE_HOME/wasmtime` or `~/.cache/wasmtime` on Linux).
    Default,
}

/// [`engine`], with or without the compilation cache. A cache that cannot be set up (no home
/// directory, say) is left off, with a warning: it only saves time.
pub fn engine_with(cache: CompileCache) -> Result<Engine> {
    let engine = Engine::new(&engine_config(cache)).map_err(anyhow::Error::from)?;
    isyswasfa_host::deadline::start_ticker(&engine)?;
    Ok(engine)
}

/// The configuration of [`engine_with`].
fn engine_config(cache: CompileCache) -> Config {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.wasm_component_model_async(true);
    config.epoch_interruption(true);
    if cache == CompileCache::Default {
        match wasmtime::Cache::new(wasmtime::CacheConfig::new()) {
            Ok(cache) => {
                config.cache(Some(cache));
            }
            Err(error) => tracing::warn!("the compilation cache is off: {error:#}"),
        }
    }
    config
}

/// How `serve` allocates its instances' memories, tables and stacks (`-O pooling-allocator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PoolingChoice {
    /// The pool when the machine can reserve its virtual memory, else on demand (as `wasmtime
    /// serve` decides).
    #[default]
    Auto,
    /// The pool; serving fails when it cannot be made.
    On,
    /// On demand (wasmtime's default allocator).
    Off,
}

/// The allocator an engine from [`serve_engine`] got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allocator {
    /// wasmtime's pooling allocator, with these limits.
    Pooling {
        /// Component instances alive at once.
        instances: u32,
        /// Linear memories alive at once.
        memories: u32,
        /// The most bytes each memory may grow to.
        max_memory_size: usize,
    },
    /// On demand: by the pool's flag, or because the pool could not be made (`reason`).
    OnDemand {
        /// Why not the pool, when it was not asked for off.
        reason: Option<String>,
    },
}

impl fmt::Display for Allocator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Allocator::Pooling {
                instances,
                memories,
                max_memory_size,
            } => write!(
                f,
                "the pooling allocator ({instances} instances, {memories} memories of up to \
                 {} MiB)",
                max_memory_size >> 20
            ),
            Allocator::OnDemand { reason: None } => {
                write!(f, "on-demand allocation (-O pooling-allocator=n)")
            }
            Allocator::OnDemand {
                reason: Some(reason),
            } => write!(
                f,
                "on-demand allocation (the pooling allocator could not be made: {reason})"
            ),
        }
    }
}

/// Component instances the pool holds at once: `--max-concurrent-requests`' default, each
/// request on an instance of its own (`--max-instance-concurrency 1`), and wasmtime's default.
pub const POOL_INSTANCES: u32 = 1000;
/// Core instances the pool holds at once: a componentize-py component is a dozen or more core
/// instances (the interpreter, its libraries, the adapters); they take no reserved memory.
pub const POOL_CORE_INSTANCES: u32 = 20 * POOL_INSTANCES;
/// Linear memories the pool reserves: one per instance is what most components have (a
/// componentize-py component shares one among its libraries); each reserves its slot's
/// virtual memory (up to 4 GiB plus a guard), which is what the machine must allow.
pub const POOL_MEMORIES: u32 = POOL_INSTANCES;
/// Tables the pool holds at once (a few per component instance).
pub const POOL_TABLES: u32 = 4 * POOL_INSTANCES;
/// Elements of each pooled table: an interpreter's function table has tens of thousands.
pub const POOL_TABLE_ELEMENTS: usize = 100_000;
/// Bytes of host state one pooled core instance may need (its `VMContext`, which grows with its
/// functions; checked, not reserved).
pub const POOL_CORE_INSTANCE_SIZE: usize = 4 << 20;
/// Bytes of host state one pooled component instance may need, its core instances' included.
pub const POOL_COMPONENT_INSTANCE_SIZE: usize = 64 << 20;

/// The pool's settings: [`POOL_INSTANCES`] and the rest, with memories of at most
/// `max_memory_size` (`--max-memory-size`; wasm's own 4 GiB without it).
fn pooling_config(max_memory_size: Option<usize>) -> wasmtime::PoolingAllocationConfig {
    let mut pool = wasmtime::PoolingAllocationConfig::new();
    pool.total_component_instances(POOL_INSTANCES)
        .total_core_instances(POOL_CORE_INSTANCES)
        .total_memories(POOL_MEMORIES)
        .total_tables(POOL_TABLES)
        .total_stacks(POOL_INSTANCES)
        .table_elements(POOL_TABLE_ELEMENTS)
        .max_tables_per_module(4)
        .max_core_instance_size(POOL_CORE_INSTANCE_SIZE)
        .max_component_instance_size(POOL_COMPONENT_INSTANCE_SIZE);
    if let Some(bytes) = max_memory_size {
        pool.max_memory_size(bytes);
    }
    pool
}

/// `serve`'s engine ([`engine_with`]) with the instance allocator `pooling` asks for, and which
/// one it got. With [`PoolingChoice::Auto`] the pool is used when it can be made: making it
/// reserves the virtual memory of all its memory slots at once, which fails where the address
/// space is limited (`ulimit -v`); then instances are allocated on demand, as `wasmtime serve`
/// falls back.
pub fn serve_engine(
    cache: CompileCache,
    pooling: PoolingChoice,
    max_memory_size: Option<usize>,
) -> Result<(Engine, Allocator)> {
    if pooling != PoolingChoice::Off {
        let mut config = engine_config(cache);
        config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(
            pooling_config(max_memory_size),
        ));
        match Engine::new(&config) {
            Ok(engine) => {
                isyswasfa_host::deadline::start_ticker(&engine)?;
                let allocator = Allocator::Pooling {
                    instances: POOL_INSTANCES,
                    memories: POOL_MEMORIES,
                    max_memory_size: max_memory_size.unwrap_or(1 << 32),
                };
                return Ok((engine, allocator));
            }
            Err(error) if pooling == PoolingChoice::Auto => {
                let reason = format!("{error:#}");
                let engine = engine_with(cache)?;
                return Ok((
                    engine,
                    Allocator::OnDemand {
                        reason: Some(reason),
                    },
                ));
            }
            Err(error) => {
                return Err(anyhow::Error::from(error)
                    .context("the pooling allocator (-O pooling-allocator=y) could not be made"));
            }
        }
    }
    Ok((engine_with(cache)?, Allocator::OnDemand { reason: None }))
}

/// What kind of HTTP component a component is, from its exports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Built with isyswasfa: exports the lowered `wasi:http/handler@0.3.0` and
    /// `isyswasfa-poll-*`.
    Polyfilled,
    /// A native WASI 0.3 component exporting `wasi:http/handler@0.3.x`.
    NativeP3,
    /// A WASI 0.2 proxy exporting `wasi:http/incoming-handler@0.2.x`.
    ProxyP2,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Polyfilled => "an isyswasfa component (wasi:http/handler@0.3.0, polyfilled)",
            Self::NativeP3 => "a native WASI 0.3 component (wasi:http/handler@0.3)",
            Self::ProxyP2 => "a WASI 0.2 proxy (wasi:http/incoming-handler@0.2)",
        })
    }
}

/// The export prefixes of the handler interfaces, by kind.
const P3_HANDLER: &str = "wasi:http/handler@0.3.";
const P2_HANDLER: &str = "wasi:http/incoming-handler@0.2.";

impl Kind {
    /// Tells the kind of `component` from its exports, or refuses it with the list of what it
    /// does export.
    pub fn of(engine: &Engine, component: &Component, path: &str) -> Result<Self> {
        let mut exports = Vec::new();
        let mut p3_handle = false;
        let mut p2_handle = false;
        for (name, item) in component.component_type().exports(engine) {
            match item.ty {
                ComponentItem::ComponentInstance(instance) => {
                    for (func, _) in instance.exports(engine) {
                        p3_handle |= name.starts_with(P3_HANDLER) && func.starts_with("handle");
                        p2_handle |= name.starts_with(P2_HANDLER) && func == "handle";
                        exports.push(format!("{name}#{func}"));
                    }
                }
                _ => exports.push(name.to_string()),
            }
        }
        let polyfilled = exports
            .iter()
            .any(|e| e.starts_with(isyswasfa_host::POLL_PREFIX));
        match (p3_handle, p2_handle, polyfilled) {
            (true, _, true) => Ok(Self::Polyfilled),
            (true, _, false) => Ok(Self::NativeP3),
            (false, true, _) => Ok(Self::ProxyP2),
            (false, false, _) => {
                let list = if exports.is_empty() {
                    "nothing".to_string()
                } else {
                    exports.join(", ")
                };
                bail!(
                    "`{path}` does not export `{}` (nor `wasi:http/incoming-handler@0.2`), so it \
                     cannot serve HTTP; it exports: {list}",
                    isyswasfa_host::wasi::http::HANDLER
                )
            }
        }
    }
}

/// Why a request got no response (logged with the request's id, answered with a 500).
pub struct Failure {
    cause: String,
}

impl<E: fmt::Display> From<E> for Failure {
    fn from(error: E) -> Self {
        Self {
            cause: error.to_string(),
        }
    }
}

/// A way to handle requests: one per [`Kind`].
enum Backend {
    Polyfill(Arc<polyfill::Polyfill>),
    Native(native::Native),
}

impl Backend {
    async fn handle(
        &self,
        id: u64,
        request: http::Request<RequestBody>,
        timeout: Option<Duration>,
    ) -> Result<http::Response<ServedBody>, Failure> {
        match self {
            // The polyfill applies the timeout itself: it must see which instance overran.
            Self::Polyfill(polyfill) => polyfill.handle(id, request, timeout).await,
            Self::Native(native) => within(timeout, native.handle(id, request)).await?,
        }
    }
}

/// `handling`, failed when it gives no response head within `timeout` (dropping it cancels the
/// guest's work for the request).
async fn within<F>(timeout: Option<Duration>, handling: F) -> Result<F::Output, Failure>
where
    F: std::future::Future,
{
    match timeout {
        Some(limit) => tokio::time::timeout(limit, handling)
            .await
            .map_err(|_| no_response_within(limit)),
        None => Ok(handling.await),
    }
}

/// The failure of a request whose handler gave no response head within `limit`.
fn no_response_within(limit: Duration) -> Failure {
    Failure::from(format!("the handler gave no response within {limit:?}"))
}

/// A component ready to serve: compiled, checked and linked once.
pub struct Server {
    kind: Kind,
    backend: Backend,
    config: ServeConfig,
    requests: Arc<Semaphore>,
    connections: Arc<Semaphore>,
    next_request: AtomicU64,
}

impl Server {
    /// Compiles `component` (with an engine from [`engine`]), tells its [`Kind`] and links it.
    pub fn new(engine: &Engine, component: &Path, config: ServeConfig) -> Result<Self> {
        let path = component.display().to_string();
        let component = Component::from_file(engine, component)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("`{path}` is not a component this host can run"))?;
        let kind = Kind::of(engine, &component, &path)?;
        let backend = match kind {
            Kind::Polyfilled => Backend::Polyfill(Arc::new(polyfill::Polyfill::new(
                engine, &component, &path, &config,
            )?)),
            Kind::NativeP3 | Kind::ProxyP2 => Backend::Native(native::Native::new(
                engine, &component, &path, kind, &config,
            )?),
        };
        Ok(Self {
            kind,
            backend,
            requests: Arc::new(Semaphore::new(config.max_concurrent_requests.max(1))),
            connections: Arc::new(Semaphore::new(config.max_concurrent_connections.max(1))),
            config,
            next_request: AtomicU64::new(1),
        })
    }

    /// What kind of component this server runs.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Number of live instances (polyfilled components; for tests and logs).
    pub fn instances(&self) -> usize {
        match &self.backend {
            Backend::Polyfill(polyfill) => polyfill.instances(),
            Backend::Native(_) => 0,
        }
    }

    /// The table sizes of every live instance (polyfilled components; for leak checks).
    pub async fn table_sizes(&self) -> Result<Vec<isyswasfa_host::TableSizes>> {
        match &self.backend {
            Backend::Polyfill(polyfill) => polyfill.table_sizes().await,
            Backend::Native(_) => Ok(Vec::new()),
        }
    }

    /// Accepts connections on `listener` until `shutdown` turns true, then lets in-flight
    /// requests finish within the grace period.
    pub async fn run(self: Arc<Self>, listener: TcpListener, mut shutdown: watch::Receiver<bool>) {
        let (closing, _) = watch::channel(false);
        let closing = Arc::new(closing);
        let mut connections = tokio::task::JoinSet::new();
        let mut failures = AcceptFailures::default();
        loop {
            tokio::select! {
                accepted = accept(&listener, &self.connections) => match accepted {
                    Ok((stream, slot)) => {
                        failures.recovered();
                        let _ = stream.set_nodelay(true);
                        let server = Arc::clone(&self);
                        let closing = closing.subscribe();
                        connections.spawn(async move {
                            server.connection(stream, closing).await;
                            drop(slot);
                        });
                    }
                    Err(error) => tokio::time::sleep(failures.failed(&error)).await,
                },
                changed = shutdown.changed() => {
                    if changed.is_err() || *shutdown.borrow() {
                        break;
                    }
                }
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        drop(listener);
        tracing::info!(
            "shutting down: waiting for in-flight requests (up to {:?})",
            self.config.shutdown_grace
        );
        let _ = closing.send(true);
        let drained = tokio::time::timeout(self.config.shutdown_grace, async {
            while connections.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                "grace period over: closing {} connection(s)",
                connections.len()
            );
            connections.abort_all();
        }
        if let Backend::Native(native) = &self.backend {
            native.stop();
        }
    }

    async fn connection(
        self: Arc<Self>,
        stream: tokio::net::TcpStream,
        mut closing: watch::Receiver<bool>,
    ) {
        let server = Arc::clone(&self);
        let service = hyper::service::service_fn(move |request| {
            let server = Arc::clone(&server);
            async move { Ok::<_, Infallible>(server.serve(request).await) }
        });
        let connection = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(self.config.header_read_timeout)
            .serve_connection(
                TokioIo::new(stall::StallGuard::new(
                    stream,
                    self.config.write_stall_timeout,
                )),
                service,
            );
        tokio::pin!(connection);
        loop {
            tokio::select! {
                outcome = connection.as_mut() => {
                    if let Err(error) = outcome {
                        tracing::debug!("connection ended: {error}");
                    }
                    return;
                }
                changed = closing.changed(), if !*closing.borrow() => {
                    if changed.is_ok() {
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
        }
    }

    /// Serves one request; every failure becomes a 500 with a log line naming the request.
    async fn serve(
        self: Arc<Self>,
        request: http::Request<Incoming>,
    ) -> http::Response<ServedBody> {
        let id = self.next_request.fetch_add(1, Ordering::Relaxed);
        let summary = format!("{} {}", request.method(), request.uri());
        let permit = match Arc::clone(&self.requests).acquire_owned().await {
            Ok(permit) => permit,
            Err(_) => return error_response(id, &summary, "the server is shutting down"),
        };
        let request = request.map(|body| {
            isyswasfa_host::wasi::http::StallBody::new(body, self.config.read_stall_timeout)
        });
        let outcome = self
            .backend
            .handle(id, request, self.config.request_timeout)
            .await;
        match outcome {
            Ok(mut response) => {
                tracing::debug!("request {id}: {summary} -> {}", response.status());
                response.body_mut().permit = Some(permit);
                response
            }
            Err(failure) => error_response(id, &summary, &failure.cause),
        }
    }
}

/// Waits for a connection slot, then for a connection: at the cap, clients wait in the listen
/// backlog rather than being accepted and left unserved.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
) -> std::io::Result<(tokio::net::TcpStream, OwnedSemaphorePermit)> {
    let slot = Arc::clone(slots)
        .acquire_owned()
        .await
        .map_err(std::io::Error::other)?;
    let (stream, _) = listener.accept().await?;
    Ok((stream, slot))
}

/// The accept loop's back-off and log throttle while `accept` keeps failing.
#[derive(Default)]
struct AcceptFailures {
    /// Failures in a row (0: the last accept succeeded).
    in_a_row: u32,
    /// Failures not logged yet, and when the last record was written.
    unlogged: u64,
    last_logged: Option<std::time::Instant>,
}

impl AcceptFailures {
    /// Records a failure: logs it (at most once per [`ACCEPT_LOG_INTERVAL`]) and returns how long
    /// to pause before the next `accept`.
    fn failed(&mut self, error: &std::io::Error) -> Duration {
        self.in_a_row = self.in_a_row.saturating_add(1);
        self.unlogged += 1;
        let now = std::time::Instant::now();
        if self
            .last_logged
            .is_none_or(|at| now.duration_since(at) >= ACCEPT_LOG_INTERVAL)
        {
            tracing::warn!(
                "accepting a connection failed ({} time(s) since the last report): {error}",
                self.unlogged
            );
            self.unlogged = 0;
            self.last_logged = Some(now);
        }
        ACCEPT_BACKOFF
            .saturating_mul(1 << self.in_a_row.min(16).saturating_sub(1))
            .min(MAX_ACCEPT_BACKOFF)
    }

    /// An accept succeeded: the next failure starts a fresh back-off.
    fn recovered(&mut self) {
        self.in_a_row = 0;
    }
}

/// What a response body holds on to until it has been sent, told when sending it failed.
pub(crate) trait BodyGuard: Send {
    /// The body failed midway (the response is cut short).
    fn failed(&mut self) {}
}

/// A response body on its way out, holding its request's instance and concurrency slot.
pub struct ServedBody {
    body: UnsyncBoxBody<Bytes, BodyError>,
    guard: Option<Box<dyn BodyGuard>>,
    permit: Option<OwnedSemaphorePermit>,
    id: u64,
}

impl ServedBody {
    pub(crate) fn new<B>(id: u64, body: B, guard: Option<Box<dyn BodyGuard>>) -> Self
    where
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BodyError>,
    {
        Self {
            body: body.map_err(Into::into).boxed_unsync(),
            guard,
            permit: None,
            id,
        }
    }

    fn release(&mut self) {
        self.guard = None;
        self.permit = None;
    }
}

impl http_body::Body for ServedBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        let this = self.get_mut();
        let frame = Pin::new(&mut this.body).poll_frame(cx);
        match &frame {
            Poll::Ready(None) => this.release(),
            Poll::Ready(Some(Err(error))) => {
                tracing::error!("request {}: the response body failed: {error}", this.id);
                if let Some(guard) = &mut this.guard {
                    guard.failed();
                }
                this.release();
            }
            _ => {}
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

fn error_response(id: u64, summary: &str, cause: &str) -> http::Response<ServedBody> {
    tracing::error!("request {id}: {summary} failed: {cause}");
    let body = http_body_util::Full::new(Bytes::from(format!(
        "500 Internal Server Error (request {id})\n"
    )));
    let mut response = http::Response::new(ServedBody::new(id, body, None));
    *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    response
}
