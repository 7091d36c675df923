#!/usr/bin/env bash
# Accord's instruction count (valgrind --tool=callgrind) over a bounded number of proxied reads,
# the sandbox in a process of its own: stable under load, unlike a wall-clock benchmark.
#   bench/data-access-callgrind.sh <accord binary> <accord-gateway binary> <calls> <out prefix>
# Run it twice (e.g. 200 and 2200 calls) and divide the difference of the two `summary:` lines
# of the output files by the difference in calls: start-up and the link cancel out.
set -euo pipefail
ACCORD="$1"; GATEWAY="$2"; CALLS="$3"; OUT="$4"
PORT="${PORT:-18380}"; SPORT="${SPORT:-18390}"; CONC="${CONC:-16}"
DIR="$(mktemp -d /tmp/gw-cg.XXXXXX)"
PID=""; SPID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null || true; [ -n "$SPID" ] && kill "$SPID" 2>/dev/null || true; rm -rf "$DIR"; }
trap cleanup EXIT
SECRET="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
ACCORD_LOG__LEVEL=warn "$ACCORD" sandbox --port "$SPORT" --client-secret "$SECRET" \
    --redirect-uri "http://127.0.0.1:$PORT/link/callback/sandbox" >"$DIR/sandbox.log" 2>&1 &
SPID=$!
ACCORD_RATE_LIMITS__POSTS_PER_IP=0 ACCORD_LOG__LEVEL=warn ACCORD_SANDBOX__URL="http://127.0.0.1:$SPORT" \
    valgrind --tool=callgrind --callgrind-out-file="$OUT.%p.cg" \
    "$ACCORD" demo --port "$PORT" --data-dir "$DIR/accord" >"$DIR/accord.log" 2>&1 &
PID=$!
for _ in $(seq 1 1200); do
    curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    kill -0 "$PID" 2>/dev/null || { cat "$DIR/accord.log" >&2; exit 1; }
    sleep 0.25
done
API_KEY="$(sed -n 's/^Tenant API key (shown once): //p' "$DIR/accord.log" | tail -1)"
curl -fsS -X PUT "http://127.0.0.1:$PORT/v1/platforms/sandbox" \
    -H "Authorization: Bearer $API_KEY" -H 'Content-Type: application/json' \
    -d "{\"enabled\": true, \"client_id\": \"accord-local\", \"client_secret\": \"$SECRET\"}" >/dev/null
"$GATEWAY" --base "http://127.0.0.1:$PORT" --api-key "$API_KEY" --sandbox "http://127.0.0.1:$SPORT" \
    --concurrency "$CONC" --calls "$CALLS"
kill -INT "$PID"; wait "$PID" || true; PID=""
ls -la "$OUT".*.cg
