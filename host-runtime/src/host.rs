//! The event loop of one store, and the [`Host`] handle embedders use to call into it.
//!
//! The loop owns the store. It delivers queued events to the poll exports of the (possibly
//! composed) instance, runs the embedder's calls, and otherwise sleeps in a single wait for the
//! next thing to happen: a command from a [`Host`] handle or a host future becoming ready (timers
//! are host futures). It never polls anything that has not been woken.

use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};
use wasmtime::Store;
use wasmtime::component::{
    Component, ComponentNamedList, ComponentType, Func, Instance, InstancePre, Lift, Linker, Lower,
    Resource, TypedFunc, Val, types::ComponentItem,
};
use wasmtime::error::Context as _;
use wasmtime::{Result, bail, format_err};

use crate::funcs::{RESULT_SUFFIX, START_SUFFIX, downcast};
use crate::pipe_links::{AnyPipe, End, PipeElement, ReaderEnd};
use crate::pipes::{self, Pipe};
use crate::protocol::{IsyswasfaView, POLL_PREFIX, Pending, PollInput, Ready, Running};
use crate::tasks::{TableSizes, TaskId};

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type PollFunc = TypedFunc<(Vec<PollInput>,), ()>;
type CallId = u64;

/// What every store of a [`Host`] gets before its component is instantiated: the CPU deadline,
/// and the cap on its WASI resource table ([`TableLimits::max_resources`]).
fn prepare_store<T: IsyswasfaView + 'static>(store: &mut Store<T>) {
    crate::deadline::configure_store(store);
    let (ctx, table) = store.data_mut().isyswasfa_and_table();
    table.set_max_capacity(ctx.table.limits().max_resources);
}

/// How many deliveries (a poll export call, or an embedder's result collected) the event loop
/// makes before it goes back to its one wait. A component that keeps queuing events for itself
/// (or keeps asking to run again) would otherwise keep the loop delivering forever, starving the
/// embedder's commands, timers and the other hosts of the thread; after this many the loop lets
/// them in, then carries on. Large enough that a busy composition delivers in batches.
pub const MAX_DELIVERIES_PER_TURN: usize = 64;

/// A store-side job sent by a [`Host`] handle.
type StoreJob<T> =
    Box<dyn for<'a> FnOnce(&'a mut Store<T>, &'a Instance) -> BoxFuture<'a, ()> + Send>;

enum Command<T: 'static> {
    Call(CallId, Box<dyn ExportCall<T>>),
    Cancel(CallId),
    /// Reports the sizes of every table of the store and of the loop.
    Sizes(oneshot::Sender<TableSizes>),
    /// Runs a job; `export` names the export it calls, if any (see [`Running`]).
    Job {
        export: Option<Arc<str>>,
        job: StoreJob<T>,
    },
}

/// A handle to a running component instance and its event loop.
///
/// Cloning the handle is cheap; the loop (and with it the store) stops when the last handle is
/// dropped.
pub struct Host<T: 'static> {
    commands: mpsc::UnboundedSender<Command<T>>,
    next_call: Arc<AtomicU64>,
}

/// A handle that does not keep the loop alive (what the store keeps of its own [`Host`], and
/// what host objects living in the store hold).
pub(crate) struct WeakHost<T: 'static> {
    commands: mpsc::WeakUnboundedSender<Command<T>>,
    next_call: Arc<AtomicU64>,
}

impl<T> Clone for WeakHost<T> {
    fn clone(&self) -> Self {
        Self {
            commands: self.commands.clone(),
            next_call: Arc::clone(&self.next_call),
        }
    }
}

impl<T> WeakHost<T> {
    /// The host, if its loop still runs.
    pub(crate) fn upgrade(&self) -> Option<Host<T>> {
        Some(Host {
            commands: self.commands.upgrade()?,
            next_call: Arc::clone(&self.next_call),
        })
    }
}

impl<T> Clone for Host<T> {
    fn clone(&self) -> Self {
        Self {
            commands: self.commands.clone(),
            next_call: Arc::clone(&self.next_call),
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
        crate::pipe_links::add_to_linker_for(&mut linker, &engine, component)
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
            store.data_mut().isyswasfa().table.add_component(short);
            polls.push(func);
        }
        if polls.is_empty() {
            bail!(
                "the component exports no `{POLL_PREFIX}-*` function: it was not built with \
                 isyswasfa (or not for the isyswasfa:isyswasfa@0.1.0 protocol)"
            );
        }
        let (commands, receiver) = mpsc::unbounded_channel();
        let next_call = Arc::new(AtomicU64::new(0));
        // Weak: the store must not keep its own loop alive.
        store.data_mut().isyswasfa().host = Some(Box::new(WeakHost::<T> {
            commands: commands.downgrade(),
            next_call: Arc::clone(&next_call),
        }));
        let event_loop = EventLoop {
            store,
            instance,
            polls,
            calls: HashMap::new(),
            call_tasks: HashMap::new(),
            cleaned_up: false,
            next_poll: 0,
        };
        tokio::spawn(event_loop.run(receiver));
        Ok(Self {
            commands,
            next_call,
        })
    }

