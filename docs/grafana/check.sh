#!/usr/bin/env bash
# Proves the Grafana dashboard's queries (docs/grafana/accord.json) against a real Prometheus
# scraping a live Accord, since Grafana itself is not needed to run a PromQL query.
#
#   docs/grafana/check.sh
#   FLOWS=6 docs/grafana/check.sh            (more hosted flows; PACE=2: seconds between them)
#   SCREENSHOTS=1 FLOWS=16 PACE=4 docs/grafana/check.sh
#                                            (also renders docs/grafana/prometheus-*.png)
#   DASHBOARD=/tmp/other.json docs/grafana/check.sh
#   CHECK_ACCORD_BIN=/path/to/accord docs/grafana/check.sh   (no build)
#   CHECK_ACCORD_PORT=18480 CHECK_PROM_PORT=19490 CHECK_HOOK_PORT=18481 …   (else free ports)
# (CHECK_…, not ACCORD_…: Accord reads ACCORD_* variables as its configuration.)
#
# Builds Accord (debug), starts `accord demo` on a fresh data directory on loopback with a
# metrics bearer token, a webhook receiver on loopback, and Prometheus 2.x scraping /metrics
# every second with that token. Then it drives real traffic: FLOWS complete hosted flows with
# curl (tenant API: company and link session; browser: link, landing, platform list, consent
# form, sandbox sign-in and approval, callback, success page), data reads through the gateway
# (data, proxy and access-token calls, and a refused one after a disconnection), a customer who
# declines, the funnel report, a 401 and an unmatched path; webhooks go to the receiver. After a
# few more scrapes, check_queries.py sends every panel target of the dashboard to Prometheus's
# /api/v1/query (Grafana's variables resolved; the template variables' label_values() through
# the label API) and prints one row per query; it exits non-zero if a query fails to parse or
# run, if one that the traffic must have fed returns no series, if a metric or a label the query
# names (matcher, `by`, legend) does not exist, or if /metrics exposes a metric the dashboard
# does not show. Everything listens on 127.0.0.1 only; every process started here is stopped,
# and the temporary directory removed, on exit.
#
# Needs: cargo, curl, python3, prometheus (Debian: apt-get install prometheus); chromium for
# SCREENSHOTS=1.
set -euo pipefail
cd "$(dirname "$0")/../.."

FLOWS="${FLOWS:-3}"
PACE="${PACE:-0}"
# Ports the system has free now (three at once, so they differ), unless given. Not ACCORD_…:
# Accord reads those as its configuration.
read -r FREE1 FREE2 FREE3 < <(python3 -c '
import socket
held = [socket.socket() for _ in range(3)]
for s in held:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in held))')
PORT_ACCORD="${CHECK_ACCORD_PORT:-$FREE1}"
PORT_HOOK="${CHECK_HOOK_PORT:-$FREE2}"
PORT_PROM="${CHECK_PROM_PORT:-$FREE3}"
RATE_INTERVAL="${RATE_INTERVAL:-30s}"
HERE=docs/grafana
DASHBOARD="${DASHBOARD:-$HERE/accord.json}"
DIR="$(mktemp -d "${TMPDIR:-/tmp}/accord-grafana.XXXXXX")"
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
        kill -9 "$p" 2>/dev/null || true
    done
    rm -rf "$DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "check.sh: $*" >&2; exit 1; }
for tool in curl python3 prometheus; do
    command -v "$tool" >/dev/null || die "$tool not found"
done
for port in "$PORT_ACCORD" "$PORT_HOOK" "$PORT_PROM"; do
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
        die "port $port is taken (set CHECK_ACCORD_PORT, CHECK_HOOK_PORT, CHECK_PROM_PORT)"
    fi
done

if [ -z "${CHECK_ACCORD_BIN:-}" ]; then
    echo "== build (debug)"
    cargo build -q -p accord
    CHECK_ACCORD_BIN="${CARGO_TARGET_DIR:-target}/debug/accord"
fi
[ -x "$CHECK_ACCORD_BIN" ] || die "no accord binary at $CHECK_ACCORD_BIN"

# Polls URL until it answers 2xx, for at most 60 s; shows LOG if it does not.
wait_for() { # URL LOG
    for _ in $(seq 600); do
        curl -sf -o /dev/null --max-time 1 "$1" && return 0
        sleep 0.1
    done
    tail -20 "$2" >&2
    die "$1 did not come up"
}

