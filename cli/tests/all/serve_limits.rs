//! `serve` against clients that hold connections without sending a request: half-sent heads,
//! idle keep-alives, more connections than the cap, more than the process has file descriptors.
//! Each attack runs while a well-behaved client is served, and must end without the server's
//! help from the attacker.

use std::ffi::OsStr;
use std::time::{Duration, Instant};

use isyswasfa_test_support::Guest;
use isyswasfa_test_support::http::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::common::http::ServeProcess;

/// `host:port` of `server`.
fn address(server: &ServeProcess) -> String {
    server.url.trim_start_matches("http://").to_string()
}

/// Reads from `stream` until the server closes it; `None` when it is still open after `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Vec<u8>> {
    let mut seen = Vec::new();
    match tokio::time::timeout(limit, stream.read_to_end(&mut seen)).await {
        Ok(_) => Some(seen),
        Err(_) => None,
    }
}

/// The hello guest answers a plain GET with 200.
async fn answers(server: &ServeProcess) -> bool {
    get(&server.url, "/").await.status == 200
}

/// A client that sends half a request head and then nothing is disconnected once the
/// header-read timeout passes; meanwhile the server answers others.
#[tokio::test]
async fn serve_half_sent_head_times_out() {
    let server = ServeProcess::start(&Guest::Hello.path(), &["--header-read-timeout", "500ms"]);
    let mut stream = TcpStream::connect(address(&server)).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nx-half: ")
        .await
        .unwrap();
    assert!(answers(&server).await, "a good client during the attack");
    let began = Instant::now();
    let seen = closed_within(&mut stream, Duration::from_secs(5)).await;
    assert!(
        seen.is_some(),
        "the half-sent head was still open after 5 s: {}",
        server.log()
    );
    assert!(
        !String::from_utf8_lossy(seen.as_deref().unwrap_or_default()).contains(" 200 "),
        "the half-sent head got a response"
    );
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );
}

/// A keep-alive connection left idle after its response is closed after the header-read
/// timeout (it is waiting for its next request head).
#[tokio::test]
async fn serve_idle_keepalive_times_out() {
    let server = ServeProcess::start(&Guest::Hello.path(), &["--header-read-timeout", "500ms"]);
    let mut stream = TcpStream::connect(address(&server)).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let seen = closed_within(&mut stream, Duration::from_secs(5)).await;
    let Some(seen) = seen else {
        panic!("the idle keep-alive connection was still open after 5 s");
    };
    let seen = String::from_utf8_lossy(&seen);
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(answers(&server).await);
}

/// Beyond `--max-concurrent-connections`, a new client is not served until a connection
/// closes; the connections within the cap are served as usual.
#[tokio::test]
async fn serve_connection_cap() {
    let server = ServeProcess::start(
        &Guest::Hello.path(),
        &[
            "--max-concurrent-connections",
            "3",
            "--header-read-timeout",
            "30s",
        ],
    );
    let address = address(&server);
    let idle_a = TcpStream::connect(&address).await.unwrap();
    let _idle_b = TcpStream::connect(&address).await.unwrap();
    // The third connection, within the cap, is served (keep-alive, so it stays open).
    let mut served = TcpStream::connect(&address).await.unwrap();
    served
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut head = [0; 12];
    tokio::time::timeout(Duration::from_secs(5), served.read_exact(&mut head))
        .await
        .expect("the connection within the cap was not served")
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");

    // A fourth waits: its request gets no answer while three connections are open.
    let mut waiting = TcpStream::connect(&address).await.unwrap();
    waiting
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut early = [0; 1];
    let answered = tokio::time::timeout(Duration::from_millis(700), waiting.read(&mut early)).await;
    assert!(answered.is_err(), "a connection beyond the cap was served");

    // One closes: the waiting one is let in and answered.
    drop(idle_a);
    let seen = closed_within(&mut waiting, Duration::from_secs(5))
        .await
        .expect("the waiting connection was not served after one closed");
    let seen = String::from_utf8_lossy(&seen);
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
}

/// The CPU time `pid` has used so far (user plus system, from `/proc/PID/stat`).
fn process_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("reading stat");
    // The fields after the command name (which may hold spaces) start at its closing paren;
    // utime and stime are the 14th and 15th fields of the whole line.
    let after = &stat[stat.rfind(')').expect("stat has a command") + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: `sysconf` reads a constant of the system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis(ticks * 1000 / per_second)
}

