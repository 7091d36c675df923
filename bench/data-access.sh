#!/usr/bin/env bash
# Data access under consent: what the gateway adds over calling the platform directly, and
# proxied reads per second with every call recorded in the access log.
#
#   bench/data-access.sh
#   PAIRS=3000 CONCURRENCY=64 SECS=10 ROUNDS=3 bench/data-access.sh
#   SANDBOX=mounted bench/data-access.sh      # the sandbox mounted in Accord's process instead
#
# Builds Accord and accord-gateway in release mode (CARGO_TARGET_DIR, /work/target-gateway by
# default, so other builds are not blocked), starts the sandbox platform as a process of its own
# (`accord sandbox`, so Accord's CPU per call is measured apart from the platform's) and
# `accord demo` on a fresh SQLite data directory (WAL, synchronous=FULL) pointed at it
# (`sandbox.url`, the tenant's sandbox client secret set through the tenant API), links a
# sandbox connection through the hosted flow and runs the two measurements (see
# bench/src/gateway/).
# Afterwards it counts the access log's rows: every served call must be there. Every round is
# bounded in time (SECS) and count (MAX); the server and its files are removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

PAIRS="${PAIRS:-2000}"
CONCURRENCY="${CONCURRENCY:-64}"
SECS="${SECS:-10}"
ROUNDS="${ROUNDS:-2}"
MAX="${MAX:-2000000}"
PORT="${PORT:-18180}"
SANDBOX="${SANDBOX:-process}"
SANDBOX_PORT="${SANDBOX_PORT:-18190}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-gateway}"
DIR="$(mktemp -d "${TMPDIR:-/tmp}/accord-gateway.XXXXXX")"
PID=""
SANDBOX_PID=""
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
    [ -n "$SANDBOX_PID" ] && kill "$SANDBOX_PID" 2>/dev/null || true
    rm -rf "$DIR"
}
trap cleanup EXIT

if [ -z "${SKIP_BUILD:-}" ]; then
    echo "== build (release)" >&2
    cargo build --release -p accord -p accord-bench --bin accord --bin accord-gateway >&2
fi
ACCORD="${ACCORD_BIN:-$CARGO_TARGET_DIR/release/accord}"
GATEWAY="${GATEWAY_BIN:-$CARGO_TARGET_DIR/release/accord-gateway}"

echo "== machine" >&2
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo ' + uncommitted changes')"
echo "machine: $(nproc) × $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average before $(cut -d' ' -f1-3 /proc/loadavg)"

# Rate limits off for the benchmark only (the flow posts its forms from one address); the
# access log is always on.
# ACCORD_BIN names the binary to run (e.g. an older build, for an A/B; GATEWAY_BIN likewise the
# load generator); Accord would read it as
# configuration (every ACCORD_* variable is), so it is taken out of the server's environment.
SANDBOX_ARGS=()
SANDBOX_ENV=()
case "$SANDBOX" in
process)
    # The sandbox's OAuth client secret, made up for this run and given to the tenant below; on
    # the command line, since `accord` reads every ACCORD_* variable as its configuration.
    SECRET="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    env -u ACCORD_BIN ACCORD_LOG__LEVEL=warn \
        "$ACCORD" sandbox --port "$SANDBOX_PORT" --client-secret "$SECRET" \
        --redirect-uri "http://127.0.0.1:$PORT/link/callback/sandbox" >"$DIR/sandbox.log" 2>&1 &
    SANDBOX_PID=$!
    SANDBOX_ARGS=(--sandbox "http://127.0.0.1:$SANDBOX_PORT" --sandbox-pid "$SANDBOX_PID")
    SANDBOX_ENV=(ACCORD_SANDBOX__URL="http://127.0.0.1:$SANDBOX_PORT")
    ;;
mounted) ;;
*) echo "SANDBOX is process or mounted, not $SANDBOX" >&2; exit 2 ;;
esac
echo "sandbox: $SANDBOX"

env -u ACCORD_BIN ACCORD_RATE_LIMITS__POSTS_PER_IP=0 ACCORD_LOG__LEVEL=warn "${SANDBOX_ENV[@]}" \
    "$ACCORD" demo --port "$PORT" --data-dir "$DIR/accord" >"$DIR/accord.log" 2>&1 &
PID=$!
for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    kill -0 "$PID" 2>/dev/null || { cat "$DIR/accord.log" >&2; exit 1; }
    sleep 0.1
done
API_KEY="$(sed -n 's/^Tenant API key (shown once): //p' "$DIR/accord.log" | tail -1)"
[ -n "$API_KEY" ] || { echo "no API key in the demo's output:" >&2; cat "$DIR/accord.log" >&2; exit 1; }
if [ "$SANDBOX" = process ]; then
    curl -fsS "http://127.0.0.1:$SANDBOX_PORT/.well-known/oauth-authorization-server" >/dev/null \
        || { echo "the sandbox is not answering:" >&2; cat "$DIR/sandbox.log" >&2; exit 1; }
    # The demo gave its tenant the in-process sandbox's client secret; this sandbox has its own.
    curl -fsS -X PUT "http://127.0.0.1:$PORT/v1/platforms/sandbox" \
        -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' \
        -d "{\"enabled\": true, \"client_id\": \"accord-local\", \"client_secret\": \"$SECRET\"}" >/dev/null
fi

"$GATEWAY" --base "http://127.0.0.1:$PORT" --api-key "$API_KEY" --pairs "$PAIRS" \
    --concurrency "$CONCURRENCY" --secs "$SECS" --rounds "$ROUNDS" --max "$MAX" \
    --server-pid "$PID" "${SANDBOX_ARGS[@]}" | tee "$DIR/result.json"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# Every served call is in the access log, durably: count the rows after a clean stop.
kill -INT "$PID"; wait "$PID" || true; PID=""
python3 - "$DIR/accord" <<'PY'
import glob, sqlite3, sys
db = sqlite3.connect(glob.glob(sys.argv[1] + "/*.db")[0])
rows = db.execute("select kind, outcome, count(*) from access_log group by 1, 2").fetchall()
print("access_log rows:", rows)
PY
