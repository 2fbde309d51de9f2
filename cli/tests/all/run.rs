//! `isyswasfa run`: the CLI composes caller and callee, then calls the composition's exports.

use isyswasfa_test_support::Guest;

use crate::common::composition::compose;
use crate::common::{isyswasfa, stderr};

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn cli_compose_then_run() {
    let composed = compose("run-caller-callee", &[Guest::Callee]);
    let output = isyswasfa([
        "run".as_ref(),
        "--trap-unknown-imports".as_ref(),
        "--invoke".as_ref(),
        "component:compose/api#both(20)".as_ref(),
        composed.as_os_str(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(
        stdout(&output).trim(),
        r#""caller slept 20 ms beside [callee slept 20 ms]""#
    );

    // A sync export with a tuple result, named without its interface.
    let output = isyswasfa([
        "run".as_ref(),
        "--trap-unknown-imports".as_ref(),
        "--invoke".as_ref(),
        "stream-sum(100)".as_ref(),
        composed.as_os_str(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "(5050, 100)");
}

#[test]
fn cli_run_errors_unknown_function() {
    let composed = compose("run-errors-unknown", &[Guest::Callee]);
    let output = isyswasfa([
        "run".as_ref(),
        "--invoke".as_ref(),
        "nope(1)".as_ref(),
        composed.as_os_str(),
    ]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(message.contains("no function `nope`"), "{message}");
    // It lists what is exported, async functions as such.
    assert!(
        message.contains("async component:compose/api#both(millis: u32)"),
        "{message}"
    );
}

#[test]
fn cli_run_errors_bad_argument() {
    let composed = compose("run-errors-argument", &[Guest::Callee]);
    let output = isyswasfa([
        "run".as_ref(),
        "--invoke".as_ref(),
        r#"both("soon")"#.as_ref(),
        composed.as_os_str(),
    ]);
    assert!(!output.status.success());
    let message = stderr(&output);
    assert!(
        message.contains("argument `millis`") && message.contains("u32"),
        "{message}"
    );
}

/// A native WASI 0.3 component (wit-bindgen 0.61's own async, `test-cases/port-unmodified-native`)
/// run by the same CLI: its async export is called through wasmtime's concurrent API. `count(0)`
/// awaits nothing; `count(2)` awaits the `host.next` import, which `--trap-unknown-imports`
/// stubs, so it fails naming that import.
#[test]
fn run_native_invoke() {
    let native = Guest::PortUnmodifiedNative.path();
    let run = |call: &str| {
        isyswasfa([
            "run".as_ref(),
            "--trap-unknown-imports".as_ref(),
            "--invoke".as_ref(),
            call.as_ref(),
            native.as_os_str(),
        ])
    };
    let output = run("component:port/api#count(0)");
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(stdout(&output).trim(), "0");

    let output = run("count(2)");
    assert!(!output.status.success());
    assert!(
        stderr(&output).contains("component:port/host#next"),
        "{}",
        stderr(&output)
    );
}