echo "== accord demo on 127.0.0.1:$PORT_ACCORD"
# The scrape token never reaches a command line or the environment: Accord and Prometheus both
# read it from the file.
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$DIR/metrics-token"
ACCORD_METRICS__TOKEN_FILE="$DIR/metrics-token" \
    ACCORD_WEBHOOKS__ALLOW_LOOPBACK=true \
    ACCORD_LOG__LEVEL=warn \
    "$CHECK_ACCORD_BIN" demo --port "$PORT_ACCORD" --data-dir "$DIR/accord" \
    >"$DIR/accord.log" 2>&1 &
PIDS+=("$!")
ACCORD="http://127.0.0.1:$PORT_ACCORD"
wait_for "$ACCORD/healthz" "$DIR/accord.log"
for _ in $(seq 100); do grep -q '^Link URL: ' "$DIR/accord.log" && break; sleep 0.1; done
API_KEY="$(sed -n 's/^Tenant API key (shown once): //p' "$DIR/accord.log" | tail -1)"
[ -n "$API_KEY" ] || { cat "$DIR/accord.log" >&2; die "no API key in the demo's output"; }
# curl reads the header from a file, so the key stays off command lines (ps shows those).
echo "Authorization: Bearer $API_KEY" >"$DIR/auth"
code="$(curl -s -o /dev/null -w '%{http_code}' "$ACCORD/metrics")"
[ "$code" = 401 ] || die "/metrics answered $code without the token, not 401"

echo "== webhook receiver on 127.0.0.1:$PORT_HOOK"
python3 - "$PORT_HOOK" >"$DIR/hooks.log" 2>&1 <<'EOF' &
import http.server, sys
class Hook(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.end_headers()
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), Hook).serve_forever()
EOF
PIDS+=("$!")

echo "== prometheus on 127.0.0.1:$PORT_PROM, scraping every second"
cat >"$DIR/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: accord
    metrics_path: /metrics
    authorization:
      credentials_file: $DIR/metrics-token
    static_configs:
      - targets: ["127.0.0.1:$PORT_ACCORD"]
EOF
prometheus --config.file="$DIR/prometheus.yml" --storage.tsdb.path="$DIR/tsdb" \
    --web.listen-address="127.0.0.1:$PORT_PROM" >"$DIR/prometheus.log" 2>&1 &
PIDS+=("$!")
PROM="http://127.0.0.1:$PORT_PROM"
wait_for "$PROM/-/ready" "$DIR/prometheus.log"
for _ in $(seq 100); do
    curl -s "$PROM/api/v1/query?query=up" | grep -q '"value":\[[0-9.]*,"1"\]' && break
    sleep 0.2
done
curl -s "$PROM/api/v1/query?query=up" | grep -q '"value":\[[0-9.]*,"1"\]' \
    || { cat "$DIR/prometheus.log" >&2; die "Prometheus does not scrape Accord (up != 1)"; }

# --- traffic ----------------------------------------------------------------------------------
api() { # METHOD PATH [JSON]: the body on stdout; fails unless 2xx (CT: another content type)
    local args=(-sS -o "$DIR/api" -w '%{http_code}' -X "$1" -H @"$DIR/auth")
    [ $# -ge 3 ] && args+=(-H "Content-Type: ${CT:-application/json}" --data-raw "$3")
    local code
    code="$(curl "${args[@]}" "$ACCORD$2")"
    case "$code" in
        2??) cat "$DIR/api" ;;
        *) head -c 2000 "$DIR/api" >&2; die "$1 $2: $code" ;;
    esac
}
json() { python3 -c "import json,sys; v=json.load(sys.stdin)
for k in sys.argv[1:]: v=v[int(k) if k.isdigit() else k]
print(v)" "$@"; }
# A browser: one cookie jar per flow, no redirects followed, the Origin header on posts.
# Sets CODE and LOC (the redirect target, absolute); the body is in $DIR/page.
browse() { # URL [FORM-DATA]
    local url="$1" out
    local args=(-sS -b "$JAR" -c "$JAR" -o "$DIR/page" -w '%{http_code} %{redirect_url}')
    case "$url" in http*) ;; *) url="$ACCORD$url" ;; esac
    if [ $# -ge 2 ]; then
        args+=(-H "Origin: $(echo "$url" | sed -E 's#^(https?://[^/]+).*#\1#')" --data-raw "$2")
    fi
    out="$(curl "${args[@]}" "$url")"
    CODE="${out%% *}"
    LOC="${out#* }"
}
expect() { [ "$CODE" = "$1" ] || { head -c 2000 "$DIR/page" >&2; die "$2: $CODE, not $1"; }; }
page() { python3 "$HERE/html_form.py" "$@" <"$DIR/page"; }

