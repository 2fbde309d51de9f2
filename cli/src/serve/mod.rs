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
use hyper_util::rt::TokioIo;
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
}

/// Default of [`ServeConfig::max_concurrent_requests`].
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 1000;
/// Default of [`ServeConfig::max_instance_concurrency`] (what `wasmtime serve` uses for 0.3).
pub const DEFAULT_MAX_INSTANCE_CONCURRENCY: u32 = 16;
/// Default of [`ServeConfig::max_instance_reuse`] (what `wasmtime serve` uses for 0.3).
pub const DEFAULT_MAX_INSTANCE_REUSE: u32 = 128;
/// Default of [`ServeConfig::shutdown_grace`].
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

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
        }
    }
}

/// An engine that compiles every kind of servable component: the component model, with its
/// async ABI for native WASI 0.3 components, and epoch interruption driven by isyswasfa's one
/// ticker (the CPU deadline of polyfilled guests; native stores yield on each tick).
pub fn engine() -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.wasm_component_model_async(true);
    config.epoch_interruption(true);
    let engine = Engine::new(&config).map_err(anyhow::Error::from)?;
    isyswasfa_host::deadline::start_ticker(&engine)?;
    Ok(engine)
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
        request: http::Request<Incoming>,
    ) -> Result<http::Response<ServedBody>, Failure> {
        match self {
            Self::Polyfill(polyfill) => polyfill.handle(id, request).await,
            Self::Native(native) => native.handle(id, request).await,
        }
    }
}

/// A component ready to serve: compiled, checked and linked once.
pub struct Server {
    kind: Kind,
    backend: Backend,
    config: ServeConfig,
    requests: Arc<Semaphore>,
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
            requests: Arc::new(Semaphore::new(config.max_concurrent_requests)),
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
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let _ = stream.set_nodelay(true);
                        let server = Arc::clone(&self);
                        let closing = closing.subscribe();
                        connections.spawn(server.connection(stream, closing));
                    }
                    Err(error) => tracing::warn!("accepting a connection failed: {error}"),
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
            .serve_connection(TokioIo::new(stream), service);
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
        let handling = self.backend.handle(id, request);
        let outcome = match self.config.request_timeout {
            Some(limit) => match tokio::time::timeout(limit, handling).await {
                Ok(outcome) => outcome,
                Err(_) => Err(Failure::from(format!(
                    "the handler gave no response within {limit:?}"
                ))),
            },
            None => handling.await,
        };
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
