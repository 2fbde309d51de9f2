//! `isyswasfa serve`: an HTTP/1.1 server (hyper on tokio) whose requests are handled by a
//! component exporting `wasi:http/handler@0.3.0`.
//!
//! The component is compiled and linked once ([`InstancePre`]). An instance serves up to
//! [`ServeConfig::max_instance_concurrency`] requests at once and
//! [`ServeConfig::max_instance_reuse`] requests in all, then is retired, as `wasmtime serve`
//! does for WASI 0.3 components; an instance that trapped is retired at once, and only the
//! requests it was serving fail (a 500 and one log line each, naming the request id and the
//! cause). A request holds its instance until its response body has been sent, so an instance
//! is never dropped under a streaming body.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use bytes::Bytes;
use http_body::Frame;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use isyswasfa_host::http::{Body, BodyError, HandleError, Handler};
use isyswasfa_host::{Host, State};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};
use wasmtime::component::{Component, InstancePre, types::ComponentItem};
use wasmtime::{Engine, Store};

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
        }
    }
}

/// The interface a servable component exports.
const HANDLER: &str = isyswasfa_host::http::HANDLER;

/// A component ready to serve: compiled, checked and linked once.
pub struct Server {
    engine: Engine,
    pre: InstancePre<State>,
    config: ServeConfig,
    pool: Mutex<Vec<Arc<Slot>>>,
    requests: Arc<Semaphore>,
    next_request: AtomicU64,
    next_instance: AtomicU64,
}

/// One instance and how much it is used.
struct Slot {
    id: u64,
    handler: Handler<State>,
    usage: Mutex<Usage>,
}

#[derive(Default)]
struct Usage {
    active: u32,
    served: u32,
    retired: bool,
}

impl Server {
    /// Compiles `component` and checks that it exports the handler.
    pub fn new(engine: &Engine, component: &Path, config: ServeConfig) -> Result<Self> {
        let path = component.display();
        let component = Component::from_file(engine, component)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("`{path}` is not a component this host can run"))?;
        check_exports_handler(engine, &component, &path.to_string())?;
        let mut linker = isyswasfa_host::linker::<State>(engine)?;
        isyswasfa_host::add_component_imports(&mut linker, engine, &component)?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("`{path}` imports what this host cannot provide"))?;
        Ok(Self {
            engine: engine.clone(),
            pre,
            requests: Arc::new(Semaphore::new(config.max_concurrent_requests)),
            config,
            pool: Mutex::new(Vec::new()),
            next_request: AtomicU64::new(1),
            next_instance: AtomicU64::new(1),
        })
    }

    /// Number of live instances (for tests and logs).
    pub fn instances(&self) -> usize {
        self.pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The table sizes of every live instance (for leak checks).
    pub async fn table_sizes(&self) -> Result<Vec<isyswasfa_host::TableSizes>> {
        let slots: Vec<Arc<Slot>> = self
            .pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        let mut sizes = Vec::new();
        for slot in slots {
            sizes.push(slot.handler.host().table_sizes().await?);
        }
        Ok(sizes)
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
        let slot = match self.acquire().await {
            Ok(slot) => slot,
            Err(error) => return error_response(id, &summary, &format!("{error:#}")),
        };
        let lease = Lease {
            server: Arc::clone(&self),
            slot,
            failed: false,
            _permit: permit,
        };
        let request = request.map(Body::network);
        let handling = isyswasfa_host::http::handle(&lease.slot.handler, request);
        let outcome = match self.config.request_timeout {
            Some(limit) => match tokio::time::timeout(limit, handling).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    return error_response(
                        id,
                        &summary,
                        &format!("the handler gave no response within {limit:?}"),
                    );
                }
            },
            None => handling.await,
        };
        match outcome {
            Ok(response) => {
                tracing::debug!("request {id}: {summary} -> {}", response.status());
                response.map(|body| ServedBody {
                    body,
                    lease: Some(lease),
                    id,
                })
            }
            Err(error) => {
                let mut lease = lease;
                lease.failed = matches!(error, HandleError::Trap(_));
                error_response(id, &summary, &error.to_string())
            }
        }
    }

    /// An instance with room for one more request, made when none has.
    async fn acquire(&self) -> Result<Arc<Slot>> {
        {
            let pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
            for slot in pool.iter() {
                let mut usage = slot.usage.lock().unwrap_or_else(PoisonError::into_inner);
                if !usage.retired
                    && usage.active < self.config.max_instance_concurrency
                    && usage.served < self.config.max_instance_reuse
                {
                    usage.active += 1;
                    usage.served += 1;
                    return Ok(Arc::clone(slot));
                }
            }
        }
        let id = self.next_instance.fetch_add(1, Ordering::Relaxed);
        let mut state = State::new();
        state.isyswasfa.set_label(format!("instance {id}"));
        let host = Host::instantiate_pre(Store::new(&self.engine, state), &self.pre)
            .await
            .map_err(anyhow::Error::from)?;
        let handler = Handler::new(host).await.map_err(anyhow::Error::from)?;
        tracing::debug!("instance {id} started");
        let slot = Arc::new(Slot {
            id,
            handler,
            usage: Mutex::new(Usage {
                active: 1,
                served: 1,
                retired: false,
            }),
        });
        self.pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Arc::clone(&slot));
        Ok(slot)
    }

    /// A request of `slot` is over: retire the instance when it failed or is used up, and drop
    /// it once its last request is over.
    fn release(&self, slot: &Arc<Slot>, failed: bool) {
        let done = {
            let mut usage = slot.usage.lock().unwrap_or_else(PoisonError::into_inner);
            usage.active = usage.active.saturating_sub(1);
            if failed && !usage.retired {
                usage.retired = true;
                tracing::warn!("instance {} retired after a failure", slot.id);
            }
            if usage.served >= self.config.max_instance_reuse {
                usage.retired = true;
            }
            usage.retired && usage.active == 0
        };
        if done {
            let mut pool = self.pool.lock().unwrap_or_else(PoisonError::into_inner);
            pool.retain(|s| !Arc::ptr_eq(s, slot));
            tracing::debug!("instance {} dropped", slot.id);
        }
    }
}

