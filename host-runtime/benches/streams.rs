//! `stream<u8>` throughput: host → the `streams` guest's `echo` → host, next to a baseline
//! measured in the same run: a host-only pipe of the same buffer size, written and read by two
//! tokio tasks the same way.
//!
//! Also P11: one guest `write_all` of 64 MiB (`flood-bytes`, read by the host) against one of
//! 16 MiB; linear means a ratio near 4 (goal < 6).
//!
//! Run with `cargo bench -p isyswasfa-host --bench streams`; it prints a markdown table.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use isyswasfa_host::ReaderEnd;
use isyswasfa_host::pipes::{self, StreamReader, StreamWriter};
use isyswasfa_host::{Host, State};
use isyswasfa_test_support::figures::{Figure, Goal};
use wasmtime::Result;
use wasmtime::component::Resource;

/// Bytes per run.
const TOTAL: usize = 256 << 20;
/// Bytes per write and per read (the pipes' buffer size is 64 KiB too).
const CHUNK: usize = 64 << 10;
/// Measured runs per case; the median is reported.
const REPEATS: usize = 5;

/// Writes `TOTAL` bytes into `writer` and reads them from `reader`, concurrently.
async fn pump(mut writer: StreamWriter<u8>, mut reader: StreamReader<u8>) -> Duration {
    let start = Instant::now();
    let write = tokio::spawn(async move {
        let chunk = vec![7u8; CHUNK];
        for _ in 0..TOTAL / CHUNK {
            writer.write(chunk.clone()).await.expect("reader alive");
        }
    });
    let mut received = 0;
    while let Some(chunk) = reader.read(CHUNK).await {
        received += chunk.len();
    }
    write.await.expect("writer task");
    assert_eq!(received, TOTAL);
    start.elapsed()
}

fn mb_per_s(elapsed: Duration) -> f64 {
    TOTAL as f64 / 1e6 / elapsed.as_secs_f64()
}

fn median(mut runs: Vec<f64>) -> f64 {
    runs.sort_by(f64::total_cmp);
    runs[runs.len() / 2]
}

/// The best of three times of one guest `write_all` of `bytes` bytes, read by the host.
async fn flood(host: &Host<State>, bytes: u32) -> Result<Duration> {
    let flood = host
        .func::<(u32,), Resource<ReaderEnd>>(common::STREAMS, "flood-bytes")
        .await?;
    let mut best = Duration::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        let out = host.call(&flood, (bytes,)).await?;
        let mut reader = host.open_stream::<u8>(out).await?;
        let mut read = 0usize;
        while let Some(chunk) = reader.read(1 << 20).await {
            read += chunk.len();
        }
        if read != bytes as usize {
            return Err(wasmtime::format_err!(
                "flood-bytes gave {read} of {bytes} bytes"
            ));
        }
        best = best.min(started.elapsed());
    }
    Ok(best)
}

#[tokio::main]
async fn main() -> Result<()> {
    let host = common::streams().await?;
    let echo = host
        .func::<(Resource<ReaderEnd>,), Resource<ReaderEnd>>(common::STREAMS, "echo")
        .await?;

    let mut baseline = Vec::new();
    let mut guest = Vec::new();
    for run in 0..=REPEATS {
        let (writer, reader) = pipes::stream::<u8>(CHUNK);
        let host_only = mb_per_s(pump(writer, reader).await);

        let (writer, input) = host.new_stream::<u8>().await?;
        let output = host.call(&echo, (input,)).await?;
        let reader = host.open_stream::<u8>(output).await?;
        let through_guest = mb_per_s(pump(writer, reader).await);
        // The first run warms up.
        if run > 0 {
            baseline.push(host_only);
            guest.push(through_guest);
        }
    }
    let (baseline, guest) = (median(baseline), median(guest));
    println!(
        "| `stream<u8>`, {} MiB in 64 KiB chunks | MB/s |",
        TOTAL >> 20
    );
    println!("| --- | ---: |");
    println!("| baseline: host-only pipe (64 KiB buffer) | {baseline:.0} |");
    println!("| host → guest `echo` → host | {guest:.0} |");
    println!(
        "\nguest echo / baseline: {:.0}% (goal: at least 50%)",
        100.0 * guest / baseline
    );

    flood(&host, 1 << 20).await?; // warm-up
    let small = flood(&host, 16 << 20).await?;
    let large = flood(&host, 64 << 20).await?;
    println!("\none write_all of 16 MiB: {small:.1?}, of 64 MiB: {large:.1?} (best of 3)\n");
    Figure {
        id: "P11",
        figure: "one write_all, time of 64 MiB / of 16 MiB".into(),
        isyswasfa: large.as_secs_f64() / small.as_secs_f64(),
        baseline: None,
        goal: Goal::AtMost(6.0),
    }
    .print();
    Ok(())
}
