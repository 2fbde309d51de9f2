//! The `caller` and `callee` guests composed by the real CLI, and hosts running them.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use isyswasfa_host::{Host, State};
use isyswasfa_test_support::Guest;
use wasmtime::component::{Component, Linker};
use wasmtime::{Engine, Result, Store};

use super::{isyswasfa, stderr};

/// The interface the composed caller exports.
pub const API: Option<&str> = Some("component:compose/api");

pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| isyswasfa_host::engine().expect("engine"))
}

/// Composes `caller` with the given dependencies through the CLI; returns the output's path.
pub fn compose(name: &str, dependencies: &[Guest]) -> PathBuf {
    compose_root(Guest::Caller, name, dependencies)
}

/// Composes the guest `root` with the given dependencies through the CLI, into `name`.wasm;
/// returns the output's path.
pub fn compose_root(root: Guest, name: &str, dependencies: &[Guest]) -> PathBuf {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.wasm"));
    let mut args = vec!["compose".into(), root.path().into_os_string()];
    for dependency in dependencies {
        args.push("-d".into());
        args.push(dependency.path().into_os_string());
    }
    args.push("-o".into());
    args.push(out.clone().into_os_string());
    let output = isyswasfa(args);
    assert!(
        output.status.success(),
        "compose failed: {}",
        stderr(&output)
    );
    out
}

fn compiled(which: &'static OnceLock<Component>, name: &str, dependencies: &[Guest]) -> Component {
    which
        .get_or_init(|| {
            Component::from_file(engine(), compose(name, dependencies))
                .expect("compiling the composition")
        })
        .clone()
}

/// The `component:compose/service` that the last callee of a chain imports, implemented by
/// the host: `sleep` waits, `never` never finishes.
pub fn linker() -> Result<Linker<State>> {
    let mut linker = isyswasfa_host::linker::<State>(engine())?;
    let mut service = linker.instance("component:compose/service")?;
    isyswasfa_host::func_wrap_async(&mut service, "sleep", |(millis,): (u32,)| async move {
        tokio::time::sleep(Duration::from_millis(millis.into())).await;
        format!("host slept {millis} ms")
    })?;
    isyswasfa_host::func_wrap_async(&mut service, "never", |(): ()| std::future::pending::<()>())?;
    Ok(linker)
}

async fn host(component: &Component) -> Result<Host<State>> {
    host_in(component, isyswasfa_host::IsyswasfaCtx::default()).await
}

async fn host_in(component: &Component, ctx: isyswasfa_host::IsyswasfaCtx) -> Result<Host<State>> {
    let wasi = wasmtime_wasi::WasiCtx::builder()
        .inherit_stdout()
        .inherit_stderr()
        .inherit_network()
        .allow_tcp(true)
        .build();
    Host::instantiate(
        Store::new(engine(), State::with(wasi, ctx)),
        &linker()?,
        component,
    )
    .await
}

/// `caller -d callee`.
pub async fn caller_and_callee() -> Result<Host<State>> {
    caller_and_callee_in(isyswasfa_host::IsyswasfaCtx::default()).await
}

/// `caller -d callee`, with the isyswasfa settings of `ctx`.
pub async fn caller_and_callee_in(ctx: isyswasfa_host::IsyswasfaCtx) -> Result<Host<State>> {
    static COMPONENT: OnceLock<Component> = OnceLock::new();
    host_in(
        &compiled(&COMPONENT, "caller-callee", &[Guest::Callee]),
        ctx,
    )
    .await
}

/// `caller -d callee -d callee`: a chain, the second callee's import left to the host.
pub async fn caller_and_two_callees() -> Result<Host<State>> {
    static COMPONENT: OnceLock<Component> = OnceLock::new();
    host(&compiled(
        &COMPONENT,
        "caller-callee-callee",
        &[Guest::Callee, Guest::Callee],
    ))
    .await
}
