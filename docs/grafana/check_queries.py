"""Runs every panel target of a Grafana dashboard against Prometheus (check.sh's second half).

    check_queries.py --prometheus URL --dashboard accord.json [--rate-interval 30s]
                     [--metrics-url URL --metrics-token-file FILE]
    check_queries.py --prometheus URL --dashboard accord.json --screenshots DIR --profile DIR

Grafana's variables are resolved as Grafana would for a short dashboard range: $__rate_interval
to --rate-interval, $__interval to 5s, $__range to --range; the dashboard's own template
variables (instance, job…) to ".*", which is what "All" selects. Each query goes to
/api/v1/query. A row fails when Prometheus refuses or cannot run the query, when a query that
the traffic must have fed returns no series (EMPTY_OK names the ones that may), when a label
named in a legend or in `by (...)` is missing from a series, when a metric or a matcher's label
does not exist in Prometheus, or (with --metrics-url) when /metrics exposes a metric family
that no panel queries. The layout fails if panels share an id or overlap. Exit status 1 if any
row or check failed.
"""

import argparse
import json
import math
import re
import subprocess
import sys
import urllib.parse
import urllib.request

# Queries that may rightly return nothing after check.sh's short run, and why.
EMPTY_OK = [
    (re.compile(r"accord_token_refreshes_total"), "no refresh due: the first is ~1 h after link"),
    (re.compile(r'status=~"5\.\."'), "no 5xx in this traffic"),
]

# Panels whose Prometheus graph check.sh --screenshots saves, by title: file name, and whether
# the graph is stacked (the gateway's calls come at one rate each: unstacked, they hide each other).
SCREENSHOTS = {
    "Requests by route": ("prometheus-requests.png", "0"),
    "Slowest routes (p99)": ("prometheus-latency.png", "0"),
    "Data access (gateway) by outcome": ("prometheus-gateway.png", "1"),
    "Webhook deliveries": ("prometheus-webhooks.png", "0"),
}

NOT_LABELS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "offset"}


def targets(panels):
    for p in panels:
        yield from targets(p.get("panels", []))
        for t in p.get("targets", []):
            if t.get("expr"):
                yield p.get("title", "?"), t


def resolve(expr, args, variables):
    fixed = {
        "__rate_interval": args.rate_interval,
        "__interval": "5s",
        "__range": args.range,
    }

    def sub(m):
        name = m.group(1) or m.group(2)
        if name in fixed:
            return fixed[name]
        if name in variables:
            return ".*"
        raise ValueError(f"unknown Grafana variable ${name}")

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", sub, expr)


def get(url, token=None):
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return res.read().decode()
    except urllib.error.HTTPError as e:
        return e.read().decode()


def prom(args, path, **params):
    return json.loads(get(f"{args.prometheus}{path}?{urllib.parse.urlencode(params, doseq=True)}"))


def label_problems(args, expr, series, legend):
    """Labels the query relies on that Prometheus does not have."""
    problems = []
    wanted = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", legend or ""))
    for group in re.findall(r"\bby\s*\(([^)]*)\)", expr):
        wanted |= {w.strip() for w in group.split(",") if w.strip()}
    wanted.discard("le")
    for s in series:
        missing = sorted(w for w in wanted if w not in s["metric"])
        if missing:
            problems.append(f"series without {','.join(missing)}")
            break
    for metric in sorted(set(re.findall(r"\baccord_\w+", expr))):
        names = prom(args, "/api/v1/labels", **{"match[]": metric}).get("data") or []
        if "__name__" not in names:
            problems.append(f"no metric {metric}")
            continue
        for selector in re.findall(re.escape(metric) + r"\{([^}]*)\}", expr):
            for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", selector):
                if label not in names:
                    problems.append(f"{metric} has no label {label}")
    return problems


def check_variables(args, dashboard, variables):
    """The template variables' label_values() queries, through Prometheus's label API."""
    rows = []
    for v in dashboard.get("templating", {}).get("list", []):
        if v.get("type") != "query":
            continue
        query = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
        m = re.fullmatch(r"label_values\((?:(.*),\s*)?(\w+)\)", query.strip())
        if not m:
            rows.append((f"${v['name']}", query, "FAIL not label_values(...)", "-"))
            continue
        params = {"match[]": resolve(m.group(1), args, variables)} if m.group(1) else {}
        res = prom(args, f"/api/v1/label/{m.group(2)}/values", **params)
        values = res.get("data") or []
        if res.get("status") != "success":
            status = "ERROR " + res.get("error", "?")
        else:
            status = "ok" if values else "FAIL no values"
        rows.append((f"variable ${v['name']}", query, status, f"{len(values)} values"))
    return rows


