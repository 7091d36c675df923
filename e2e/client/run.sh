#!/usr/bin/env bash
# Generates a TypeScript client from the repository's openapi.json (openapi-typescript, pinned
# in e2e/package.json), type-checks and compiles the client flow (flow.ts) with tsc, starts
# `accord demo` on a free loopback port, and runs the flow against it.
#
# Expects the binary in $E2E_ACCORD_BIN (default ../../target/debug/accord) and `npm ci` in e2e/.
set -euo pipefail
cd "$(dirname "$0")"

bin="$(realpath -m "${E2E_ACCORD_BIN:-../../target/debug/accord}")"
[ -x "$bin" ] || { echo "client: no Accord binary at $bin (cargo build -p accord)" >&2; exit 2; }
[ -x ../node_modules/.bin/openapi-typescript ] || { echo "client: npm packages missing (cd e2e && npm ci)" >&2; exit 2; }

../node_modules/.bin/openapi-typescript ../../openapi.json --output schema.d.ts
rm -rf dist
../node_modules/.bin/tsc -p tsconfig.json

work="$(mktemp -d -t accord-client.XXXXXX)"
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

env -u ACCORD_TEST_POSTGRES_URL "$bin" demo --port 0 --data-dir "$work/data" >"$work/stdout" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 300); do
  grep -q '^Link URL: ' "$work/stdout" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { echo "client: accord demo exited early" >&2; cat "$work/stdout" "$work/server.log" >&2; exit 1; }
  sleep 0.1
done
grep -q '^Link URL: ' "$work/stdout" || { echo "client: accord demo printed no Link URL within 30 s" >&2; cat "$work/stdout" "$work/server.log" >&2; exit 1; }

export CLIENT_API_KEY="$(sed -n 's/^Tenant API key (shown once): //p' "$work/stdout" | head -n1)"
export CLIENT_BASE_URL="$(sed -n 's/^Link URL: //p' "$work/stdout" | head -n1 | sed -E 's#^(https?://[^/]+)/.*#\1#')"
[ -n "$CLIENT_API_KEY" ] && [ -n "$CLIENT_BASE_URL" ] || { echo "client: could not read the API key or URL" >&2; exit 1; }
node dist/flow.js
