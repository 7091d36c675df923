#!/usr/bin/env bash
# Property-based check of Accord's OpenAPI document against the running server.
#
# Starts `accord demo --port 0` on loopback with a fresh data directory, reads the printed
# tenant API key, and runs schemathesis (pinned in requirements.txt) with every check against
# `/openapi.json`, bounded by a number of examples per operation. Any failure fails the script.
#
#   tests/schemathesis/run.sh                     # needs `st` on PATH or $SCHEMATHESIS
#   ST_MAX_EXAMPLES=200 tests/schemathesis/run.sh  # a longer run
#
# Environment: ST_ACCORD_BIN (default target/debug/accord), SCHEMATHESIS (default `st`),
# ST_MAX_EXAMPLES (default 30), ST_SEED (default fixed, so CI runs are reproducible), ST_CONFIG
# (default tests/schemathesis/schemathesis.toml).
set -euo pipefail
cd "$(dirname "$0")/../.."

ST_ACCORD_BIN="$(realpath -m "${ST_ACCORD_BIN:-target/debug/accord}")"
SCHEMATHESIS="${SCHEMATHESIS:-st}"
ST_MAX_EXAMPLES="${ST_MAX_EXAMPLES:-30}"
ST_SEED="${ST_SEED:-20261207}"

[ -x "$ST_ACCORD_BIN" ] || { echo "schemathesis: no Accord binary at $ST_ACCORD_BIN (cargo build -p accord)" >&2; exit 2; }
command -v "$SCHEMATHESIS" >/dev/null || { echo "schemathesis: '$SCHEMATHESIS' not found (pip install -r tests/schemathesis/requirements.txt)" >&2; exit 2; }

work="$(mktemp -d -t accord-st.XXXXXX)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# Rate limits off: schemathesis is one client address sending thousands of requests.
ACCORD_LOG__LEVEL=warn \
ACCORD_RATE_LIMITS__SUPPORT_PER_IP=0 ACCORD_RATE_LIMITS__SUPPORT_PER_SESSION=0 \
ACCORD_RATE_LIMITS__POSTS_PER_IP=0 \
  env -u ACCORD_TEST_POSTGRES_URL "$ST_ACCORD_BIN" demo --port 0 --data-dir "$work/data" >"$work/stdout" 2>"$work/server.log" &
server_pid=$!

for _ in $(seq 1 300); do
  grep -q '^Link URL: ' "$work/stdout" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { echo "schemathesis: accord demo exited early" >&2; cat "$work/stdout" "$work/server.log" >&2; exit 1; }
  sleep 0.1
done
grep -q '^Link URL: ' "$work/stdout" || { echo "schemathesis: accord demo printed no Link URL within 30 s" >&2; cat "$work/stdout" "$work/server.log" >&2; exit 1; }

api_key="$(sed -n 's/^Tenant API key (shown once): //p' "$work/stdout" | head -n1)"
base_url="$(sed -n 's/^Link URL: //p' "$work/stdout" | head -n1 | sed -E 's#^(https?://[^/]+)/.*#\1#')"
[ -n "$api_key" ] && [ -n "$base_url" ] || { echo "schemathesis: could not read the API key or URL" >&2; cat "$work/stdout" >&2; exit 1; }
echo "schemathesis: accord demo at $base_url (pid $server_pid)"

# Schemathesis keeps its cache in the working directory: the temporary one, not the repository.
config="${ST_CONFIG:-$PWD/tests/schemathesis/schemathesis.toml}"
cd "$work"

# Revoking API keys runs last, on its own: the main run must not revoke the key it runs with.
status=0
"$SCHEMATHESIS" --config-file "$config" run "$base_url/openapi.json" \
  --url "$base_url" \
  --exclude-operation-id revoke_api_key \
  --header "Authorization: Bearer $api_key" \
  --checks all \
  --max-examples "$ST_MAX_EXAMPLES" \
  --seed "$ST_SEED" \
  --request-timeout 10 \
  --no-color \
  "$@" || status=$?
if [ "$status" -eq 0 ]; then
  "$SCHEMATHESIS" --config-file "$config" run "$base_url/openapi.json" \
    --url "$base_url" \
    --include-operation-id revoke_api_key \
    --header "Authorization: Bearer $api_key" \
    --checks all \
    --max-examples "$ST_MAX_EXAMPLES" \
    --seed "$ST_SEED" \
    --request-timeout 10 \
    --no-color \
    "$@" || status=$?
fi

if [ "$status" -ne 0 ]; then
  echo "schemathesis: failures (exit $status); server log tail:" >&2
  tail -n 40 "$work/server.log" >&2 || true
fi
exit "$status"
