//! Serving native WASI 0.3 components and WASI 0.2 proxies with wasmtime-wasi-http's own code:
//! its [`ProxyHandler`] runs the instances (reuse, concurrency, expiry) and converts requests and
//! responses; this module only says how to make an instance and when to retire one.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};
use http_body_util::BodyExt;
use hyper_util::rt::TokioIo;
use wasmtime::component::{Component, GuestTaskId, Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreContextMut};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::handler::{
    ExpirationError, HandlerState, Instance, ProxyHandler, ProxyPre, ShouldAccept,
    WorkerExpiration, WorkerState, WorkerStatus,
};
use wasmtime_wasi_http::{
    Error as HttpError, RequestOptions, WasiBody, WasiHttpCtx, WasiHttpCtxView, WasiHttpHooks,
    WasiHttpView,
};

use super::{Failure, Kind, ServeConfig, ServedBody};

/// A native WASI 0.3 component or WASI 0.2 proxy, served by wasmtime-wasi-http.
pub(super) struct Native {
    handler: ProxyHandler<Instances>,
    /// `--request-timeout`, for messages.
    timeout: Option<Duration>,
    /// Set once the server has stopped serving (see [`Native::stop`]).
    stopping: Arc<AtomicBool>,
}

impl Native {
    /// Links `component` with wasmtime-wasi and wasmtime-wasi-http for its `kind`.
    pub(super) fn new(
        engine: &Engine,
        component: &Component,
        path: &str,
        kind: Kind,
        config: &ServeConfig,
    ) -> Result<Self> {
        let mut linker = Linker::<NativeState>::new(engine);
        // Rust's std in a guest imports WASI 0.2 whatever the guest's own world is.
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        let imports = "imports what this host cannot provide";
        let pre = match kind {
            Kind::NativeP3 => {
                wasmtime_wasi::p3::add_to_linker(&mut linker)?;
                wasmtime_wasi_http::p3::add_to_linker(&mut linker)?;
                let pre = linker
                    .instantiate_pre(component)
                    .map_err(anyhow::Error::from)
                    .with_context(|| format!("`{path}` {imports}"))?;
                ProxyPre::P3(
                    wasmtime_wasi_http::p3::bindings::ServicePre::new(pre)
                        .map_err(anyhow::Error::from)
                        .with_context(|| format!("`{path}` is not a `wasi:http/service`"))?,
                )
            }
            Kind::ProxyP2 => {
                wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
                let pre = linker
                    .instantiate_pre(component)
                    .map_err(anyhow::Error::from)
                    .with_context(|| format!("`{path}` {imports}"))?;
                ProxyPre::P2(
                    wasmtime_wasi_http::p2::bindings::ProxyPre::new(pre)
                        .map_err(anyhow::Error::from)
                        .with_context(|| format!("`{path}` is not a `wasi:http/proxy`"))?,
                )
            }
            Kind::Polyfilled => anyhow::bail!("`{path}` is polyfilled, not native"),
        };
        let stopping = Arc::new(AtomicBool::new(false));
        Ok(Self {
            timeout: config.request_timeout,
            stopping: Arc::clone(&stopping),
            handler: ProxyHandler::new(Instances {
                stopping,
                engine: engine.clone(),
                pre,
                max_instance_concurrency: config.max_instance_concurrency as usize,
                max_instance_reuse: config.max_instance_reuse as usize,
                request_timeout: config.request_timeout,
                next_instance: AtomicU64::new(1),
                env: config.env.clone(),
                max_memory_size: config.max_memory_size,
                wasi: config.wasi.clone(),
                cpu_budget: config.cpu_budget,
            }),
        })
    }

