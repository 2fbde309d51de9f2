//! The [`Host`] handle: instantiating a component, starting its event loop, and sending it
//! jobs.

use futures::FutureExt;
use std::collections::HashMap;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};
use wasmtime::Store;
use wasmtime::component::{Component, Instance, InstancePre, Linker, types::ComponentItem};
use wasmtime::error::Context as _;
use wasmtime::{Result, bail};

use crate::ctx::IsyswasfaView;
use crate::host::command::BoxFuture;
use crate::host::command::CallId;
use crate::host::command::Command;
use crate::host::command::ExportCall;
use crate::host::command::StoreJob;
use crate::host::event_loop::EventLoop;

use crate::poller::PollInput;
use isyswasfa_protocol::names::POLL_PREFIX;
use isyswasfa_protocol::tasks::TableSizes;

/// What every store of a [`Host`] gets before its component is instantiated: the CPU deadline,
/// the cap on its WASI resource table ([`IsyswasfaCtxBuilder::max_resources`](crate::IsyswasfaCtxBuilder::max_resources))
/// and on its memories ([`IsyswasfaCtxBuilder::max_memory_size`](crate::IsyswasfaCtxBuilder::max_memory_size)).
pub(super) fn prepare_store<T: IsyswasfaView + 'static>(store: &mut Store<T>) {
    crate::deadline::configure_store(store);
    let crate::ctx::IsyswasfaCtxView { ctx, table } = store.data_mut().isyswasfa();
    table.set_max_capacity(ctx.tasks.limits().max_resources);
    store.limiter(|data| {
        let ctx = data.isyswasfa().ctx;
        &mut ctx.memory
    });
}

/// Cloning the handle is cheap; the loop (and with it the store) stops when the last handle is
/// dropped.
pub struct Host<T: 'static> {
    pub(super) commands: mpsc::UnboundedSender<Command<T>>,
    pub(super) shared: Arc<LoopShared>,
}

/// What a store's event loop shares with its handles.
#[derive(Default)]
pub(crate) struct LoopShared {
    /// The id of the next exported call.
    pub(super) next_call: AtomicU64,
    /// When the loop entered the store for its current entry, in microseconds since
    /// [`clock_base`] plus one; 0 while it is not inside the store.
    pub(super) entered_at: AtomicU64,
    /// Stops the loop's task (see [`Host::abort`]).
    pub(super) abort: std::sync::OnceLock<tokio::task::AbortHandle>,
}

/// The instant [`LoopShared::entered_at`] counts from.
fn clock_base() -> std::time::Instant {
    static BASE: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *BASE.get_or_init(std::time::Instant::now)
}

impl LoopShared {
    /// Records that the loop entered the store (`true`) or left it (`false`).
    pub(super) fn set_entered(&self, entered: bool) {
        let at = if entered {
            u64::try_from(clock_base().elapsed().as_micros())
                .unwrap_or(u64::MAX - 1)
                .saturating_add(1)
        } else {
            0
        };
        self.entered_at.store(at, Ordering::Relaxed);
    }

    /// How long the loop has been inside the store, if it is.
    fn entered_for(&self) -> Option<std::time::Duration> {
        match self.entered_at.load(Ordering::Relaxed) {
            0 => None,
            at => {
                let now = clock_base().elapsed();
                Some(now.saturating_sub(std::time::Duration::from_micros(at - 1)))
            }
        }
    }
}

/// A handle that does not keep the loop alive (what the store keeps of its own [`Host`], and
/// what host objects living in the store hold).
pub(crate) struct WeakHost<T: 'static> {
    commands: mpsc::WeakUnboundedSender<Command<T>>,
    pub(super) shared: Arc<LoopShared>,
}

