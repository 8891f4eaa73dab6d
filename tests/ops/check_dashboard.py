#!/usr/bin/env python3
"""Checks the Grafana dashboard ops/grafana/omega-acceleration-dashboard.json, and the metric
names of the Prometheus rules, against the real tools and a live server:

 1. the JSON is a dashboard model Grafana imports: uid, title, schemaVersion >= 36, time,
    templating with a `datasource` variable (type datasource, query prometheus) and an
    `instance` variable; panels with unique ids, gridPos inside the 24 columns and not
    overlapping, rows; every other panel has a Prometheus datasource and targets with unique
    refIds and an expression; every $variable used is defined (or a Grafana built-in);
 2. every PromQL expression (panel targets, annotations, the variables' label_values
    selectors) parses: written as recording rules (variables substituted) into a temporary
    file that the real `promtool check rules` reads;
 3. every metric name that a panel or an alerting/recording rule queries is exported by a live
    `omega serve` (started here with a simulated GPU, a data dir with one collection and an
    upsert, and an HMAC secret; its /metrics `# TYPE` lines, histograms with _bucket, _sum,
    _count), or is a recording rule of --rules, or Prometheus' own (up, ALERTS).

usage: check_dashboard.py --dashboard JSON --rules FILE [--rules FILE] --omega BIN --genmodel BIN
Exit 0 when all hold, 1 otherwise, 77 (skip) when promtool is not installed. Python 3 stdlib +
PyYAML."""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

try:
    import yaml
except ImportError:
    print("SKIP: PyYAML is not installed (apt-get install python3-yaml)")
    sys.exit(77)

BUILTIN_VARS = {"__rate_interval", "__interval", "__interval_ms", "__range", "__range_s", "__range_ms",
                "__from", "__to", "__dashboard", "__user", "__org", "__name", "__series", "__field",
                "__value", "__cell", "__data", "timeFilter", "__timeFilter"}
# what a variable stands for when an expression is parsed: durations for the interval ones,
# a regex for the others (they are used as label values)
DURATION_VARS = {"__rate_interval": "5m", "__interval": "1m", "__range": "1h"}
PROMETHEUS_OWN = {"up", "ALERTS", "ALERTS_FOR_STATE", "scrape_duration_seconds", "scrape_samples_scraped"}
# words of PromQL that are not metric names
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
            "offset", "inf", "nan", "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
            "count_values", "bottomk", "topk", "quantile", "start", "end", "atan2"}
VAR_RE = re.compile(r"\$(\w+)|\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]")


def fail(errors, msg):
    errors.append(msg)


# ---------------------------------------------------------------- 1. the model

def all_panels(panels):
    for p in panels:
        yield p
        yield from all_panels(p.get("panels") or [])


def check_model(d, errors):
    for key, typ in (("uid", str), ("title", str), ("schemaVersion", int), ("panels", list), ("templating", dict),
                     ("time", dict)):
        if not isinstance(d.get(key), typ):
            fail(errors, f"dashboard: {key} missing or not a {typ.__name__}")
    if isinstance(d.get("schemaVersion"), int) and d["schemaVersion"] < 36:
        fail(errors, f"dashboard: schemaVersion {d['schemaVersion']} < 36")
    variables = {v.get("name"): v for v in (d.get("templating") or {}).get("list", [])}
    ds = variables.get("datasource")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        fail(errors, "templating: no variable `datasource` of type datasource with query prometheus")
    if "instance" not in variables:
        fail(errors, "templating: no variable `instance`")
    for name, v in variables.items():
        if v.get("type") == "query" and not query_of_variable(v):
            fail(errors, f"templating: variable {name} has no query")

    panels = list(all_panels(d.get("panels") or []))
    ids, rects, rows = {}, [], 0
    for p in panels:
        where = f"panel {p.get('id')} ({p.get('title')!r})"
        if not isinstance(p.get("id"), int):
            fail(errors, f"{where}: id missing or not an integer")
        elif p["id"] in ids:
            fail(errors, f"{where}: id {p['id']} also used by {ids[p['id']]!r}")
        else:
            ids[p["id"]] = p.get("title")
        if not p.get("type") or not p.get("title"):
            fail(errors, f"{where}: type or title missing")
        g = p.get("gridPos") or {}
        if not all(isinstance(g.get(k), int) for k in ("x", "y", "w", "h")):
            fail(errors, f"{where}: gridPos needs integers x, y, w, h")
            continue
        if g["x"] < 0 or g["y"] < 0 or g["w"] < 1 or g["h"] < 1 or g["x"] + g["w"] > 24:
            fail(errors, f"{where}: gridPos {g} is outside the 24 columns")
        for other_where, o in rects:
            if g["x"] < o["x"] + o["w"] and o["x"] < g["x"] + g["w"] and g["y"] < o["y"] + o["h"] and o["y"] < g["y"] + g["h"]:
                fail(errors, f"{where}: gridPos {g} overlaps {other_where} {o}")
        rects.append((where, g))
        if p.get("type") == "row":
            rows += 1
            continue
        if not is_prometheus_ds(p.get("datasource"), variables):
            fail(errors, f"{where}: datasource {p.get('datasource')} is not Prometheus through $datasource")
        targets = p.get("targets") or []
        if not targets:
            fail(errors, f"{where}: no targets")
        ref_ids = [t.get("refId") for t in targets]
        if not all(ref_ids) or len(set(ref_ids)) != len(ref_ids):
            fail(errors, f"{where}: refIds {ref_ids} missing or not unique")
        for t in targets:
            if not str(t.get("expr", "")).strip():
                fail(errors, f"{where}: target {t.get('refId')} has no expr")
            if "datasource" in t and not is_prometheus_ds(t["datasource"], variables):
                fail(errors, f"{where}: target {t.get('refId')} datasource {t['datasource']} is not Prometheus")
    if rows < 2:
        fail(errors, f"dashboard: {rows} rows; the panels are to be grouped in rows")

    # every variable used anywhere is defined
    used = set()
    for m in VAR_RE.finditer(json.dumps(d)):
        used.add(m.group(1) or m.group(2) or m.group(3))
    for name in sorted(used - set(variables) - BUILTIN_VARS):
        fail(errors, f"dashboard: variable ${name} is used but not defined")
    return variables, panels


