//! HTTP test support: `isyswasfa serve` started as a real process, and the compositions it
//! serves. The HTTP client is isyswasfa-test-support's.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use isyswasfa_test_support::{Guest, repo_root};

use super::{isyswasfa, stderr};

/// A command running the built `isyswasfa` with its `resource` limited to `limit` (as `ulimit`
/// would: `RLIMIT_NOFILE` for `-n`, `RLIMIT_AS` for `-v`).
pub fn limited_isyswasfa(resource: libc::__rlimit_resource_t, limit: u64) -> Command {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(env!("CARGO_BIN_EXE_isyswasfa"));
    // SAFETY: `setrlimit` is async-signal-safe and touches no memory of the parent.
    unsafe {
        command.pre_exec(move || {
            let rlimit = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(resource, &rlimit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        })
    };
    command
}

/// A running `isyswasfa serve` process; killed when dropped.
pub struct ServeProcess {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    log: Arc<Mutex<String>>,
    /// The thread copying the server's stderr into `log`; done once the server exited.
    logger: Option<std::thread::JoinHandle<()>>,
}

impl ServeProcess {
    /// Serves `target` on a free port with the extra `args`; returns once it listens.
    pub fn start(target: &Path, args: &[&str]) -> Self {
        Self::start_with_env(target, args, &[])
    }

    /// Like [`ServeProcess::start`], with environment variables for the server.
    pub fn start_with_env(target: &Path, args: &[&str], env: &[(&str, &Path)]) -> Self {
        let mut command = Command::new(env!("CARGO_BIN_EXE_isyswasfa"));
        command.envs(env.iter().copied());
        Self::spawn(command, target, args)
    }

    /// Like [`ServeProcess::start`], with the server's limit on open file descriptors lowered
    /// to `limit` (its `RLIMIT_NOFILE`), as `ulimit -n` would.
    pub fn start_with_fd_limit(target: &Path, args: &[&str], limit: u64) -> Self {
        Self::start_with_rlimit(target, args, libc::RLIMIT_NOFILE, limit)
    }

    /// Like [`ServeProcess::start`], with the server's address space limited to `bytes` (its
    /// `RLIMIT_AS`), as `ulimit -v` would.
    pub fn start_with_address_space_limit(target: &Path, args: &[&str], bytes: u64) -> Self {
        Self::start_with_rlimit(target, args, libc::RLIMIT_AS, bytes)
    }

    /// Like [`ServeProcess::start`], with the server's `resource` limited to `limit`.
    fn start_with_rlimit(
        target: &Path,
        args: &[&str],
        resource: libc::__rlimit_resource_t,
        limit: u64,
    ) -> Self {
        Self::spawn(limited_isyswasfa(resource, limit), target, args)
    }

    fn spawn(mut command: Command, target: &Path, args: &[&str]) -> Self {
        let mut child = command
            .arg("serve")
            .arg(target)
            .args(["--addr", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting isyswasfa serve");
        let log = Arc::new(Mutex::new(String::new()));
        let stderr = child.stderr.take().expect("stderr");
        let sink = Arc::clone(&log);
        let logger = std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut log = sink.lock().expect("log");
                log.push_str(&line);
                log.push('\n');
            }
        });
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("Serving HTTP on ") {
                        break url.trim_end_matches('/').to_string();
                    }
                }
                _ => {
                    let _ = child.wait();
                    panic!("serve exited early: {}", log.lock().expect("log"));
                }
            }
        };
        // Keep draining stdout (the guests' own prints go there).
        std::thread::spawn(move || for _ in lines {});
        Self {
            child,
            url,
            log,
            logger: Some(logger),
        }
    }

    /// What the server logged so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(self) -> std::process::ExitStatus {
        self.terminate_logged().0
    }

    /// Sends SIGTERM and waits for the exit status; returns it with everything the server
    /// logged, to its last line.
    pub fn terminate_logged(mut self) -> (std::process::ExitStatus, String) {
        // SAFETY: `kill` with a valid pid and signal has no memory effects.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let status = self.child.wait().expect("waiting for serve");
        if let Some(logger) = self.logger.take() {
            let _ = logger.join();
        }
        (status, self.log())
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The peak resident set size of process `pid`, in KiB (Linux `VmHWM`).
pub fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("reading status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM in /proc status")
}

/// Composes with `isyswasfa compose` (arguments as given, output appended); returns the output.
pub fn compose(name: &str, args: &[String]) -> PathBuf {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.wasm"));
    let mut all: Vec<String> = vec!["compose".into()];
    all.extend(args.iter().cloned());
    all.push("-o".into());
    all.push(out.display().to_string());
    let output = isyswasfa(&all);
    assert!(
        output.status.success(),
        "compose failed: {}",
        stderr(&output)
    );
    out
}

/// The router composition of the HTTP guests (test-cases/router/compose.wac).
pub fn router_composition() -> PathBuf {
    router_composition_with("router-composed", &[])
}

/// The router composition, written to `name`.wasm (tests run at once must not write the same
/// file).
pub fn router_composition_named(name: &str) -> PathBuf {
    router_composition_with(name, &[])
}

/// The router composition, written to `NAME.wasm`, with the components of the packages in
/// `replaced` (`("test:echo", path)`) in place of the Rust guests.
pub fn router_composition_with(name: &str, replaced: &[(&str, PathBuf)]) -> PathBuf {
    let wac = repo_root().join("test-cases/router/compose.wac");
    let mut args = vec!["--wac".to_string(), wac.display().to_string()];
    for (package, guest) in [
        ("test:router", Guest::Router),
        ("test:hello", Guest::Hello),
        ("test:echo", Guest::Echo),
        ("test:hash-all", Guest::HashAll),
        ("test:service", Guest::Service),
        ("test:middleware", Guest::Middleware),
    ] {
        let path = match replaced.iter().find(|(p, _)| *p == package) {
            Some((_, path)) => path.clone(),
            None => guest.path(),
        };
        args.push("-d".into());
        args.push(format!("{package}={}", path.display()));
    }
    compose(name, &args)
}
