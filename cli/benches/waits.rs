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

const WAITS: u32 = 10_000;
const NANOS: u64 = 1_000_000_000;

#[tokio::main]
async fn main() -> wasmtime::Result<()> {
    let host = composition::caller_and_callee().await?;
    println!("{WAITS} concurrent 1 s waits, half in each of two composed components:");
    println!("| kind | wall | CPU | CPU / wall |");
    println!("| --- | ---: | ---: | ---: |");
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
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}
