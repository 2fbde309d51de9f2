//! Running native WASI 0.3 components on wasmtime's own concurrency support, to compare their
//! answers with the polyfilled builds of the same source on isyswasfa.
//! The native builds themselves are [`isyswasfa_test_support::Guest::native_path`].

use std::path::PathBuf;
use std::pin::Pin;
use std::sync::OnceLock;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use isyswasfa_host::State;
use tokio::sync::oneshot;
use wasmtime::component::{
    Accessor, Component, ComponentNamedList, FutureConsumer, Instance, Lift, Linker, Lower, Source,
    StreamConsumer, StreamReader, StreamResult, TypedFunc,
};
use wasmtime::{AsContextMut, Config, Engine, Result, Store, StoreContextMut, format_err};

use super::ThingRes;

/// An engine for native WASI 0.3 components: the component model's async ABI on.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        let mut config = Config::new();
        config.wasm_component_model(true);
        config.wasm_component_model_async(true);
        Engine::new(&config).expect("native engine")
    })
}

/// WASI 0.2 (which a guest's std imports) and the WASI 0.3 monotonic clock the test guests use.
pub fn linker() -> Result<Linker<State>> {
    let mut linker = Linker::new(engine());
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    let start = Instant::now();
    let mut clock = linker.instance("wasi:clocks/monotonic-clock@0.3.0")?;
    let now = move || u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
    clock.func_wrap("now", move |_, (): ()| Ok((now(),)))?;
    clock.func_wrap("get-resolution", |_, (): ()| Ok((1u64,)))?;
    clock.func_wrap_concurrent("wait-for", |_: &Accessor<State>, (ns,): (u64,)| {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_nanos(ns)).await;
            Ok(())
        })
    })?;
    clock.func_wrap_concurrent("wait-until", move |_: &Accessor<State>, (when,): (u64,)| {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_nanos(when.saturating_sub(now()))).await;
            Ok(())
        })
    })?;
    Ok(linker)
}

/// `linker()` plus the `component:streams/types.thing` resource of the `streams` guest.
pub fn streams_linker() -> Result<Linker<State>> {
    let mut linker = linker()?;
    let mut types = linker.instance("component:streams/types")?;
    types.resource(
        "thing",
        wasmtime::component::ResourceType::host::<ThingRes>(),
        |_, _| Ok(()),
    )?;
    types.func_wrap("[constructor]thing", |_, (value,): (u32,)| {
        Ok((wasmtime::component::Resource::<ThingRes>::new_own(value),))
    })?;
    types.func_wrap(
        "[method]thing.value",
        |_, (thing,): (wasmtime::component::Resource<ThingRes>,)| Ok((thing.rep(),)),
    )?;
    Ok(linker)
}

/// A native component instantiated in a store of its own.
pub struct Native {
    pub store: Store<State>,
    pub instance: Instance,
}

impl Native {
    pub async fn new(linker: &Linker<State>, path: PathBuf) -> Result<Self> {
        let component = Component::from_file(engine(), &path)?;
        let mut store = Store::new(engine(), State::new());
        let instance = linker.instantiate_async(&mut store, &component).await?;
        Ok(Self { store, instance })
    }

    /// The typed export `name` of the exported interface `interface`.
    pub fn func<P, R>(&mut self, interface: &str, name: &str) -> Result<TypedFunc<P, R>>
    where
        P: ComponentNamedList + Lower + Send + Sync,
        R: ComponentNamedList + Lift + Send + Sync,
    {
        let iface = self
            .instance
            .get_export_index(&mut self.store, None, interface)
            .ok_or_else(|| format_err!("no export {interface}"))?;
        let index = self
            .instance
            .get_export_index(&mut self.store, Some(&iface), name)
            .ok_or_else(|| format_err!("no export {interface}#{name}"))?;
        self.instance.get_typed_func(&mut self.store, index)
    }

    /// Calls `func` concurrently (the native async ABI) and runs the store until it returns.
    pub async fn call<P, R>(&mut self, func: TypedFunc<P, R>, params: P) -> Result<R>
    where
        P: ComponentNamedList + Lower + Send + Sync + 'static,
        R: ComponentNamedList + Lift + Send + Sync + 'static,
    {
        self.store
            .run_concurrent(async move |accessor| func.call_concurrent(accessor, params).await)
            .await?
    }

    /// Reads the whole stream `reader` (a guest's writable end's reader), running the store
    /// until the writer is dropped.
    pub async fn collect<T: Lift + Send + Sync + Unpin + 'static>(
        &mut self,
        reader: StreamReader<T>,
    ) -> Result<Vec<T>> {
        let (done, items) = oneshot::channel();
        reader.pipe(
            &mut self.store,
            Collect {
                items: Vec::new(),
                done: Some(done),
            },
        )?;
        self.store
            .run_concurrent(async move |_| {
                items
                    .await
                    .map_err(|_| format_err!("the stream consumer vanished"))
            })
            .await?
    }

    /// The value of the future `reader`, running the store until it is written (`None`: the
    /// writer went away without a value).
    pub async fn value<T: Lift + Send + Sync + Unpin + 'static>(
        &mut self,
        reader: wasmtime::component::FutureReader<T>,
    ) -> Result<Option<T>> {
        let (done, value) = oneshot::channel();
        reader.pipe(&mut self.store, Take { done: Some(done) })?;
        self.store
            .run_concurrent(async move |_| Ok(value.await.ok()))
            .await?
    }
}

/// A host stream consumer that keeps every item and hands them over when the writer is gone
/// (wasmtime drops the consumer then).
struct Collect<T> {
    items: Vec<T>,
    done: Option<oneshot::Sender<Vec<T>>>,
}

impl<T: Lift + Send + Sync + Unpin + 'static, D> StreamConsumer<D> for Collect<T> {
    type Item = T;

    fn poll_consume(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        mut store: StoreContextMut<D>,
        mut source: Source<'_, T>,
        _: bool,
    ) -> Poll<Result<StreamResult>> {
        let this = self.get_mut();
        let mut chunk = Vec::with_capacity(source.remaining(store.as_context_mut()).max(1));
        source.read(store.as_context_mut(), &mut chunk)?;
        this.items.extend(chunk);
        Poll::Ready(Ok(StreamResult::Completed))
    }
}

impl<T> Drop for Collect<T> {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(std::mem::take(&mut self.items));
        }
    }
}

/// A host future consumer that hands over the value.
struct Take<T> {
    done: Option<oneshot::Sender<T>>,
}

impl<T: Lift + Send + Sync + Unpin + 'static, D> FutureConsumer<D> for Take<T> {
    type Item = T;

    fn poll_consume(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
        mut store: StoreContextMut<D>,
        mut source: Source<'_, T>,
        _: bool,
    ) -> Poll<Result<()>> {
        let mut value = None;
        source.read(store.as_context_mut(), &mut value)?;
        if let (Some(value), Some(done)) = (value, self.get_mut().done.take()) {
            let _ = done.send(value);
        }
        Poll::Ready(Ok(()))
    }
}