    /// A handle to the event loop that owns the store whose data is `data`, for host code that
    /// must enter the store again later (after the host function that started it returned):
    /// for example a task that feeds a guest's stream and then hands it a resource.
    /// `None` when the store is not run by a [`Host`] or its loop has stopped.
    pub fn of(data: &mut T) -> Option<Self> {
        data.isyswasfa()
            .host
            .as_ref()?
            .downcast_ref::<WeakHost<T>>()?
            .upgrade()
    }

    /// A handle that does not keep the loop alive.
    pub(crate) fn downgrade(&self) -> WeakHost<T> {
        WeakHost {
            commands: self.commands.downgrade(),
            next_call: Arc::clone(&self.next_call),
        }
    }

    fn send(&self, command: Command<T>) -> Result<()> {
        self.commands
            .send(command)
            .map_err(|_| format_err!("isyswasfa: the host's event loop has stopped"))
    }

    /// Runs `job` on the loop with the store and instance, between two events.
    pub async fn with_store<R: Send + 'static>(
        &self,
        job: impl for<'a> FnOnce(&'a mut Store<T>, &'a Instance) -> BoxFuture<'a, R> + Send + 'static,
    ) -> Result<R> {
        self.run_job(None, job).await
    }

    async fn run_job<R: Send + 'static>(
        &self,
        export: Option<Arc<str>>,
        job: impl for<'a> FnOnce(&'a mut Store<T>, &'a Instance) -> BoxFuture<'a, R> + Send + 'static,
    ) -> Result<R> {
        let (reply, receiver) = oneshot::channel();
        let job: StoreJob<T> = Box::new(move |store, instance| {
            Box::pin(async move {
                let _ = reply.send(job(store, instance).await);
            })
        });
        self.send(Command::Job { export, job })?;
        receiver
            .await
            .map_err(|_| format_err!("isyswasfa: the host's event loop has stopped"))
    }

    /// The sizes of the store's task table (for leak checks).
    pub async fn table_sizes(&self) -> Result<TableSizes> {
        let (reply, receiver) = oneshot::channel();
        self.send(Command::Sizes(reply))?;
        receiver
            .await
            .map_err(|_| format_err!("isyswasfa: the host's event loop has stopped"))
    }

    /// A new stream whose readable end is a handle to pass to a guest (as a `stream<T>`
    /// argument) and whose writable end stays with the caller. `E` is `u8` for `stream<u8>`,
    /// `()` for a payload-less `stream`, and [`wasmtime::component::Val`] for any other payload.
    pub async fn new_stream<E: PipeElement>(
        &self,
    ) -> Result<(pipes::StreamWriter<E>, Resource<ReaderEnd>)> {
        let pipe = Pipe::<E>::new(E::CAPACITY);
        let reader = self.adopt(E::wrap(Arc::clone(&pipe)), End::Reader).await?;
        Ok((pipes::StreamWriter::new(pipe), Resource::new_own(reader)))
    }

    /// Takes over a stream's readable end that a guest returned (a `stream<T>` result).
    pub async fn open_stream<E: PipeElement>(
        &self,
        reader: Resource<ReaderEnd>,
    ) -> Result<pipes::StreamReader<E>> {
        Ok(pipes::StreamReader::new(
            self.release::<E>(reader.rep()).await?,
        ))
    }

    /// A new future whose readable end is a handle to pass to a guest (as a `future<T>`
    /// argument); see [`Host::new_stream`] for `E`.
    pub async fn new_future<E: PipeElement>(
        &self,
    ) -> Result<(pipes::FutureWriter<E>, Resource<ReaderEnd>)> {
        let pipe = Pipe::<E>::new(1);
        let reader = self.adopt(E::wrap(Arc::clone(&pipe)), End::Reader).await?;
        Ok((pipes::FutureWriter::new(pipe), Resource::new_own(reader)))
    }

    /// Takes over a future's readable end that a guest returned (a `future<T>` result).
    pub async fn open_future<E: PipeElement>(
        &self,
        reader: Resource<ReaderEnd>,
    ) -> Result<pipes::FutureReader<E>> {
        Ok(pipes::FutureReader::new(
            self.release::<E>(reader.rep()).await?,
        ))
    }

    async fn adopt(&self, pipe: AnyPipe, end: End) -> Result<u32> {
        self.with_store(move |store, _| {
            let ctx = store.data_mut().isyswasfa();
            let rep = match ctx.broken_error() {
                Some(error) => Err(error),
                None => Ok(ctx.pipes.insert(pipe, end)),
            };
            Box::pin(async move { rep })
        })
        .await?
    }

    async fn release<E: PipeElement>(&self, rep: u32) -> Result<Arc<Pipe<E>>> {
        self.with_store(move |store, _| {
            let table = &mut store.data_mut().isyswasfa().pipes;
            let pipe = table.remove(rep, End::Reader).and_then(|pipe| {
                E::unwrap(&pipe).ok_or_else(|| {
                    table.insert(pipe, End::Reader);
                    format_err!("isyswasfa: the pipe does not carry the requested element type")
                })
            });
            Box::pin(async move { pipe })
        })
        .await?
    }

    /// Looks up the exported async function `name` (as written in WIT) of `interface` (`None`
    /// for a function exported directly by the world).
    ///
    /// `Params` is the tuple of WIT parameters; `R` the WIT result type, or `()` for none.
    pub async fn func<Params, R>(
        &self,
        interface: Option<&str>,
        name: &str,
    ) -> Result<AsyncFunc<Params, R>>
    where
        Params: ComponentNamedList + Lower + Send + Sync + 'static,
        R: ComponentType + Lift + Send + Sync + 'static,
    {
        let interface = interface.map(str::to_string);
        let name = name.to_string();
        self.with_store(move |store, instance| {
            Box::pin(async move {
                let start = export_index(
                    store,
                    instance,
                    interface.as_deref(),
                    &format!("{name}{START_SUFFIX}"),
                )?;
                let result =
                    export_index(store, instance, interface.as_deref(), &result_export(&name))?;
                let start = instance
                    .get_typed_func(&mut *store, start)
                    .with_context(|| {
                        format!("`{name}{START_SUFFIX}` does not have the expected type")
                    })?;
                let result = instance
                    .get_func(&mut *store, result)
                    .ok_or_else(|| format_err!("`{name}{RESULT_SUFFIX}` is not a function"))?;
                // Checked now, so that a result half that disagrees with its start half (a
                // crafted component) is refused here, not after the call left its task behind.
                let typed = if std::any::TypeId::of::<R>() == std::any::TypeId::of::<()>() {
                    result.typed::<(Resource<Ready>,), ()>(&*store).map(drop)
                } else {
                    result.typed::<(Resource<Ready>,), (R,)>(&*store).map(drop)
                };
                typed.with_context(|| {
                    format!("`{name}{RESULT_SUFFIX}` does not have the expected type")
                })?;
                let display = match &interface {
                    Some(interface) => format!("{interface}#{name}"),
                    None => name,
                };
                Ok(AsyncFunc {
                    name: display.into(),
                    start,
                    result,
                    _types: PhantomData,
                })
            })
        })
        .await?
    }

    /// Looks up the exported synchronous function `name` of `interface` (`None` for a function
    /// exported directly by the world). `Params` and `Results` are tuples, as for
    /// [`wasmtime::component::TypedFunc`].
    pub async fn sync_func<Params, Results>(
        &self,
        interface: Option<&str>,
        name: &str,
    ) -> Result<SyncFunc<Params, Results>>
    where
        Params: ComponentNamedList + Lower + Send + Sync + 'static,
        Results: ComponentNamedList + Lift + Send + Sync + 'static,
    {
        let interface = interface.map(str::to_string);
        let name = name.to_string();
        self.with_store(move |store, instance| {
            Box::pin(async move {
                let index = export_index(store, instance, interface.as_deref(), &name)?;
                let func = instance
                    .get_typed_func(&mut *store, index)
                    .with_context(|| format!("`{name}` does not have the expected type"))?;
                Ok(SyncFunc {
                    name: name.into(),
                    func,
                })
            })
        })
        .await?
    }

    /// Calls an exported synchronous function. It may wait inside (`block_on`) for tasks the
    /// host implements; the instance's other work resumes when it returns.
    pub async fn call_sync<Params, Results>(
        &self,
        func: &SyncFunc<Params, Results>,
        params: Params,
    ) -> Result<Results>
    where
        Params: ComponentNamedList + Lower + Send + Sync + 'static,
        Results: ComponentNamedList + Lift + Send + Sync + 'static,
    {
        let typed = func.func;
        let name = Arc::clone(&func.name);
        self.run_job(Some(Arc::clone(&func.name)), move |store, _| {
            Box::pin(async move {
                if let Some(error) = store.data_mut().isyswasfa().broken_error() {
                    return Err(error);
                }
                typed
                    .call_async(&mut *store, params)
                    .await
                    .map_err(|error| {
                        let error = error.context(format!("call to `{name}` failed"));
                        store.data_mut().isyswasfa().record_failure(&error)
                    })
            })
        })
        .await?
    }

    /// Calls an exported async function and waits for its value.
    ///
    /// The call runs concurrently with every other call and task of the instance. Dropping the
    /// returned future cancels the call: the guest drops its task and the host's table returns to
    /// its size before the call.
    pub async fn call<Params, R>(&self, func: &AsyncFunc<Params, R>, params: Params) -> Result<R>
    where
        Params: ComponentNamedList + Lower + Send + Sync + 'static,
        R: ComponentType + Lift + Send + Sync + 'static,
    {
        let id = self.next_call.fetch_add(1, Ordering::Relaxed);
        let (reply, receiver) = oneshot::channel();
        let call = TypedCall {
            func: func.clone(),
            params: Some(params),
            reply: Some(reply),
        };
        self.send(Command::Call(id, Box::new(call)))?;
        let guard = CancelOnDrop { host: self, id };
        let result = receiver
            .await
            .map_err(|_| format_err!("isyswasfa: the host's event loop has stopped"));
        std::mem::forget(guard);
        result?
    }
}