impl<T> Clone for WeakHost<T> {
    fn clone(&self) -> Self {
        Self {
            commands: self.commands.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T> WeakHost<T> {
    /// The host, if its loop still runs.
    pub(crate) fn upgrade(&self) -> Option<Host<T>> {
        Some(Host {
            commands: self.commands.upgrade()?,
            shared: Arc::clone(&self.shared),
        })
    }
}

impl<T> Clone for Host<T> {
    fn clone(&self) -> Self {
        Self {
            commands: self.commands.clone(),
            shared: Arc::clone(&self.shared),
        }
    }
}

impl<T: IsyswasfaView + Send + 'static> Host<T> {
    /// Instantiates `component` in `store`, delivers each of its poll exports its poller, and
    /// starts the event loop on the current tokio runtime.
    ///
    /// Fails when the component exports no `isyswasfa-poll-*` function (it was not built with
    /// isyswasfa).
    pub async fn instantiate(
        mut store: Store<T>,
        linker: &Linker<T>,
        component: &Component,
    ) -> Result<Self> {
        let engine = store.engine().clone();
        prepare_store(&mut store);
        // The component's stream/future imports are defined from its own types.
        let mut linker = linker.clone();
        linker.allow_shadowing(true);
        crate::pipes::link::add_to_linker_for(&mut linker, &engine, component)
            .context("failed to define the component's stream and future imports")?;
        let instance = linker
            .instantiate_async(&mut store, component)
            .await
            .map_err(|error| crate::native_abi::explain_link_error(error, &engine, component))
            .context("failed to instantiate the component")?;
        Self::start(store, instance, component)
    }

    /// Like [`Host::instantiate`], from a pre-instantiated component: what a server that makes
    /// many instances of one component does, linking once. Make `pre` with a linker to which
    /// [`crate::add_component_imports`] added the component's own imports.
    pub async fn instantiate_pre(mut store: Store<T>, pre: &InstancePre<T>) -> Result<Self> {
        prepare_store(&mut store);
        let instance = pre
            .instantiate_async(&mut store)
            .await
            .context("failed to instantiate the component")?;
        Self::start(store, instance, pre.component())
    }

    /// Finds the poll exports of the new `instance` and starts its event loop.
    fn start(mut store: Store<T>, instance: Instance, component: &Component) -> Result<Self> {
        let engine = store.engine().clone();
        let mut polls = Vec::new();
        for (name, item) in component.component_type().exports(&engine) {
            if !name.starts_with(POLL_PREFIX) || !matches!(item.ty, ComponentItem::ComponentFunc(_))
            {
                continue;
            }
            let func = instance
                .get_typed_func::<(Vec<PollInput>,), ()>(&mut store, name)
                .with_context(|| format!("poll export `{name}` has the wrong type"))?;
            let short = name
                .strip_prefix(POLL_PREFIX)
                .unwrap_or(name)
                .trim_start_matches('-');
            store.data_mut().isyswasfa().ctx.tasks.add_component(short);
            polls.push(func);
        }
        if polls.is_empty() {
            bail!(
                "the component exports no `{POLL_PREFIX}-*` function: it was not built with \
                 isyswasfa (or not for the isyswasfa:isyswasfa@0.1.0 protocol)"
            );
        }
        let (commands, receiver) = mpsc::unbounded_channel();
        let shared = Arc::new(LoopShared::default());
        // Weak: the store must not keep its own loop alive.
        store.data_mut().isyswasfa().ctx.host = Some(Box::new(WeakHost::<T> {
            commands: commands.downgrade(),
            shared: Arc::clone(&shared),
        }));
        let event_loop = EventLoop {
            store,
            instance,
            polls,
            calls: HashMap::new(),
            call_tasks: HashMap::new(),
            cleaned_up: false,
            next_poll: 0,
            shared: Arc::clone(&shared),
        };
        let task = tokio::spawn(event_loop.run(receiver));
        let _ = shared.abort.set(task.abort_handle());
        Ok(Self { commands, shared })
    }

    /// A handle to the event loop that owns the store whose data is `data`, for host code that
    /// must enter the store again later (after the host function that started it returned):
    /// for example a task that feeds a guest's stream and then hands it a resource.
    /// `None` when the store is not run by a [`Host`] or its loop has stopped.
    pub fn of(data: &mut T) -> Option<Self> {
        data.isyswasfa()
            .ctx
            .host
            .as_ref()?
            .downcast_ref::<WeakHost<T>>()?
            .upgrade()
    }

    /// How long the event loop has been inside the store for its current entry (a call, a poll
    /// export), or `None` when it is not inside it. While it is, no other call of this host
    /// makes progress: a guest that blocks (a WASI 0.2 `pollable.block`, a plain
    /// `wasi:io/poll.poll`) or computes shows here, so that an embedder can route work to
    /// another instance and, past its patience, [`abort`](Self::abort) this one.
    pub fn entered_for(&self) -> Option<std::time::Duration> {
        self.shared.entered_for()
    }

    /// Stops the event loop at once, even in the middle of a store entry, and drops the store
    /// (and with it the instance's memory): every call in flight and every later call fails as
    /// [`ErrorKind::EventLoopStopped`](crate::ErrorKind::EventLoopStopped). For an instance
    /// wedged in a blocking call, which would otherwise hold its store until the call returns.
    pub fn abort(&self) {
        if let Some(abort) = self.shared.abort.get() {
            abort.abort();
        }
    }

    /// A handle that does not keep the loop alive.
    pub(crate) fn downgrade(&self) -> WeakHost<T> {
        WeakHost {
            commands: self.commands.downgrade(),
            shared: Arc::clone(&self.shared),
        }
    }

    pub(super) fn send(&self, command: Command<T>) -> Result<()> {
        self.commands.send(command).map_err(|_| loop_stopped())
    }

    /// Runs `job` on the loop with the store and instance, between two events.
    pub async fn with_store<R: Send + 'static>(
        &self,
        job: impl for<'a> FnOnce(&'a mut Store<T>, &'a Instance) -> BoxFuture<'a, R> + Send + 'static,
    ) -> Result<R> {
        self.run_job(None, job).await
    }

    pub(super) async fn run_job<R: Send + 'static>(
        &self,
        export: Option<Arc<str>>,
        job: impl for<'a> FnOnce(&'a mut Store<T>, &'a Instance) -> BoxFuture<'a, R> + Send + 'static,
    ) -> Result<R> {
        let (reply, receiver) = oneshot::channel();
        let job: StoreJob<T> = Box::new(move |store, instance| {
            Box::pin(async move {
                // A panic in a host function the job called breaks the store (the loop sees
                // it recorded) and fails this job with its cause; the loop carries on.
                let outcome = super::event_loop::contained(job(store, instance).map(Ok)).await;
                let outcome = outcome.inspect_err(|error| {
                    store.data_mut().isyswasfa().ctx.record_failure(error);
                });
                let _ = reply.send(outcome);
            })
        });
        self.send(Command::Job { export, job })?;
        receiver.await.map_err(|_| loop_stopped())?
    }

