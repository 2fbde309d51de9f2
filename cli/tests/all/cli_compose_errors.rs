//! `isyswasfa compose` errors, one test per mistake, run through the built binary: each message
//! names the file and the item at fault.

use std::ffi::OsStr;
use std::path::Path;

use isyswasfa_bindgen::{LowerOptions, lower_path};
use isyswasfa_test_support::{Guest, repo_root};

use crate::common;
use crate::common::{component_from_wit, isyswasfa, scratch_dir, stderr};

/// Runs `isyswasfa compose ARGS…`, expects a failure, and returns its message.
fn compose_fails(args: &[&OsStr]) -> String {
    let output = isyswasfa(std::iter::once(OsStr::new("compose")).chain(args.iter().copied()));
    let message = stderr(&output);
    assert!(!output.status.success(), "composing succeeded: {message}");
    assert!(message.contains("error: "), "{message}");
    message
}

fn os(path: &Path) -> &OsStr {
    path.as_os_str()
}

#[test]
fn cli_compose_errors_unused_dependency() {
    let dir = scratch_dir("cli_compose_errors_unused_dependency");
    let round_trip = Guest::RoundTrip.path();
    let tasks = Guest::Tasks.path();
    let message = compose_fails(&[
        os(&round_trip),
        "-d".as_ref(),
        os(&tasks),
        "-o".as_ref(),
        os(&dir.join("out.wasm")),
    ]);
    assert!(
        message.contains(&format!(
            "dependency 1 `{}` satisfies no import: no component listed before it imports what \
             it exports (`component:tasks/tasks`)",
            tasks.display()
        )),
        "{message}"
    );
    assert!(!dir.join("out.wasm").exists());
}

/// A second copy of a dependency that has no import of its own is left over: the message says
/// which import the first copy already plugs.
#[test]
fn cli_compose_errors_dependency_already_plugged() {
    let dir = scratch_dir("cli_compose_errors_dependency_already_plugged");
    let callee = dir.join("callee.wasm");
    std::fs::write(
        &callee,
        component_from_wit(
            "package test:callee;\n\
             interface api { f: func() -> u32; }\n\
             world callee { export api; }\n\
             world caller { import api; }",
            "callee",
        ),
    )
    .unwrap();
    let caller = dir.join("caller.wasm");
    std::fs::write(
        &caller,
        component_from_wit(
            "package test:callee;\n\
             interface api { f: func() -> u32; }\n\
             world callee { export api; }\n\
             world caller { import api; }",
            "caller",
        ),
    )
    .unwrap();
    let message = compose_fails(&[
        os(&caller),
        "-d".as_ref(),
        os(&callee),
        "-d".as_ref(),
        os(&callee),
        "-o".as_ref(),
        os(&dir.join("out.wasm")),
    ]);
    assert!(
        message.contains(&format!(
            "dependency 2 `{callee}` satisfies no import",
            callee = callee.display()
        )) && message.contains(&format!(
            "`test:callee/api` of root `{}` is already plugged with dependency 1 `{}`",
            caller.display(),
            callee.display()
        )),
        "{message}"
    );
}

/// An export with the imported name but another type: both components and the item are named.
#[test]
fn cli_compose_errors_type_mismatch() {
    let dir = scratch_dir("cli_compose_errors_type_mismatch");
    // The round-trip guest's own WIT with `foo` taking a `u32`, lowered as a guest's would be.
    let wit = dir.join("wit");
    common::copy_dir(&repo_root().join("test-cases/round-trip/wit"), &wit);
    let world = std::fs::read_to_string(wit.join("world.wit")).unwrap();
    let changed = world.replace("foo: async func(s: string)", "foo: async func(s: u32)");
    assert_ne!(
        world, changed,
        "the round-trip WIT changed: update this test"
    );
    std::fs::write(wit.join("world.wit"), changed).unwrap();
    let lowered = lower_path(&wit, None, &LowerOptions::for_crate("impostor")).unwrap();
    let impostor = dir.join("impostor.wasm");
    std::fs::write(
        &impostor,
        common::dummy_component(&lowered.resolve, lowered.world),
    )
    .unwrap();
    let round_trip = Guest::RoundTrip.path();
    let message = compose_fails(&[
        os(&round_trip),
        "-d".as_ref(),
        os(&impostor),
        "-o".as_ref(),
        os(&dir.join("out.wasm")),
    ]);
    assert!(
        message.contains(&format!(
            "root `{}` imports `component:test/baz`, but dependency 1 `{}` exports \
             `component:test/baz` with another type",
            round_trip.display(),
            impostor.display()
        )),
        "{message}"
    );
    assert!(
        message.contains("foo-isyswasfa-start") && message.contains("u32"),
        "{message}"
    );
}

