#!/usr/bin/env bash
# The hosted flow, side by side with node oidc-provider.
#
#   bench/flow/run.sh
#   LEVELS="1 4 16 64" ROUNDS=2 SECS=10 bench/flow/run.sh
#   FLOW_ACCORD_BIN=/path/to/other/accord SVG=docs/flow-other.svg TITLE="…" bench/flow/run.sh
#   SKIP_BUILD=1 …                      (the binaries in CARGO_TARGET_DIR as they are)
#   PG_URL= bench/flow/run.sh           (without the PostgreSQL rounds)
#
# Builds Accord and the load generator (accord-flow) in release mode, installs the peer
# (bench/peer: oidc-provider at the version pinned by its package-lock.json), starts both
# servers on loopback — Accord with `accord demo` on a fresh SQLite data directory, its rate
# limits off for this run only (environment variables; the configuration is untouched) — and
# runs each side's complete flow with the same load generator, A B A B at each level of flows
# in flight. Then it writes the figures (machine, fsync rate, cold start, idle and peak RSS,
# binary size, every round, every step) as a new section of docs/benchmarks.md and the chart as
# docs/flow.svg. Every round is bounded in time (SECS) and count (MAX); servers and files are
# removed at the end.
#
# With PostgreSQL reachable at PG_URL (default postgres://postgres@127.0.0.1:5432), each round
# also drives two Accord instances sharing one fresh database on it (side `accord-pg`, the
# in-flight slots split between the instances, each flow on one instance: the sandbox platform
# keeps its sign-ins in the process that mounts it): A (SQLite), P (PostgreSQL), B (peer), in
# turn. The database is dropped at the end.
#
# The load generator shares the machine with the server it drives (2 cores here): its own CPU
# per flow is reported beside the server's.
set -euo pipefail
cd "$(dirname "$0")/../.."

LEVELS="${LEVELS:-1 4 16 64}"
ROUNDS="${ROUNDS:-2}"
SECS="${SECS:-10}"
WARMUP="${WARMUP:-2}"
MAX="${MAX:-200000}"
ACCORD_PORT="${ACCORD_PORT:-18080}"
PEER_PORT="${PEER_PORT:-18090}"
PG_PORTS=(18081 18082)
PG_URL="${PG_URL-postgres://postgres@127.0.0.1:5432}"
PG_DB="accord_flow_$$"
DOC="${DOC:-docs/benchmarks.md}"
SVG="${SVG:-docs/flow.svg}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-flow}"
DIR="$(mktemp -d "${TMPDIR:-/tmp}/accord-flow.XXXXXX")"
PIDS=()
PG_MADE=""
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do while kill -0 "$p" 2>/dev/null; do sleep 0.05; done; done
    if [ -n "$PG_MADE" ]; then psql -q "$PG_URL/postgres" -c "drop database if exists $PG_DB" || true; fi
    rm -rf "$DIR"
}
trap cleanup EXIT

if [ -z "${SKIP_BUILD:-}" ]; then
    echo "== build (release)"
    cargo build --release --locked -p accord -p accord-bench >/dev/null 2>&1 \
        || cargo build --release --locked -p accord -p accord-bench
