#!/bin/sh
# Runs every benchmark of issue 19 (P2–P11) with isyswasfa's own run-time crates (host, CLI,
# protocol) optimized like their dependencies (the test profile builds dependencies at
# opt-level 2 but workspace crates at 0, generic dependency code they instantiate included), and
# prints one table: figure, isyswasfa, baseline, ratio, goal, met?.
#
#   scripts/bench.sh            # the table on stdout; each bench's own output in $BENCH_LOG
#
# BENCH_LOG (default: target tmp dir/bench.log) keeps the benches' full output. The serve bench's
# SERVE_BENCH_* settings apply (see cli/benches/serve.rs).
set -eu

cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
log=${BENCH_LOG:-$target/bench.log}
mkdir -p "$(dirname "$log")"

# One cargo invocation builds and runs the four bench binaries, one after the other.
cargo test --workspace --no-fail-fast \
    --config 'profile.dev.package.isyswasfa-host.opt-level=2' \
    --config 'profile.dev.package.isyswasfa.opt-level=2' \
    --config 'profile.dev.package.isyswasfa-protocol.opt-level=2' \
    --bench calls --bench streams --bench waits --bench serve >"$log" 2>&1 || {
    echo "bench.sh: a bench failed; its output is in $log" >&2
    tail -n 30 "$log" >&2
    exit 1
}

echo "| id | figure | isyswasfa | baseline | ratio | goal | met? |"
echo "| --- | --- | ---: | ---: | ---: | --- | --- |"
grep '^FIGURE|' "$log" | sort -t'|' -k2,2V -s |
    awk -F'|' '{ printf "| %s | %s | %s | %s | %s | %s | %s |\n", $2, $3, $4, $5, $6, $7, $8 }'
