#!/usr/bin/env bash
# Installs what the tests need beside Rust, pinned: the wasm32-wasip2 target the guests are
# built for, and jco with its WASI 0.2 shim (Node) for the tests that run bundles in Node.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

rustup target add wasm32-wasip2
npm ci --prefix "$root/cli/tests/jco" --no-audit --no-fund
