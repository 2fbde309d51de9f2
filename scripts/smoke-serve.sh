#!/usr/bin/env bash
# Smoke test of the main job, run by .ci/run: from the built CLI ($ISYSWASFA), serve the demo
# composition, send it requests, check the answers, stop it with SIGTERM (exit status 0).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
: "${ISYSWASFA:?set ISYSWASFA to the isyswasfa binary}"
composed="$("$root/scripts/build-demo.sh")"

log="$(mktemp)"
"$ISYSWASFA" serve --addr 127.0.0.1:0 "$composed" >"$log" 2>&1 &
server=$!
trap 'kill "$server" 2>/dev/null || true' EXIT
url=""
for _ in $(seq 1 200); do
  url="$(sed -n 's|^Serving HTTP on \(http://[^/]*\)/$|\1|p' "$log")"
  [ -n "$url" ] && break
  kill -0 "$server" 2>/dev/null || { cat "$log"; echo "smoke: serve exited early" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { cat "$log"; echo "smoke: serve did not start" >&2; exit 1; }

# A GET or POST with curl, or with bash's /dev/tcp where curl is missing.
fetch() { # fetch PATH [BODY]
  if command -v curl >/dev/null; then
    if [ $# -gt 1 ]; then curl -fsS --data-binary "$2" "$url$1"; else curl -fsS "$url$1"; fi
  else
    local hostport="${url#http://}" method=GET body="${2:-}"
    [ $# -gt 1 ] && method=POST
    exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}"
    # HTTP/1.0: the body comes unchunked and ends when the server closes the connection.
    printf '%s %s HTTP/1.0\r\nhost: %s\r\ncontent-length: %d\r\n\r\n%s' \
      "$method" "$1" "$hostport" "${#body}" "$body" >&3
    sed '1,/^\r$/d' <&3
    exec 3<&-
  fi
}

check() { # check WHAT EXPECTED ACTUAL
  if [ "$2" != "$3" ]; then
    echo "smoke: $1: expected '$2', got '$3'" >&2
    cat "$log" >&2
    exit 1
  fi
  echo "smoke: $1 ok"
}

check "GET /hello" "Hello, world!" "$(fetch /hello | tr -d '\n')"
check "POST /echo" "echo me" "$(fetch /echo 'echo me')"
check "GET /service/" "service: hello" "$(fetch /service/)"
check "POST /service/upper" "LOUDER" "$(fetch /service/upper 'louder')"

kill -TERM "$server"
status=0
wait "$server" || status=$?
trap - EXIT
check "exit status after SIGTERM" 0 "$status"
