//! The host-runtime tests' harness: the guests of `test-cases/` (built by isyswasfa-test-support)
//! compiled once per process and instantiated on the real host, with the host functions they
//! import.

#![allow(dead_code)]

pub mod native;

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use isyswasfa_host::{Host, State};
use isyswasfa_test_support::Guest;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Result, Store};

pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| isyswasfa_host::engine().expect("engine"))
}

/// The compiled component of `guest` (compiled once per process).
pub fn component(guest: Guest) -> Component {
    static COMPONENTS: OnceLock<Mutex<HashMap<Guest, Component>>> = OnceLock::new();
    let mut components = COMPONENTS.get_or_init(Default::default).lock().unwrap();
    components
        .entry(guest)
        .or_insert_with(|| {
            Component::from_file(engine(), guest.path()).expect("compiling the guest component")
        })
        .clone()
}

/// A round-trip host whose imported `foo` waits `delay`, then answers with both hops.
pub async fn round_trip(delay: Duration) -> Result<Host<State>> {
    let mut linker = isyswasfa_host::linker::<State>(engine())?;
    let mut baz = linker.instance("component:test/baz")?;
    isyswasfa_host::func_wrap_async(&mut baz, "foo", move |(s,): (String,)| async move {
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        format!("{s} - entered host - exited host")
    })?;
    Host::instantiate(
        Store::new(engine(), State::new()),
        &linker,
        &component(Guest::RoundTrip),
    )
    .await
}

/// Checks that a round-trip call on `other` (a [`round_trip`] host) answers in its normal time
/// (a 10 ms timer in the guest), as the host beside a hostile one must.
pub async fn other_host_answers(other: &Host<State>) -> Result<()> {
    let foo = other
        .func::<(String,), String>(Some("component:test/baz"), "foo")
        .await?;
    let start = std::time::Instant::now();
    let answer = other.call(&foo, ("hi".into(),)).await?;
    assert!(answer.starts_with("hi - entered guest"), "{answer}");
    assert!(
        start.elapsed() < Duration::from_millis(100),
        "{:?}",
        start.elapsed()
    );
    Ok(())
}

/// The `component:tasks/host` imports of the `tasks` guest.
pub fn tasks_linker() -> Result<Linker<State>> {
    let mut linker = isyswasfa_host::linker::<State>(engine())?;
    let mut host = linker.instance("component:tasks/host")?;
    isyswasfa_host::func_wrap_async(&mut host, "pending-once", |(x,): (u32,)| async move {
        tokio::task::yield_now().await;
        x
    })?;
    isyswasfa_host::func_wrap_async(&mut host, "ready", |(x,): (u32,)| async move { x })?;
    host.func_wrap("sync-echo", |_, (x,): (u32,)| Ok((x,)))?;
    isyswasfa_host::func_wrap_async(&mut host, "never", |(): ()| std::future::pending::<()>())?;
    Ok(linker)
}

pub async fn tasks() -> Result<Host<State>> {
    let linker = tasks_linker()?;
    Host::instantiate(
        Store::new(engine(), State::new()),
        &linker,
        &component(Guest::Tasks),
    )
    .await
}

pub const TASKS: Option<&str> = Some("component:tasks/tasks");

/// Marker of the test host's `thing` resource: its rep is its value.
pub struct ThingRes;

/// A host for the `streams` guest, with `component:streams/types.thing` implemented.
pub async fn streams() -> Result<Host<State>> {
    streams_counting_drops(Default::default()).await
}

/// Like [`streams`], counting in `dropped` the calls of `thing`'s destructor.
pub async fn streams_counting_drops(
    dropped: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> Result<Host<State>> {
    streams_in(State::new(), dropped).await
}

/// Like [`streams_counting_drops`], in a store with the given `state` (its limits and settings).
pub async fn streams_in(
    state: State,
    dropped: std::sync::Arc<std::sync::atomic::AtomicUsize>,
) -> Result<Host<State>> {
    let mut linker = isyswasfa_host::linker::<State>(engine())?;
    let mut types = linker.instance("component:streams/types")?;
    types.resource(
        "thing",
        wasmtime::component::ResourceType::host::<ThingRes>(),
        move |_, _| {
            dropped.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            Ok(())
        },
    )?;
    types.func_wrap("[constructor]thing", |_, (value,): (u32,)| {
        Ok((wasmtime::component::Resource::<ThingRes>::new_own(value),))
    })?;
    types.func_wrap(
        "[method]thing.value",
        |_, (thing,): (wasmtime::component::Resource<ThingRes>,)| Ok((thing.rep(),)),
    )?;
    Host::instantiate(
        Store::new(engine(), state),
        &linker,
        &component(Guest::Streams),
    )
    .await
}

pub const STREAMS: Option<&str> = Some("component:streams/streams");

/// The `component:compose/service` functions the `callee` guest imports, implemented by the
/// host: `sleep` waits, `never` never finishes.
pub fn add_service(linker: &mut Linker<State>) -> Result<()> {
    let mut service = linker.instance("component:compose/service")?;
    isyswasfa_host::func_wrap_async(&mut service, "sleep", |(millis,): (u32,)| async move {
        tokio::time::sleep(Duration::from_millis(millis.into())).await;
        format!("host slept {millis} ms")
    })?;
    isyswasfa_host::func_wrap_async(&mut service, "never", |(): ()| std::future::pending::<()>())?;
    Ok(())
}

/// The `callee` guest on its own (its `service` import implemented by the host), with WASI
/// network access for its TCP test.
pub async fn callee() -> Result<Host<State>> {
    let mut linker = isyswasfa_host::linker::<State>(engine())?;
    add_service(&mut linker)?;
    let wasi = wasmtime_wasi::WasiCtx::builder()
        .inherit_stdout()
        .inherit_stderr()
        .inherit_network()
        .allow_tcp(true)
        .build();
    Host::instantiate(
        Store::new(
            engine(),
            State::with(wasi, isyswasfa_host::IsyswasfaCtx::default()),
        ),
        &linker,
        &component(Guest::Callee),
    )
    .await
}

pub const PROBE: Option<&str> = Some("component:compose/probe");
