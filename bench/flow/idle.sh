#!/usr/bin/env bash
# Idle memory and cold start of `accord demo`, measured as bench/flow/run.sh measures them, N
# times, with the memory broken down by kind.
#
#   bench/flow/idle.sh                      (builds accord and accord-flow in release mode)
#   N=9 SKIP_BUILD=1 bench/flow/idle.sh
#   IDLE_BIN=/path/to/other/accord SKIP_BUILD=1 bench/flow/idle.sh
#   SMAPS=1 …                               (also the largest mappings of the last start)
# (not ACCORD_…: Accord reads those variables as its configuration)
#
# Each round: a fresh data directory; a first start creates the database, key file and demo
# tenant and is stopped; the second start (an existing data directory, as a restart sees it) is
# the cold start quoted: exec to the first 200 on /healthz, polled every millisecond by
# `accord-flow start`. SLEEP seconds later (2, as run.sh) the process's `smaps_rollup` and
# `status` are read: RSS, anonymous, file-backed, threads. Reports every round, then min and
# median of each figure, plus the binary's size.
set -euo pipefail
cd "$(dirname "$0")/../.."

N="${N:-5}"
SLEEP="${SLEEP:-2}"
PORT="${PORT:-18180}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/work/target-flow}"
if [ -z "${SKIP_BUILD:-}" ]; then
    cargo build --release --locked -p accord -p accord-bench >/dev/null 2>&1 \
        || cargo build --release --locked -p accord -p accord-bench
fi
ACCORD="${IDLE_BIN:-$CARGO_TARGET_DIR/release/accord}"
FLOW="${IDLE_FLOW_BIN:-$CARGO_TARGET_DIR/release/accord-flow}"
DIR="$(mktemp -d "${TMPDIR:-/tmp}/accord-idle.XXXXXX")"
PID=""
cleanup() {
    if [ -n "$PID" ]; then
        kill "$PID" 2>/dev/null || true
        while kill -0 "$PID" 2>/dev/null; do sleep 0.05; done
    fi
    rm -rf "$DIR"
}
trap cleanup EXIT

start() {
    ACCORD_LOG__LEVEL=warn "$FLOW" start --health "http://127.0.0.1:$PORT/healthz" \
        --log "$DIR/accord.log" -- "$ACCORD" demo --port "$PORT" --data-dir "$DIR/data" \
        2>"$DIR/start.err" || { head -3 "$DIR/start.err" "$DIR/accord.log" >&2; return 1; }
}
stop() {
    kill "$PID"
    while kill -0 "$PID" 2>/dev/null; do sleep 0.05; done
    PID=""
}
json() { sed -n "s/.*\"$1\":\([0-9.]*\).*/\1/p"; }
kib() { awk -v k="$1:" '$1 == k {print $2}' "$2"; }

echo "binary: $ACCORD, $(du -k "$ACCORD" | cut -f1) KiB"
printf '%5s %10s %8s %8s %8s %8s %7s\n' round cold_ms rss_kib anon_kib file_kib shmem_kib threads
ROWS="$DIR/rows"
: >"$ROWS"
for round in $(seq "$N"); do
    rm -rf "$DIR/data"
    PID="$(start | json pid)"
    stop
    S="$(start)"
    PID="$(echo "$S" | json pid)"
    COLD="$(echo "$S" | json cold_start_ms)"
    sleep "$SLEEP"
    cp "/proc/$PID/smaps_rollup" "$DIR/rollup"
    cp "/proc/$PID/status" "$DIR/status"
    [ "$round" = "$N" ] && [ -n "${SMAPS:-}" ] && cp "/proc/$PID/smaps" "$DIR/smaps"
    stop
    RSS="$(kib Rss "$DIR/rollup")"
    ANON="$(kib Anonymous "$DIR/rollup")"
    SHMEM="$(kib Shmem "$DIR/status" || true)"
    FILE="$(kib RssFile "$DIR/status")"
    THREADS="$(kib Threads "$DIR/status")"
    printf '%5s %10.1f %8s %8s %8s %8s %7s\n' "$round" "$COLD" "$RSS" "$ANON" "$FILE" \
        "${SHMEM:-0}" "$THREADS" | tee -a "$ROWS"
done

# Column k of the rows: min and median (the lower middle one for an even N).
stats() {
    sort -n -k"$1" "$ROWS" | awk -v k="$1" '{v[NR] = $k} END {printf "min %s, median %s", v[1], v[int((NR + 1) / 2)]}'
}
echo "cold start (ms):    $(stats 2)"
echo "idle RSS (KiB):     $(stats 3)"
echo "  anonymous (KiB):  $(stats 4)"
echo "  file-backed (KiB): $(stats 5)"
echo "threads:            $(stats 7)"

if [ -n "${SMAPS:-}" ]; then
    echo "largest mappings of the last start (Rss KiB, Anonymous KiB, mapping):"
    awk '/^[0-9a-f]+-[0-9a-f]+ / {name = $6 ? $6 : "[anon " $1 "]"}
         /^Rss:/ {rss = $2}
         /^Anonymous:/ {print rss, $2, name}' "$DIR/smaps" | sort -rn | head -25
fi
