//! `isyswasfa wit` on real WIT, run as the built binary.

use std::path::Path;
use std::process::Command;

fn isyswasfa(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_isyswasfa"))
        .args(args)
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
        .output()
        .expect("running isyswasfa")
}

#[test]
fn prints_the_lowered_world() {
    let out = isyswasfa(&["wit", "test-cases/round-trip/wit"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout
            .contains("foo-isyswasfa-start: func(s: string) -> result<string, isyswasfa-pending>;"),
        "{stdout}"
    );
    // The default suffix is the guest crate's name, as `generate!` derives it.
    assert!(
        stdout.contains("export isyswasfa-poll-round-trip: func("),
        "{stdout}"
    );
}

#[test]
fn poll_suffix_can_be_chosen() {
    let out = isyswasfa(&["wit", "test-cases/round-trip/wit", "--poll-suffix", "mine"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("export isyswasfa-poll-mine: func("));
}

#[test]
fn bad_input_fails_with_a_message() {
    let out = isyswasfa(&["wit", "no/such/dir"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: failed to read WIT from no/such/dir"),
        "{stderr}"
    );

    let out = isyswasfa(&[
        "wit",
        "bindgen/tests/bad-input/stream-exported-resource.wit",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("payload `chunk`") && stderr.contains("stream-exported-resource.wit:4:"),
        "{stderr}"
    );
}

#[test]
fn unknown_world_names_the_choices() {
    let out = isyswasfa(&["wit", "test-cases/round-trip/wit", "--world", "nope"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("worlds in this package: round-trip"),
        "{stderr}"
    );
}

#[test]
fn shipped_wasi_packages_need_no_deps() {
    // This WIT imports wasi:clocks/monotonic-clock@0.3.0 and has no `deps/`.
    let out = isyswasfa(&["wit", "bindgen/tests/shipped/no-deps/wit"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("wait-for-isyswasfa-start: func(how-long: duration)"),
        "{stdout}"
    );
}
