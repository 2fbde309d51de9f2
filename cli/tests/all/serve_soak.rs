//! `serve` under a mixed load, for a while: good clients at full speed beside idle, half-sent,
//! slow-reading and garbage clients, large uploads, uploads cut off halfway, and a path that
//! traps. The good clients must see no error at all, and once the attackers are gone the
//! server's memory and open files must come back to what they were.
//!
//! `serve_soak` runs `SOAK_SECONDS` (default 12, for CI); `SOAK_SECONDS=60 cargo test
//! --workspace --test all -- serve_soak --nocapture` gives the figures the README reports.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use isyswasfa_test_support::Guest;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use crate::common::http::ServeProcess;

/// What one kind of client did.
#[derive(Default)]
struct Tally {
    done: AtomicU64,
    failed: AtomicU64,
}

/// The resident memory (KiB) and open file descriptors of process `pid`.
fn footprint(pid: u32) -> (u64, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("reading status");
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc status");
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("listing fds")
        .count();
    (rss, fds)
}

/// One request on a fresh connection: its status and body, or what went wrong.
async fn exchange(
    address: &str,
    method: &str,
    path: &str,
    body: Bytes,
) -> Result<(u16, Bytes), String> {
    let attempt = async {
        let stream = TcpStream::connect(address)
            .await
            .map_err(|e| e.to_string())?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(connection);
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", address)
            .body(Full::new(body))
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok((status, body))
    };
    tokio::time::timeout(Duration::from_secs(10), attempt)
        .await
        .unwrap_or_else(|_| Err("no answer within 10 s".to_string()))
}

/// Runs `client` again and again until `stop`, counting what it reports.
fn keep_running<F, Fut>(stop: &Arc<AtomicBool>, tally: &Arc<Tally>, client: F)
where
    F: Fn() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), String>> + Send,
{
    let (stop, tally) = (Arc::clone(stop), Arc::clone(tally));
    tokio::spawn(async move {
        while !stop.load(Ordering::Relaxed) {
            match client().await {
                Ok(()) => tally.done.fetch_add(1, Ordering::Relaxed),
                Err(error) => {
                    if tally.failed.fetch_add(1, Ordering::Relaxed) < 3 {
                        eprintln!("serve_soak: {error}");
                    }
                    0
                }
            };
        }
    });
}

/// Opens a connection, writes `bytes`, then holds it (reading nothing) for `hold`.
async fn hold_with(address: String, bytes: &'static [u8], hold: Duration) -> Result<(), String> {
    let mut stream = TcpStream::connect(&address)
        .await
        .map_err(|e| e.to_string())?;
    let _ = stream.write_all(bytes).await;
    tokio::time::sleep(hold).await;
    Ok(())
}