impl<T: IsyswasfaView + Send + 'static> Host<T> {
    /// Looks up the exported function `name` (as written in WIT) of `interface` (`None` for a
    /// function exported directly by the world), to be called with dynamic values: an async
    /// function through its lowered start/result pair, or a synchronous one as it is.
    pub async fn dynamic_func(&self, interface: Option<&str>, name: &str) -> Result<DynamicFunc> {
        let interface = interface.map(str::to_string);
        let name = name.to_string();
        self.with_store(move |store, instance| {
            Box::pin(async move {
                let display: Arc<str> = match &interface {
                    Some(interface) => format!("{interface}#{name}").into(),
                    None => name.clone().into(),
                };
                let lookup = |store: &mut Store<T>, export: &str| {
                    let index = export_index(store, instance, interface.as_deref(), export).ok()?;
                    instance.get_func(&mut *store, index)
                };
                let start = lookup(store, &format!("{name}{START_SUFFIX}"));
                let result = lookup(store, &result_export(&name));
                let kind = match (start, result) {
                    (Some(start), Some(result)) => DynamicKind::Async { start, result },
                    _ => DynamicKind::Sync(lookup(store, &name).ok_or_else(|| {
                        format_err!("the component exports no function `{display}`")
                    })?),
                };
                Ok(DynamicFunc {
                    name: display,
                    kind,
                })
            })
        })
        .await?
    }

    /// Calls a function looked up with [`Host::dynamic_func`]; returns its results (none or
    /// one value). An async function runs concurrently with everything else of the instance,
    /// and dropping the returned future cancels it, as with [`Host::call`].
    pub async fn call_dynamic(&self, func: &DynamicFunc, params: Vec<Val>) -> Result<Vec<Val>> {
        match &func.kind {
            DynamicKind::Sync(typed) => {
                let typed = *typed;
                let name = Arc::clone(&func.name);
                self.run_job(Some(Arc::clone(&func.name)), move |store, _| {
                    Box::pin(async move {
                        if let Some(error) = store.data_mut().isyswasfa().broken_error() {
                            return Err(error);
                        }
                        crate::vals::check_params(&*store, &typed, &params)
                            .with_context(|| format!("call to `{name}` failed"))?;
                        let count = typed.ty(&*store).results().len();
                        let mut results = vec![Val::Bool(false); count];
                        if let Err(error) =
                            typed.call_async(&mut *store, &params, &mut results).await
                        {
                            let error = error.context(format!("call to `{name}` failed"));
                            return Err(store.data_mut().isyswasfa().record_failure(&error));
                        }
                        Ok(results)
                    })
                })
                .await?
            }
            DynamicKind::Async { start, result } => {
                let (reply, receiver) = oneshot::channel();
                let call = ValCall {
                    name: Arc::clone(&func.name),
                    start: *start,
                    result: *result,
                    params: Some(params),
                    reply: Some(reply),
                };
                self.call_erased(Box::new(call), receiver).await
            }
        }
    }

    async fn call_erased<R>(
        &self,
        call: Box<dyn ExportCall<T>>,
        receiver: oneshot::Receiver<Result<R>>,
    ) -> Result<R> {
        let id = self.next_call.fetch_add(1, Ordering::Relaxed);
        self.send(Command::Call(id, call))?;
        let guard = CancelOnDrop { host: self, id };
        let result = receiver
            .await
            .map_err(|_| format_err!("isyswasfa: the host's event loop has stopped"));
        std::mem::forget(guard);
        result?
    }
}

