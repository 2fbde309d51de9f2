//! Shared test harness: builds the guests in `test-cases/` for wasm32-wasip2 (once per test
//! process) and instantiates them on the real host.

#![allow(dead_code)]

pub mod native;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use isyswasfa_host::{Host, State};
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Result, Store};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn guest_target_dir() -> PathBuf {
    // Several checkouts sharing one CARGO_TARGET_DIR would overwrite each other's guests.
    if let Some(dir) = std::env::var_os("ISYSWASFA_GUEST_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("guests"),
        None => repo_root().join("target").join("guests"),
    }
}

/// Builds every guest in `test-cases/` (once per process) and returns the path of `name`'s
/// component.
pub fn guest_path(name: &str) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let target = guest_target_dir();
    BUILT.get_or_init(|| {
        let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--manifest-path",
            ])
            .arg(repo_root().join("test-cases").join("Cargo.toml"))
            .env("CARGO_TARGET_DIR", &target)
            .status()
            .expect("failed to run cargo to build the test guests");
        assert!(status.success(), "building the test guests failed");
    });
    target
        .join("wasm32-wasip2")
        .join("release")
        .join(format!("{}.wasm", name.replace('-', "_")))
}

pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| isyswasfa_host::engine().expect("engine"))
}

/// The compiled component `name` (compiled once per process).
pub fn component(name: &str) -> Component {
    static COMPONENTS: OnceLock<Mutex<HashMap<String, Component>>> = OnceLock::new();
    let mut components = COMPONENTS.get_or_init(Default::default).lock().unwrap();
    components
        .entry(name.to_string())
        .or_insert_with(|| {
            Component::from_file(engine(), guest_path(name)).expect("compiling the guest component")
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
        &component("round-trip"),
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
        &component("tasks"),
    )
    .await
}

pub const TASKS: Option<&str> = Some("component:tasks/tasks");

/// CPU time (user + system) this process has used so far.
pub fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        assert_eq!(libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()), 0);
        usage.assume_init()
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

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
    Host::instantiate(Store::new(engine(), state), &linker, &component("streams")).await
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
        Store::new(engine(), State::with_wasi(wasi)),
        &linker,
        &component("callee"),
    )
    .await
}

pub const PROBE: Option<&str> = Some("component:compose/probe");
