#!/usr/bin/env bash
# Runs every curl of docs/data-access.md against a running `accord demo`, in order, and checks
# each answer, so the guide stays true. The customer's part (opening the link, agreeing,
# signing in at the sandbox) is a small browser in Python, since it is pages and forms.
#
#   accord demo --port 8080 --data-dir /tmp/demo      # prints the API key
#   ACCORD=http://127.0.0.1:8080 KEY=acc_… bench/data-access-docs.sh
set -euo pipefail
: "${ACCORD:?the demo's base URL}" "${KEY:?the demo's tenant API key}"
AUTH=(-H "Authorization: Bearer $KEY")
j() { python3 -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1], {'d': d}))" "$1"; }
check() { [ "$1" = "$2" ] || { echo "FAILED: $3: got '$1', wanted '$2'" >&2; exit 1; }; }
say() { printf '\n== %s\n' "$*"; }

say "turn access tokens on (link settings)"
curl -sS -X PATCH "$ACCORD/v1/link-settings" "${AUTH[@]}" \
  -H 'Content-Type: application/merge-patch+json' -d '{"allow_access_tokens": true}' >/dev/null

say "0. publish a notice that also writes invoices (before the customer agrees to it)"
NOTICE=$(curl -sS "$ACCORD/v1/notices" "${AUTH[@]}" \
  | j "next(n['id'] for n in d['data'] if n['category'] == 'accounting' and n['locale'] == 'en')")
curl -sS "$ACCORD/v1/notices/$NOTICE/versions" "${AUTH[@]}" | python3 -c '
import json, sys
content = json.load(sys.stdin)["data"][-1]["content"]
use = {"data_type": "invoices", "direction": "write"}
if use in content["data_uses"]:
    sys.exit(0)  # published by an earlier run
content["data_uses"].append(use)
print(json.dumps({"category": "accounting", "locale": "en", "content": content}))' > /tmp/notice.json
if [ -s /tmp/notice.json ]; then
  code=$(curl -sS -o /dev/null -w '%{http_code}' "$ACCORD/v1/notices" "${AUTH[@]}" \
    -H 'Content-Type: application/json' -d @/tmp/notice.json)
  check "$code" 201 "notice published"
fi

say "1. create a company"
COMPANY=$(curl -sS "$ACCORD/v1/companies" "${AUTH[@]}" -H 'Content-Type: application/json' \
  -d '{"name": "Bluebell Bakery Ltd", "external_id": "cust_'"$$"'"}' | j "d['id']")
echo "company $COMPANY"

say "2. a link session"
LINK=$(curl -sS -X POST "$ACCORD/v1/companies/$COMPANY/link-sessions" "${AUTH[@]}" \
  -H 'Content-Type: application/json' -d '{"locale": "en"}' | tee /dev/stderr | j "d['url']")

say "3. the customer connects (a browser: landing, consent, sandbox sign-in as Bluebell)"
python3 - "$LINK" <<'PY'
import html.parser, http.cookiejar, sys, urllib.parse, urllib.request
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k): return None
jar = http.cookiejar.CookieJar()
op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
def go(url, data=None, origin=None):
    req = urllib.request.Request(url, data=urllib.parse.urlencode(data).encode() if data else None)
    if origin: req.add_header("Origin", origin)
    try: r = op.open(req)
    except urllib.error.HTTPError as e: r = e
    return r.status, urllib.parse.urljoin(url, r.headers.get("Location") or ""), r.read().decode()
class Forms(html.parser.HTMLParser):
    def __init__(s): super().__init__(); s.forms = []; s.links = []
    def handle_starttag(s, tag, a):
        a = dict(a)
        if tag == "form": s.forms.append([a.get("action", ""), a.get("class", ""), []])
        if tag == "input" and s.forms and a.get("name") and a.get("type") not in ("checkbox", "radio", "submit"):
            s.forms[-1][2].append((a["name"], a.get("value", "")))
        if tag == "a" and a.get("href"): s.links.append(a["href"])