/// An exported function called with dynamic values, looked up with [`Host::dynamic_func`].
#[derive(Clone)]
pub struct DynamicFunc {
    name: Arc<str>,
    kind: DynamicKind,
}

impl DynamicFunc {
    /// The function's name, `interface#name` for a function of an interface.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether it is an async function (lowered to a start/result pair).
    pub fn is_async(&self) -> bool {
        matches!(self.kind, DynamicKind::Async { .. })
    }
}

#[derive(Clone)]
enum DynamicKind {
    Async { start: Func, result: Func },
    Sync(Func),
}

/// An async call made with dynamic values.
struct ValCall {
    name: Arc<str>,
    start: Func,
    result: Func,
    params: Option<Vec<Val>>,
    reply: Option<oneshot::Sender<Result<Vec<Val>>>>,
}

impl ValCall {
    fn reply(&mut self, value: Result<Vec<Val>>) {
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(value);
        }
    }
}

impl<T: IsyswasfaView + Send + 'static> ExportCall<T> for ValCall {
    fn name(&self) -> &str {
        &self.name
    }

    fn start<'a>(&'a mut self, store: &'a mut Store<T>) -> BoxFuture<'a, Result<Option<TaskId>>> {
        Box::pin(async move {
            let Some(params) = self.params.take() else {
                return Ok(None);
            };
            if let Err(error) = crate::vals::check_params(&*store, &self.start, &params) {
                let name = Arc::clone(&self.name);
                self.reply(Err(error.context(format!("call to `{name}` failed"))));
                return Ok(None);
            }
            let mut results = [Val::Bool(false)];
            if let Err(error) = self
                .start
                .call_async(&mut *store, &params, &mut results)
                .await
            {
                return Err(error.context(format!("call to `{}` failed", self.name)));
            }
            let outcome = match std::mem::replace(&mut results[0], Val::Bool(false)) {
                Val::Result(Ok(value)) => Ok(Ok(value.map(|v| *v).into_iter().collect())),
                Val::Result(Err(Some(pending))) => match *pending {
                    Val::Resource(pending) => pending
                        .try_into_resource::<Pending>(&mut *store)
                        .map(|pending| Err(pending.rep())),
                    _ => Err(format_err!("the start half did not return a `pending`")),
                },
                _ => Err(format_err!(
                    "the start half did not return `result<_, pending>`"
                )),
            };
            match outcome {
                Ok(Ok(values)) => self.reply(Ok(values)),
                Ok(Err(task)) => return Ok(Some(task)),
                Err(error) => {
                    let name = Arc::clone(&self.name);
                    self.reply(Err(error.context(format!("call to `{name}` failed"))))
                }
            }
            Ok(None)
        })
    }

    fn finish<'a>(
        &'a mut self,
        store: &'a mut Store<T>,
        task: TaskId,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let name = Arc::clone(&self.name);
            let ready = match Resource::<Ready>::new_own(task).try_into_resource_any(&mut *store) {
                Ok(ready) => ready,
                Err(error) => {
                    self.reply(Err(
                        error.context(format!("collecting the result of `{name}` failed"))
                    ));
                    return Ok(());
                }
            };
            let count = self.result.ty(&*store).results().len();
            let mut results = vec![Val::Bool(false); count];
            self.result
                .call_async(&mut *store, &[Val::Resource(ready)], &mut results)
                .await
                .with_context(|| format!("collecting the result of `{name}` failed"))?;
            check_claimed(store, task, &name)?;
            self.reply(Ok(results));
            Ok(())
        })
    }

    fn fail(mut self: Box<Self>, error: wasmtime::Error) {
        self.reply(Err(error));
    }
}

