//! Calling exports with dynamic values ([`Val`]s): what the CLI's `run --invoke` and `serve` do
//! for functions whose types they learn at run time.

use std::sync::Arc;

use tokio::sync::oneshot;
use wasmtime::Store;
use wasmtime::component::{Func, Resource, Val};
use wasmtime::error::Context as _;
use wasmtime::{Result, format_err};

use crate::ctx::IsyswasfaView;
use crate::host::command::BoxFuture;
use crate::host::command::ExportCall;
use crate::host::exports::check_claimed;
use crate::host::exports::export_index;
use crate::host::exports::result_export;
use crate::host::handle::Host;

use crate::poller::Pending;
use crate::poller::Ready;
use isyswasfa_protocol::names::START_SUFFIX;
use isyswasfa_protocol::tasks::TaskId;

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
        self.call_dynamic_with(func, move |_| Ok(params), |_, results| Ok(results))
            .await
    }

    /// [`Host::call_dynamic`] with its arguments made, and its results taken apart, inside the
    /// store, in the same visit of the event loop as the call's start and as its result: for
    /// arguments and results that are resources of the store's table (what `serve` hands a
    /// handler and takes back), one loop round trip per call rather than three.
    pub async fn call_dynamic_with<R: Send + 'static>(
        &self,
        func: &DynamicFunc,
        params: impl FnOnce(&mut Store<T>) -> Result<Vec<Val>> + Send + 'static,
        results: impl FnOnce(&mut Store<T>, Vec<Val>) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        match &func.kind {
            DynamicKind::Sync(typed) => {
                let typed = *typed;
                let name = Arc::clone(&func.name);
                self.run_job(Some(Arc::clone(&func.name)), move |store, _| {
                    Box::pin(async move {
                        if let Some(error) = store.data_mut().isyswasfa().ctx.broken_error() {
                            return Err(error);
                        }
                        let params = params(store)?;
                        crate::vals::check_params(&*store, &typed, &params)
                            .with_context(|| format!("call to `{name}` failed"))?;
                        let count = typed.ty(&*store).results().len();
                        let mut values = vec![Val::Bool(false); count];
                        if let Err(error) =
                            typed.call_async(&mut *store, &params, &mut values).await
                        {
                            let error = error.context(format!("call to `{name}` failed"));
                            return Err(store.data_mut().isyswasfa().ctx.record_failure(&error));
                        }
                        results(store, values)
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
                    params: Some(Box::new(params)),
                    results: Some(Box::new(results)),
                    reply: Some(reply),
                };
                self.call_erased(Box::new(call), receiver).await
            }
        }
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

/// Makes a dynamic call's arguments inside the store.
type MakeParams<T> = Box<dyn FnOnce(&mut Store<T>) -> Result<Vec<Val>> + Send>;
/// Takes a dynamic call's results apart inside the store.
type TakeResults<T, R> = Box<dyn FnOnce(&mut Store<T>, Vec<Val>) -> Result<R> + Send>;

/// An async call made with dynamic values.
struct ValCall<T: 'static, R> {
    name: Arc<str>,
    start: Func,
    result: Func,
    params: Option<MakeParams<T>>,
    results: Option<TakeResults<T, R>>,
    reply: Option<oneshot::Sender<Result<R>>>,
}

impl<T: 'static, R> ValCall<T, R> {
    fn reply(&mut self, value: Result<R>) {
        if let Some(reply) = self.reply.take() {
            let _ = reply.send(value);
        }
    }

    /// Replies with `values` taken apart by the caller's `results`.
    fn deliver(&mut self, store: &mut Store<T>, values: Vec<Val>) {
        let outcome = match self.results.take() {
            Some(results) => results(store, values),
            None => Err(format_err!("`{}` replied twice", self.name)),
        };
        self.reply(outcome);
    }
}

impl<T: IsyswasfaView + Send + 'static, R: Send + 'static> ExportCall<T> for ValCall<T, R> {
    fn name(&self) -> &str {
        &self.name
    }

    fn start<'a>(&'a mut self, store: &'a mut Store<T>) -> BoxFuture<'a, Result<Option<TaskId>>> {
        Box::pin(async move {
            let Some(params) = self.params.take() else {
                return Ok(None);
            };
            let checked = params(&mut *store).and_then(|params| {
                crate::vals::check_params(&*store, &self.start, &params).map(|()| params)
            });
            let params = match checked {
                Ok(params) => params,
                Err(error) => {
                    let name = Arc::clone(&self.name);
                    self.reply(Err(error.context(format!("call to `{name}` failed"))));
                    return Ok(None);
                }
            };
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
                Ok(Ok(values)) => self.deliver(store, values),
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
            self.deliver(store, results);
            Ok(())
        })
    }

    fn fail(mut self: Box<Self>, error: wasmtime::Error) {
        self.reply(Err(error));
    }
}
