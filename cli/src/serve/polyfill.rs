//! Serving isyswasfa-polyfilled components with isyswasfa's own host.
//!
//! The component is compiled and linked once ([`InstancePre`]). An instance serves up to
//! [`ServeConfig::max_instance_concurrency`] requests at once and
//! [`ServeConfig::max_instance_reuse`] requests in all, then is retired, as `wasmtime serve`
//! does for WASI 0.3 components; an instance that trapped is retired at once, and only the
//! requests it was serving fail. A request holds its instance until its response body has been
//! sent, so an instance is never dropped under a streaming body.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context as _, Result};
use isyswasfa_host::wasi::http::{Body, HandleError, Handler};
use isyswasfa_host::{Host, IsyswasfaCtx, State};
use wasmtime::component::{Component, InstancePre};
use wasmtime::{Engine, Store};

use super::{BodyGuard, Failure, ServeConfig, ServedBody};

/// A polyfilled component's instances.
pub(super) struct Polyfill {
    engine: Engine,
    pre: InstancePre<State>,
    max_instance_concurrency: u32,
    max_instance_reuse: u32,
    pool: Mutex<Vec<Arc<Slot>>>,
    next_instance: AtomicU64,
    env: Vec<(String, String)>,
    max_memory_size: Option<usize>,
    outbound: isyswasfa_host::wasi::http::OutboundPolicy,
    wasi: crate::wasi_options::WasiOptions,
    cpu_budget: Duration,
}

/// One instance and how much it is used.
struct Slot {
    id: u64,
    handler: Handler<State>,
    usage: Mutex<Usage>,
}

impl Slot {
    /// Whether the instance is inside one guest call for longer than [`STUCK_AFTER`]: it makes
    /// no progress on anything else meanwhile, so new requests go to another instance.
    fn stuck(&self) -> bool {
        self.handler
            .host()
            .entered_for()
            .is_some_and(|d| d >= STUCK_AFTER)
    }
}

/// How long an instance may stay inside one guest call before it counts as stuck: far longer
/// than a guest entry normally lasts (it runs until its tasks wait), far shorter than a client
/// notices.
const STUCK_AFTER: Duration = Duration::from_millis(50);

#[derive(Default)]
struct Usage {
    active: u32,
    served: u32,
    retired: bool,
}

impl Polyfill {
    /// Links `component` (already checked to be polyfilled) with isyswasfa's host.
    pub(super) fn new(
        engine: &Engine,
        component: &Component,
        path: &str,
        config: &ServeConfig,
    ) -> Result<Self> {
        let mut linker = isyswasfa_host::linker::<State>(engine)?;
        isyswasfa_host::add_component_imports(&mut linker, engine, component)?;
        let native = isyswasfa_host::native_async_imports(engine, component);
        let pre = linker
            .instantiate_pre(component)
            .map_err(anyhow::Error::from)
            .map_err(|error| match native.is_empty() {
                true => error,
                false => error.context(isyswasfa_host::native_abi_message(&native)),
            })
            .with_context(|| format!("`{path}` imports what this host cannot provide"))?;
        Ok(Self {
            engine: engine.clone(),
            pre,
            max_instance_concurrency: config.max_instance_concurrency,
            max_instance_reuse: config.max_instance_reuse,
            pool: Mutex::new(Vec::new()),
            next_instance: AtomicU64::new(1),
            env: config.env.clone(),
            max_memory_size: config.max_memory_size,
            outbound: config.outbound.clone(),
            wasi: config.wasi.clone(),
            cpu_budget: config.cpu_budget,
        })
    }

    pub(super) fn instances(&self) -> usize {
        self.pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub(super) async fn table_sizes(&self) -> Result<Vec<isyswasfa_host::TableSizes>> {
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

    /// Hands `request` to an instance; the response body holds the instance until it is sent.
    /// With a `timeout`, a request with no response head by then fails; when its instance is
    /// wedged inside a guest call (blocking, or computing), the instance is retired and
    /// dropped at once, so that it frees its store rather than holding it until the call ends.
    pub(super) async fn handle(
        self: &Arc<Self>,
        id: u64,
        request: http::Request<super::RequestBody>,
        timeout: Option<Duration>,
    ) -> Result<http::Response<ServedBody>, Failure> {
        let slot = self.acquire().await.map_err(|e| format!("{e:#}"))?;
        let mut lease = Lease {
            polyfill: Arc::clone(self),
            slot,
            failed: false,
        };
        let request = request.map(Body::network);
        let handling = isyswasfa_host::wasi::http::handle(&lease.slot.handler, request);
        let outcome = super::within(timeout, handling).await;
        let outcome = match outcome {
            Ok(outcome) => outcome,
            Err(failure) => {
                let host = lease.slot.handler.host();
                if let Some(stuck) = host.entered_for().filter(|d| *d >= STUCK_AFTER) {
                    tracing::warn!(
                        "instance {} has been inside one guest call for {stuck:?}: retired and \
                         dropped (its other requests fail)",
                        lease.slot.id
                    );
                    lease.failed = true;
                    host.abort();
                }
                return Err(failure);
            }
        };
        match outcome {
            Ok(response) => {
                Ok(response.map(|body| ServedBody::new(id, body, Some(Box::new(lease)))))
            }
            Err(error) => {
                lease.failed = matches!(error, HandleError::Trap(_));
                Err(error.into())
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
                    && usage.active < self.max_instance_concurrency
                    && usage.served < self.max_instance_reuse
                    && !slot.stuck()
                {
                    usage.active += 1;
                    usage.served += 1;
                    return Ok(Arc::clone(slot));
                }
            }
        }
        let id = self.next_instance.fetch_add(1, Ordering::Relaxed);
        let state = State::with(super::native::served_wasi(&self.env, &self.wasi), {
            let builder = self.wasi.apply_to_host(
                IsyswasfaCtx::builder()
                    .label(format!("instance {id}"))
                    .cpu_budget(self.cpu_budget)
                    .outbound_policy(self.outbound.clone()),
            );
            match self.max_memory_size {
                Some(bytes) => builder.max_memory_size(bytes),
                None => builder,
            }
            .build()
        });
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
            if usage.served >= self.max_instance_reuse {
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

/// A request's hold on its instance, released when the response body has been sent (or the
/// request failed).
struct Lease {
    polyfill: Arc<Polyfill>,
    slot: Arc<Slot>,
    failed: bool,
}

impl BodyGuard for Lease {
    fn failed(&mut self) {
        self.failed = true;
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.polyfill.release(&self.slot, self.failed);
    }
}
