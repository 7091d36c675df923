#!/usr/bin/env bash
# Runs Accord's browser suite against a real `accord demo`.
#
# Builds nothing: expects the binary in $E2E_ACCORD_BIN (default ../target/debug/accord, i.e.
# `cargo build -p accord` from the repository root) and the npm packages (`npm ci`).
# Starts `accord demo --port 0 --data-dir <fresh temporary dir>` on a free loopback port, reads
# the printed URLs and API key, runs the Playwright tests on Debian's Chromium, stops the server.
#
#   ./run.sh                       # the whole suite
#   ./run.sh tests/flow.spec.js    # arguments go to `playwright test`
#
# Environment: E2E_ACCORD_BIN, CHROMIUM (default /usr/bin/chromium), E2E_WORKERS (default 2).
set -euo pipefail
cd "$(dirname "$0")"

export E2E_ACCORD_BIN="$(realpath -m "${E2E_ACCORD_BIN:-../target/debug/accord}")"
export CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

[ -x "$E2E_ACCORD_BIN" ] || { echo "run.sh: no Accord binary at $E2E_ACCORD_BIN (cargo build -p accord, or set E2E_ACCORD_BIN)" >&2; exit 2; }
[ -x "$CHROMIUM" ] || { echo "run.sh: no Chromium at $CHROMIUM (apt-get install -y chromium)" >&2; exit 2; }
[ -d node_modules/@playwright/test ] || { echo "run.sh: npm packages missing (npm ci)" >&2; exit 2; }

work="$(mktemp -d -t accord-e2e.XXXXXX)"
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

# JSON logs: the suite reads them (e.g. the revocation at the platform after a disconnect).
# Rate limits off: the suite is one client address sending a support request from every step,
# in both languages, and many form posts; the limits are tested in crates/accord/tests/it.
ACCORD_LOG__FORMAT=json ACCORD_LOG__LEVEL=info \
ACCORD_RATE_LIMITS__SUPPORT_PER_IP=0 ACCORD_RATE_LIMITS__SUPPORT_PER_SESSION=0 \
ACCORD_RATE_LIMITS__POSTS_PER_IP=0 \
  "$E2E_ACCORD_BIN" demo --port 0 --data-dir "$work/data" >"$work/stdout" 2>"$work/server.log" &
server_pid=$!

# Wait (bounded: 30 s) for the line that carries the link; the port is the real one.
for _ in $(seq 1 300); do
  grep -q '^Link URL: ' "$work/stdout" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { echo "run.sh: accord demo exited early" >&2; cat "$work/stdout" "$work/server.log" >&2; exit 1; }
  sleep 0.1
done
grep -q '^Link URL: ' "$work/stdout" || { echo "run.sh: accord demo printed no Link URL within 30 s" >&2; cat "$work/stdout" "$work/server.log" >&2; exit 1; }

export E2E_LINK_URL="$(sed -n 's/^Link URL: //p' "$work/stdout" | head -n1)"
export E2E_MANAGE_URL="$(sed -n 's/^Manage URL: //p' "$work/stdout" | head -n1)"
export E2E_API_KEY="$(sed -n 's/^Tenant API key (shown once): //p' "$work/stdout" | head -n1)"
export E2E_BASE_URL="$(printf '%s' "$E2E_LINK_URL" | sed -E 's#^(https?://[^/]+)/.*#\1#')"
export E2E_LOG_FILE="$work/server.log"
[ -n "$E2E_API_KEY" ] && [ -n "$E2E_BASE_URL" ] || { echo "run.sh: could not read the API key or URL" >&2; cat "$work/stdout" >&2; exit 1; }

echo "run.sh: accord demo at $E2E_BASE_URL (pid $server_pid, data in $work/data)"

status=0
node node_modules/@playwright/test/cli.js test --workers="${E2E_WORKERS:-2}" "$@" || status=$?

if [ "$status" -ne 0 ]; then
  echo "run.sh: the suite failed; last lines of the server log:" >&2
  tail -n 40 "$work/server.log" >&2 || true
fi
exit "$status"
