#!/usr/bin/env bash
# Builds the HTTP guests of test-cases/ and composes the demo: the router in front of hello,
# echo, hash-all and middleware+service (test-cases/router/compose.wac). Prints the path of the
# composed component. Uses $ISYSWASFA as the CLI when set; otherwise builds it (release).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"

if command -v rustup >/dev/null; then
  rustup target add wasm32-wasip2 >&2
fi
if [ -z "${ISYSWASFA:-}" ]; then
  cargo build --release --bin isyswasfa --manifest-path "$root/Cargo.toml" >&2
  ISYSWASFA="$target/release/isyswasfa"
fi

guests="$target/guests"
cargo build --release --target wasm32-wasip2 --manifest-path "$root/test-cases/Cargo.toml" \
  --target-dir "$guests" >&2
g="$guests/wasm32-wasip2/release"
out="$target/demo/router-composed.wasm"
mkdir -p "$(dirname "$out")"
"$ISYSWASFA" compose --wac "$root/test-cases/router/compose.wac" \
  -d "test:router=$g/router.wasm" -d "test:hello=$g/hello.wasm" -d "test:echo=$g/echo.wasm" \
  -d "test:hash-all=$g/hash_all.wasm" -d "test:service=$g/service.wasm" \
  -d "test:middleware=$g/middleware.wasm" -o "$out" >&2
echo "$out"
