//! Drop-in ports (issue 17): guests written the way wit-bindgen 0.61 async guests are written,
//! built unmodified for isyswasfa (their `wit-bindgen` dependency renamed to isyswasfa-guest)
//! and with wit-bindgen 0.61 itself, are run by the same `isyswasfa run` and must give the same
//! answers.
//!
//! `test-cases/port-dropin` and `test-cases/port-dropin-native` build the very same `src/` and
//! `wit/`; each function of their `component:dropin/checks` export exercises one point. (Point
//! 0, a stream of records read by the host, is in `host-runtime/tests/dropin.rs`: natively a
//! component cannot read its own stream of records.)

use crate::common;
use isyswasfa_test_support::Guest;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The guests of these tests, built (once per process) with only them selected, so a change to
/// the guest runtime rebuilds these and not every guest of `test-cases/`: each package, and the
/// file it builds (a library's name has `_` for `-`, a binary's does not).
const GUESTS: [(Guest, &str); 11] = [
    (Guest::PortDropin, "port_dropin.wasm"),
    (Guest::PortDropinNative, "port_dropin_native.wasm"),
    (Guest::PortDropinCommand, "port-dropin-command.wasm"),
    (
        Guest::PortDropinCommandNative,
        "port-dropin-command-native.wasm",
    ),
    (
        Guest::PortDropinNativeImport,
        "port_dropin_native_import.wasm",
    ),
    (Guest::PortHttp, "port_http.wasm"),
    (Guest::PortHttpNative, "port_http_native.wasm"),
    (Guest::PortClient, "port_client.wasm"),
    (Guest::PortClientNative, "port_client_native.wasm"),
    (Guest::PortCommandWorld, "port_command_world.wasm"),
    (
        Guest::PortCommandWorldNative,
        "port_command_world_native.wasm",
    ),
];

pub(crate) fn dropin_guest(name: Guest) -> PathBuf {
    static BUILT: OnceLock<()> = OnceLock::new();
    let Some((_, file)) = GUESTS.iter().find(|(package, _)| *package == name) else {
        panic!("{name:?} is not a drop-in guest");
    };
    // A directory of their own: selecting packages changes cargo's feature unification, which
    // would otherwise rebuild the shared dependencies of the other tests' guests.
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => PathBuf::from(dir).join("guests-dropin"),
        None => isyswasfa_test_support::repo_root()
            .join("target")
            .join("guests-dropin"),
    };
    BUILT.get_or_init(|| {
        let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
        command
            .args([
                "build",
                "--release",
                "--target",
                "wasm32-wasip2",
                "--manifest-path",
            ])
            .arg(
                isyswasfa_test_support::repo_root()
                    .join("test-cases")
                    .join("Cargo.toml"),
            );
        for (guest, _) in GUESTS {
            command.args(["-p", guest.package()]);
        }
        let status = command
            .env("CARGO_TARGET_DIR", &target)
            .status()
            .expect("failed to run cargo to build the drop-in guests");
        assert!(status.success(), "building the drop-in guests failed");
    });
    target.join("wasm32-wasip2").join("release").join(file)
}

/// What one `isyswasfa` process did.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) success: bool,
    /// The exit code, when the process exited (rather than being killed by a signal).
    pub(crate) code: Option<i32>,
    pub(crate) stdout: String,
    pub(crate) stderr: String,
    /// The CPU time (user + system) the process used.
    pub(crate) cpu: Duration,
}

/// Runs `isyswasfa` with `args` (and `vars` added to its environment), killing it (and failing
/// the test) after `limit`; measures the CPU time it used.
pub(crate) fn isyswasfa_timed(
    args: &[&std::ffi::OsStr],
    vars: &[(&str, &str)],
    limit: Duration,
) -> Outcome {
    isyswasfa_fed(args, vars, Vec::new(), limit)
}

