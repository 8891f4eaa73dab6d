#!/usr/bin/env python3
"""Checks of ops/prometheus/omega-accel-alerts.yml that promtool does not make.

  check_alert_rules.py --alerts FILE --tests DIR
      every alert has labels.severity page|warn|ticket, annotations summary, description and
      runbook_url = RUNBOOK_BASE#<alert name in lower case>; alert names are unique; and the
      promtool unit tests in DIR (*.yml) have, for every alert, an alert_rule_test where it
      fires and one where it must not (exp_alerts empty).
  check_alert_rules.py --alerts FILE --runbooks DOC
      DOC (docs/OPERATIONS.md) has one "### <AlertName>" section per alert, with some text in
      it. Exits 77 (skip) when DOC does not exist.
Python 3 stdlib + PyYAML."""
import argparse
import glob
import os
import re
import sys

try:
    import yaml
except ImportError:
    print("SKIP: PyYAML is not installed (apt-get install python3-yaml)")
    sys.exit(77)

RUNBOOK_BASE = "https://github.com/omega/omega/blob/main/docs/OPERATIONS.md"
SEVERITIES = {"page", "warn", "ticket"}


def load_alerts(path):
    with open(path) as f:
        doc = yaml.safe_load(f)
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def check_metadata(alerts):
    errors, seen = [], set()
    for r in alerts:
        name = r["alert"]
        if name in seen:
            errors.append(f"{name}: defined twice")
        seen.add(name)
        sev = (r.get("labels") or {}).get("severity")
        if sev not in SEVERITIES:
            errors.append(f"{name}: labels.severity is {sev!r}, not one of {sorted(SEVERITIES)}")
        ann = r.get("annotations") or {}
        for key in ("summary", "description", "runbook_url"):
            if not str(ann.get(key, "")).strip():
                errors.append(f"{name}: annotations.{key} missing")
        want = f"{RUNBOOK_BASE}#{name.lower()}"
        if ann.get("runbook_url") and ann["runbook_url"] != want:
            errors.append(f"{name}: runbook_url is {ann['runbook_url']}, want {want}")
    return errors


def check_coverage(alerts, test_dir):
    fires, quiet = set(), set()
    files = sorted(glob.glob(os.path.join(test_dir, "*.yml")))
    if not files:
        return [f"no promtool unit tests in {test_dir}"]
    for path in files:
        with open(path) as f:
            doc = yaml.safe_load(f)
        for group in doc.get("tests") or []:
            for t in group.get("alert_rule_test") or []:
                (fires if t.get("exp_alerts") else quiet).add(t["alertname"])
    errors = []
    names = {r["alert"] for r in alerts}
    for name in sorted(names):
        if name not in fires:
            errors.append(f"{name}: no unit test where it fires")
        if name not in quiet:
            errors.append(f"{name}: no unit test where it must not fire (exp_alerts: [])")
    for name in sorted((fires | quiet) - names):
        errors.append(f"unit tests name {name}, which is no alert")
    return errors


def check_runbooks(alerts, doc_path):
    with open(doc_path) as f:
        text = f.read()
    # the sections: "### Name" up to the next heading of level 1-3
    sections, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"^(#{1,3})\s+(.*?)\s*$", line)
        if m:
            cur = m.group(2) if m.group(1) == "###" else None
            if cur is not None:
                sections.setdefault(cur, []).append("")
            continue
        if cur is not None:
            sections[cur][-1] += line.strip()
    errors = []
    for r in alerts:
        name = r["alert"]
        if name not in sections:
            errors.append(f"{name}: no section '### {name}' in {doc_path}")
        elif len(sections[name]) > 1:
            errors.append(f"{name}: {len(sections[name])} sections '### {name}' in {doc_path}")
        elif len(sections[name][0]) < 80:
            errors.append(f"{name}: the section '### {name}' in {doc_path} is (almost) empty")
    return errors


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--alerts", required=True, help="the alerting rules file")
    ap.add_argument("--tests", help="folder of promtool unit tests (*.yml)")
    ap.add_argument("--runbooks", help="the operations guide with one '### AlertName' section per alert")
    a = ap.parse_args()
    if not a.tests and not a.runbooks:
        ap.error("give --tests or --runbooks")
    if a.runbooks and not os.path.exists(a.runbooks):
        print(f"SKIP: {a.runbooks} does not exist (yet)")
        return 77
    alerts = load_alerts(a.alerts)
    if not alerts:
        print(f"FAIL: no alert in {a.alerts}")
        return 1
    errors = []
    if a.tests:
        errors += check_metadata(alerts) + check_coverage(alerts, a.tests)
    if a.runbooks:
        errors += check_runbooks(alerts, a.runbooks)
    for e in errors:
        print("FAIL:", e)
    what = "metadata and unit-test coverage" if a.tests else "runbook sections"
    print(f"{'FAIL' if errors else 'PASS'}: {what} of {len(alerts)} alerts ({len(errors)} problems)")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
