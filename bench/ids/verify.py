#!/usr/bin/env python3
"""Run OISF/suricata-verify cases through `mamori ids read` and check their alert checks.

    python3 bench/ids/verify.py SURICATA_VERIFY_DIR [MAMORI_BINARY] [NAME_FILTER]

A case is used when its directory has test.yaml, test.rules (or a rules file named in the
yaml) and exactly one pcap, and its checks include `filter` checks on `event_type: alert`.
Only those alert checks are judged (count of EVE records whose fields equal every `match`
entry; dotted paths; checks using `__` operators are not judged). Everything else in
suricata-verify (file extraction, stats, logs, shell checks, Lua, datasets) is out of
scope. Prints each case's result and a summary; exits 0 either way (this is a report).
"""
import json, os, subprocess, sys, tempfile

import yaml

root = sys.argv[1]
binary = sys.argv[2] if len(sys.argv) > 2 else "target/release/mamori"
name_filter = sys.argv[3] if len(sys.argv) > 3 else ""


def get(record, path):
    cur = record
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            return None
    return cur


def matches(record, match):
    return all(get(record, k) == v for k, v in match.items())


cases = []
for dirpath, _, files in os.walk(root):
    if "test.yaml" not in files:
        continue
    if name_filter and name_filter not in dirpath:
        continue
    cases.append(dirpath)
cases.sort()

passed = failed = skipped = 0
loaded_cases = loaded_passed = 0
fail_list = []


def all_rules_load(rules):
    out = subprocess.run([binary, "ids", "rules", "check", "--json", rules], capture_output=True, text=True).stdout
    try:
        v = json.loads(out.strip().splitlines()[-1])
    except (json.JSONDecodeError, IndexError):
        return False
    return v["skipped"] == 0 and v["loaded"] > 0

for case in cases:
    try:
        spec = yaml.safe_load(open(os.path.join(case, "test.yaml"))) or {}
    except yaml.YAMLError:
        skipped += 1
        continue
    pcaps = [f for f in os.listdir(case) if f.endswith((".pcap", ".pcapng"))]
    rules = os.path.join(case, "test.rules")
    if spec.get("pcap") is False or len(pcaps) != 1 or not os.path.exists(rules) or "command" in spec:
        skipped += 1
        continue
    checks = []
    for c in spec.get("checks") or []:
        f = c.get("filter") if isinstance(c, dict) else None
        if not f or "count" not in f or not isinstance(f.get("match"), dict):
            continue
        m = f["match"]
        if m.get("event_type") != "alert" or any("__" in k for k in m):
            continue
        if any(isinstance(v, (dict, list)) for v in m.values()):
            continue
        checks.append((f["count"], m))
    if not checks:
        skipped += 1
        continue
    with tempfile.TemporaryDirectory() as tmp:
        eve = os.path.join(tmp, "eve.json")
        run = subprocess.run(
            [binary, "ids", "read", os.path.join(case, pcaps[0]), "--rules", rules, "--eve", eve, "--workers", "1"],
            capture_output=True, text=True,
        )
        records = []
        if os.path.exists(eve):
            for line in open(eve):
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    pass
    bad = []
    for count, m in checks:
        got = sum(1 for r in records if matches(r, m))
        if got != count:
            bad.append(f"{m} expected {count} got {got}")
    name = os.path.relpath(case, root)
    if all_rules_load(rules):
        loaded_cases += 1
        loaded_passed += not bad
    if bad:
        failed += 1
        fail_list.append((name, bad))
        print(f"FAIL {name}: {'; '.join(bad)[:300]}")
    else:
        passed += 1
        print(f"ok   {name}")

total = passed + failed
print()
print(f"cases with alert checks: {total}, passed {passed} ({100 * passed / max(total, 1):.1f} %), failed {failed}; not applicable {skipped}")
print(f"of those, cases whose rules Mamori loads entirely: {loaded_cases}, passed {loaded_passed} ({100 * loaded_passed / max(loaded_cases, 1):.1f} %)")
