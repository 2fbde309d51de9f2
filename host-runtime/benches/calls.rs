//! Call overhead: ns per call of a host import called `N` times in sequence inside one exported
//! async call, for the `tasks` guest (isyswasfa, a WASI 0.2 component) and the same loops built
//! as a native WASI 0.3 component (`test-cases/tasks-native`, wit-bindgen's own async support,
//! run on wasmtime's concurrent APIs).
//!
//! Three imports: `sync-echo` (a plain sync import), `ready` (an async import whose host future
//! is ready at once) and `pending-once` (an async import whose host future yields once to the
//! runtime before answering).
//!
//! Run with `cargo bench -p isyswasfa-host --bench calls`; it prints a markdown table.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use isyswasfa_host::{Host, State};
use isyswasfa_test_support::Guest;
use isyswasfa_test_support::figures::{Figure, Goal};
use wasmtime::component::{Accessor, Component, Instance, Linker, TypedFunc};
use wasmtime::{Config, Engine, Result, Store, format_err};

/// Host calls per exported call.
const N: u32 = 10_000;
/// Measured exported calls per case (after one warm-up call); the median is reported.
const REPEATS: usize = 9;

/// The exported functions, in table order, with the import each one calls.
const CASES: [(&str, &str); 3] = [
    ("call-sync", "sync import"),
    ("call-ready", "async import, ready at once"),
    ("call-pending-once", "async import, pending once"),
];

/// The sum every call loop returns: `0 + 1 + … + (N - 1)`.
fn expected_sum() -> u64 {
    u64::from(N) * u64::from(N - 1) / 2
}

/// Nanoseconds per host call of one exported call that took `elapsed`.
fn ns_per_call(elapsed: Duration) -> f64 {
    elapsed.as_nanos() as f64 / f64::from(N)
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// The median ns per call of each case on the isyswasfa host.
async fn isyswasfa_rows() -> Result<Vec<f64>> {
    let host: Host<State> = common::tasks().await?;
    let mut rows = Vec::new();
    for (export, _) in CASES {
        let func = host.func::<(u32,), u64>(common::TASKS, export).await?;
        let mut samples = Vec::new();
        for run in 0..=REPEATS {
            let start = Instant::now();
            let sum = host.call(&func, (N,)).await?;
            let elapsed = start.elapsed();
            if sum != expected_sum() {
                return Err(format_err!("{export} returned {sum}"));
            }
            if run > 0 {
                samples.push(ns_per_call(elapsed));
            }
        }
        rows.push(median(samples));
    }
    Ok(rows)
}

/// An engine for native WASI 0.3 components: the component model's async ABI on.
fn native_engine() -> Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.wasm_component_model_async(true);
    Engine::new(&config)
}

/// WASI 0.2 (which the native guest's std still imports) and `component:tasks/host`, with the
/// same behaviour as `common::tasks_linker`: `pending-once` yields once before answering.
fn native_linker(engine: &Engine) -> Result<Linker<State>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    let mut host = linker.instance("component:tasks/host")?;
    host.func_wrap_concurrent("pending-once", |_: &Accessor<State>, (x,): (u32,)| {
        Box::pin(async move {
            tokio::task::yield_now().await;
            Ok((x,))
        })
    })?;
    host.func_wrap_concurrent("ready", |_: &Accessor<State>, (x,): (u32,)| {
        Box::pin(async move { Ok((x,)) })
    })?;
    host.func_wrap("sync-echo", |_, (x,): (u32,)| Ok((x,)))?;
    Ok(linker)
}

fn native_func(
    store: &mut Store<State>,
    instance: &Instance,
    name: &str,
) -> Result<TypedFunc<(u32,), (u64,)>> {
    let interface = instance
        .get_export_index(&mut *store, None, "component:tasks/tasks")
        .ok_or_else(|| format_err!("the native guest does not export component:tasks/tasks"))?;
    let index = instance
        .get_export_index(&mut *store, Some(&interface), name)
        .ok_or_else(|| format_err!("the native guest does not export {name}"))?;
    instance.get_typed_func(&mut *store, index)
}

/// The median ns per call of each case for the native WASI 0.3 guest.
async fn native_rows() -> Result<Vec<f64>> {
    let engine = native_engine()?;
    let linker = native_linker(&engine)?;
    let component = Component::from_file(&engine, Guest::TasksNative.path())?;
    let mut store = Store::new(&engine, State::new());
    let instance = linker.instantiate_async(&mut store, &component).await?;
    let mut rows = Vec::new();
    for (export, _) in CASES {
        let func = native_func(&mut store, &instance, export)?;
        let samples = store
            .run_concurrent(async move |accessor| -> Result<Vec<f64>> {
                let mut samples = Vec::new();
                for run in 0..=REPEATS {
                    let start = Instant::now();
                    let (sum,) = func.call_concurrent(accessor, (N,)).await?;
                    let elapsed = start.elapsed();
                    if sum != expected_sum() {
                        return Err(format_err!("{export} returned {sum}"));
                    }
                    if run > 0 {
                        samples.push(ns_per_call(elapsed));
                    }
                }
                Ok(samples)
            })
            .await??;
        rows.push(median(samples));
    }
    Ok(rows)
}

fn main() -> Result<()> {
    // Build the guests (and compile them) before anything is timed.
    Guest::Tasks.path();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let total = Instant::now();
    let isyswasfa = runtime.block_on(isyswasfa_rows())?;
    let native = runtime.block_on(native_rows())?;

    println!("ns per host call, median of {REPEATS} exported calls of {N} host calls each:\n");
    println!("| import | isyswasfa (WASI 0.2) | native WASI 0.3 |");
    println!("| --- | ---: | ---: |");
    for (i, (_, label)) in CASES.iter().enumerate() {
        println!("| {label} | {:.1} | {:.1} |", isyswasfa[i], native[i]);
    }
    let ready_ratio = isyswasfa[1] / isyswasfa[0];
    let pending_ratio = isyswasfa[2] / native[2];
    let verdict = |met: bool| if met { "met" } else { "NOT met" };
    println!();
    println!(
        "- isyswasfa ready-at-once / sync: {ready_ratio:.2}× (goal ≤ 1.2×: {})",
        verdict(ready_ratio <= 1.2)
    );
    println!(
        "- isyswasfa pending-once / native 0.3 pending-once: {pending_ratio:.2}× (goal ≤ 1.0×: {})",
        verdict(pending_ratio <= 1.0)
    );
    println!();
    Figure {
        id: "P2",
        figure: "async import pending once, ns per call".into(),
        isyswasfa: isyswasfa[2],
        baseline: Some(native[2]),
        goal: Goal::RatioAtMost(1.0),
    }
    .print();
    eprintln!("\n(measured in {:.1?})", total.elapsed());
    Ok(())
}