    /// The sizes of the store's task table (for leak checks).
    pub async fn table_sizes(&self) -> Result<TableSizes> {
        let (reply, receiver) = oneshot::channel();
        self.send(Command::Sizes(reply))?;
        receiver.await.map_err(|_| loop_stopped())
    }

    pub(super) async fn call_erased<R>(
        &self,
        call: Box<dyn ExportCall<T>>,
        receiver: oneshot::Receiver<Result<R>>,
    ) -> Result<R> {
        let id = self.shared.next_call.fetch_add(1, Ordering::Relaxed);
        self.send(Command::Call(id, call))?;
        let guard = CancelOnDrop { host: self, id };
        let result = receiver.await.map_err(|_| loop_stopped());
        std::mem::forget(guard);
        result?
    }
}

/// Sends `Cancel` when an exported call's future is dropped before it finished.
pub(super) struct CancelOnDrop<'a, T: 'static> {
    host: &'a Host<T>,
    id: CallId,
}

impl<T: 'static> Drop for CancelOnDrop<'_, T> {
    fn drop(&mut self) {
        let _ = self.host.commands.send(Command::Cancel(self.id));
    }
}

/// The error of a call to a [`Host`] whose event loop has stopped (its store is gone).
pub(super) fn loop_stopped() -> wasmtime::Error {
    isyswasfa_protocol::Error::new(
        isyswasfa_protocol::ErrorKind::EventLoopStopped,
        "isyswasfa: the host's event loop has stopped",
    )
    .into()
}
