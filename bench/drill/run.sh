#!/bin/sh
# Drill benchmark: a 2,000-target campaign sent to a local SMTP sink (mails/s), then wrk
# (Debian package `wrk`) against the tracking pixel and a click link for 10 s with 4
# connections (requests/s, p99 latency). DRILL_BENCH_SECONDS changes the wrk duration.
set -eu
cd "$(dirname "$0")/../.."
command -v wrk >/dev/null || { echo "wrk not found: apt-get install wrk" >&2; exit 1; }
cargo run --release -q -p mamori-drill --example drill_bench