#[test]
fn cli_compose_errors_unreadable_component() {
    let dir = scratch_dir("cli_compose_errors_unreadable_component");
    let missing = dir.join("missing.wasm");
    let message = compose_fails(&[
        os(&Guest::RoundTrip.path()),
        "-d".as_ref(),
        os(&missing),
        "-o".as_ref(),
        os(&dir.join("out.wasm")),
    ]);
    assert!(
        message.contains(&format!(
            "cannot read component `{}`: No such file",
            missing.display()
        )),
        "{message}"
    );
}

/// Garbage, a truncated component and a core module are all refused, by name.
#[test]
fn cli_compose_errors_invalid_component() {
    let dir = scratch_dir("cli_compose_errors_invalid_component");
    let valid = std::fs::read(Guest::RoundTrip.path()).unwrap();
    let core_module = b"\0asm\x01\0\0\0".to_vec();
    let cases = [
        ("garbage.wasm", b"not a component at all".to_vec()),
        ("truncated.wasm", valid[..valid.len() / 2].to_vec()),
        ("module.wasm", core_module),
    ];
    for (name, bytes) in cases {
        let bad = dir.join(name);
        std::fs::write(&bad, bytes).unwrap();
        let message = compose_fails(&[
            os(&Guest::RoundTrip.path()),
            "-d".as_ref(),
            os(&bad),
            "-o".as_ref(),
            os(&dir.join("out.wasm")),
        ]);
        assert!(
            message.contains(&format!(
                "dependency 1 `{}` is not a valid WebAssembly component",
                bad.display()
            )),
            "{name}: {message}"
        );
        // The root is named as the root.
        let message = compose_fails(&[
            os(&bad),
            "-d".as_ref(),
            os(&Guest::RoundTrip.path()),
            "-o".as_ref(),
            os(&dir.join("out.wasm")),
        ]);
        assert!(
            message.contains(&format!(
                "root `{}` is not a valid WebAssembly component",
                bad.display()
            )),
            "{name}: {message}"
        );
    }
}

#[test]
fn cli_compose_errors_unwritable_output() {
    let dir = scratch_dir("cli_compose_errors_unwritable_output");
    let out = dir.join("no-such-dir").join("out.wasm");
    let guest = Guest::RoundTrip.path();
    let message = compose_fails(&[
        os(&guest),
        "-d".as_ref(),
        os(&guest),
        "-o".as_ref(),
        os(&out),
    ]);
    assert!(
        message.contains(&format!(
            "cannot write the composed component to `{}`",
            out.display()
        )),
        "{message}"
    );
}

#[test]
fn cli_compose_errors_wac_unknown_package() {
    let dir = scratch_dir("cli_compose_errors_wac_unknown_package");
    let document = dir.join("doc.wac");
    std::fs::write(
        &document,
        "package test:composition;\n\nlet a = new test:missing { ... };\n",
    )
    .unwrap();
    let message = compose_fails(&[
        "--wac".as_ref(),
        os(&document),
        "-o".as_ref(),
        os(&dir.join("out.wasm")),
    ]);
    assert!(
        message.contains(&format!(
            "{}:3:13: unknown package `test:missing`",
            document.display()
        )) && message.contains("-d test:missing=FILE.wasm"),
        "{message}"
    );
}

#[test]
fn cli_compose_errors_wac_syntax() {
    let dir = scratch_dir("cli_compose_errors_wac_syntax");
    let document = dir.join("doc.wac");
    std::fs::write(&document, "package test:composition;\n\nlet = ;\n").unwrap();
    let message = compose_fails(&[
        "--wac".as_ref(),
        os(&document),
        "-o".as_ref(),
        os(&dir.join("out.wasm")),
    ]);
    assert!(
        message.contains(&format!("{}:3:5: expected", document.display())),
        "{message}"
    );
}

#[test]
fn cli_compose_errors_wac_unused_package() {
    let dir = scratch_dir("cli_compose_errors_wac_unused_package");
    let document = dir.join("doc.wac");
    std::fs::write(
        &document,
        "package test:composition;\n\nlet a = new test:round-trip { ... };\n",
    )
    .unwrap();
    let round_trip = format!("test:round-trip={}", Guest::RoundTrip.path().display());
    let tasks = format!("test:tasks={}", Guest::Tasks.path().display());
    let message = compose_fails(&[
        "--wac".as_ref(),
        os(&document),
        "-d".as_ref(),
        round_trip.as_ref(),
        "-d".as_ref(),
        tasks.as_ref(),
        "-o".as_ref(),
        os(&dir.join("out.wasm")),
    ]);
    assert!(
        message.contains(&format!(
            "package `test:tasks` (`{}`) is not used by `{}`",
            Guest::Tasks.path().display(),
            document.display()
        )),
        "{message}"
    );
}
