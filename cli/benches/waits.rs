//! Waiting at scale: 10 000 concurrent one-second waits split across two composed components
//! (`caller` and `callee`, composed by the CLI), once with `wasi:clocks@0.3.0` `wait-for` and
//! once with WASI 0.2 `subscribe-duration` pollables. Prints the wall time and the process's CPU
//! time of the waits (goal: ≤ 1.1 s wall, CPU ≤ 5 % of wall).
//!
//! `cargo bench -p isyswasfa --bench waits`

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::composition::{self, API};
use isyswasfa_test_support::cpu::cpu_time;
use isyswasfa_test_support::figures::{Figure, Goal};

const WAITS: u32 = 10_000;
const NANOS: u64 = 1_000_000_000;

#[tokio::main]
async fn main() -> wasmtime::Result<()> {
    // Each pending WASI 0.2 clock pollable holds two entries of the resource table (the
    // pollable and its deadline) until it is waited for, and a component makes all of its 5 000
    // before it waits for any: above the default cap of 10 000 entries.
    let ctx = isyswasfa_host::IsyswasfaCtx::builder()
        .max_resources(4 * WAITS as usize)
        .build();
    let host = composition::caller_and_callee_in(ctx).await?;
    println!("{WAITS} concurrent 1 s waits, half in each of two composed components:");
    println!("| kind | wall | CPU | CPU / wall |");
    println!("| --- | ---: | ---: | ---: |");
    let mut figures = Vec::new();
    for (kind, export) in [
        ("wasi:clocks@0.3.0 wait-for", "clocks-both"),
        ("WASI 0.2 subscribe-duration pollables", "pollables-both"),
    ] {
        let func = host.func::<(u32, u64), (u32, u32)>(API, export).await?;
        host.call(&func, (10, 1_000_000)).await?;
        let (wall, cpu) = (Instant::now(), cpu_time());
        let (a, b) = host.call(&func, (WAITS / 2, NANOS)).await?;
        let (wall, cpu) = (wall.elapsed(), cpu_time() - cpu);
        assert_eq!(a + b, WAITS, "every wait finished");
        println!(
            "| {kind} | {:.3} s | {:.3} s | {:.1} % |",
            wall.as_secs_f64(),
            cpu.as_secs_f64(),
            100.0 * cpu.as_secs_f64() / wall.as_secs_f64()
        );
        figures.push(Figure {
            id: "P5",
            figure: format!("10 000 × 1 s waits, {kind}: wall (s)"),
            isyswasfa: wall.as_secs_f64(),
            baseline: None,
            goal: Goal::AtMost(1.1),
        });
        figures.push(Figure {
            id: "P5",
            figure: format!("10 000 × 1 s waits, {kind}: CPU / wall (%)"),
            isyswasfa: 100.0 * cpu.as_secs_f64() / wall.as_secs_f64(),
            baseline: None,
            goal: Goal::AtMost(5.0),
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!();
    figures.iter().for_each(Figure::print);
    Ok(())
}