consent_page() { # N: a new company's customer, from its link to the consent page
    local company link
    JAR="$DIR/cookies.$1"
    company="$(api POST /v1/companies "{\"name\": \"Grafana Check Company $1\"}" | json id)"
    link="$(api POST "/v1/companies/$company/link-sessions" '{}' | json url)"
    browse "$link"; expect 303 "open link"
    browse "$LOC"; expect 200 "landing"
    browse "$(page href /link/platforms)"; expect 200 "platform list"
    browse "$(page href /link/platforms/sandbox/consent)"; expect 200 "consent page"
    COMPANY="$company"
}

flow() { # N: one customer through the whole hosted flow; prints the company id
    local form action signin
    consent_page "$1"
    form="$(page form consent-form agree=yes action=connect)"
    browse "$(head -1 <<<"$form")" "$(tail -1 <<<"$form")"; expect 303 "consent post"
    signin="$LOC"
    browse "$signin"; expect 200 "sandbox sign-in page"
    form="$(page form '' organisation=Bluebell decision=approve)"
    # The action resolves against the sign-in page's URL (the sandbox may be served apart).
    action="$(python3 -c 'import sys, urllib.parse as u; print(u.urljoin(*sys.argv[1:]))' \
        "$signin" "$(head -1 <<<"$form")")"
    browse "$action" "$(tail -1 <<<"$form")"; expect 303 "sandbox approve"
    browse "$LOC"; expect 303 "callback"
    browse "$LOC"; expect 200 "success page"
    echo "$COMPANY"
}

decline() { # N: a customer who reads the consent page and declines
    local form
    consent_page "$1"
    form="$(page form consent-form action=decline)"
    browse "$(head -1 <<<"$form")" "$(tail -1 <<<"$form")"
    case "$CODE" in 2?? | 3??) ;; *) die "declining answered $CODE" ;; esac
}

echo "== traffic: $FLOWS hosted flows, data access, webhooks"
api POST /v1/webhook-endpoints "{\"url\": \"http://127.0.0.1:$PORT_HOOK/hook\"}" >/dev/null
CT=application/merge-patch+json \
    api PATCH /v1/link-settings '{"allow_access_tokens": true}' >/dev/null
# Each customer's connection is read right after it is made (data API, proxy, access token).
for n in $(seq "$FLOWS"); do
    company="$(flow "$n")"
    connection="$(api GET "/v1/companies/$company/connections" | json data 0 id)"
    base="/v1/companies/$company/connections/$connection"
    api GET "$base/data/invoices?limit=5" >/dev/null
    api GET "$base/proxy/invoices?limit=2" >/dev/null
    api POST "$base/access-token" '{}' >/dev/null
    api GET "/v1/companies/$company" >/dev/null
    api GET "/v1/companies/$company/consents" >/dev/null
    if [ "$n" = 1 ]; then decline 0; fi
    sleep "$PACE"
done
# The last customer's connection is disconnected (a consent withdrawn, webhooks), after which
# a read through it is refused: the gateway's refusals are on the dashboard too.
api DELETE "$base" >/dev/null
code="$(curl -s -o /dev/null -w '%{http_code}' -H @"$DIR/auth" "$ACCORD$base/data/invoices")"
case "$code" in 4??) ;; *) die "a read through a disconnected connection answered $code" ;; esac
api GET /v1/analytics/funnel >/dev/null
code="$(curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer not-a-key' \
    "$ACCORD/v1/companies")"
[ "$code" = 401 ] || die "a wrong API key answered $code, not 401"
curl -s -o /dev/null "$ACCORD/no-such-page"

# The job worker delivers the webhooks within seconds; the receiver logs each post.
for _ in $(seq 300); do
    [ "$(grep -c '"POST /hook' "$DIR/hooks.log" || true)" -ge "$FLOWS" ] && break
    sleep 0.1
done
grep -q '"POST /hook' "$DIR/hooks.log" || die "no webhook reached the receiver in 30 s"
echo "   webhooks received: $(grep -c '"POST /hook' "$DIR/hooks.log")"
# A few scrapes after the last request, so that every rate has its samples.
sleep 4

echo "== the dashboard's queries"
status=0
python3 "$HERE/check_queries.py" --prometheus "$PROM" --dashboard "$DASHBOARD" \
    --metrics-url "$ACCORD/metrics" --metrics-token-file "$DIR/metrics-token" \
    --rate-interval "$RATE_INTERVAL" || status=$?

if [ -n "${SCREENSHOTS:-}" ]; then
    echo "== screenshots of Prometheus's graphs"
    python3 "$HERE/check_queries.py" --prometheus "$PROM" --dashboard "$DASHBOARD" \
        --rate-interval "$RATE_INTERVAL" --screenshots "$HERE" --profile "$DIR/chromium" \
        || status=$?
fi
exit "$status"
