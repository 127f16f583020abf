#!/usr/bin/env bash
# bench/store: ingest 1,000,000 generated alerts through POST /api/v1/events and measure the
# alerts and incidents pages at that size, on SQLite and (when reachable) on PostgreSQL.
#   bash bench/store/run.sh [N_ALERTS]
# PostgreSQL: set MAMORI_BENCH_POSTGRES=postgres://user:pw@127.0.0.1/db (the database is
# emptied first) — by default the local cluster's mamori_bench database is used when present.
set -euo pipefail
cd "$(dirname "$0")/../.."
n="${1:-1000000}"
cargo build --release -p mamori -p mamori-bench-store
bench=target/release/mamori-bench-store
echo "== SQLite (embedded) =="
"$bench" --mamori target/release/mamori --alerts "$n"
pg="${MAMORI_BENCH_POSTGRES:-}"
if [ -z "$pg" ] && command -v psql >/dev/null && su postgres -c "psql -qtAc 'select 1'" >/dev/null 2>&1; then
  su postgres -c "psql -qc 'DROP DATABASE IF EXISTS mamori_bench'" \
    && su postgres -c "psql -qc \"DO \\\$\\\$BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname='mamori') THEN CREATE ROLE mamori LOGIN SUPERUSER PASSWORD 'mamori'; END IF; END\\\$\\\$\"" \
    && su postgres -c "createdb -O mamori mamori_bench" \
    && pg="postgres://mamori:mamori@127.0.0.1/mamori_bench"
fi
if [ -n "$pg" ]; then
  echo "== PostgreSQL =="
  "$bench" --mamori target/release/mamori --alerts "$n" --store "$pg"
else
  echo "PostgreSQL not reachable: set MAMORI_BENCH_POSTGRES to include it"
fi
