#!/usr/bin/env bash
# Log-analytics benchmark: Chainsaw (WithSecure) and `mamori logs hunt` over the same EVTX
# files with the same SigmaHQ rules, in one run. Prints events/s of each, the ratio, peak
# memory and the number of detections.
#
# Chainsaw is built beside the project, not committed: fetch WithSecureLabs/chainsaw, drop
# its `[patch.crates-io]` git pins (crates.io versions instead), pin nom 7 for notatin
# (`cargo update -p nom@8.0.0 --precise 7.1.3`), `cargo build --release`.
#
# Usage: CHAINSAW=/path/to/chainsaw [REPEAT=5] bash bench/logs/run.sh [EVTX_DIR] [RULES_DIR]
# REPEAT links every file that many times, so rule loading (both tools) does not dominate a
# small sample set.
set -euo pipefail
cd "$(dirname "$0")/../.."
EVTX=${1:-../shared/testdata/logs/evtx-attack-samples}
RULES=${2:-../shared/testdata/logs/rules}
CHAINSAW=${CHAINSAW:-chainsaw}
TARGET=${CARGO_TARGET_DIR:-target}
command -v "$CHAINSAW" >/dev/null || { echo "set CHAINSAW to a built chainsaw binary"; exit 1; }
MAPPING=${MAPPING:-$(dirname "$(dirname "$(dirname "$(command -v "$CHAINSAW")")")")/mappings/sigma-event-logs-all.yml}
[ -f "$MAPPING" ] || { echo "set MAPPING to chainsaw's mappings/sigma-event-logs-all.yml"; exit 1; }
cargo build --release -q -p mamori
WORK=$(mktemp -d /tmp/mamori-bench-logs.XXXX)
trap 'rm -rf "$WORK"' EXIT
# Only the EVTX files, for both.
find "$EVTX" -name '*.evtx' > "$WORK/files"
mkdir "$WORK/evtx"; i=0
for r in $(seq 1 "${REPEAT:-5}"); do
  while read -r f; do i=$((i+1)); ln -s "$(realpath "$f")" "$WORK/evtx/$i.evtx"; done < "$WORK/files"
done

measure() { # label, command... -> seconds and peak KiB
  /usr/bin/time -f '%e %M' -o "$WORK/time" "$@" > "$WORK/$1.out" 2> "$WORK/$1.err" || true
}
/usr/bin/time -f '%e %M' -o "$WORK/m.time" "$TARGET/release/mamori" --data "$WORK/data" logs hunt "$WORK/evtx" --rules "$RULES" --json "$WORK/mamori.jsonl" --quiet 2> "$WORK/mamori.err"
/usr/bin/time -f '%e %M' -o "$WORK/c.time" "$CHAINSAW" hunt "$WORK/evtx" -s "$RULES" --mapping "$MAPPING" --jsonl -q --skip-errors > "$WORK/chainsaw.jsonl" 2> "$WORK/chainsaw.err" || true
events=$(grep -o 'events [0-9]*' "$WORK/mamori.err" | head -1 | awk '{print $2}')
read -r m_s m_kb < "$WORK/m.time"
read -r c_s c_kb < "$WORK/c.time"
m_det=$(wc -l < "$WORK/mamori.jsonl")
c_det=$(wc -l < "$WORK/chainsaw.jsonl")
python3 - "$events" "$m_s" "$m_kb" "$c_s" "$c_kb" "$m_det" "$c_det" "$(wc -l < "$WORK/files")" <<'PY'
import sys
ev, ms, mkb, cs, ckb, md, cd, files = sys.argv[1:]
ev = int(ev); ms = float(ms); cs = float(cs)
print(f"{files} EVTX files (each read REPEAT times), {ev} events, the same SigmaHQ rules")
print(f"mamori logs hunt: {ms:.2f} s, {ev/max(ms,1e-9):,.0f} events/s, peak {int(mkb)/1024:.0f} MiB, {md} detections")
print(f"chainsaw hunt:    {cs:.2f} s, {ev/max(cs,1e-9):,.0f} events/s, peak {int(ckb)/1024:.0f} MiB, {cd} detections")
print(f"ratio: {cs/max(ms,1e-9):.1f}x Chainsaw's events/s (target >= 20x)")
PY
echo "(detections differ in kind: Chainsaw prints one line per rule match; Mamori adds its built-in analytics and correlations)"