/// Good clients, uploads and every kind of attacker, all at once until `stop`; their tallies
/// (good requests, uploads, attacks).
fn start_load(address: &str, stop: &Arc<AtomicBool>) -> [Arc<Tally>; 3] {
    let address = address.to_string();
    let good = Arc::new(Tally::default());
    let uploads = Arc::new(Tally::default());
    let attacks = Arc::new(Tally::default());
    for _ in 0..8 {
        let address = address.clone();
        keep_running(stop, &good, move || {
            let address = address.clone();
            async move {
                match exchange(&address, "GET", "/", Bytes::new()).await? {
                    (200, body) if body == "ok" => Ok(()),
                    other => Err(format!("a good request got {other:?}")),
                }
            }
        });
    }
    // Large uploads, read to their end by the guest.
    let upload = Bytes::from(vec![b'u'; 8 << 20]);
    for _ in 0..2 {
        let (address, upload) = (address.clone(), upload.clone());
        keep_running(stop, &uploads, move || {
            let (address, upload) = (address.clone(), upload.clone());
            async move {
                match exchange(&address, "POST", "/drop-trailers", upload).await? {
                    (200, body) if body == format!("read {}", 8 << 20) => Ok(()),
                    other => Err(format!("an upload got {other:?}")),
                }
            }
        });
    }
    // The attackers: each reports Ok whatever the server did to it.
    let attackers: [(&'static [u8], u64); 5] = [
        // Idle: connects and sends nothing.
        (b"", 3),
        // Half a request head.
        (b"GET / HTTP/1.1\r\nhost: x\r\nx-half: ", 3),
        // Asks for an endless body and never reads it.
        (b"GET /forever HTTP/1.1\r\nhost: x\r\n\r\n", 3),
        // Half an upload, then nothing (then the connection is dropped).
        (
            b"POST /drop-trailers HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\nhalf",
            2,
        ),
        // Garbage.
        (
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
            1,
        ),
    ];
    for (bytes, hold) in attackers {
        for _ in 0..4 {
            let address = address.clone();
            keep_running(stop, &attacks, move || {
                hold_with(address.clone(), bytes, Duration::from_secs(hold))
            });
        }
    }
    // A path that traps.
    {
        let address = address.clone();
        keep_running(stop, &attacks, move || {
            let address = address.clone();
            async move {
                match exchange(&address, "GET", "/trap", Bytes::new()).await? {
                    (500, _) => Ok(()),
                    other => Err(format!("/trap got {other:?}")),
                }
            }
        });
    }

    [good, uploads, attacks]
}

/// Waits (up to 15 s) until the server at `pid` is back within 10 % of `before` in memory and
/// open files; returns where it ended.
async fn settle(pid: u32, (rss_before, fds_before): (u64, usize)) -> (u64, usize) {
    let began = Instant::now();
    let mut now = footprint(pid);
    while began.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        now = footprint(pid);
        if now.1 <= fds_before + fds_before / 10 && now.0 <= rss_before + rss_before / 10 {
            break;
        }
    }
    now
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_soak() {
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    // One request per instance at a time: a trapping request breaks its own instance, and no
    // good request shares it.
    let server = ServeProcess::start(
        &Guest::HttpFaults.path(),
        &[
            "--max-instance-concurrency",
            "1",
            "--header-read-timeout",
            "1s",
            "--write-stall-timeout",
            "1s",
            "--read-stall-timeout",
            "1s",
        ],
    );
    let address = server.url.trim_start_matches("http://").to_string();
    // Warm up under the same load, so that the server's pool holds as many instances as the
    // load keeps busy (the pool keeps idle instances for reuse: that is not growth), let it
    // settle, and take the footprint the end is compared with.
    let stop = Arc::new(AtomicBool::new(false));
    start_load(&address, &stop);
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let (rss_before, fds_before) = footprint(server.pid());

    let stop = Arc::new(AtomicBool::new(false));
    let [good, uploads, attacks] = start_load(&address, &stop);

    let began = Instant::now();
    let mut rss_peak = rss_before;
    while began.elapsed() < Duration::from_secs(seconds) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        rss_peak = rss_peak.max(footprint(server.pid()).0);
    }
    stop.store(true, Ordering::Relaxed);
    // Every attacker lets go within its hold (3 s at most) and the server's timeouts (1 s).
    let (rss_after, fds_after) = settle(server.pid(), (rss_before, fds_before)).await;
    let count = |t: &Tally| {
        (
            t.done.load(Ordering::Relaxed),
            t.failed.load(Ordering::Relaxed),
        )
    };
    let (good_done, good_failed) = count(&good);
    let (uploads_done, uploads_failed) = count(&uploads);
    let (attacks_done, _) = count(&attacks);
    eprintln!(
        "serve_soak: {seconds} s: good requests {good_done} ({:.0}/s, {good_failed} failed), \
         8 MiB uploads {uploads_done} ({uploads_failed} failed), attacks {attacks_done}; \
         RSS {rss_before} KiB before, {rss_peak} KiB peak, {rss_after} KiB after; \
         fds {fds_before} before, {fds_after} after",
        good_done as f64 / seconds as f64
    );
    assert_eq!(good_failed, 0, "{}", server.log());
    assert_eq!(uploads_failed, 0, "{}", server.log());
    assert!(good_done > 0 && uploads_done > 0 && attacks_done > 0);
    assert!(
        fds_after <= fds_before + fds_before / 10,
        "open files: {fds_before} before, {fds_after} after"
    );
    assert!(
        rss_after <= rss_before + rss_before / 10,
        "RSS: {rss_before} KiB before, {rss_after} KiB after"
    );
    // And the server still serves.
    assert_eq!(
        exchange(&address, "GET", "/", Bytes::new()).await,
        Ok((200, Bytes::from_static(b"ok")))
    );
}
