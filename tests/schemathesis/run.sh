#!/usr/bin/env bash
# Schemathesis (`--checks all`) against a real hookbus server, once without and
# once with an API token, inside a network namespace that has only loopback:
# the endpoints Schemathesis creates get arbitrary URLs, and no delivery may
# ever leave the machine. Run by tests/it/api_boundary.rs as
#   unshare -n -- bash tests/schemathesis/run.sh BIN SCHEMATHESIS OUTDIR
# Findings not in allowlist.txt (next to this file) fail the run.
set -euo pipefail
BIN="$1"; ST="$2"; OUT="$3"
HERE="$(cd "$(dirname "$0")" && pwd)"
ip link set lo up
# Prove the namespace is closed before anything can create an endpoint.
if ip -o addr show | grep -v ' lo ' | grep -q 'inet'; then
  echo "schemathesis: refusing to run: a non-loopback interface is up" >&2
  exit 2
fi
mkdir -p "$OUT"
run() { # name port token
  local name="$1" port="$2" token="$3" pid
  rm -rf "$OUT/$name-data"
  HOOKBUS_DATA="$OUT/$name-data" HOOKBUS_LISTEN="127.0.0.1:$port" HOOKBUS_API_TOKEN="$token" \
    HOOKBUS_MASTER_KEY="$(printf '%032d' 0 | base64)" RUST_LOG=warn \
    "$BIN" serve >"$OUT/$name-server.log" 2>&1 &
  pid=$!
  python3 - "$port" <<'PY'
import sys, time, urllib.request
for _ in range(200):
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=1)
        break
    except Exception:
        time.sleep(0.1)
PY
  local auth=()
  [ -n "$token" ] && auth=(-H "Authorization: Bearer $token")
  "$ST" run "http://127.0.0.1:$port/openapi.json" --checks all \
    --max-examples "${HOOKBUS_SCHEMATHESIS_EXAMPLES:-40}" --seed "${HOOKBUS_SCHEMATHESIS_SEED:-7}" \
    --no-color --report ndjson --report-ndjson-path "$OUT/$name.ndjson" \
    --request-timeout 10 "${auth[@]}" >"$OUT/$name.txt" 2>&1 || true
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  if grep -q 'panicked' "$OUT/$name-server.log"; then
    echo "schemathesis: the server panicked during the $name run:" >&2
    grep -m5 -A3 'panicked' "$OUT/$name-server.log" >&2
    return 1
  fi
}
run open 18281 ""
run token 18282 "schemathesis-test-token-0123456789"
python3 "$HERE/check.py" "$HERE/allowlist.txt" "$OUT/open.ndjson" "$OUT/token.ndjson"