    /// Says that the server has stopped serving: the instances wasmtime-wasi-http still keeps
    /// (idle, waiting for requests) are dropped with the runtime next, which is no failure.
    pub(super) fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    pub(super) async fn handle(
        &self,
        id: u64,
        request: http::Request<super::RequestBody>,
    ) -> Result<http::Response<ServedBody>, Failure> {
        let request = request.map(|body| {
            body.map_err(|error| match error {
                isyswasfa_host::wasi::http::StallError::Body(error) => HttpError::Hyper(error),
                // wasmtime-wasi-http reports a body that failed for an I/O reason so.
                stalled => HttpError::Connect(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    stalled.to_string(),
                )),
            })
            .boxed_unsync()
        });
        let response = self.handler.handle(id, request).await.map_err(|error| {
            match (error.is::<ExpirationError>(), self.timeout) {
                // wasmtime-wasi-http's own expiry of the instance races our timer; say it the
                // same way for every kind of component.
                (true, Some(limit)) => format!("the handler gave no response within {limit:?}"),
                _ => format!("{error:#}"),
            }
        })?;
        Ok(response.map(|body| ServedBody::new(id, body, None)))
    }
}

/// Makes the instances wasmtime-wasi-http's handler runs, and decides their reuse.
struct Instances {
    engine: Engine,
    pre: ProxyPre<NativeState>,
    max_instance_concurrency: usize,
    max_instance_reuse: usize,
    request_timeout: Option<Duration>,
    next_instance: AtomicU64,
    env: Vec<(String, String)>,
    max_memory_size: Option<usize>,
    wasi: crate::wasi_options::WasiOptions,
    cpu_budget: Duration,
    stopping: Arc<AtomicBool>,
}

impl HandlerState for Instances {
    type StoreData = NativeState;
    type WorkerExpiration = Expiration;
    type WorkerState = Worker;

    async fn instantiate(&self) -> wasmtime::Result<Instance<NativeState, Expiration, Worker>> {
        let id = self.next_instance.fetch_add(1, Ordering::Relaxed);
        let mut store = Store::new(
            &self.engine,
            NativeState::served(&self.env, self.max_memory_size, &self.wasi),
        );
        store.limiter(|state| &mut state.memory);
        // The engine interrupts on every epoch tick: let native guests go on, yielding to tokio
        // each time so that other requests are served meanwhile.
        cpu_deadline(&mut store, self.cpu_budget);
        let proxy = self.pre.instantiate_async(&mut store).await?;
        tracing::debug!("instance {id} started");
        Ok(Instance {
            store,
            proxy,
            view: <NativeState as WasiHttpView>::http,
            expiration: Expiration {
                request_timeout: self.request_timeout,
                timer: Mutex::new(None),
            },
            state: Worker {
                id,
                max_instance_concurrency: self.max_instance_concurrency,
                max_instance_reuse: self.max_instance_reuse,
                request_timeout: self.request_timeout,
                stopping: Arc::clone(&self.stopping),
            },
        })
    }
}

/// One instance's policy.
struct Worker {
    id: u64,
    max_instance_concurrency: usize,
    max_instance_reuse: usize,
    request_timeout: Option<Duration>,
    stopping: Arc<AtomicBool>,
}

/// What wasmtime-wasi-http says when a worker's task is dropped before it ended: after a panic,
/// or because the runtime is going away.
const DROPPED_WORKER: &str = "worker panicked";

impl WorkerState for Worker {
    type StoreData = NativeState;
    type RequestData = u64;

    fn should_accept_request(&self, concurrent: usize, total: usize) -> ShouldAccept {
        if total >= self.max_instance_reuse {
            ShouldAccept::Never
        } else if concurrent >= self.max_instance_concurrency {
            ShouldAccept::No
        } else {
            ShouldAccept::Yes
        }
    }

    fn on_request_start(
        &self,
        _: StoreContextMut<'_, NativeState>,
        _request: u64,
        _: GuestTaskId,
    ) -> Pin<Box<dyn Future<Output = ()> + Send + Sync>> {
        match self.request_timeout {
            Some(limit) => Box::pin(tokio::time::sleep(limit)),
            None => Box::pin(std::future::pending()),
        }
    }

    fn drop(&self, store: Store<NativeState>, result: wasmtime::Result<()>) {
        match result {
            Ok(()) => tracing::debug!("instance {} dropped", self.id),
            // The server stopped and the runtime drops the idle instances' tasks.
            Err(error)
                if self.stopping.load(Ordering::Relaxed) && error.to_string() == DROPPED_WORKER =>
            {
                tracing::debug!("instance {} stopped with the server", self.id);
            }
            Err(error) => {
                tracing::warn!("instance {} retired after a failure: {error:#}", self.id);
            }
        }
        drop(store);
    }
}

