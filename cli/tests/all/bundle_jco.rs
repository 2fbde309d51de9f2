//! Bundles on a host we did not write and that has no WASI 0.3 at all: jco, which transpiles a
//! component to JavaScript, run in Node with jco's own WASI 0.2 shim.
//!
//! jco and the shim are pinned in `cli/tests/jco/package.json`; `scripts/install-test-tools.sh`
//! installs them (`npm ci`).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::bundle::bundled_caller;
use crate::common::scratch_dir;

/// `cli/tests/jco`: the pinned Node packages and the scripts the tests run.
fn jco_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/jco")
}

/// The installed `jco` command; a clear failure when it is missing.
fn jco() -> PathBuf {
    let jco = jco_dir().join("node_modules/.bin/jco");
    assert!(
        jco.exists(),
        "jco is not installed at {}: run `bash scripts/install-test-tools.sh` (it runs `npm ci` \
         in cli/tests/jco)",
        jco.display()
    );
    jco
}

/// Transpiles the component at `wasm` with jco into a fresh directory for `test`; returns the
/// JavaScript module to import. The directory sees the pinned packages through a
/// `node_modules` link, so the module's imports of the WASI shim resolve.
fn transpile(wasm: &Path, test: &str) -> PathBuf {
    let dir = scratch_dir(test);
    std::os::unix::fs::symlink(jco_dir().join("node_modules"), dir.join("node_modules"))
        .expect("linking node_modules");
    std::fs::write(dir.join("package.json"), r#"{ "type": "module" }"#)
        .expect("writing package.json");
    let out = dir.join("transpiled");
    let output = Command::new(jco())
        .arg("transpile")
        .arg(wasm)
        .arg("--name")
        .arg("bundle")
        .arg("-o")
        .arg(&out)
        .output()
        .expect("running jco");
    assert!(
        output.status.success(),
        "jco transpile failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    out.join("bundle.js")
}

/// Runs one of `cli/tests/jco`'s scripts in Node; returns the JSON line it printed.
fn node(script: &str, args: &[&str]) -> serde_json::Value {
    let output = Command::new("node")
        .arg(jco_dir().join(script))
        .args(args)
        .output()
        .expect("running node (is Node.js installed?)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "node {script} failed: {}\n{stdout}",
        String::from_utf8_lossy(&output.stderr)
    );
    let line = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(line).unwrap_or_else(|e| panic!("node printed `{stdout}`: {e}"))
}

#[test]
fn bundle_on_jco() {
    let module = transpile(&bundled_caller("bundle_on_jco"), "bundle_on_jco");
    let result = node(
        "call-both.mjs",
        &[module.to_str().expect("a UTF-8 path"), "200"],
    );
    assert_eq!(
        result["warm"], "caller slept 1 ms beside [callee slept 1 ms]",
        "{result}"
    );
    assert_eq!(
        result["timed"], "caller slept 200 ms beside [callee slept 200 ms]",
        "{result}"
    );
    let took = Duration::from_secs_f64(result["ms"].as_f64().expect("ms is a number") / 1000.0);
    // Both components' timers ran at once, in the shim's one `poll`: one wait, not two.
    assert!(took >= Duration::from_millis(200), "{took:?}");
    assert!(
        took < Duration::from_millis(350),
        "both(200) took {took:?} on jco"
    );
}