def is_prometheus_ds(ds, variables):
    if not isinstance(ds, dict) or ds.get("type") != "prometheus":
        return False
    m = VAR_RE.fullmatch(str(ds.get("uid", "")))
    return bool(m) and (m.group(1) or m.group(2) or m.group(3)) in variables


def query_of_variable(v):
    q = v.get("query")
    return q.get("query") if isinstance(q, dict) else q


# ---------------------------------------------------------------- 2. PromQL

def expressions(d, variables, panels):
    """(where, expr) of every PromQL expression of the dashboard."""
    out = []
    for p in panels:
        for t in p.get("targets") or []:
            if t.get("expr"):
                out.append((f"panel {p.get('id')} ({p.get('title')!r}) target {t.get('refId')}", t["expr"]))
    for a in (d.get("annotations") or {}).get("list", []):
        if a.get("expr"):
            out.append((f"annotation {a.get('name')!r}", a["expr"]))
    for name, v in variables.items():
        if v.get("type") != "query":
            continue
        q = query_of_variable(v) or ""
        m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", q) or re.fullmatch(r"\s*query_result\((.*)\)\s*", q)
        if not m:
            out.append((f"variable {name}", q))  # neither form: parsed as PromQL (and fails if it is not)
        else:
            out.append((f"variable {name}", m.group(1)))
    return out


def substitute(expr, variables):
    def repl(m):
        name = m.group(1) or m.group(2) or m.group(3)
        if name in DURATION_VARS:
            return DURATION_VARS[name]
        return ".+"  # label values (regex matchers): any value parses
    return VAR_RE.sub(repl, expr)