def parse(body): p = Forms(); p.feed(body); return p
link = sys.argv[1]; origin = "{0.scheme}://{0.netloc}".format(urllib.parse.urlparse(link))
s, loc, _ = go(link); assert s == 303, s
s, _, body = go(loc); assert s == 200, s
lst = next(h for h in parse(body).links if h.startswith("/link/platforms"))
s, _, body = go(urllib.parse.urljoin(link, lst)); assert s == 200, s
consent = next(h for h in parse(body).links if h.startswith("/link/platforms/sandbox/consent"))
s, _, body = go(urllib.parse.urljoin(link, consent)); assert s == 200, s
action, _, fields = next(f for f in parse(body).forms if "consent-form" in f[1])
s, loc, body = go(urllib.parse.urljoin(link, action), fields + [("agree", "yes"), ("action", "connect")], origin); assert s == 303, (s, body[:300])
s, _, body = go(loc); assert s == 200, s
action, _, fields = parse(body).forms[0]
fields = [f for f in fields if f[0] != "organisation"] + [("organisation", "Bluebell"), ("decision", "approve")]
s, loc, _ = go(urllib.parse.urljoin(loc, action), fields, origin); assert s == 303, s
s, loc, _ = go(loc); assert s == 303, s
s, _, _ = go(loc); assert s == 200, s
print("connected:", loc)
PY

say "4. list connections (with the upstream organisation)"
curl -sS "$ACCORD/v1/companies/$COMPANY/connections" "${AUTH[@]}" | tee /tmp/conns.json | python3 -m json.tool | sed -n 1,30p
CONN=$(j "d['data'][0]['id']" < /tmp/conns.json)
check "$(j "d['data'][0]['status']" < /tmp/conns.json)" linked "connection status"
BASE="$ACCORD/v1/companies/$COMPANY/connections/$CONN"

say "5. the first page of invoices"
curl -sS "$BASE/data/invoices?limit=5" "${AUTH[@]}" | tee /tmp/page1.json | python3 -m json.tool | sed -n 1,30p
check "$(j "len(d['data'])" < /tmp/page1.json)" 5 "page size"
CURSOR=$(j "d['next_cursor']" < /tmp/page1.json)

say "6. the next page"
curl -sS -G "$BASE/data/invoices" --data-urlencode "cursor=$CURSOR" -d limit=5 "${AUTH[@]}" \
  | tee /tmp/page2.json | python3 -c "import json,sys; d=json.load(sys.stdin); print(len(d['data']), d['data'][0]['id'], d['next_cursor'] is not None)"

say "7. the same through the proxy (the platform's own path and answer)"
curl -sS -i "$BASE/proxy/invoices?limit=2" "${AUTH[@]}" | sed -n 1,12p

say "8. write an invoice (the customer agreed to invoices in the write direction)"
curl -sS -X POST "$BASE/data/invoices" "${AUTH[@]}" -H 'Content-Type: application/json' \
  -d '{"customer_id": "cus_007", "issue_date": "2025-04-01", "due_date": "2025-04-30",
       "currency": "USD", "subtotal_minor": 16000, "tax_minor": 3200}' | tee /tmp/w.json; echo
check "$(j "d['data']['status']" < /tmp/w.json)" open "written invoice"

say "8b. a type the consent does not cover: 403 not_consented"
code=$(curl -sS -o /tmp/r.json -w '%{http_code}' "$BASE/data/bank-transactions" "${AUTH[@]}")
cat /tmp/r.json; echo; check "$code" 403 "read outside the consent"

say "9. an access token"
curl -sS -X POST "$BASE/access-token" "${AUTH[@]}" | python3 -c "import json,sys; d=json.load(sys.stdin); print({k: (v[:8]+'…' if k=='access_token' else v) for k,v in d.items()})"

say "10. the access log"
curl -sS "$BASE/access-log?limit=10" "${AUTH[@]}" | python3 -m json.tool | sed -n 1,40p

say "11. disconnect, then a read: 403 withdrawn"
curl -sS -o /dev/null -w '%{http_code}\n' -X DELETE "$BASE" "${AUTH[@]}"
code=$(curl -sS -o /tmp/r.json -w '%{http_code}' "$BASE/data/invoices" "${AUTH[@]}")
cat /tmp/r.json; echo; check "$code" 403 "read after disconnect"
check "$(j "d['type'].rsplit('/',1)[-1]" < /tmp/r.json)" withdrawn "problem type"
echo; echo "all checks passed"