/// Expires an instance whose oldest unanswered request is older than the request timeout
/// (wasmtime-wasi-http polls this outside the store's event loop, in case a guest holds it).
struct Expiration {
    request_timeout: Option<Duration>,
    timer: Mutex<Option<Pin<Box<tokio::time::Sleep>>>>,
}

impl WorkerExpiration for Expiration {
    fn poll(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        status: WorkerStatus,
        start: Instant,
    ) -> Poll<()> {
        let (Some(limit), WorkerStatus::Requests) = (self.request_timeout, status) else {
            return Poll::Pending;
        };
        let deadline = tokio::time::Instant::from_std(start + limit);
        let mut timer = self.timer.lock().unwrap_or_else(PoisonError::into_inner);
        let timer = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        timer.as_mut().poll(cx)
    }
}

/// The store data of a native component (served, or run by `isyswasfa run`): wasmtime-wasi's
/// WASI and wasmtime-wasi-http's WASI HTTP, whose outgoing requests go out over plain `http://`.
pub struct NativeState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    hooks: Hooks,
    /// The cap on the instance's memories (`--max-memory-size`).
    memory: wasmtime::StoreLimits,
    /// When the CPU deadline last saw the instance running wasm.
    last_tick: Option<Instant>,
    /// Since when it has been running wasm without a pause.
    running_since: Instant,
}

impl NativeState {
    /// A store's data with the WASI context `wasi` and no cap on memory.
    pub fn new(wasi: WasiCtx) -> Self {
        Self::limited(wasi, None)
    }

    /// A store's data with the WASI context `wasi`, its memories capped at `max_memory_size`
    /// bytes (install the limiter with `Store::limiter`).
    fn limited(wasi: WasiCtx, max_memory_size: Option<usize>) -> Self {
        let mut memory = wasmtime::StoreLimitsBuilder::new();
        if let Some(bytes) = max_memory_size {
            memory = memory.memory_size(bytes);
        }
        Self {
            wasi,
            http: WasiHttpCtx::new(),
            table: ResourceTable::new(),
            hooks: Hooks,
            memory: memory.build(),
            last_tick: None,
            running_since: Instant::now(),
        }
    }

    /// Applies the `-S` limits a store without an isyswasfa context keeps: its resource table's
    /// size and the HTTP fields size (the others are the WASI context's).
    pub fn apply_limits(&mut self, options: &crate::wasi_options::WasiOptions) {
        if let Some(n) = options.max_resources() {
            self.table.set_max_capacity(n);
        }
        for option in &options.0 {
            if let crate::wasi_options::WasiOption::MaxHttpFieldsSize(bytes) = *option {
                self.http.set_field_size_limit(bytes);
            }
        }
    }

    /// What served instances get: the server's stdout and stderr, the `--env` variables,
    /// `--max-memory-size` and the `-S` settings.
    fn served(
        env: &[(String, String)],
        max_memory_size: Option<usize>,
        options: &crate::wasi_options::WasiOptions,
    ) -> Self {
        let mut state = Self::limited(served_wasi(env, options), max_memory_size);
        state.apply_limits(options);
        state
    }
}

/// The WASI context of a served instance, polyfilled or native: the server's stdout and stderr,
/// `env`, and the `-S` settings.
pub(super) fn served_wasi(
    env: &[(String, String)],
    options: &crate::wasi_options::WasiOptions,
) -> WasiCtx {
    let mut wasi = WasiCtx::builder();
    wasi.inherit_stdout().inherit_stderr().envs(env);
    options.apply_to_wasi(&mut wasi);
    wasi.build()
}