/// After the result half of the exported call `name` returned: fails (which breaks the store)
/// when it did not claim the `ready` of `task` it was given, which would stay in the task table.
fn check_claimed<T: IsyswasfaView>(store: &mut Store<T>, task: TaskId, name: &str) -> Result<()> {
    store
        .data_mut()
        .isyswasfa()
        .table
        .check_claimed(task, &result_export(name))
}

/// The result half of the async function `name`: a method's is a static (it takes no `self`).
fn result_export(name: &str) -> String {
    format!(
        "{}{RESULT_SUFFIX}",
        name.replacen("[method]", "[static]", 1)
    )
}

fn export_index(
    store: &mut Store<impl Send>,
    instance: &Instance,
    interface: Option<&str>,
    name: &str,
) -> Result<wasmtime::component::ComponentExportIndex> {
    let parent = match interface {
        Some(interface) => Some(
            instance
                .get_export_index(&mut *store, None, interface)
                .ok_or_else(|| format_err!("the component does not export `{interface}`"))?,
        ),
        None => None,
    };
    instance
        .get_export_index(&mut *store, parent.as_ref(), name)
        .ok_or_else(|| match interface {
            Some(interface) => format_err!("`{interface}` has no export `{name}`"),
            None => format_err!("the component has no export `{name}`"),
        })
}