def check_parse(exprs, variables, promtool, errors):
    tmp = tempfile.mkdtemp(prefix="omega-dash-")
    try:
        rules = [{"record": f"dashboard:expr_{i}", "expr": substitute(e, variables)} for i, (_, e) in enumerate(exprs)]
        path = os.path.join(tmp, "dashboard-exprs.yml")
        with open(path, "w") as f:
            yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}, f, sort_keys=False, width=1000)
        r = subprocess.run([promtool, "check", "rules", path], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            out = r.stdout + r.stderr
            # promtool names the rule by its position ("group "dashboard", rule N") or shows the expression
            for i, (where, e) in enumerate(exprs):
                if re.search(rf"rule {i + 1}[,:]", out) or substitute(e, variables) in out:
                    fail(errors, f"{where}: does not parse: {e}")
            fail(errors, "promtool check rules on the dashboard's expressions: " + " ".join(out.split())[:1500])
        else:
            print(f"PASS: {len(exprs)} PromQL expressions of the dashboard parse (promtool check rules)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------- 3. metric names

TOKEN_RE = re.compile(r"""
    (?P<str>"(?:\\.|[^"\\])*"|'(?:\\.|[^'\\])*'|`[^`]*`)
  | (?P<braces>\{[^{}]*\})
  | (?P<brackets>\[[^\[\]]*\])
  | (?P<num>0[xX][0-9a-fA-F]+|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?(?:ms|[smhdwy])?(?:\d+(?:ms|[smhdwy]))*)
  | (?P<ident>[a-zA-Z_:][a-zA-Z0-9_:]*)
  | (?P<other>.)
""", re.X | re.S)


def metric_names(expr):
    """The metric names an expression selects (a small PromQL lexer: strings, label matchers,
    ranges, numbers and durations skipped; a name before '(' is a function; the label lists of
    by/without/on/ignoring/group_left/group_right skipped)."""
    names, toks = set(), [(m.lastgroup, m.group()) for m in TOKEN_RE.finditer(expr)]
    toks = [t for t in toks if not (t[0] == "other" and t[1].isspace())]
    skip_list = False
    for i, (kind, text) in enumerate(toks):
        if skip_list:
            if kind == "other" and text == ")":
                skip_list = False
            continue
        if kind != "ident":
            continue
        nxt = toks[i + 1] if i + 1 < len(toks) else ("", "")
        if text in ("by", "without", "on", "ignoring", "group_left", "group_right"):
            if nxt == ("other", "("):
                skip_list = True
            continue
        if text in KEYWORDS or nxt == ("other", "("):
            continue
        names.add(text)
    return names


def live_metric_names(omega, genmodel):
    """The metric names a live omega serve exports (families from # TYPE lines)."""
    os.environ["OMEGA_BIN"], os.environ["OMEGA_GENMODEL"] = omega, genmodel
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
    import omega_test_server  # noqa: E402
    from omega_test_server import Server  # noqa: E402
    data = tempfile.mkdtemp(prefix="omega-dash-data-")
    srv, rc = None, 0
    try:
        srv = Server(env={"OMEGA_FAULT_INJECT": "gpu_sim:1", "OMEGA_DATA_DIR": data,
                          "OMEGA_HMAC_SECRET": "dashboard-check-secret-0123456789abcdef"})
        r = srv.post("/collections", {"name": "dash", "dim": 64, "metric": "cosine", "kind": "flat"})
        assert r.status in (200, 201), f"create collection: {r.status} {r.body}"
        r = srv.post("/collections/dash/upsert", {"points": [{"id": "a", "text": "an indexed text"}]})
        assert r.status == 200, f"upsert: {r.status} {r.body}"
        assert srv.post("/embed", {"inputs": ["a text"]}).status == 200
        assert srv.post("/collections/dash/search", {"text": "a text", "k": 1}).status == 200
        r = srv.get("/metrics")
        assert r.status == 200, f"/metrics: {r.status}"
        text = r.body.decode() if isinstance(r.body, bytes) else r.body
    finally:
        if srv:
            rc = srv.stop()
            shutil.rmtree(srv.dir, ignore_errors=True)
        shutil.rmtree(data, ignore_errors=True)
        if omega_test_server._model_dir:
            shutil.rmtree(omega_test_server._model_dir, ignore_errors=True)
    assert rc == 0, f"omega serve exited with {rc} on SIGTERM"
    names = set()
    for m in re.finditer(r"^# TYPE (\S+) (\w+)", text, re.M):
        name, typ = m.groups()
        names.add(name)
        if typ == "histogram":
            names |= {name + "_bucket", name + "_sum", name + "_count"}
        elif typ == "summary":
            names |= {name + "_sum", name + "_count"}
    for m in re.finditer(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", text, re.M):  # and every sampled series
        names.add(m.group(1))
    return names, text


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dashboard", required=True)
    ap.add_argument("--rules", action="append", default=[], help="a Prometheus rules file (repeat)")
    ap.add_argument("--omega", required=True, help="the omega binary")
    ap.add_argument("--genmodel", required=True, help="the omega-genmodel binary")
    ap.add_argument("--promtool", default=shutil.which("promtool"))
    a = ap.parse_args()
    if not a.promtool:
        print("SKIP: promtool is not installed (apt-get install prometheus)")
        return 77
    errors = []
    with open(a.dashboard) as f:
        d = json.load(f)
    variables, panels = check_model(d, errors)
    if not errors:
        print(f"PASS: dashboard model ({len(panels)} panels, variables {sorted(variables)})")
    exprs = expressions(d, variables, panels)
    check_parse(exprs, variables, a.promtool, errors)

    recorded, rule_exprs = set(), []
    for path in a.rules:
        with open(path) as f:
            for g in yaml.safe_load(f)["groups"]:
                for r in g["rules"]:
                    if "record" in r:
                        recorded.add(r["record"])
                    rule_exprs.append((f"{os.path.basename(path)}: {r.get('record') or r.get('alert')}", r["expr"]))
    exported, metrics_text = live_metric_names(a.omega, a.genmodel)
    known = exported | recorded | PROMETHEUS_OWN
    missing, seen = 0, set()
    for where, e in exprs + rule_exprs:
        for name in sorted(metric_names(e)):
            seen.add(name)
            if name not in known:
                missing += 1
                fail(errors, f"{where}: metric {name} is not exported by omega serve nor recorded by the rules")
    if not missing:
        print(f"PASS: the {len(seen)} metric names of {len(exprs)} dashboard and {len(rule_exprs)} rule expressions "
              f"are exported by a live omega serve ({len(exported)} names) or recorded ({len(recorded)} rules)")
    # the dashboard's own metrics: every panel of the seed's topics queries at least one metric
    if not any(metric_names(e) for _, e in exprs):
        fail(errors, "dashboard: no expression selects any metric")

    for e in errors:
        print("FAIL:", e)
    print(f"{'FAIL' if errors else 'PASS'}: dashboard check ({len(errors)} problems)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