/// The CPU deadline of a native instance. Native guests run concurrently inside their store, so
/// there is no entry to time as for polyfilled ones; instead the callback, which runs on each
/// epoch tick while the instance runs wasm, measures how long it has been running wasm without
/// a pause (a tick with no wasm running resets it) and traps once that passes `budget`. Each
/// tick yields to tokio, so that other requests are served meanwhile.
pub(crate) fn cpu_deadline(store: &mut Store<NativeState>, budget: Duration) {
    use isyswasfa_host::limits::EPOCH_TICK;
    store.set_epoch_deadline(1);
    store.epoch_deadline_callback(move |mut store| {
        let now = Instant::now();
        let state = store.data_mut();
        let paused = state
            .last_tick
            .is_none_or(|last| now.duration_since(last) > EPOCH_TICK * 3);
        if paused {
            state.running_since = now;
        }
        state.last_tick = Some(now);
        let running = now.duration_since(state.running_since);
        if running > budget {
            return Err(wasmtime::format_err!(
                "isyswasfa: the instance computed for {running:?} without a pause, more than \
                 its CPU budget of {budget:?} (`serve --cpu-budget`), and was stopped"
            ));
        }
        Ok(wasmtime::UpdateDeadline::YieldCustom(
            1,
            Box::pin(tokio::task::yield_now()),
        ))
    });
}

impl WasiView for NativeState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for NativeState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.hooks,
        }
    }
}

/// Outgoing requests of native guests: plain `http://` over hyper (this build has no TLS).
struct Hooks;

type SendResult = Result<
    (
        http::Response<WasiBody>,
        Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ),
    HttpError,
>;

impl WasiHttpHooks for Hooks {
    fn send_request(
        &mut self,
        request: http::Request<WasiBody>,
        options: Option<RequestOptions>,
        _response_io: Box<dyn Future<Output = Result<(), HttpError>> + Send>,
    ) -> Box<dyn Future<Output = SendResult> + Send> {
        Box::new(send(request, options.unwrap_or_default()))
    }
}

/// Sends `request` over plain HTTP/1.1, within its `options`' timeouts (as wasmtime's own
/// client: `connection-timeout`, then `connection-read-timeout` for the response head and
/// between two frames of its body).
async fn send(mut request: http::Request<WasiBody>, options: RequestOptions) -> SendResult {
    /// `future`, failed with `error` once `limit` (if any) has passed.
    async fn within<T>(
        limit: Option<Duration>,
        error: HttpError,
        future: impl Future<Output = Result<T, HttpError>>,
    ) -> Result<T, HttpError> {
        match limit {
            Some(limit) => tokio::time::timeout(limit, future)
                .await
                .map_err(|_| error)?,
            None => future.await,
        }
    }
    let uri = request.uri().clone();
    if uri.scheme() != Some(&http::uri::Scheme::HTTP) {
        // Only plain HTTP: the server is built without rustls.
        return Err(HttpError::HttpProtocolError);
    }
    let authority = uri.authority().ok_or(HttpError::HttpRequestUriInvalid)?;
    let address = format!(
        "{}:{}",
        authority.host(),
        authority.port_u16().unwrap_or(80)
    );
    let stream = within(
        options.connect_timeout,
        HttpError::ConnectionTimeout,
        async {
            tokio::net::TcpStream::connect(&address)
                .await
                .map_err(HttpError::Connect)
        },
    )
    .await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(HttpError::Hyper)?;
    let (done, outcome) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let _ = done.send(connection.await.map_err(HttpError::Hyper));
    });
    // HTTP/1.1 requests name the path; the authority goes in `host`.
    if let Some(path) = uri.path_and_query() {
        *request.uri_mut() = path
            .as_str()
            .parse()
            .map_err(|_| HttpError::HttpRequestUriInvalid)?;
    }
    let response = within(
        options.first_byte_timeout,
        HttpError::ConnectionReadTimeout,
        async { sender.send_request(request).await.map_err(HttpError::Hyper) },
    )
    .await?;
    let io: Box<dyn Future<Output = Result<(), HttpError>> + Send> =
        Box::new(async move { outcome.await.unwrap_or(Ok(())) });
    let response = match options.between_bytes_timeout {
        Some(limit) => response.map(|body| {
            isyswasfa_host::wasi::http::StallBody::new(body, limit)
                .map_err(|error| match error {
                    isyswasfa_host::wasi::http::StallError::Body(error) => HttpError::Hyper(error),
                    isyswasfa_host::wasi::http::StallError::Stalled(_) => {
                        HttpError::ConnectionReadTimeout
                    }
                })
                .boxed_unsync()
        }),
        None => response.map(|body| body.map_err(HttpError::Hyper).boxed_unsync()),
    };
    Ok((response, io))
}