/// Sends `Cancel` when an exported call's future is dropped before it finished.
struct CancelOnDrop<'a, T: 'static> {
    host: &'a Host<T>,
    id: CallId,
}

impl<T: 'static> Drop for CancelOnDrop<'_, T> {
    fn drop(&mut self) {
        let _ = self.host.commands.send(Command::Cancel(self.id));
    }
}

/// An exported async function, looked up with [`Host::func`] and called with [`Host::call`].
pub struct AsyncFunc<Params, R> {
    name: Arc<str>,
    start: TypedFunc<Params, (Result<R, Resource<Pending>>,)>,
    result: Func,
    _types: PhantomData<fn(Params) -> R>,
}

impl<Params, R> Clone for AsyncFunc<Params, R> {
    fn clone(&self) -> Self {
        Self {
            name: Arc::clone(&self.name),
            start: self.start,
            result: self.result,
            _types: PhantomData,
        }
    }
}

/// An exported synchronous function, looked up with [`Host::sync_func`].
pub struct SyncFunc<Params, Results> {
    name: Arc<str>,
    func: TypedFunc<Params, Results>,
}

impl<Params, Results> Clone for SyncFunc<Params, Results> {
    fn clone(&self) -> Self {
        Self {
            name: Arc::clone(&self.name),
            func: self.func,
        }
    }
}

/// One exported call in flight, with its types erased for the loop. Errors that leave the store
/// usable (a value of the wrong type) are replied to the caller and fail that call only; an error
/// while the store was entered (a trap, a host function's error) is returned instead: the loop
/// then breaks the store and fails every call.
trait ExportCall<T>: Send {
    /// The function's name, for messages.
    fn name(&self) -> &str;
    /// Calls the start half; `Some(task)` when the call did not finish at once, `None` when it
    /// replied.
    fn start<'a>(&'a mut self, store: &'a mut Store<T>) -> BoxFuture<'a, Result<Option<TaskId>>>;
    /// Calls the result half with the finished task and replies.
    fn finish<'a>(&'a mut self, store: &'a mut Store<T>, task: TaskId)
    -> BoxFuture<'a, Result<()>>;
    /// Replies with an error.
    fn fail(self: Box<Self>, error: wasmtime::Error);
}

struct TypedCall<Params, R> {
    func: AsyncFunc<Params, R>,
    params: Option<Params>,
    reply: Option<oneshot::Sender<Result<R>>>,
}

impl<Params, R> TypedCall<Params, R> {
    fn reply(&mut self, value: Result<R>) {
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(value);
        }
    }
}

