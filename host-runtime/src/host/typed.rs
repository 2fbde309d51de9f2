//! Calling exports with static types: [`AsyncFunc`] (an async export's start/result pair) and
//! [`SyncFunc`].

use std::marker::PhantomData;
use std::sync::Arc;

use tokio::sync::oneshot;
use wasmtime::Store;
use wasmtime::component::{
    ComponentNamedList, ComponentType, Func, Lift, Lower, Resource, TypedFunc,
};
use wasmtime::error::Context as _;
use wasmtime::{Result, format_err};

use crate::ctx::IsyswasfaView;
use crate::funcs::downcast;
use crate::host::command::BoxFuture;
use crate::host::command::ExportCall;
use crate::host::exports::check_claimed;
use crate::host::exports::export_index;
use crate::host::exports::result_export;
use crate::host::handle::Host;

use crate::poller::Pending;
use crate::poller::Ready;
use isyswasfa_protocol::names::RESULT_SUFFIX;
use isyswasfa_protocol::names::START_SUFFIX;
use isyswasfa_protocol::tasks::TaskId;

impl<T: IsyswasfaView + Send + 'static> Host<T> {
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
                if let Some(error) = store.data_mut().isyswasfa().ctx.broken_error() {
                    return Err(error);
                }
                typed
                    .call_async(&mut *store, params)
                    .await
                    .map_err(|error| {
                        let error = error.context(format!("call to `{name}` failed"));
                        store.data_mut().isyswasfa().ctx.record_failure(&error)
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
        let (reply, receiver) = oneshot::channel();
        let call = TypedCall {
            func: func.clone(),
            params: Some(params),
            reply: Some(reply),
        };
        self.call_erased(Box::new(call), receiver).await
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

/// An exported async call in flight with its static types (see [`ExportCall`]).
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