fi
# FLOW_ACCORD_BIN: another build of Accord to measure (e.g. an earlier commit's), same load
# generator (not ACCORD_…: Accord reads those as its configuration).
ACCORD="${FLOW_ACCORD_BIN:-$CARGO_TARGET_DIR/release/accord}"
FLOW="$CARGO_TARGET_DIR/release/accord-flow"
(cd bench/peer && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
PEER_VERSION="$(node -p 'require("./bench/peer/node_modules/oidc-provider/package.json").version')"

echo "== machine"
FACTS=()
FACTS+=("date=$(date -u '+%Y-%m-%d %H:%M UTC'), commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- crates || echo ' + uncommitted changes')")
FACTS+=("machine=$(nproc) × $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average before $(cut -d' ' -f1-3 /proc/loadavg)")
FSYNC_TOOL="$(ls /usr/lib/postgresql/*/bin/pg_test_fsync 2>/dev/null | tail -1 || true)"
if [ -n "$FSYNC_TOOL" ]; then
    FSYNC="$("$FSYNC_TOOL" -s 2 -f "$DIR/fsync.test" 2>/dev/null \
        | awk '/^ +fdatasync/ && !seen++ {print $2 " fdatasync/s of one 8 kB write (" $4 " µs each, pg_test_fsync)"}')"
    rm -f "$DIR/fsync.test"
else
    FSYNC="pg_test_fsync not found"
fi
FACTS+=("fsync rate=$FSYNC")
FACTS+=("servers=Accord ($(du -k "$ACCORD" | cut -f1) KiB release binary, SQLite WAL synchronous=FULL, in-process sandbox) vs node $(node --version) oidc-provider $PEER_VERSION (in-memory adapter)")
printf '%s\n' "${FACTS[@]}"

start_accord() {
    # Rate limits off for the benchmark only: every flow posts two forms from one address.
    ACCORD_RATE_LIMITS__POSTS_PER_IP=0 ACCORD_LOG__LEVEL=warn \
        "$FLOW" start --health "http://127.0.0.1:$ACCORD_PORT/healthz" --log "$DIR/accord.log" \
        -- "$ACCORD" demo --port "$ACCORD_PORT" --data-dir "$DIR/accord"
}
start_accord_pg() {
    # One instance of two on the same PostgreSQL database (and the same key file).
    ACCORD_RATE_LIMITS__POSTS_PER_IP=0 ACCORD_LOG__LEVEL=warn \
        ACCORD_DATABASE__URL="$PG_URL/$PG_DB" \
        "$FLOW" start --health "http://127.0.0.1:$1/healthz" --log "$DIR/accord-pg-$1.log" \
        -- "$ACCORD" demo --port "$1" --data-dir "$DIR/accord-pg"
}
start_peer() {
    PORT="$PEER_PORT" "$FLOW" start --health "http://127.0.0.1:$PEER_PORT/healthz" \
        --log "$DIR/peer.log" -- node bench/peer/server.js
}
json() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
kib_of() { awk -v p="$1" '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

echo "== cold start"
# First start of Accord creates its database, key file and demo tenant; the cold start quoted
# is the next one (an existing data directory), as a restart sees it.
S="$(start_accord)"; FIRST="$(echo "$S" | json pid)"; kill "$FIRST"
while kill -0 "$FIRST" 2>/dev/null; do sleep 0.05; done
S="$(start_accord)"; ACCORD_PID="$(echo "$S" | json pid)"; PIDS+=("$ACCORD_PID")
ACCORD_COLD="$(echo "$S" | json cold_start_ms)"
S="$(start_peer)"; PEER_PID="$(echo "$S" | json pid)"; PIDS+=("$PEER_PID")
PEER_COLD="$(echo "$S" | json cold_start_ms)"
sleep 2
FACTS+=("cold start (exec to first 200 on /healthz)=Accord $(printf '%.0f' "$ACCORD_COLD") ms, peer $(printf '%.0f' "$PEER_COLD") ms")
FACTS+=("idle RSS (2 s after start)=Accord $(( $(kib_of "$ACCORD_PID") / 1024 )) MiB, peer $(( $(kib_of "$PEER_PID") / 1024 )) MiB")
api_key_of() {
    local key
    key="$(sed -n 's/^Tenant API key (shown once): //p' "$1" | tail -1)"
    [ -n "$key" ] || { echo "no API key in the demo's output:" >&2; cat "$1" >&2; exit 1; }
    echo "$key"
}
API_KEY="$(api_key_of "$DIR/accord.log")"

PG_BASES=""; PG_KEYS=""; PG_PIDS=""
if [ -n "$PG_URL" ] && psql -q "$PG_URL/postgres" -c "create database $PG_DB" 2>/dev/null; then
    PG_MADE=1
    echo "== PostgreSQL: two instances on $PG_URL/$PG_DB"
    for port in "${PG_PORTS[@]}"; do
        # One after the other: the first creates the demo tenant, the second finds it.
        S="$(start_accord_pg "$port")"; P="$(echo "$S" | json pid)"; PIDS+=("$P")
        K="$(api_key_of "$DIR/accord-pg-$port.log")"
        PG_BASES="${PG_BASES:+$PG_BASES,}http://127.0.0.1:$port"
        PG_KEYS="${PG_KEYS:+$PG_KEYS,}$K"
        PG_PIDS="${PG_PIDS:+$PG_PIDS,}$P"
    done
    sleep 2
    PG_RSS=0; for p in ${PG_PIDS//,/ }; do PG_RSS=$(( PG_RSS + $(kib_of "$p") )); done
    FACTS+=("PostgreSQL=$(psql -tAq "$PG_URL/postgres" -c 'show server_version' | cut -d' ' -f1), synchronous_commit $(psql -tAq "$PG_URL/postgres" -c 'show synchronous_commit'), two Accord instances (idle RSS $(( PG_RSS / 1024 )) MiB together)")
elif [ -n "$PG_URL" ]; then
    echo "== PostgreSQL at $PG_URL not reachable: no PostgreSQL rounds"
fi

echo "== rounds: levels $LEVELS, $ROUNDS × (A B), ${SECS} s each after ${WARMUP} s warm-up"
RESULTS="$DIR/rounds.jsonl"
for c in $LEVELS; do
    for round in $(seq "$ROUNDS"); do
        "$FLOW" run --side accord --base "http://127.0.0.1:$ACCORD_PORT" --api-key "$API_KEY" \
            --server-pid "$ACCORD_PID" --concurrency "$c" --seconds "$SECS" --warmup "$WARMUP" \
            --max "$MAX" --round "$round" | tee -a "$RESULTS" | cut -c1-160
        if [ -n "$PG_BASES" ]; then
            "$FLOW" run --side accord-pg --base "$PG_BASES" --api-key "$PG_KEYS" \
                --server-pid "$PG_PIDS" --concurrency "$c" --seconds "$SECS" --warmup "$WARMUP" \
                --max "$MAX" --round "$round" | tee -a "$RESULTS" | cut -c1-160
        fi
        "$FLOW" run --side peer --base "http://127.0.0.1:$PEER_PORT" \
            --server-pid "$PEER_PID" --concurrency "$c" --seconds "$SECS" --warmup "$WARMUP" \
            --max "$MAX" --round "$round" | tee -a "$RESULTS" | cut -c1-160
    done
done
FACTS+=("peak RSS (VmHWM, end of the run)=Accord $(( $(awk '/^VmHWM:/ {print $2}' "/proc/$ACCORD_PID/status") / 1024 )) MiB, peer $(( $(awk '/^VmHWM:/ {print $2}' "/proc/$PEER_PID/status") / 1024 )) MiB")
cp "$RESULTS" "${RESULTS_OUT:-/tmp/accord-flow-rounds.jsonl}"

echo "== report"
ARGS=()
for f in "${FACTS[@]}"; do ARGS+=(--fact "$f"); done
"$FLOW" report --results "$RESULTS" --svg "$SVG" --svg-link "$(basename "$SVG")" \
    --markdown "$DIR/section.md" --title "${TITLE:-$(date -u '+%Y-%m-%d %H:%M UTC')}" "${ARGS[@]}"
# The section goes under the hosted-flow heading (created on the first run), newest first.
HEADING="## Hosted flow: Accord beside node oidc-provider"
if ! grep -qF "$HEADING" "$DOC"; then
    printf '\n%s\n\n<!-- flow runs: bench/flow/run.sh inserts each run below this line -->\n' "$HEADING" >> "$DOC"
fi
python3 - "$DOC" "$DIR/section.md" <<'PY'
import sys
doc, section = sys.argv[1], open(sys.argv[2]).read()
marker = "<!-- flow runs: bench/flow/run.sh inserts each run below this line -->\n"
text = open(doc).read()
open(doc, "w").write(text.replace(marker, marker + "\n" + section, 1))
PY
cat "$DIR/section.md"
