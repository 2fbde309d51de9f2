//! Host implementations of lowered async imports, written as plain Rust async closures.
//!
//! [`func_wrap_async`] turns `|params| async { value }` into the pair a lowered component imports:
//! `<name>-isyswasfa-start`, which polls the future once and returns the value at once when it is
//! ready (costing little more than a synchronous import), and otherwise hands the future to the
//! event loop and returns a `pending`; and `<name>-isyswasfa-result`, which collects the value.

use isyswasfa_protocol::names::{result_name, start_name};
use std::any::{Any, TypeId};
use std::future::Future;
use std::task::{Context, Poll, Waker};

use wasmtime::component::{
    ComponentNamedList, ComponentType, Lift, LinkerInstance, Lower, Resource, Val,
};
use wasmtime::{AsContextMut, Result, StoreContextMut, format_err};

use crate::ctx::IsyswasfaView;
use crate::poller::Pending;
use crate::poller::Ready;
use isyswasfa_protocol::tasks::{HostFunction, Value};

/// Defines the lowered async function `name` (as written in WIT, e.g. `"foo"` or
/// `"[method]conn.read"`) in `instance`, implemented by `f`.
///
/// `Params` is the tuple of the WIT parameters, as for [`LinkerInstance::func_wrap`]; `R` is the
/// WIT result type itself, or `()` for a function without a result.
///
/// ```no_run
/// # fn demo(linker: &mut wasmtime::component::Linker<isyswasfa_host::State>) -> wasmtime::Result<()> {
/// let mut baz = linker.instance("component:test/baz")?;
/// isyswasfa_host::func_wrap_async(&mut baz, "foo", |(s,): (String,)| async move {
///     format!("{s} - host")
/// })?;
/// # Ok(())
/// # }
/// ```
pub fn func_wrap_async<T, Params, R, F, Fut>(
    instance: &mut LinkerInstance<'_, T>,
    name: &str,
    f: F,
) -> Result<()>
where
    T: IsyswasfaView + 'static,
    Params: ComponentNamedList + Lift + 'static,
    R: ComponentType + Lower + Send + 'static,
    F: Fn(Params) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
{
    func_wrap_async_with_store(instance, name, move |_, params| Ok(f(params)))
}

