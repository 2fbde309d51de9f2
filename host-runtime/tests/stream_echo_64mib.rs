//! 64 MiB through the guest's `echo`, read back byte-identical, in bounded memory. A test binary
//! of its own, so that the peak resident memory it measures is this test's alone.

mod common;

use common::STREAMS;
use isyswasfa_host::ReaderEnd;
use wasmtime::Result;
use wasmtime::component::Resource;

const TOTAL: usize = 64 << 20;
const CHUNK: usize = 64 << 10;

/// The byte at offset `i` of the test stream.
fn byte_at(i: usize) -> u8 {
    (i.wrapping_mul(31) ^ (i >> 13)) as u8
}

/// The process's peak resident set size so far, in bytes (`VmHWM`).
fn peak_rss() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("reading /proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM in /proc/self/status");
    let kib: usize = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("a number of KiB");
    kib * 1024
}

#[tokio::test]
async fn stream_echo_64mib() -> Result<()> {
    let host = common::streams().await?;
    let echo = host
        .func::<(Resource<ReaderEnd>,), Resource<ReaderEnd>>(STREAMS, "echo")
        .await?;

    // Warm up: one small echo, so that lazily grown state is in place before measuring.
    let (mut writer, reader) = host.new_stream::<u8>().await?;
    let out = host.call(&echo, (reader,)).await?;
    writer.write(vec![1, 2, 3]).await.ok();
    drop(writer);
    let mut warm = host.open_stream::<u8>(out).await?;
    while warm.read(16).await.is_some() {}

    let before = peak_rss();
    let (mut writer, reader) = host.new_stream::<u8>().await?;
    let out = host.call(&echo, (reader,)).await?;
    let mut reader = host.open_stream::<u8>(out).await?;
    let write = tokio::spawn(async move {
        let mut offset = 0;
        while offset < TOTAL {
            let chunk: Vec<u8> = (offset..offset + CHUNK).map(byte_at).collect();
            writer.write(chunk).await.expect("the guest reads");
            offset += CHUNK;
        }
    });
    let mut received = 0usize;
    while let Some(chunk) = reader.read(CHUNK).await {
        for (i, byte) in chunk.iter().enumerate() {
            assert_eq!(*byte, byte_at(received + i), "byte {}", received + i);
        }
        received += chunk.len();
    }
    write.await.expect("writer task");
    let growth = peak_rss().saturating_sub(before);
    eprintln!("stream_echo_64mib: peak RSS grew by {} KiB", growth / 1024);
    assert_eq!(received, TOTAL);
    assert!(
        growth < 32 << 20,
        "peak resident memory grew by {} MiB",
        growth >> 20
    );
    Ok(())
}
