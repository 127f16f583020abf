#!/usr/bin/env bash
# bench/service: Mamori as a provider runs it, with the release binary.
#   A. The provider console on PostgreSQL with TENANTS tenants and ALERTS alerts (generated
#      in the database over the last 30 days, with their incidents and counters): p50/p95/p99
#      of the triage queue (first page, next page, the biggest tenant), tenant overviews and
#      the /queue, /tenants and overview pages, SAMPLES requests each, one client and four.
#      Target: p99 < 200 ms.
#   B. A sensor's backlog of EVENTS events forwarded to a console over loopback HTTPS
#      (self-signed certificate), from the console's start until it has stored them all.
#      Target: ≥ 50,000 events/s.
#
#   bash bench/service/run.sh                      # as root, with Debian's postgresql
#   TENANTS=50 ALERTS=200000 EVENTS=50000 bash bench/service/run.sh    # a quick run
#
# Environment: TENANTS (1000), ALERTS (50000000), EVENTS (1000000), SAMPLES (500),
# CLIENTS (4), PARTS ("console forward"), FORWARD_STORE (postgres | sqlite: the console's
# store in part B; postgres by default, as a provider runs it), MAMORI (the binary to measure,
# target/release/mamori by default: point it at another build to compare two in one session).
#
# Time and disk (measured on 2 shared, busy cores): the load generates about 12,000 alerts/s
# and ends at about 1.3 KB per alert (row with its JSON body, five indexes, incidents,
# timeline and counters); 8 million alerts took 15 minutes (12 generating, 2.5 rebuilding
# the indexes, 2 vacuuming) and 9.4 GiB. The default 50 million therefore needs about 63 GB
# free on PostgreSQL's disk and about 1.5 hours; 10 million about 13 GB and 20 minutes.
# The free space is checked (df on the data directory) after the first of the 30 days is
# loaded, and the run refuses, naming how many alerts would fit, when it is short. The
# measurements take a few minutes; part B about a minute per million events.
#
# PostgreSQL: the local cluster is started if needed (pg_ctlcluster, as .ci/run does); the
# role mamori_bench and the databases mamori_bench and mamori_bench_fwd are created afresh
# and dropped at the end, with the data directories, whatever happens.
set -euo pipefail
cd "$(dirname "$0")/../.."

TENANTS="${TENANTS:-1000}"
ALERTS="${ALERTS:-50000000}"
EVENTS="${EVENTS:-1000000}"
SAMPLES="${SAMPLES:-500}"
CLIENTS="${CLIENTS:-4}"
PARTS="${PARTS:-console forward}"
FORWARD_STORE="${FORWARD_STORE:-postgres}"
MAMORI="${MAMORI:-target/release/mamori}"

CARGO_INCREMENTAL=0 cargo build --release -p mamori -p mamori-bench-service
bench=target/release/mamori-bench-service

command -v pg_ctlcluster >/dev/null || { echo "bench/service needs PostgreSQL: apt-get install postgresql" >&2; exit 1; }
command -v openssl >/dev/null || { echo "bench/service needs openssl: apt-get install openssl" >&2; exit 1; }
pgver=$(ls /etc/postgresql | sort -V | tail -n 1)
pg_ctlcluster "$pgver" main start 2>/dev/null || true
for _ in $(seq 1 60); do
  pg_isready -q -h 127.0.0.1 && break
  sleep 1
done
pg_isready -h 127.0.0.1 >/dev/null || { echo "PostgreSQL does not answer on 127.0.0.1" >&2; exit 1; }
psql_admin() { su postgres -c "psql -v ON_ERROR_STOP=1 -qtAc \"$1\""; }
pgdata=$(psql_admin "SHOW data_directory")

cleanup() {
  psql_admin "DROP DATABASE IF EXISTS mamori_bench WITH (FORCE)" >/dev/null 2>&1 || true
  psql_admin "DROP DATABASE IF EXISTS mamori_bench_fwd WITH (FORCE)" >/dev/null 2>&1 || true
  psql_admin "DROP ROLE IF EXISTS mamori_bench" >/dev/null 2>&1 || true
  # The benchmark removes its own data directories; these catch a run that was killed.
  rm -rf "${TMPDIR:-/tmp}"/mamori-bench-console-* "${TMPDIR:-/tmp}"/mamori-bench-forward-*
}
trap cleanup EXIT
cleanup
psql_admin "CREATE ROLE mamori_bench LOGIN PASSWORD 'mamori_bench'"
su postgres -c "createdb -O mamori_bench mamori_bench"
su postgres -c "createdb -O mamori_bench mamori_bench_fwd"
url=postgres://mamori_bench:mamori_bench@127.0.0.1/mamori_bench

status=0
for part in $PARTS; do
  case "$part" in
    console)
      echo "== A. provider console on PostgreSQL: $TENANTS tenants, $ALERTS alerts =="
      "$bench" console --mamori "$MAMORI" --store "$url" --pgdata "$pgdata" \
        --tenants "$TENANTS" --alerts "$ALERTS" --samples "$SAMPLES" --clients "$CLIENTS" || status=$?
      # Part B does not need the big database; free its disk before going on.
      psql_admin "DROP DATABASE IF EXISTS mamori_bench WITH (FORCE)" >/dev/null
      ;;
    forward)
      echo "== B. sensor → console forwarding over HTTPS: $EVENTS events (console on $FORWARD_STORE) =="
      store=""
      [ "$FORWARD_STORE" = postgres ] && store=postgres://mamori_bench:mamori_bench@127.0.0.1/mamori_bench_fwd
      "$bench" forward --mamori "$MAMORI" --store "$store" --events "$EVENTS" || status=$?
      ;;
    *) echo "unknown part $part (console, forward)" >&2; exit 1 ;;
  esac
done
# 0: every target met; 2: a target missed; anything else: the benchmark failed.
exit "$status"