/// With 64 file descriptors and 150 idle clients, `accept` fails with EMFILE: the server backs
/// off instead of spinning (under 10 % of a core over 2 s), does not flood its log, and a fresh
/// client is answered once the idle ones have timed out.
#[tokio::test]
async fn serve_fd_exhaustion_no_spin() {
    let server = ServeProcess::start_with_fd_limit(
        &Guest::Hello.path(),
        &["--header-read-timeout", "1s"],
        64,
    );
    let address = address(&server);
    let mut idle = Vec::new();
    for _ in 0..150 {
        idle.push(TcpStream::connect(&address).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = process_cpu(server.pid());
    tokio::time::sleep(Duration::from_secs(2)).await;
    let used = process_cpu(server.pid()) - before;
    assert!(
        used < Duration::from_millis(200),
        "the server used {used:?} of CPU in 2 s while out of file descriptors"
    );
    let fresh = tokio::time::timeout(Duration::from_secs(20), get(&server.url, "/")).await;
    let fresh = fresh.expect("a fresh client was not answered within 20 s");
    assert_eq!(fresh.status, 200);
    let log = server.log();
    let reports = log.matches("accepting a connection failed").count();
    assert!(
        (1..=5).contains(&reports),
        "{reports} accept failure records: {log}"
    );
    drop(idle);
}

/// A request or connection cap of 0 (which would hang every request) or beyond what the
/// semaphore can count (which would panic at start) is refused with a message naming the flag's
/// range, before anything is served.
#[test]
fn serve_rejects_bad_concurrency() {
    let hello = Guest::Hello.path();
    for flag in ["--max-concurrent-requests", "--max-concurrent-connections"] {
        for value in ["0", "18446744073709551615"] {
            let output = crate::common::isyswasfa([
                OsStr::new("serve"),
                hello.as_os_str(),
                OsStr::new(flag),
                OsStr::new(value),
            ]);
            let stderr = crate::common::stderr(&output);
            assert_eq!(output.status.code(), Some(2), "{flag} {value}: {stderr}");
            assert!(
                stderr.contains(flag) && stderr.contains("must be between 1 and"),
                "{flag} {value}: {stderr}"
            );
        }
    }
}

/// A guest that traps while its response body streams: the client sees the response cut off
/// (no terminating chunk), never a clean end of a truncated body; the next request is served.
#[tokio::test]
async fn serve_trap_mid_body_aborts() {
    let server = ServeProcess::start(&Guest::HttpFaults.path(), &[]);
    let mut stream = TcpStream::connect(address(&server)).await.unwrap();
    stream
        .write_all(b"GET /trap-mid-body HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let seen = closed_within(&mut stream, Duration::from_secs(10))
        .await
        .expect("the connection stayed open after the trap");
    let seen = String::from_utf8_lossy(&seen);
    assert!(seen.starts_with("HTTP/1.1 200"), "{seen}");
    assert!(seen.contains("the first part"), "{seen}");
    assert!(
        seen.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{seen}"
    );
    assert!(
        !seen.ends_with("0\r\n\r\n"),
        "the cut-off body ended like a complete one: {seen:?}"
    );
    assert!(answers_faults(&server).await);
}

/// The http-faults guest answers `/` with 200 `ok`.
async fn answers_faults(server: &ServeProcess) -> bool {
    let answer = get(&server.url, "/").await;
    answer.status == 200 && &answer.body[..] == b"ok"
}

/// `--max-memory-size`: a request whose guest grows its memory beyond the cap fails with a 500
/// (the guest's allocation fails and it traps) while one within the cap is served; without the
/// flag the same request succeeds.
#[tokio::test]
async fn serve_memory_limit() {
    let capped = ServeProcess::start(&Guest::HttpFaults.path(), &["--max-memory-size", "64MiB"]);
    let answer = get(&capped.url, "/grow").await;
    assert_eq!(answer.status, 500, "{}", capped.log());
    assert!(answers_faults(&capped).await);

    let free = ServeProcess::start(&Guest::HttpFaults.path(), &[]);
    let answer = get(&free.url, "/grow").await;
    assert_eq!(
        (
            answer.status.as_u16(),
            String::from_utf8_lossy(&answer.body).into_owned()
        ),
        (200, format!("grew {}", 128 << 20))
    );
}

/// A guest's stdout line with a carriage return and ANSI escapes reaches the log escaped: no
/// raw control character, so it can neither overwrite a record nor drive the terminal.
#[tokio::test]
async fn serve_guest_output_escaped() {
    let server = ServeProcess::start(&Guest::HttpFaults.path(), &[]);
    let answer = get(&server.url, "/print-controls").await;
    assert_eq!(answer.status, 200);
    let logged = isyswasfa_test_support::http::eventually(Duration::from_secs(5), || {
        server.log().contains("forged record")
    })
    .await;
    assert!(logged, "{}", server.log());
    let log = server.log();
    let line = log
        .lines()
        .find(|l| l.contains("forged record"))
        .unwrap_or_default();
    assert!(
        line.contains(r"plain\rforged record \u{1b}[31mred\u{1b}[0m"),
        "{line:?}"
    );
    assert!(!log.contains('\x1b') && !log.contains('\r'), "{log:?}");
}

/// A handler that blocks its instance for 60 s (a WASI 0.2 `pollable.block`), with a 300 ms
/// request timeout and four requests per instance: ten other requests sent meanwhile are all
/// answered within 1 s (new requests avoid the stuck instance), the blocking request gets its
/// 500 at the timeout, and the stuck instance is retired and dropped then.
#[tokio::test]
async fn serve_blocking_guest_is_contained() {
    let server = ServeProcess::start(
        &Guest::HttpFaults.path(),
        &[
            "--request-timeout",
            "300ms",
            "--max-instance-concurrency",
            "4",
        ],
    );
    // Warm up one instance, so that the blocking request lands on a running one.
    assert!(answers_faults(&server).await);
    let url = server.url.clone();
    let began = Instant::now();
    let blocking = tokio::spawn(async move { get(&url, "/sleep-blocking").await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let others = (0..10).map(|_| get(&server.url, "/"));
    let answers = tokio::time::timeout(Duration::from_secs(1), futures::future::join_all(others))
        .await
        .unwrap_or_else(|_| panic!("the other requests hung: {}", server.log()));
    assert!(
        answers
            .iter()
            .all(|a| a.status == 200 && &a.body[..] == b"ok")
    );
    let blocked = tokio::time::timeout(Duration::from_secs(2), blocking)
        .await
        .expect("the blocking request got no answer at its timeout")
        .unwrap();
    assert_eq!(blocked.status, 500);
    assert!(began.elapsed() < Duration::from_secs(2));
    let retired = isyswasfa_test_support::http::eventually(Duration::from_secs(2), || {
        server.log().contains("inside one guest call")
    })
    .await;
    assert!(retired, "{}", server.log());
    assert!(answers_faults(&server).await);
}

/// A fresh client is served once the only request slot is released, and not before `held`
/// (the slot was really held until then).
async fn served_once_released(server: &ServeProcess, held: Duration) {
    let began = Instant::now();
    let next = tokio::time::timeout(Duration::from_secs(10), get(&server.url, "/"))
        .await
        .unwrap_or_else(|_| panic!("the slot was never released: {}", server.log()));
    assert_eq!(next.status, 200);
    assert!(
        began.elapsed() >= held,
        "served at once: the slot was not held ({:?})",
        began.elapsed()
    );
}

/// A client that never reads its (endless) response holds the only request slot until the
/// write-stall timeout closes its connection; then the next client is served.
#[tokio::test]
async fn serve_slow_reader_releases_permit() {
    let server = ServeProcess::start(
        &Guest::HttpFaults.path(),
        &[
            "--max-concurrent-requests",
            "1",
            "--write-stall-timeout",
            "500ms",
        ],
    );
    let mut sleeper = TcpStream::connect(address(&server)).await.unwrap();
    sleeper
        .write_all(b"GET /forever HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    // Its response has started (so it holds the slot); from now on the client reads nothing:
    // the socket buffers fill, and the server's writes stall.
    let mut head = [0; 12];
    tokio::time::timeout(Duration::from_secs(5), sleeper.read_exact(&mut head))
        .await
        .expect("the endless response did not start")
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    served_once_released(&server, Duration::from_millis(400)).await;
    // The stalled connection was closed by the server.
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(5), sleeper.read_to_end(&mut rest)).await;
    assert!(closed.is_ok(), "the stalled connection is still open");
}

/// A client that sends half its upload and then nothing holds the only request slot (its
/// handler is reading the body) until the read-stall timeout fails the body; then the next
/// client is served.
#[tokio::test]
async fn serve_trickled_upload_releases_permit() {
    let server = ServeProcess::start(
        &Guest::HttpFaults.path(),
        &[
            "--max-concurrent-requests",
            "1",
            "--read-stall-timeout",
            "500ms",
        ],
    );
    let mut uploader = TcpStream::connect(address(&server)).await.unwrap();
    // `/drop-trailers` reads the whole body before it answers.
    uploader
        .write_all(
            b"POST /drop-trailers HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n0123456789",
        )
        .await
        .unwrap();
    // Let the request take the slot before the next one comes.
    tokio::time::sleep(Duration::from_millis(100)).await;
    served_once_released(&server, Duration::from_millis(300)).await;
    // The guest saw its body end after the ten bytes that came, and answered.
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), uploader.read_to_end(&mut answer)).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 200") && answer.contains("\r\nread 10\r\n"),
        "{answer}\n{}",
        server.log()
    );
}

/// A native WASI 0.3 guest under `serve`: a client that goes away in the middle of an endless
/// response body ends the guest's work for it (its writer sees the reader dropped), as for a
/// polyfilled guest (`http_client_disconnect_cancels`).
#[tokio::test]
async fn serve_native_disconnect_cancels() {
    let server = ServeProcess::start(
        &Guest::HttpFaults.native_path(),
        &["--max-instance-concurrency", "16"],
    );
    assert_eq!(get(&server.url, "/forever-status").await.body, "dropped 0");
    let mut stream = TcpStream::connect(address(&server)).await.unwrap();
    stream
        .write_all(b"GET /forever HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buffer = vec![0; 64 * 1024];
    let mut read = 0;
    while read < 100 * 1024 {
        let n = stream.read(&mut buffer).await.unwrap();
        assert!(n > 0, "the server ended the endless body");
        read += n;
    }
    drop(stream);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let status = get(&server.url, "/forever-status").await.body;
        if status == "dropped 1" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the guest's writer never saw the drop: {status:?}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A guest that computes forever in `handle` is stopped by `--cpu-budget`: its request fails
/// with a 500 within seconds, and the server answers the next request; for a native WASI
/// 0.3 guest (timed by how long its instance runs wasm without a pause) as for a polyfilled one
/// (timed per entry).
#[tokio::test]
async fn serve_native_cpu_deadline() {
    for component in [Guest::HttpFaults.native_path(), Guest::HttpFaults.path()] {
        let server = ServeProcess::start(&component, &["--cpu-budget", "300ms"]);
        let began = Instant::now();
        let spun = tokio::time::timeout(Duration::from_secs(10), get(&server.url, "/spin"))
            .await
            .unwrap_or_else(|_| panic!("{component:?}: /spin was never stopped"));
        assert_eq!(spun.status, 500, "{component:?}");
        // Well before the 10 s the client waits (a loaded CI machine stretches 300 ms of CPU).
        assert!(
            began.elapsed() < Duration::from_secs(5),
            "{component:?}: stopped after {:?}",
            began.elapsed()
        );
        // The log line may land just after the response.
        let logged = isyswasfa_test_support::http::eventually(Duration::from_secs(5), || {
            server.log().contains("CPU budget of 300ms")
        })
        .await;
        assert!(logged, "{component:?}: {}", server.log());
        let next = get(&server.url, "/").await;
        assert_eq!((next.status.as_u16(), &next.body[..]), (200, &b"ok"[..]));
    }
}

/// The hash-all guest's answer for `urls` (one line per URL: a hash or `error CODE`).
async fn hash_all(server: &ServeProcess, urls: &[String]) -> String {
    let mut builder = http::Request::builder()
        .uri(format!("{}/", server.url))
        .header("host", "localhost");
    for url in urls {
        builder = builder.header("url", url.as_str());
    }
    let request = builder
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let answer = tokio::time::timeout(
        Duration::from_secs(10),
        isyswasfa_test_support::http::send(&server.url, request),
    )
    .await
    .expect("hash-all answered within 10 s");
    assert_eq!(answer.status, 200);
    String::from_utf8_lossy(&answer.body).into_owned()
}

/// The line of `url` in a hash-all answer.
fn line_of<'a>(answer: &'a str, url: &str) -> &'a str {
    answer
        .lines()
        .find(|line| line.starts_with(&format!("{url}: ")))
        .unwrap_or_else(|| panic!("no line for {url} in {answer}"))
}

/// By default, a link-local destination (the cloud metadata address) and the server's own
/// address are refused with `destination-IP-prohibited`, at once; another local server is not.
#[tokio::test]
async fn outbound_policy_default() {
    let upstream = crate::http::slow_upstream().await;
    let server = ServeProcess::start(&Guest::HashAll.path(), &[]);
    let metadata = "http://169.254.169.254/latest/meta-data".to_string();
    let itself = format!("{}/", server.url);
    let other = format!("http://{upstream}/a");
    let began = Instant::now();
    let answer = hash_all(&server, &[metadata.clone(), itself.clone(), other.clone()]).await;
    for url in [&metadata, &itself] {
        assert_eq!(
            line_of(&answer, url),
            format!("{url}: error ErrorCode::DestinationIpProhibited")
        );
    }
    assert!(!line_of(&answer, &other).contains("error"), "{answer}");
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );
}

/// `--outbound-deny` refuses a range; `--outbound-allow` lets through only what it names.
#[tokio::test]
async fn outbound_policy_flags() {
    let (a, b) = (
        crate::http::slow_upstream().await,
        crate::http::slow_upstream().await,
    );
    let (url_a, url_b) = (format!("http://{a}/a"), format!("http://{b}/b"));

    let denying = ServeProcess::start(&Guest::HashAll.path(), &["--outbound-deny", "127.0.0.0/8"]);
    let answer = hash_all(&denying, std::slice::from_ref(&url_a)).await;
    assert_eq!(
        line_of(&answer, &url_a),
        format!("{url_a}: error ErrorCode::DestinationIpProhibited")
    );

    let allowing = ServeProcess::start(
        &Guest::HashAll.path(),
        &["--outbound-allow", &a.to_string()],
    );
    let answer = hash_all(&allowing, &[url_a.clone(), url_b.clone()]).await;
    assert!(!line_of(&answer, &url_a).contains("error"), "{answer}");
    assert_eq!(
        line_of(&answer, &url_b),
        format!("{url_b}: error ErrorCode::DestinationIpProhibited")
    );

    let refused = crate::common::isyswasfa([
        OsStr::new("serve"),
        Guest::HashAll.path().as_os_str(),
        OsStr::new("--outbound-deny"),
        OsStr::new("10.0.0.0/99"),
    ]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(crate::common::stderr(&refused).contains("is not a destination"));
}

/// The line `serve` logs about its instance allocator.
fn allocator_line(server: &ServeProcess) -> String {
    let log = server.log();
    log.lines()
        .find(|l| l.starts_with("instances use "))
        .unwrap_or_else(|| panic!("no allocator line in: {log}"))
        .to_string()
}

/// Where the machine allows it, `serve` allocates instances from wasmtime's pooling allocator,
/// with memories of at most `--max-memory-size`; requests are served from the pool.
#[tokio::test]
async fn serve_pooling_allocator() {
    let server = ServeProcess::start(&Guest::Hello.path(), &["--max-memory-size", "64MiB"]);
    let line = allocator_line(&server);
    assert!(
        line.contains("the pooling allocator (1000 instances, 1000 memories of up to 64 MiB)"),
        "{line}"
    );
    for _ in 0..3 {
        assert!(answers(&server).await, "{}", server.log());
    }
}

/// The address space `serve_pooling_allocator_fallback` gives the server: ample for on-demand
/// allocation, far too little for the pool's 1000 memory slots of 4 GiB.
const SMALL_ADDRESS_SPACE: u64 = 64 << 30;

/// Where the pool's virtual memory cannot be reserved (an address space of 64 GiB, against the
/// pool's 1000 slots of 4 GiB), `serve` falls back to on-demand allocation, says why, and
/// serves; `-O pooling-allocator=n` asks for on-demand allocation outright, and
/// `-O pooling-allocator=y` insists on the pool (serving fails, naming it).
#[tokio::test]
async fn serve_pooling_allocator_fallback() {
    let insisting = crate::common::http::limited_isyswasfa(libc::RLIMIT_AS, SMALL_ADDRESS_SPACE)
        .arg("serve")
        .arg(Guest::Hello.path())
        .args(["--addr", "127.0.0.1:0", "-O", "pooling-allocator=y"])
        .output()
        .expect("running isyswasfa serve");
    let message = String::from_utf8_lossy(&insisting.stderr);
    assert!(!insisting.status.success(), "{message}");
    assert!(
        message.contains("the pooling allocator (-O pooling-allocator=y) could not be made"),
        "{message}"
    );
    let limited = ServeProcess::start_with_address_space_limit(
        &Guest::Hello.path(),
        &[],
        SMALL_ADDRESS_SPACE,
    );
    let line = allocator_line(&limited);
    assert!(
        line.contains("on-demand allocation (the pooling allocator could not be made: "),
        "{line}"
    );
    assert!(answers(&limited).await, "{}", limited.log());
    let off = ServeProcess::start(&Guest::Hello.path(), &["-O", "pooling-allocator=n"]);
    assert_eq!(
        allocator_line(&off),
        "instances use on-demand allocation (-O pooling-allocator=n)"
    );
    assert!(answers(&off).await, "{}", off.log());
}