impl<T, Params, R> ExportCall<T> for TypedCall<Params, R>
where
    T: IsyswasfaView + Send + 'static,
    Params: ComponentNamedList + Lower + Send + Sync + 'static,
    R: ComponentType + Lift + Send + Sync + 'static,
{
    fn name(&self) -> &str {
        &self.func.name
    }

    fn start<'a>(&'a mut self, store: &'a mut Store<T>) -> BoxFuture<'a, Result<Option<TaskId>>> {
        Box::pin(async move {
            let Some(params) = self.params.take() else {
                return Ok(None);
            };
            match self.func.start.call_async(&mut *store, params).await {
                Ok((Ok(value),)) => self.reply(Ok(value)),
                Ok((Err(pending),)) => return Ok(Some(pending.rep())),
                Err(error) => {
                    return Err(error.context(format!("call to `{}` failed", self.func.name)));
                }
            }
            Ok(None)
        })
    }

    fn finish<'a>(
        &'a mut self,
        store: &'a mut Store<T>,
        task: TaskId,
    ) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let result = self.func.result;
            let ready = Resource::<Ready>::new_own(task);
            let name = self.func.name.clone();
            let context = || format!("collecting the result of `{name}` failed");
            // Only the call itself enters the store; a type mismatch fails this call only.
            let value = if std::any::TypeId::of::<R>() == std::any::TypeId::of::<()>() {
                match result.typed::<(Resource<Ready>,), ()>(&*store) {
                    Ok(func) => {
                        func.call_async(&mut *store, (ready,))
                            .await
                            .with_context(context)?;
                        check_claimed(store, task, &name)?;
                        downcast::<R>(Box::new(()))
                    }
                    Err(error) => Err(error),
                }
            } else {
                match result.typed::<(Resource<Ready>,), (R,)>(&*store) {
                    Ok(func) => {
                        let (value,) = func
                            .call_async(&mut *store, (ready,))
                            .await
                            .with_context(context)?;
                        check_claimed(store, task, &name)?;
                        Ok(value)
                    }
                    Err(error) => Err(error),
                }
            };
            self.reply(value.with_context(context));
            Ok(())
        })
    }

    fn fail(mut self: Box<Self>, error: wasmtime::Error) {
        self.reply(Err(error));
    }
}

struct EventLoop<T: 'static> {
    store: Store<T>,
    instance: Instance,
    polls: Vec<PollFunc>,
    /// Calls that returned `pending`, by the task they wait for.
    calls: HashMap<TaskId, (CallId, Box<dyn ExportCall<T>>)>,
    call_tasks: HashMap<CallId, TaskId>,
    /// Whether the store's broken state (see [`crate::IsyswasfaCtx::record_failure`]) was acted on:
    /// calls failed, pipe ends closed, tables emptied.
    cleaned_up: bool,
    /// Where the next search for a component with events starts (round robin).
    next_poll: usize,
}