/// [`isyswasfa_timed`], with `input` on the process's standard input (which then ends).
#[allow(
    clippy::zombie_processes,
    reason = "the child is reaped by wait4 below, which also gives its CPU time"
)]
pub(crate) fn isyswasfa_fed(
    args: &[&std::ffi::OsStr],
    vars: &[(&str, &str)],
    input: Vec<u8>,
    limit: Duration,
) -> Outcome {
    let mut child = Command::new(env!("CARGO_BIN_EXE_isyswasfa"))
        .args(args)
        .envs(vars.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running isyswasfa");
    let mut stdin = child.stdin.take().expect("piped stdin");
    std::thread::spawn(move || {
        use std::io::Write;
        // A process that does not read its input may close it first: not an error here.
        let _ = stdin.write_all(&input);
    });
    let pipe_reader = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = pipe_reader(Box::new(child.stdout.take().expect("piped stdout")));
    let stderr = pipe_reader(Box::new(child.stderr.take().expect("piped stderr")));
    let pid = child.id() as libc::pid_t;
    let start = Instant::now();
    let mut status = 0;
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    let mut timed_out = false;
    loop {
        // SAFETY: `pid` is our own child, not reaped yet; wait4 fills `status` and `usage`.
        let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, usage.as_mut_ptr()) };
        assert!(reaped >= 0, "wait4 failed");
        if reaped == pid {
            break;
        }
        if !timed_out && start.elapsed() > limit {
            timed_out = true;
            // SAFETY: signals our own, unreaped child.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    // SAFETY: wait4 filled it when it reaped the child.
    let usage = unsafe { usage.assume_init() };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    let outcome = Outcome {
        success: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        code: libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)),
        stdout: stdout.join().expect("stdout reader"),
        stderr: stderr.join().expect("stderr reader"),
        cpu: tv(usage.ru_utime) + tv(usage.ru_stime),
    };
    assert!(
        !timed_out,
        "isyswasfa {args:?} did not finish in {limit:?}: {outcome:?}"
    );
    outcome
}

/// Calls `component:dropin/checks#<check>(<args>)` of `component` with `isyswasfa run`; its
/// answer (the WAVE text printed), and the outcome.
fn check(component: &Path, check: &str, args: &str) -> (String, Outcome) {
    let call = format!("component:dropin/checks#{check}({args})");
    let outcome = isyswasfa_timed(
        &[
            "run".as_ref(),
            "--trap-unknown-imports".as_ref(),
            "--invoke".as_ref(),
            call.as_ref(),
            component.as_os_str(),
        ],
        &[],
        Duration::from_secs(60),
    );
    assert!(
        outcome.success,
        "{call} on {}: {}",
        component.display(),
        outcome.stderr
    );
    (outcome.stdout.trim().to_string(), outcome)
}

/// The answers of `check` from both builds, checked to be equal (and the polyfilled build to be
/// one, with its poll export).
fn both(name: &str, args: &str) -> (String, Outcome, Outcome) {
    let polyfilled = dropin_guest(Guest::PortDropin);
    let native = dropin_guest(Guest::PortDropinNative);
    let exports = common::surface(&std::fs::read(&polyfilled).expect("reading the guest")).exports;
    assert!(
        exports.iter().any(|e| e.starts_with("isyswasfa-poll")),
        "{exports:?}"
    );
    let (polyfilled_answer, polyfilled_outcome) = check(&polyfilled, name, args);
    let (native_answer, native_outcome) = check(&native, name, args);
    assert_eq!(
        polyfilled_answer, native_answer,
        "`{name}` answers differently polyfilled (left) and native (right)"
    );
    (polyfilled_answer, polyfilled_outcome, native_outcome)
}

/// Each polyfilled guest builds the very files of its native twin, its `wit-bindgen`
/// dependency renamed to isyswasfa-guest.
#[test]
fn port_dropin_sources_are_shared() {
    let root = isyswasfa_test_support::repo_root().join("test-cases");
    for guest in [Guest::PortDropin, Guest::PortDropinCommand] {
        for dir in ["src", "wit"] {
            assert_eq!(
                std::fs::canonicalize(root.join(format!("{}-native", guest.package())).join(dir))
                    .unwrap(),
                std::fs::canonicalize(root.join(guest.package()).join(dir)).unwrap(),
            );
        }
        let manifest =
            std::fs::read_to_string(root.join(guest.package()).join("Cargo.toml")).unwrap();
        assert!(manifest.contains("wit-bindgen = { package = \"isyswasfa-guest\""));
    }
}

