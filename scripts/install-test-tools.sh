#!/usr/bin/env bash
# Installs what the tests need beside Rust, pinned: the wasm32-wasip2 target the guests are
# built for, jco with its WASI 0.2 shim (Node) for the tests that run bundles in Node, and
# componentize-py for the Python guests' tests.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

rustup target add wasm32-wasip2
npm ci --prefix "$root/cli/tests/jco" --no-audit --no-fund

# The release the Python glue is tested with (cli/src/command/build_py.rs: COMPONENTIZE_PY_VERSION).
python3 -m pip install --quiet componentize-py==0.25.1