impl<T: IsyswasfaView + Send + 'static> EventLoop<T> {
    async fn run(mut self, mut commands: mpsc::UnboundedReceiver<Command<T>>) {
        loop {
            let more = match self.deliver().await {
                Ok(more) => more,
                Err(error) => {
                    self.break_store(&error);
                    false
                }
            };
            self.clean_up_if_broken();
            // The one wait: a command, a host future, or a pollable. The pollable wait borrows
            // the store's resource table and is dropped here, before the store is entered.
            // Values closed pipes left behind wake the loop too (their resources are released
            // at the top of `deliver`); the queue is shared, so this needs no store borrow.
            let discarded = self.store.data_mut().isyswasfa().pipes.discarded();
            tokio::select! {
                command = commands.recv() => match command {
                    Some(command) => self.handle(command).await,
                    None => break,
                },
                () = crate::pollables::wait_host(self.store.data_mut()) => {}
                () = discarded.ready() => {}
                // Deliveries are left (see `MAX_DELIVERIES_PER_TURN`): let the others in first.
                () = tokio::task::yield_now(), if more => {}
            }
        }
        tracing::debug!("isyswasfa: event loop stopped (all handles dropped)");
    }

    async fn handle(&mut self, command: Command<T>) {
        crate::deadline::begin_entry(&mut self.store);
        match command {
            Command::Call(id, mut call) => {
                if let Some(error) = self.store.data_mut().isyswasfa().broken_error() {
                    call.fail(error);
                    return;
                }
                self.set_running(Running::Export(call.name().to_string()));
                let started = call.start(&mut self.store).await;
                self.set_running(Running::Idle);
                let started = match started {
                    Ok(started) => started,
                    Err(error) => {
                        call.fail(self.break_store(&error));
                        return;
                    }
                };
                if let Some(task) = started {
                    match self
                        .store
                        .data_mut()
                        .isyswasfa()
                        .table
                        .listen_embedder(task)
                    {
                        // Task ids are never reused while in flight (they carry a generation), so
                        // an existing entry means a confused table: fail this call, keep the other.
                        Ok(()) if self.calls.contains_key(&task) => call.fail(format_err!(
                            "isyswasfa: the call's task is already awaited by another call"
                        )),
                        Ok(()) => {
                            self.call_tasks.insert(id, task);
                            self.calls.insert(task, (id, call));
                        }
                        Err(error) => call.fail(error),
                    }
                }
            }
            Command::Cancel(id) => {
                if let Some(task) = self.call_tasks.remove(&id) {
                    self.calls.remove(&task);
                    self.store.data_mut().isyswasfa().table.cancel(task);
                }
            }
            Command::Sizes(reply) => {
                let ctx = self.store.data_mut().isyswasfa();
                let sizes = TableSizes {
                    pipe_ends: ctx.pipes.len(),
                    pollables: ctx.pollables.len(),
                    discarded_values: ctx.pipes.discarded_len(),
                    calls: self.calls.len(),
                    call_tasks: self.call_tasks.len(),
                    ..ctx.table.sizes()
                };
                let sizes = TableSizes {
                    wasi_resources: self
                        .store
                        .data_mut()
                        .isyswasfa_and_table()
                        .1
                        .iter_mut()
                        .count(),
                    ..sizes
                };
                let _ = reply.send(sizes);
            }
            Command::Job { export, job } => {
                if let Some(export) = &export {
                    self.set_running(Running::Export(export.to_string()));
                }
                job(&mut self.store, &self.instance).await;
                self.set_running(Running::Idle);
                // The job may have broken the store (recorded in its data).
                self.clean_up_if_broken();
            }
        }
    }

    fn set_running(&mut self, running: Running) {
        self.store.data_mut().isyswasfa().running = running;
    }

    /// Delivers queued events and finished embedder calls, until none is left or
    /// [`MAX_DELIVERIES_PER_TURN`] (or the store's own setting) were made; returns whether some
    /// are left.
    async fn deliver(&mut self) -> Result<bool> {
        let deliveries = self.store.data_mut().isyswasfa().max_deliveries_per_turn();
        for _ in 0..deliveries {
            let ctx = self.store.data_mut().isyswasfa();
            if ctx.broken.is_some() {
                // Nothing is delivered any more; values that closed pipes left since the break
                // are dropped here (the store cannot release them), so they do not wake the
                // loop again and again.
                ctx.pipes.close_all();
                return Ok(false);
            }
            crate::deadline::begin_entry(&mut self.store);
            crate::pipe_links::release_discarded(&mut self.store).await?;
            let table = &mut self.store.data_mut().isyswasfa().table;
            if let Some(task) = table.next_embedder_ready() {
                if let Some((id, mut call)) = self.calls.remove(&task) {
                    self.call_tasks.remove(&id);
                    self.set_running(Running::Export(call.name().to_string()));
                    let outcome = call.finish(&mut self.store, task).await;
                    self.set_running(Running::Idle);
                    if let Err(error) = outcome {
                        call.fail(self.break_store(&error));
                        return Ok(false);
                    }
                }
                continue;
            }
            let count = self.polls.len();
            let Some(component) = (0..count)
                .map(|i| (self.next_poll + i) % count)
                .find(|c| table.has_events(*c))
            else {
                return Ok(false);
            };
            self.next_poll = (component + 1) % count;
            let events = PollInput::lower(component, table.take_events(component));
            self.set_running(Running::Poll(component));
            let outcome = self.polls[component]
                .call_async(&mut self.store, (events,))
                .await;
            self.set_running(Running::Idle);
            if let Err(error) = outcome {
                let name = self
                    .store
                    .data_mut()
                    .isyswasfa()
                    .table
                    .component_name(component)
                    .to_string();
                return Err(error.context(format!("poll export of component `{name}` failed")));
            }
        }
        // The budget is spent: is anything left?
        let ctx = self.store.data_mut().isyswasfa();
        let table = &ctx.table;
        Ok(ctx.broken.is_none()
            && ((0..self.polls.len()).any(|c| table.has_events(c))
                || table.has_embedder_ready()
                || ctx.pipes.discarded_len() > 0))
    }

    /// Entering the store failed with `error`: records it (the first cause is kept), then fails
    /// every call, closes every pipe end and empties the tables. Returns the error calls fail with.
    fn break_store(&mut self, error: &wasmtime::Error) -> wasmtime::Error {
        let error = self.store.data_mut().isyswasfa().record_failure(error);
        self.clean_up_if_broken();
        error
    }

    /// Once the store is broken: fails every call in flight with the first cause, closes every
    /// pipe end the store held (the embedder's ends see the end of the stream or a closed pipe),
    /// and drops every task, host future, pollable wait and WASI resource. Runs once.
    fn clean_up_if_broken(&mut self) {
        if self.cleaned_up {
            return;
        }
        let Some(reason) = self.store.data_mut().isyswasfa().broken.clone() else {
            return;
        };
        self.cleaned_up = true;
        for (_, (_, call)) in self.calls.drain() {
            call.fail(format_err!("{reason}"));
        }
        self.call_tasks.clear();
        let (ctx, table) = self.store.data_mut().isyswasfa_and_table();
        ctx.pipes.close_all();
        ctx.table.clear();
        ctx.pollables.clear();
        *table = wasmtime::component::ResourceTable::new();
    }
}
