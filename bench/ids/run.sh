#!/usr/bin/env bash
# bench/ids: Mamori's IDS against Suricata 7 on the same pcap and the same 21k ET Open rules,
# in one run. Prints packets/s of each and the ratio, peak memory, and the alert-set
# difference on (sid, src, dst, sport, dport).
#   bash bench/ids/run.sh [HTTP_FLOWS DNS_QUERIES]     (default 50000 50000: 700,000 packets)
# Needs: suricata 7 (bookworm-backports, see ../shared/testdata/README.md), python3.
set -euo pipefail
cd "$(dirname "$0")/../.."
flows="${1:-50000}"
dns="${2:-50000}"
testdata="${MAMORI_TESTDATA:-../shared/testdata}"
rules="$testdata/ids/et-open-2020.rules"
work="${MAMORI_BENCH_DIR:-target/bench-ids}"
mkdir -p "$work"
command -v suricata >/dev/null || { echo "suricata not installed (see $testdata/README.md)"; exit 1; }
[ -f "$rules" ] || { echo "no rules at $rules"; exit 1; }
pcap="$work/bench-$flows-$dns.pcap"
[ -f "$pcap" ] || python3 "$testdata/ids/gen_pcap.py" "$pcap" "$flows" "$dns"
cargo build --release -q -p mamori

echo "== Suricata =="
rm -rf "$work/suricata" && mkdir -p "$work/suricata"
/usr/bin/time -v -o "$work/suricata/time.txt" suricata -c /etc/suricata/suricata.yaml -r "$pcap" -S "$rules" \
  -l "$work/suricata" --runmode autofp -k none \
  --set stream.memcap=1gb --set stream.reassembly.memcap=2gb --set flow.memcap=1gb >/dev/null 2>&1

echo "== Mamori =="
rm -rf "$work/mamori" && mkdir -p "$work/mamori"
/usr/bin/time -v -o "$work/mamori/time.txt" "${CARGO_TARGET_DIR:-target}/release/mamori" ids read "$pcap" --rules "$rules" \
  --eve "$work/mamori/eve.json" | tee "$work/mamori/summary.txt"

"${CARGO_TARGET_DIR:-target}/release/mamori" ids rules check --json "$rules" > "$work/coverage.json"

python3 - "$work" <<'PY'
import json, re, sys
work = sys.argv[1]
def peak_kb(path):
    for line in open(path):
        if "Maximum resident set size" in line:
            return int(line.split(":")[1])
def wall(path):
    for line in open(path):
        if "Elapsed (wall clock)" in line:
            t = line.rsplit(" ", 1)[1].strip().split(":")
            return sum(float(x) * 60 ** i for i, x in enumerate(reversed(t)))
def engine_seconds_suricata():
    for line in open(f"{work}/suricata/suricata.log"):
        m = re.search(r"time elapsed ([0-9.]+)s", line)
        if m:
            return float(m.group(1))
    return wall(f"{work}/suricata/time.txt")
def engine_seconds_mamori():
    for line in open(f"{work}/mamori/summary.txt"):
        m = re.search(r"seconds\s*[:=]?\s*([0-9.]+)", line)
        if m:
            return float(m.group(1))
    return wall(f"{work}/mamori/time.txt")
skipped = set(json.load(open(f"{work}/coverage.json"))["skipped_sids"])
def alerts(path):
    """(sid, src, dst, sport, dport) of every alert of a rule Mamori loads."""
    out = set()
    for line in open(path):
        if '"event_type":"alert"' not in line:
            continue
        r = json.loads(line)
        a = r["alert"]
        if a["signature_id"] in skipped:
            continue
        out.add((a["signature_id"], r.get("src_ip"), r.get("dest_ip"), r.get("src_port"), r.get("dest_port")))
    return out
packets = 0
for line in open(f"{work}/mamori/summary.txt"):
    m = re.search(r"packets\s*[:=]?\s*([0-9,]+)", line)
    if m:
        packets = int(m.group(1).replace(",", ""))
        break
s_sec, m_sec = engine_seconds_suricata(), engine_seconds_mamori()
s_set, m_set = alerts(f"{work}/suricata/eve.json"), alerts(f"{work}/mamori/eve.json")
both = s_set & m_set
print()
print(f"packets            {packets:>12,}")
print(f"suricata           {packets / s_sec:>12,.0f} packets/s  ({s_sec:.2f} s engine, peak {peak_kb(f'{work}/suricata/time.txt') / 1024:,.0f} MiB)")
print(f"mamori             {packets / m_sec:>12,.0f} packets/s  ({m_sec:.2f} s engine, peak {peak_kb(f'{work}/mamori/time.txt') / 1024:,.0f} MiB)")
print(f"ratio              {s_sec / m_sec:>12.2f} x   (target >= 2)")
print(f"rules Mamori skips: {len(skipped)}; alerts compared on the rules it loads")
print(f"alerts (unique sid/src/dst/sport/dport): suricata {len(s_set):,}, mamori {len(m_set):,}, both {len(both):,}")
if s_set:
    print(f"share of suricata's alerts mamori found: {100 * len(both) / len(s_set):.2f} %   (target >= 99 %)")
from collections import Counter
missing = Counter(k[0] for k in s_set - m_set)
extra = Counter(k[0] for k in m_set - s_set)
if missing:
    print("missing by sid:", dict(missing.most_common(10)))
if extra:
    print("extra by sid:  ", dict(extra.most_common(10)))
PY
