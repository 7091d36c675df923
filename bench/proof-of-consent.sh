#!/usr/bin/env bash
# The proof-of-consent benchmark: durable `given` events with signed receipts on SQLite (WAL,
# synchronous=FULL) at 256 concurrent writers — goal ≥ 10,000/s with p99 ≤ 25 ms — and
# `accord ledger verify` of 1,000,000 events — goal ≤ 3 s — with the machine's fsync rate beside
# the figures.
#
#   bench/proof-of-consent.sh
#   WRITERS=256 SECS=10 ROUNDS=3 RATE=10000 EVENTS=1000000 bench/proof-of-consent.sh
#
# 1. fsync rate of the disk the database is on (PostgreSQL's pg_test_fsync, fdatasync of one
#    8 kB write; the rate a one-commit-per-consent design would top out at).
# 2. ROUNDS runs of accord-bench --receipts on a fresh SQLite file: each consent is the consent
#    action's transaction (connection, consent record, ledger event), acknowledged after its
#    group commit, then its ledger event is read back and its receipt signed (EdDSA compact
#    JWS), as the success page does; the sealer signs the chain head every second beside it.
#    Closed loop: each writer starts its next consent as soon as the last one is done, so the
#    rate is the most the store sustains and the mean latency is WRITERS / rate (Little's law).
# 3. ROUNDS runs of the same at an offered RATE consents/s (open loop): the writers start their
#    consents on a fixed schedule and each latency counts from the consent's due time, so a
#    stall delays, and is charged to, every consent due during it. This is the run that pairs
#    a rate with a p99: the store keeps up with RATE, and how long its consents take meanwhile.
# 4. The same database filled to EVENTS ledger events (one tenant: one chain, the worst case),
#    then `accord ledger verify` timed over it: every hash, link and row, and every signed
#    checkpoint against the sealer's public keys.
# 5. Inclusion and consistency proofs of that tree, timed in-process (accord-proofs), and the
#    inclusion proofs again over HTTP on loopback at GET /ledger/{tenant}/proofs/inclusion,
#    from an `accord serve` started over the same database.
# Every run is bounded in time and count; the files are removed at the end.
#
# Re-running the verify alone: DATA_DIR=/some/dir keeps the filled database there (it is not
# removed) and, when it already holds one, skips the fill; ONLY=verify skips steps 1-3.
#
#   DATA_DIR=/tmp/accord-1m ONLY=verify bench/proof-of-consent.sh
set -euo pipefail
cd "$(dirname "$0")/.."

WRITERS="${WRITERS:-256}"
SECS="${SECS:-10}"
ROUNDS="${ROUNDS:-3}"
RATE="${RATE:-10000}"
EVENTS="${EVENTS:-1000000}"
ONLY="${ONLY:-all}"
PROOFS="${PROOFS:-20000}"
if [ -n "${DATA_DIR:-}" ]; then
    DIR="$DATA_DIR"
    mkdir -p "$DIR"
    KEEP=1
else
    DIR="$(mktemp -d "${TMPDIR:-/tmp}/accord-proof.XXXXXX")"
    KEEP=0
fi
SERVER=""
cleanup() {
    if [ -n "$SERVER" ]; then kill "$SERVER" 2>/dev/null || true; fi
    if [ "$KEEP" = 0 ]; then rm -rf "$DIR"; fi
}
trap cleanup EXIT

echo "== build (release)"
cargo build --release --locked -p accord-bench -p accord >/dev/null 2>&1 \
    || cargo build --release --locked -p accord-bench -p accord
RELEASE="${CARGO_TARGET_DIR:-target}/release"
BENCH="$RELEASE/accord-bench"
ACCORD="$RELEASE/accord"

echo "== machine"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "cpu: $(nproc) × $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
# A yardstick for the CPU of the day (the same machine type runs at very different speeds
# from one day to the next): OpenSSL's Ed25519 signatures per second on one core.
if command -v openssl >/dev/null; then
    echo "cpu yardstick: $(openssl speed -seconds 2 ed25519 2>/dev/null | awk '/Ed25519/ {print $(NF-1)}') Ed25519 signatures/s on one core (openssl speed)"