def check(args, dashboard, variables):
    rows = check_variables(args, dashboard, variables)
    failed = any(not r[2].startswith("ok") for r in rows)
    for title, t in targets(dashboard["panels"]):
        expr = resolve(t["expr"], args, variables)
        res = prom(args, "/api/v1/query", query=expr)
        if res.get("status") != "success":
            rows.append((title, expr, "ERROR " + res.get("error", "?"), "-"))
            failed = True
            continue
        data = res["data"]["result"] if res["data"]["resultType"] == "vector" else []
        finite = [s for s in data if not math.isnan(float(s["value"][1]))]
        excuse = next((why for pattern, why in EMPTY_OK if pattern.search(expr)), None)
        problems = label_problems(args, expr, data, t.get("legendFormat"))
        if excuse is not None:
            problems = [p for p in problems if not p.startswith("no metric")]
        if problems:
            status = "FAIL " + "; ".join(problems)
        elif finite:
            status = "ok"
        elif excuse:
            status = f"ok, empty ({excuse})"
        else:
            status = "FAIL no data" if not data else "FAIL only NaN"
        failed |= status.startswith("FAIL")
        rows.append((title, expr, status, f"{len(data)} ({len(finite)} finite)"))
    return rows, failed


def layout_problems(dashboard):
    """What Grafana would import but draw wrong: shared panel ids or refIds, panels that overlap
    or run past the 24-column grid."""
    problems, cells, ids = [], {}, set()
    for p in dashboard["panels"]:
        title, g = p.get("title", "?"), p["gridPos"]
        if p["id"] in ids:
            problems.append(f"panel id {p['id']} used twice")
        ids.add(p["id"])
        refs = [t["refId"] for t in p.get("targets", [])]
        if len(refs) != len(set(refs)):
            problems.append(f"{title!r}: a refId used twice")
        if g["x"] + g["w"] > 24:
            problems.append(f"{title!r} runs past the grid's 24 columns")
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                if (x, y) in cells and cells[(x, y)] != title:
                    problems.append(f"{title!r} overlaps {cells[(x, y)]!r}")
                cells[(x, y)] = title
    return sorted(set(problems))


def coverage(args, dashboard):
    """Metric families /metrics exposes that no panel queries."""
    token = open(args.metrics_token_file).read().strip() if args.metrics_token_file else None
    text = get(args.metrics_url, token)
    exprs = " ".join(t["expr"] for _, t in targets(dashboard["panels"]))
    missing = []
    for name, kind in re.findall(r"^# TYPE (\S+) (\S+)", text, re.M):
        series = {"counter": name + "_total", "histogram": name + "_bucket"}.get(kind, name)
        if not re.search(re.escape(series) + r"\b", exprs):
            missing.append(f"{series} ({kind})")
    return missing


def screenshots(args, dashboard, variables):
    exprs = {}
    for title, t in targets(dashboard["panels"]):
        exprs.setdefault(title, resolve(t["expr"], args, variables))
    for title, (file, stacked) in SCREENSHOTS.items():
        if title not in exprs:
            print(f"no panel {title!r} for {file}", file=sys.stderr)
            return 1
        url = f"{args.prometheus}/graph?" + urllib.parse.urlencode(
            {"g0.expr": exprs[title], "g0.tab": "0", "g0.range_input": args.graph_range,
             "g0.stacked": stacked, "g0.show_exemplars": "0"})
        out = f"{args.screenshots}/{file}"
        subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--hide-scrollbars", f"--user-data-dir={args.profile}",
             "--window-size=1400,1000", "--virtual-time-budget=10000", f"--screenshot={out}", url],
            check=True, capture_output=True, timeout=120)
        print(f"   {out}: {title}")
    return 0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prometheus", required=True)
    ap.add_argument("--dashboard", required=True)
    ap.add_argument("--rate-interval", default="30s")
    ap.add_argument("--range", default="5m")
    ap.add_argument("--metrics-url")
    ap.add_argument("--metrics-token-file")
    ap.add_argument("--screenshots")
    ap.add_argument("--profile")
    ap.add_argument("--graph-range", default="2m")
    args = ap.parse_args()
    dashboard = json.load(open(args.dashboard))
    variables = {v["name"] for v in dashboard.get("templating", {}).get("list", [])}
    if args.screenshots:
        return screenshots(args, dashboard, variables)
    rows, failed = check(args, dashboard, variables)
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print(f"{'panel':<{widths[0]}}  {'query':<{widths[1]}}  {'series':<{widths[3]}}  status")
    for title, expr, status, count in rows:
        print(f"{title:<{widths[0]}}  {expr:<{widths[1]}}  {count:<{widths[3]}}  {status}")
    layout = layout_problems(dashboard)
    for problem in layout:
        print(f"FAIL layout: {problem}")
    failed |= bool(layout)
    if args.metrics_url:
        missing = coverage(args, dashboard)
        for m in missing:
            print(f"FAIL /metrics exposes {m}, which no panel queries")
        failed |= bool(missing)
    print(f"{len(rows)} queries: " + ("some FAILED" if failed else "all ok"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