/// Refuses, with the list of what it does export, a component without the handler.
fn check_exports_handler(engine: &Engine, component: &Component, path: &str) -> Result<()> {
    let mut exports = Vec::new();
    let mut has_handler = false;
    for (name, item) in component.component_type().exports(engine) {
        match item.ty {
            ComponentItem::ComponentInstance(instance) => {
                for (func, _) in instance.exports(engine) {
                    if name == HANDLER && func.starts_with("handle") {
                        has_handler = true;
                    }
                    exports.push(format!("{name}#{func}"));
                }
            }
            _ => exports.push(name.to_string()),
        }
    }
    if !has_handler {
        let list = if exports.is_empty() {
            "nothing".to_string()
        } else {
            exports.join(", ")
        };
        bail!("`{path}` does not export `{HANDLER}`, so it cannot serve HTTP; it exports: {list}");
    }
    if !exports
        .iter()
        .any(|e| e.starts_with(isyswasfa_host::POLL_PREFIX))
    {
        bail!(
            "`{path}` exports `{HANDLER}` natively (a WASI 0.3 component); `isyswasfa serve` \
             runs components built with isyswasfa (they export `isyswasfa-poll-*`)"
        );
    }
    Ok(())
}

/// A request's hold on its instance and its concurrency slot, released when the response body
/// has been sent (or the request failed).
struct Lease {
    server: Arc<Server>,
    slot: Arc<Slot>,
    failed: bool,
    _permit: OwnedSemaphorePermit,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.server.release(&self.slot, self.failed);
    }
}

/// A response body on its way out, holding its request's lease.
pub struct ServedBody {
    body: Body,
    lease: Option<Lease>,
    id: u64,
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
            Poll::Ready(None) => this.lease = None,
            Poll::Ready(Some(Err(error))) => {
                tracing::error!("request {}: the response body failed: {error}", this.id);
                if let Some(lease) = &mut this.lease {
                    lease.failed = true;
                }
                this.lease = None;
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
    let body = Body::network(http_body_util::Full::new(Bytes::from(format!(
        "500 Internal Server Error (request {id})\n"
    ))));
    let mut response = http::Response::new(ServedBody {
        body,
        lease: None,
        id,
    });
    *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    response
}
