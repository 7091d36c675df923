#!/usr/bin/env bash
# Durable consent appends on PostgreSQL against pgbench's single-row insert rate, on the same
# machine, in the same run (the target is ≥ 80 % of pgbench: a consent, with its ledger event
# and outbox row, should cost little more than the simplest durable insert). Also SQLite's rate.
#
#   bench/consents-vs-pgbench.sh                 # defaults below
#   ROUNDS=3 SECS=10 CLIENTS="16 64 96" IN_FLIGHT="64 256 512 1024" bench/consents-vs-pgbench.sh
#
# Each round runs, back to back: pgbench with a custom one-statement script (one row of about
# the size of a consent record, autocommit, prepared statements) at each of CLIENTS, then
# accord-bench (`Store::record_consent`: connection upsert, consent record, ledger event,
# webhook events, and with the OAuth state, as the hosted flow writes them) on a fresh database
# at each of IN_FLIGHT. Interleaving keeps both under the same load on a shared machine.
#
# Two comparisons come out. *Peak against peak*: each side's best rate over its concurrencies
# (the medians over rounds), which is what "insert rate" means for either. pgbench needs a
# server process per client and peaks below the server's connection limit; Accord's callers
# are tasks (requests in flight) multiplexed on a small pool, and its group commit writes more
# of them per commit the more are in flight. *Equal concurrency*: the pairs where pgbench's
# clients equal Accord's requests in flight (64 by default).
# Every run is bounded in time (SECS) and the databases it creates are dropped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

export PGHOST="${PGHOST:-127.0.0.1}" PGPORT="${PGPORT:-5432}" PGUSER="${PGUSER:-postgres}"
ROUNDS="${ROUNDS:-3}"
SECS="${SECS:-10}"
CLIENTS="${CLIENTS:-16 64 96}"
IN_FLIGHT="${IN_FLIGHT:-64 256 512 1024}"
# Tenants the consents are spread over; each tenant's ledger chain takes one batch at a time,
# so 1 is the worst case.
TENANTS="${TENANTS:-1}"
DB=accord_bench
OUT="$(mktemp -d)"
trap 'psql -qd postgres -c "drop database if exists $DB" -c "drop database if exists ${DB}_pgbench" >/dev/null 2>&1 || true; rm -rf "$OUT"' EXIT

echo "== build (release)"
cargo build --release --locked -p accord-bench -p accord >/dev/null 2>&1 || cargo build --release --locked -p accord-bench -p accord
BENCH="${CARGO_TARGET_DIR:-target}/release/accord-bench"

echo "== machine"
echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
echo "cpu: $(nproc) × $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "memory: $(free -g | awk '/Mem:/ {print $2 " GiB"}')"
echo "postgres: $(psql -Atd postgres -c 'show server_version')," \
     "fsync=$(psql -Atd postgres -c 'show fsync')," \
     "synchronous_commit=$(psql -Atd postgres -c 'show synchronous_commit')," \
     "full_page_writes=$(psql -Atd postgres -c 'show full_page_writes')," \
     "wal_sync_method=$(psql -Atd postgres -c 'show wal_sync_method')," \
     "shared_buffers=$(psql -Atd postgres -c 'show shared_buffers')"
# A yardstick for the CPU of the day (the same machine type runs at very different speeds
# from one day to the next): OpenSSL's Ed25519 signatures per second on one core.
if command -v openssl >/dev/null; then
    echo "cpu yardstick: $(openssl speed -seconds 2 ed25519 2>/dev/null | awk '/Ed25519/ {print $(NF-1)}') Ed25519 signatures/s on one core (openssl speed)"
fi
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "runs: $ROUNDS rounds of ${SECS} s per measurement, pgbench clients $CLIENTS, Accord in flight $IN_FLIGHT, $TENANTS tenant(s)"

cat >"$OUT/insert.sql" <<'SQL'
insert into single_row_insert (id, created_at, body) values (gen_random_uuid(), now(), repeat('x', 600));
SQL

pgbench_tps() { # clients
    psql -qd postgres -c "drop database if exists ${DB}_pgbench" -c "create database ${DB}_pgbench" >/dev/null
    psql -qd "${DB}_pgbench" -c "create table single_row_insert (id uuid primary key, created_at timestamptz not null, body text not null)" >/dev/null
    pgbench -n -M prepared -c "$1" -j "$(nproc)" -T "$SECS" -f "$OUT/insert.sql" "${DB}_pgbench" 2>&1 \
        | awk '/^tps = / {printf "%.0f\n", $3}'
}

accord_rate() { # concurrency, extra args…
    local c="$1"; shift
    psql -qd postgres -c "drop database if exists $DB" -c "create database $DB" >/dev/null
    "$BENCH" --database "postgres://$PGUSER@$PGHOST:$PGPORT/$DB" --concurrency "$c" --seconds "$SECS" \
        --tenants "$TENANTS" "$@" 2>/dev/null \
        | sed -n 's/.*"consents_per_sec":\([0-9]*\).*"p99":\([0-9]*\.[0-9]\).*/\1 p99=\2ms/p'
}

sqlite_rate() { # concurrency
    rm -f "$OUT"/bench.db*
    "$BENCH" --database "sqlite://$OUT/bench.db" --concurrency "$1" --seconds "$SECS" --tenants "$TENANTS" 2>/dev/null \
        | sed -n 's/.*"consents_per_sec":\([0-9.]*\).*/\1/p' | cut -d. -f1
}

# One line per measurement: round, what, concurrency, rate.
for round in $(seq 1 "$ROUNDS"); do
    for c in $CLIENTS; do
        echo "$round pgbench $c $(pgbench_tps "$c")" | tee -a "$OUT/runs"
    done
    for c in $IN_FLIGHT; do
        echo "$round accord $c $(accord_rate "$c")" | tee -a "$OUT/runs"
        echo "$round accord_oauth $c $(accord_rate "$c" --oauth-state)" | tee -a "$OUT/runs"
    done
done

echo
echo "== SQLite (WAL, synchronous=FULL) record_consent, same machine"
for c in $IN_FLIGHT; do
    echo "in flight $c: $(sqlite_rate "$c") consents/s"
done

echo
echo "== medians over rounds"
median() { sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
med() { awk -v w="$1" -v c="$2" '$2 == w && $3 == c {print $4}' "$OUT/runs" | median; }
best() { # what, concurrencies: "rate concurrency" of the best median
    local w="$1"; shift
    for c in "$@"; do echo "$(med "$w" "$c") $c"; done | sort -n | tail -1
}
for c in $CLIENTS; do echo "pgbench, $c clients: $(med pgbench "$c") tps"; done
for c in $IN_FLIGHT; do
    echo "accord, $c in flight: $(med accord "$c") consents/s, with OAuth state $(med accord_oauth "$c")/s"
done
read -r p pc <<<"$(best pgbench $CLIENTS)"
read -r a ac <<<"$(best accord $IN_FLIGHT)"
read -r o oc <<<"$(best accord_oauth $IN_FLIGHT)"
echo
echo "peak against peak: pgbench $p tps ($pc clients), accord $a consents/s ($ac in flight): $((100 * a / p))%;" \
     "with OAuth state $o/s ($oc in flight): $((100 * o / p))%"
for c in $CLIENTS; do
    case " $IN_FLIGHT " in *" $c "*)
        pe=$(med pgbench "$c"); ae=$(med accord "$c"); oe=$(med accord_oauth "$c")
        echo "equal concurrency $c: pgbench $pe tps, accord $ae consents/s ($((100 * ae / pe))%), with OAuth state $oe/s ($((100 * oe / pe))%)"
    esac
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