/// Point 1: WIT `flags` work (wit-bindgen's code for them names `bitflags` where the guest's
/// `wit_bindgen` has it, and the type is reachable in its interface's module).
#[test]
fn port_flags() {
    let (answer, _, _) = both("toggle-write", "{read, exec}");
    assert_eq!(answer, r#""read+exec -> read+write+exec""#);
    let (answer, _, _) = both("toggle-write", "{write}");
    assert_eq!(answer, r#""write -> ""#);
}

/// Point 2: `StreamWriter::write` gives back wit-bindgen's `AbiBuffer`: `remaining()` and
/// `into_vec()`, the vector given (its capacity kept) with the values not written.
#[test]
fn port_abi_buffer() {
    let (answer, _, _) = both("abi-buffer", "");
    assert_eq!(
        answer,
        r#""Complete(3), remaining 0, into_vec [] of capacity 10; read [1, 2, 3]; Dropped, remaining 2, into_vec [4, 5]""#
    );
}

/// Point 3: a second `generate!` whose interfaces are all mapped with `with` onto the first's
/// defines no `wit_stream`/`wit_future` of its own (the guest `use`s the first's at the crate
/// root, where the second is), and the guest exports the first world with
/// `export!(T with_types_in bindings)` from outside its module.
#[test]
fn port_second_generate_all_mapped() {
    let (answer, _, _) = both("second-bindings", "");
    assert_eq!(answer, r#""second""#);
}

/// Point 4: the everyday echo loop (`read(buf)`, `buf = write_all(buf)`, `read(buf)`) over a real
/// stream whose writer waits between chunks: `write_all` gives back the same vector (capacity
/// kept), so the loop waits in `read` instead of spinning through the CPU budget.
#[test]
fn port_echo_loop() {
    let (answer, polyfilled, native) = both("echo-loop", "");
    assert_eq!(
        answer,
        r#""echoed 2000 bytes, sum 19000; write_all gave back 0 values, capacity 1000""#
    );
    // The writer waits 20 times 2 ms; a spinning loop would burn seconds.
    for (build, outcome) in [("polyfilled", &polyfilled), ("native", &native)] {
        assert!(
            outcome.cpu < Duration::from_secs(3),
            "{build}: {:?} of CPU",
            outcome.cpu
        );
    }
}

/// Point 4: a read into a vector with no spare capacity waits, as wit-bindgen's does, until the
/// writer has written (then `Complete(0)`, reading nothing) or is gone (`Dropped`).
#[test]
fn port_zero_capacity_read() {
    let (answer, _, _) = both("zero-read", "");
    assert_eq!(
        answer,
        r#""Complete(0) after the write: true, []; Complete(3) [1, 2, 3]; Dropped []""#
    );
}

/// Point 5: clock waits already due (`wait-for(0)`, `wait-until(now)`, `wait-until(0)`) are
/// ready when first polled.
#[test]
fn port_zero_waits() {
    let (answer, _, _) = both("zero-waits", "");
    assert_eq!(
        answer,
        r#""wait-for(0): ready; wait-until(now): ready; wait-until(0): ready""#
    );
}

/// `isyswasfa run X.wasm` on a command, with `--env` arguments, `isyswasfa` itself having
/// `vars` in its environment; its outcome.
fn run_command(component: &Path, env: &[&str], vars: &[(&str, &str)]) -> Outcome {
    let mut args: Vec<&std::ffi::OsStr> = vec!["run".as_ref()];
    for var in env {
        args.push("--env".as_ref());
        args.push(var.as_ref());
    }
    args.push(component.as_os_str());
    isyswasfa_timed(&args, vars, Duration::from_secs(60))
}

/// Point 13: of a component exporting both `wasi:cli/run@0.2.0` (std's `main`) and
/// `wasi:cli/run@0.3.0`, `isyswasfa run` runs the 0.3 one, as `wasmtime run` does; polyfilled
/// and native alike.
#[test]
fn port_run_prefers_cli_0_3() {
    for guest in [Guest::PortDropinCommand, Guest::PortDropinCommandNative] {
        let component = dropin_guest(guest);
        let exports = common::surface(&std::fs::read(&component).unwrap()).exports;
        for run in ["wasi:cli/run@0.2.0", "wasi:cli/run@0.3.0"] {
            assert!(exports.iter().any(|e| e == run), "{guest:?}: {exports:?}");
        }
        let outcome = run_command(&component, &[], &[]);
        assert!(outcome.success, "{guest:?}: {}", outcome.stderr);
        assert_eq!(
            outcome.stdout.lines().next(),
            Some("wasi:cli/run@0.3.0"),
            "{guest:?}: {}",
            outcome.stdout
        );
    }
}

/// Point 14: `isyswasfa run --env NAME=VALUE --env NAME` passes environment variables, the
/// second form with this process's value (none when it has none), as `wasmtime run` does.
#[test]
fn port_run_env() {
    let env = [
        "GREETING=hello=world",
        "ISYSWASFA_DROPIN_INHERITED",
        "ISYSWASFA_DROPIN_NOT_SET",
        "EMPTY=",
    ];
    let mut outputs = Vec::new();
    for guest in [Guest::PortDropinCommand, Guest::PortDropinCommandNative] {
        let outcome = run_command(
            &dropin_guest(guest),
            &env,
            &[("ISYSWASFA_DROPIN_INHERITED", "from the parent")],
        );
        assert!(outcome.success, "{guest:?}: {}", outcome.stderr);
        outputs.push(outcome.stdout);
    }
    assert_eq!(
        outputs[0],
        "wasi:cli/run@0.3.0\nEMPTY=\nGREETING=hello=world\n\
         ISYSWASFA_DROPIN_INHERITED=from the parent\n"
    );
    assert_eq!(
        outputs[0], outputs[1],
        "polyfilled (left) and native (right)"
    );
}

/// Point 14: `-S` takes wasmtime's WASI settings: `-S inherit-env` gives the component this
/// process's environment (before the `--env` ones), polyfilled and native alike; a setting
/// isyswasfa does not support is refused by name, with the list of those it does.
#[test]
fn port_run_wasi_options() {
    let mut outputs = Vec::new();
    for guest in [Guest::PortDropinCommand, Guest::PortDropinCommandNative] {
        let component = dropin_guest(guest);
        let args: [&std::ffi::OsStr; 4] = [
            "run".as_ref(),
            "-S".as_ref(),
            "inherit-env,max-resources=5000".as_ref(),
            component.as_os_str(),
        ];
        let outcome = isyswasfa_timed(
            &args,
            &[("ISYSWASFA_DROPIN_INHERITED", "from the parent")],
            Duration::from_secs(60),
        );
        assert!(outcome.success, "{guest:?}: {}", outcome.stderr);
        assert!(
            outcome
                .stdout
                .contains("\nISYSWASFA_DROPIN_INHERITED=from the parent\n"),
            "{guest:?}: {}",
            outcome.stdout
        );
        outputs.push(outcome.stdout);
    }
    assert_eq!(
        outputs[0], outputs[1],
        "polyfilled (left) and native (right)"
    );

    let component = dropin_guest(Guest::PortDropinCommand);
    let args: [&std::ffi::OsStr; 4] = [
        "run".as_ref(),
        "-S".as_ref(),
        "hostcall-fuel=100".as_ref(),
        component.as_os_str(),
    ];
    let refused = isyswasfa_timed(&args, &[], Duration::from_secs(60));
    assert!(!refused.success, "{refused:?}");
    assert!(
        refused
            .stderr
            .contains("`-S hostcall-fuel` is a wasmtime option isyswasfa does not support")
            && refused
                .stderr
                .contains("supported: max-resources, max-random-size"),
        "{}",
        refused.stderr
    );
}

/// `isyswasfa run` keeps compiled components in wasmtime's compilation cache (the user's cache
/// directory, here `XDG_CACHE_HOME`), as `wasmtime run` does, so a second run does not compile
/// again; `--no-cache` leaves it alone.
#[test]
fn run_compile_cache() {
    let component = dropin_guest(Guest::PortDropinCommand);
    let files = |dir: &std::path::Path| -> usize {
        fn count(dir: &std::path::Path) -> usize {
            std::fs::read_dir(dir).map_or(0, |entries| {
                entries
                    .flatten()
                    .map(|e| {
                        if e.path().is_dir() {
                            count(&e.path())
                        } else {
                            1
                        }
                    })
                    .sum()
            })
        }
        count(dir)
    };
    for (flags, cached) in [(&["--no-cache"][..], false), (&[][..], true)] {
        let cache = crate::common::scratch_dir(&format!("run_compile_cache-{cached}"));
        let mut args: Vec<&std::ffi::OsStr> = vec!["run".as_ref()];
        args.extend(flags.iter().map(std::ffi::OsStr::new));
        args.push(component.as_os_str());
        let vars = [("XDG_CACHE_HOME", cache.to_str().expect("a UTF-8 path"))];
        let outcome = isyswasfa_timed(&args, &vars, Duration::from_secs(60));
        assert!(outcome.success, "{}", outcome.stderr);
        assert_eq!(files(&cache.join("wasmtime")) > 0, cached, "{flags:?}");
    }
}

/// Point 9 (stdin): a command reads `wasi:cli/stdin@0.3.0` to its end: the bytes `isyswasfa run`
/// got on its own standard input, then `ok`; polyfilled and native alike.
#[test]
fn port_run_stdin() {
    let input = "first line\nsecond, then no newline".as_bytes();
    let mut outputs = Vec::new();
    for guest in [Guest::PortDropinCommand, Guest::PortDropinCommandNative] {
        let component = dropin_guest(guest);
        let args: [&std::ffi::OsStr; 4] = [
            "run".as_ref(),
            "--env".as_ref(),
            "ISYSWASFA_DROPIN_STDIN=1".as_ref(),
            component.as_os_str(),
        ];
        let outcome = isyswasfa_fed(&args, &[], input.to_vec(), Duration::from_secs(60));
        assert!(outcome.success, "{guest:?}: {}", outcome.stderr);
        outputs.push(outcome.stdout);
    }
    assert!(
        outputs[0]
            .ends_with("stdin: \"first line\\nsecond, then no newline\"\nstdin ended: Ok(())\n"),
        "{}",
        outputs[0]
    );
    assert_eq!(
        outputs[0], outputs[1],
        "polyfilled (left) and native (right)"
    );
}

/// Point 6: a polyfilled component whose code calls an import with the native async ABI
/// (`[async-lower]wait`, from bindings wit-bindgen made) cannot be polyfilled; linking it says so
/// in words, naming the import.
#[test]
fn port_native_abi_import_refused() {
    let component = dropin_guest(Guest::PortDropinNativeImport);
    let outcome = isyswasfa_timed(
        &[
            "run".as_ref(),
            "--invoke".as_ref(),
            "call(1)".as_ref(),
            component.as_os_str(),
        ],
        &[],
        Duration::from_secs(60),
    );
    assert!(!outcome.success, "{outcome:?}");
    for words in [
        "`component:native-abi/slow#wait`",
        "native WASI 0.3 async ABI (`[async-lower]…`)",
        "isyswasfa cannot polyfill",
        "isyswasfa's `generate!`",
    ] {
        assert!(
            outcome.stderr.contains(words),
            "{words}: {}",
            outcome.stderr
        );
    }
}