fi
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
FSYNC_TOOL="$(ls /usr/lib/postgresql/*/bin/pg_test_fsync 2>/dev/null | tail -1 || true)"
if [ -n "$FSYNC_TOOL" ]; then
    "$FSYNC_TOOL" -s 2 -f "$DIR/fsync.test" 2>/dev/null \
        | awk '/^ +fdatasync/ && !seen++ {print "fsync rate: fdatasync of one 8 kB write, " $2 " ops/s (" $4 " µs each)"}'
    rm -f "$DIR/fsync.test"
else
    echo "fsync rate: pg_test_fsync not found (install postgresql to measure it)"
fi

if [ "$ONLY" != verify ]; then
echo "== given events with signed receipts: SQLite, $WRITERS writers, $ROUNDS × ${SECS} s"
for round in $(seq "$ROUNDS"); do
    rm -f "$DIR"/accord.db*
    "$BENCH" --database "sqlite://$DIR/accord.db" --concurrency "$WRITERS" --seconds "$SECS" \
        --warmup 2 --receipts 2>/dev/null | sed "s/^/round $round: /"
done

echo "== given events with signed receipts: SQLite, $WRITERS writers, offered $RATE/s (open loop), $ROUNDS × ${SECS} s"
for round in $(seq "$ROUNDS"); do
    rm -f "$DIR"/accord.db*
    "$BENCH" --database "sqlite://$DIR/accord.db" --concurrency "$WRITERS" --seconds "$SECS" \
        --warmup 2 --receipts --rate "$RATE" 2>/dev/null | sed "s/^/round $round: /"
done

fi

echo "== ledger verify of $EVENTS events"
if [ "$KEEP" = 1 ] && [ -s "$DIR/filled" ]; then
    echo "fill: kept from $(cat "$DIR/filled") in $DIR"
else
    rm -f "$DIR"/accord.db* "$DIR/filled"
    "$BENCH" --database "sqlite://$DIR/accord.db" --concurrency "$WRITERS" --seconds 3600 --warmup 0 \
        --max "$EVENTS" --companies 1000 --jwks-out "$DIR/jwks.json" 2>/dev/null | sed 's/^/fill: /'
    # The fill stops at EVENTS acknowledged consents; a few more may have been in flight.
    sync
    date -u +%Y-%m-%dT%H:%MZ >"$DIR/filled"
fi
# Timed twice: straight after the fill, with whatever of the file the page cache still holds
# (on some machines it keeps little of a 4 GB file, and the first run reads much of it from
# disk), then again with the file cached.
for run in "straight after the fill" "again, the file cached"; do
    START=$(date +%s.%N)
    "$ACCORD" ledger verify --quiet --data-dir "$DIR" --jwks "$DIR/jwks.json" | tail -2
    END=$(date +%s.%N)
    awk -v s="$START" -v e="$END" -v run="$run" 'BEGIN {printf "ledger verify (%s): %.2f s wall clock\n", run, e - s}'
done

echo "== Merkle proofs of that tree: in-process, then over HTTP on loopback"
PORT="${PORT:-18089}"
"$ACCORD" serve --listen "127.0.0.1:$PORT" --data-dir "$DIR" >"$DIR/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do
    curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
    sleep 0.2
done
"$RELEASE/accord-proofs" --database "$DIR/accord.db" --proofs "$PROOFS" \
    --url "http://127.0.0.1:$PORT/"
# The server's sealer may have signed the newest events with the server's own key (kept in
# $DIR): its public keys join the key set, so a later verify of a kept database still holds.
if curl -fs "http://127.0.0.1:$PORT/.well-known/jwks.json" >"$DIR/served-jwks.json"; then
    jq -s '{keys: ([.[].keys[]] | unique_by(.kid))}' "$DIR/jwks.json" "$DIR/served-jwks.json" \
        >"$DIR/jwks.merged" && mv "$DIR/jwks.merged" "$DIR/jwks.json"
fi
