#!/usr/bin/env bash
# The main job: builds and composes the demo (see build-demo.sh) and serves it with
# `isyswasfa serve` on http://127.0.0.1:8080 (or $ADDR) until Ctrl-C.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
composed="$("$root/scripts/build-demo.sh")"
ISYSWASFA="${ISYSWASFA:-$target/release/isyswasfa}"
addr="${ADDR:-127.0.0.1:8080}"
cat <<TRY
Try, in another terminal:
  curl http://$addr/hello
  curl --data-binary 'echo me' http://$addr/echo
  curl http://$addr/service/
  curl --data 'make me loud' http://$addr/service/upper
  printf 'squeezed' | python3 -c 'import sys,zlib; sys.stdout.buffer.write(zlib.compress(sys.stdin.buffer.read()))' \\
    | curl -s -H 'content-encoding: deflate' -H 'accept-encoding: deflate' --data-binary @- http://$addr/service/upper \\
    | python3 -c 'import sys,zlib; print(zlib.decompress(sys.stdin.buffer.read()).decode())'
  curl -H 'url: http://$addr/hello' -H 'url: http://$addr/service/' http://$addr/hash-all
TRY
exec "$ISYSWASFA" serve --addr "$addr" "$composed"