/// Like [`func_wrap_async`], for implementations that need the store to start (for example to
/// look up a resource): `f` gets the store and the parameters, and returns the future (or an
/// error, which traps the caller).
pub fn func_wrap_async_with_store<T, Params, R, F, Fut>(
    instance: &mut LinkerInstance<'_, T>,
    name: &str,
    f: F,
) -> Result<()>
where
    T: IsyswasfaView + 'static,
    Params: ComponentNamedList + Lift + 'static,
    R: ComponentType + Lower + Send + 'static,
    F: Fn(StoreContextMut<'_, T>, Params) -> Result<Fut> + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
{
    let function = HostFunction::new(name);
    let started = function.clone();
    instance.func_wrap(
        &start_name(name),
        move |mut store, params: Params| -> Result<(Result<R, Resource<Pending>>,)> {
            let future = f(store.as_context_mut(), params)?;
            Ok((ready_or_spawned(&mut store, &started, future)?.map_err(Resource::new_own),))
        },
    )?;
    let result = result_name(name);
    if TypeId::of::<R>() == TypeId::of::<()>() {
        // A function without a result: its result half returns nothing.
        instance.func_wrap(&result, move |mut store, (ready,): (Resource<Ready>,)| {
            store
                .data_mut()
                .isyswasfa()
                .ctx
                .tasks
                .take_host_value(&function, ready.rep())?;
            Ok(())
        })
    } else {
        instance.func_wrap(&result, move |mut store, (ready,): (Resource<Ready>,)| {
            let value = store
                .data_mut()
                .isyswasfa()
                .ctx
                .tasks
                .take_host_value(&function, ready.rep())?;
            Ok((downcast::<R>(value)?,))
        })
    }
}

/// What an async host function defined with [`func_wrap_async_finished`] hands back: makes its
/// typed result with the store once the caller collects it (to put a new resource in the table,
/// for example).
pub(crate) type TypedFinish<T, R> = Box<dyn FnOnce(StoreContextMut<'_, T>) -> Result<R> + Send>;

/// Like [`func_wrap_async_with_store`], for functions whose result needs the store to be made:
/// the future ends in a [`TypedFinish`], run when the value is collected (by the start half when
/// the future is ready at once, else by the result half).
pub(crate) fn func_wrap_async_finished<T, Params, R, F, Fut>(
    instance: &mut LinkerInstance<'_, T>,
    name: &str,
    f: F,
) -> Result<()>
where
    T: IsyswasfaView + 'static,
    Params: ComponentNamedList + Lift + 'static,
    R: ComponentType + Lower + Send + 'static,
    F: Fn(StoreContextMut<'_, T>, Params) -> Result<Fut> + Send + Sync + 'static,
    Fut: Future<Output = TypedFinish<T, R>> + Send + 'static,
{
    let function = HostFunction::new(name);
    let started = function.clone();
    instance.func_wrap(
        &start_name(name),
        move |mut store, params: Params| -> Result<(Result<R, Resource<Pending>>,)> {
            let future = f(store.as_context_mut(), params)?;
            Ok((match ready_or_spawned(&mut store, &started, future)? {
                Ok(finish) => Ok(finish(store.as_context_mut())?),
                Err(task) => Err(Resource::new_own(task)),
            },))
        },
    )?;
    instance.func_wrap(
        &result_name(name),
        move |mut store, (ready,): (Resource<Ready>,)| {
            let value = store
                .data_mut()
                .isyswasfa()
                .ctx
                .tasks
                .take_host_value(&function, ready.rep())?;
            let finish = downcast::<TypedFinish<T, R>>(value)?;
            Ok((finish(store.as_context_mut())?,))
        },
    )
}

/// The start half's one step: polls `future` once and gives back its value when it is ready at
/// once (the fast path: it never reaches the task table, costing little more than a synchronous
/// import); otherwise hands it to the store's task table as a task of `function` and gives back
/// the task's handle (the event loop polls it again, with the real waker).
fn ready_or_spawned<T, V>(
    store: &mut StoreContextMut<'_, T>,
    function: &HostFunction,
    future: impl Future<Output = V> + Send + 'static,
) -> Result<Result<V, isyswasfa_protocol::tasks::TaskId>>
where
    T: IsyswasfaView,
    V: Send + 'static,
{
    let mut future = Box::pin(future);
    if let Poll::Ready(value) = future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        return Ok(Ok(value));
    }
    let table = &mut store.data_mut().isyswasfa().ctx.tasks;
    let task = table.spawn_host(
        function.clone(),
        async move { Box::new(future.await) as Value },
    )?;
    Ok(Err(task))
}

/// Recovers a task's value; the type is fixed by the function that stored it.
pub(crate) fn downcast<R: 'static>(value: Box<dyn Any + Send>) -> Result<R> {
    value
        .downcast::<R>()
        .map(|value| *value)
        .map_err(|_| format_err!("isyswasfa: a task's value has an unexpected type"))
}

/// What an async host function defined with [`func_new_async`] hands back: turns its outcome
/// into the WIT result value, with the store (to make resources, for example).
pub(crate) type Finish<T> = Box<dyn FnOnce(StoreContextMut<'_, T>) -> Result<Val> + Send>;

/// Like [`func_wrap_async_with_store`], for functions whose types are only known at run time or
/// whose results need the store: parameters and the result are [`Val`]s, and the future ends in
/// a [`Finish`] that makes the result value once the caller collects it.
pub(crate) fn func_new_async<T, F, Fut>(
    instance: &mut LinkerInstance<'_, T>,
    name: &str,
    start: F,
) -> Result<()>
where
    T: IsyswasfaView + 'static,
    F: Fn(StoreContextMut<'_, T>, &[Val]) -> Result<Fut> + Send + Sync + 'static,
    Fut: Future<Output = Finish<T>> + Send + 'static,
{
    let function = HostFunction::new(name);
    let started = function.clone();
    instance.func_new(&start_name(name), move |mut store, _, params, results| {
        let future = start(store.as_context_mut(), params)?;
        let result = match ready_or_spawned(&mut store, &started, future)? {
            Ok(finish) => Ok(Some(Box::new(finish(store.as_context_mut())?))),
            Err(task) => {
                let pending = Resource::<Pending>::new_own(task)
                    .try_into_resource_any(store.as_context_mut())?;
                Err(Some(Box::new(Val::Resource(pending))))
            }
        };
        let slot = results.first_mut().ok_or_else(|| {
            format_err!(
                "isyswasfa: `{name_of}` has no result",
                name_of = started.name()
            )
        })?;
        *slot = Val::Result(result);
        Ok(())
    })?;
    instance.func_new(&result_name(name), move |mut store, _, params, results| {
        let [Val::Resource(ready)] = params else {
            wasmtime::bail!("isyswasfa: `{}`: expected a `ready`", function.name());
        };
        let ready = ready.try_into_resource::<Ready>(store.as_context_mut())?;
        let value = store
            .data_mut()
            .isyswasfa()
            .ctx
            .tasks
            .take_host_value(&function, ready.rep())?;
        let finish = downcast::<Finish<T>>(value)?;
        let value = finish(store.as_context_mut())?;
        let slot = results
            .first_mut()
            .ok_or_else(|| format_err!("isyswasfa: `{}` has no result", function.name()))?;
        *slot = value;
        Ok(())
    })
}
