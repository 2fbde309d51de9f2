//! Builds the in-wasm runtime (`runtime/`, a crate of its own) for wasm32-wasip2, so that the
//! library can embed it: the runtime is compiled with the CLI, never checked in.

use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR"));
    let runtime = manifest_dir.join("runtime");
    for watched in [
        runtime.join("src"),
        runtime.join("wit"),
        runtime.join("Cargo.toml"),
        runtime.join("Cargo.lock"),
        manifest_dir.join("../protocol/src"),
        manifest_dir.join("../protocol/wit"),
    ] {
        println!("cargo:rerun-if-changed={}", watched.display());
    }
    let target_dir = out_dir.join("runtime-target");
    // Two builds: the plain runtime, and the one for inputs that use `wasi:http@0.3.0` (which
    // imports WASI 0.2's `wasi:http` too, so it is not the runtime of every bundle).
    for (features, file) in [(None, "runtime.wasm"), (Some("http"), "runtime-http.wasm")] {
        build(&runtime, &target_dir, features);
        let built = target_dir.join("wasm32-wasip2/release/isyswasfa_bundle_runtime.wasm");
        let to = out_dir.join(file);
        std::fs::copy(&built, &to).unwrap_or_else(|error| {
            panic!(
                "isyswasfa-bundle: cannot copy {} to {}: {error}",
                built.display(),
                to.display()
            )
        });
    }
}

fn build(runtime: &Path, target_dir: &Path, features: Option<&str>) {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args([
            "build",
            "--release",
            "--locked",
            "--target",
            "wasm32-wasip2",
            "--manifest-path",
        ])
        .arg(runtime.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", target_dir);
    if let Some(features) = features {
        command.args(["--features", features]);
    }
    // What the outer build sets for its own crates must not leak into the runtime's build.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_PROFILE_RELEASE_DEBUG",
    ] {
        command.env_remove(var);
    }
    let status = command.status().unwrap_or_else(|error| {
        panic!("isyswasfa-bundle: cannot run cargo to build the bundle runtime: {error}")
    });
    assert!(
        status.success(),
        "isyswasfa-bundle: building the bundle runtime ({}) for wasm32-wasip2 failed; is the \
         target installed (`rustup target add wasm32-wasip2`)?",
        runtime.display()
    );
}
