//! The host warns when a composed component blocks its thread in `wasi:io/poll.poll`, naming the
//! export and the component.
//!
//! A test binary of its own: it installs the process's global tracing subscriber (there is one per
//! process, set once) and reads the first warning about blocking in `poll`; in a shared process,
//! every other test's warnings would land in the same log.

mod common;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use common::composition::{self, API};
use wasmtime::Result;

/// Collects the host's log lines.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs() -> &'static Logs {
    static LOGS: OnceLock<Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        let writer = logs.clone();
        tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::WARN)
            .init();
        logs
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn blocking_poll_warns() -> Result<()> {
    let logs = logs();
    let host = composition::caller_and_callee().await?;
    let blocking = host.sync_func::<(u64,), ()>(API, "blocking-sleep").await?;
    let start = Instant::now();
    host.call_sync(&blocking, (100_000_000,)).await?;
    assert!(start.elapsed() >= Duration::from_millis(100));
    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    let line = text
        .lines()
        .find(|line| line.contains("blocked in `wasi:io/poll.poll`"))
        .unwrap_or_else(|| panic!("no warning in the logs:\n{text}"));
    assert!(line.contains("WARN"), "{line}");
    assert!(
        line.contains("blocking-sleep") && line.contains("`callee`"),
        "{line}"
    );
    assert!(line.contains("ms"), "the line says how long: {line}");
    Ok(())
}
