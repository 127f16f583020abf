#!/usr/bin/env bash
# bench/mail: the mail gateway against its anchors, on one machine in one run.
#   bash bench/mail/run.sh [REPEAT]
# 1. Analysis: `mamori mail check` over every .eml of the corpus (REPEAT times, default 50)
#    against rspamd 3.4 (`rspamc -n 8`, network checks disabled) over the same files; the
#    median of three interleaved rounds.
# 2. Relay: `smtp-source` → `mamori mail serve --direction inbound` → `smtp-sink`, against
#    `smtp-source` → `smtp-sink` directly: accepted and delivered msg/s; the median of
#    RELAY_ROUNDS interleaved rounds.
# 3. Latency: `mamori-bench-mail latency`, the SMTP transaction time (MAIL … final 250)
#    straight to smtp-sink and through Mamori; p50/p99 of each and the difference.
# Environment: MAMORI_MAIL_CORPUS (default ../shared/testdata/mail), RELAY_MESSAGES (5000),
# RELAY_SESSIONS (20), RELAY_ROUNDS (3: direct and through Mamori alternately, medians
# reported, since the bare sink's rate moves most with the machine's load), LATENCY_MESSAGES (2000), LATENCY_CONNECTIONS (2), RSPAMD_REPEAT (5),
# MAMORI_BENCH_DIR (/tmp: where the gateway's data directory and spool live), PARTS (which
# parts to run, comma-separated: analysis,relay,latency; default all three; e.g. PARTS=relay
# for quick iterations on the gateway — the summary then shows only what ran), MAMORI_BENCH_BIN
# (a directory holding already built `mamori` and `mamori-bench-mail`, e.g. a copy of an older
# build to compare against: nothing is built then).
# Installs nothing: it says what is missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
repeat="${1:-50}"
corpus="${MAMORI_MAIL_CORPUS:-../shared/testdata/mail}"
relay_n="${RELAY_MESSAGES:-5000}"
sessions="${RELAY_SESSIONS:-20}"
lat_n="${LATENCY_MESSAGES:-2000}"
lat_c="${LATENCY_CONNECTIONS:-2}"
rspamd_repeat="${RSPAMD_REPEAT:-5}"
relay_rounds="${RELAY_ROUNDS:-3}"
parts=",${PARTS:-analysis,relay,latency},"
part() { [[ "$parts" == *",$1,"* ]]; }

missing=()
if part analysis; then
  command -v rspamd >/dev/null && command -v rspamc >/dev/null || missing+=(rspamd)
fi
command -v smtp-source >/dev/null && command -v smtp-sink >/dev/null || missing+=(postfix)
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing: ${missing[*]} — install with: apt-get install ${missing[*]}" >&2
  echo "(postfix provides smtp-source and smtp-sink; its own daemon need not run)" >&2
  exit 1
fi
! part analysis || [ -d "$corpus" ] || { echo "no corpus at $corpus (set MAMORI_MAIL_CORPUS)" >&2; exit 1; }

if [ -n "${MAMORI_BENCH_BIN:-}" ]; then
  mamori="$MAMORI_BENCH_BIN/mamori"
  bench="$MAMORI_BENCH_BIN/mamori-bench-mail"
else
  cargo build --release -p mamori -p mamori-bench-mail
  target="${CARGO_TARGET_DIR:-target}"
  mamori="$target/release/mamori"
  bench="$target/release/mamori-bench-mail"
fi

work=$(mktemp -d "${MAMORI_BENCH_DIR:-/tmp}/mamori-bench-mail.XXXXXX")
chmod 755 "$work" # rspamd's workers run as _rspamd
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# A loopback port nobody listens on.
free_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12000)) # below the ephemeral range (32768-)
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
}
wait_port() {
  local i
  for i in $(seq 1 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1 after 60 s ($2); last log lines:" >&2
  tail -n 5 "$work"/*.log >&2 || true
  exit 1
}
now() { date +%s.%N; }
# The middle value of the arguments (the lower middle for an even count).
median() { printf '%s\n' "$@" | sort -g | sed -n "$(( ($# + 1) / 2 ))p"; }
# smtp-sink refuses to run as root without a user to switch to.
sink_user=()
[ "$(id -u)" = 0 ] && sink_user=(-u nobody)
rate() { awk -v n="$1" -v a="$2" -v b="$3" 'BEGIN { printf "%.1f", n / (b - a) }'; }
ratio() {
  { [ "$1" = n/a ] || [ "$2" = n/a ]; } && { echo n/a; return; }
  awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'
}

echo "$(nproc) cores"

# ---- 1. analysis ------------------------------------------------------------------------
mamori_rate=n/a
rspamd_rate=n/a
if part analysis; then
mapfile -t files < <(find "$corpus" -type f -name '*.eml' | sort)
echo "corpus: ${#files[@]} messages in $corpus"
rs="$work/rspamd"
mkdir -p "$rs/local.d" "$rs/db" "$rs/run" "$rs/log"
rs_port=$(free_port)
dead_dns=$(free_port)
# Our own top-level configuration: the stock rules and modules, one worker process per core,
# no controller or proxy, and a resolver on a loopback port where nothing answers.
cat >"$rs/rspamd.conf" <<EOF
.include "\$CONFDIR/common.conf"
options {
    pidfile = "\$RUNDIR/rspamd.pid";
    .include "\$CONFDIR/options.inc"
    dns { nameserver = ["127.0.0.1:$dead_dns"]; timeout = 0.1s; retransmits = 1; }
}
logging { type = "file"; filename = "\$LOGDIR/rspamd.log"; level = "error"; }
worker "normal" {
    bind_socket = "127.0.0.1:$rs_port";
    .include "\$CONFDIR/worker-normal.inc"
    count = $(nproc);
}
EOF
# Modules that ask the network (DNS lists, SPF/DKIM/DMARC, HELO/hostname lookups, fuzzy
# storage, remote maps) or need redis (neural, ratelimit, greylist, reputation, history).
for m in rbl surbl emails asn hfilter spf dkim dmarc arc mx_check bimi dcc fuzzy_check \
  neural ratelimit greylist reputation replies history_redis url_redirector rspamd_update phishing; do
  echo "enabled = false;" >"$rs/local.d/$m.conf"
done
as_user=()
if [ "$(id -u)" = 0 ]; then
  chown -R _rspamd:_rspamd "$rs"
  as_user=(-u _rspamd -g _rspamd)
fi
rspamd -f "${as_user[@]}" -c "$rs/rspamd.conf" --var LOCAL_CONFDIR="$rs" --var DBDIR="$rs/db" \
  --var RUNDIR="$rs/run" --var LOGDIR="$rs/log" >"$rs/stdout" 2>&1 &
rspamd_pid=$!
pids+=("$rspamd_pid")
wait_port "$rs_port" rspamd
list=()
for _ in $(seq 1 "$rspamd_repeat"); do list+=("${files[@]}"); done
# A first pass warms rspamd up (its hyperscan database compiles in the background).
rspamc -h "127.0.0.1:$rs_port" -n 8 -t 60 "${files[@]}" >/dev/null 2>&1 || true

echo "== analysis: mamori mail check --repeat $repeat vs rspamd $(rspamd --version | awk '{print $NF}') (rspamc -n 8, network checks disabled), 3 rounds =="
m_rates=()
r_rates=()
for round in 1 2 3; do
  MAMORI_LOG=warn "$mamori" --data "$work/check" mail check --direction inbound \
    --repeat "$repeat" "$corpus" >"$work/check.jsonl" 2>"$work/check.err" || true
  m=$(grep -o 'msg/s: [0-9.]*' "$work/check.err" | awk '{print $2}')
  [ -n "$m" ] || { cat "$work/check.err" >&2; echo "mamori mail check gave no summary" >&2; exit 1; }
  m_rates+=("$m")
  t0=$(now)
  rspamc -h "127.0.0.1:$rs_port" -n 8 -t 60 "${list[@]}" >"$work/rspamc.out" 2>"$work/rspamc.err" || true
  t1=$(now)
  rs_done=$(grep -c '^Results for file' "$work/rspamc.out" || true)
  r=$(rate "$rs_done" "$t0" "$t1")
  r_rates+=("$r")
  echo "round $round: mamori $(cat "$work/check.err")"
  echo "round $round: rspamd $rs_done of ${#list[@]} messages in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.2f", b-a}') s, $r msg/s"
done
kill "$rspamd_pid" 2>/dev/null || true
mamori_rate=$(median "${m_rates[@]}")
rspamd_rate=$(median "${r_rates[@]}")
echo "median: mamori $mamori_rate msg/s, rspamd $rspamd_rate msg/s"
echo "mamori verdicts: $(grep -o '"verdict":"[a-z]*"' "$work/check.jsonl" | sort | uniq -c | tr -s ' \n' ' ')"
fi

# ---- 2. relay ---------------------------------------------------------------------------
msg="$work/message.eml"
"$bench" message --size 10240 >"$msg"
from=suzuki@partner.example
to=sato@acme.example
accept_rate=n/a
deliver_rate=n/a
direct_rate=n/a
if part relay; then
echo "== relay: smtp-source -s $sessions -m $relay_n, $(wc -c <"$msg") byte message, $relay_rounds interleaved rounds =="
echo "verdict of the relay message: $("$mamori" --data "$work/check" mail check "$msg" --json | grep -o '"verdict":"[a-z]*"')"
MAMORI_LOG=warn "$mamori" --data "$work/gateway" tenant add bench >/dev/null
d_rates=()
a_rates=()
v_rates=()
for round in $(seq 1 "$relay_rounds"); do
  sink_port=$(free_port)
  smtp-sink "${sink_user[@]}" 127.0.0.1:"$sink_port" 1024 >/dev/null 2>>"$work/smtp-sink.log" &
  sink_pid=$!
  pids+=("$sink_pid")
  wait_port "$sink_port" smtp-sink
  t0=$(now)
  smtp-source -s "$sessions" -m "$relay_n" -F "$msg" -f "$from" -t "$to" 127.0.0.1:"$sink_port"
  t1=$(now)
  d_rates+=("$(rate "$relay_n" "$t0" "$t1")")
  kill "$sink_pid"; wait "$sink_pid" 2>/dev/null || true

  gw="$work/gateway"
  sink_port=$(free_port)
  gw_port=$(free_port)
  # smtp-sink exits after the last message: that is when everything was delivered.
  smtp-sink "${sink_user[@]}" -M "$relay_n" 127.0.0.1:"$sink_port" 1024 >/dev/null 2>>"$work/smtp-sink.log" &
  sink_pid=$!
  pids+=("$sink_pid")
  wait_port "$sink_port" smtp-sink
  MAMORI_LOG=warn "$mamori" --data "$gw" mail serve --direction inbound --tenant bench \
    --domain acme.example --listen 127.0.0.1:"$gw_port" --next-hop 127.0.0.1:"$sink_port" \
    >"$work/gateway.log" 2>&1 &
  gw_pid=$!
  pids+=("$gw_pid")
  wait_port "$gw_port" "mamori mail serve"
  t0=$(now)
  smtp-source -s "$sessions" -m "$relay_n" -F "$msg" -f "$from" -t "$to" 127.0.0.1:"$gw_port"
  t1=$(now)
  deadline=$(($(date +%s) + 600))
  while kill -0 "$sink_pid" 2>/dev/null && [ "$(date +%s)" -lt "$deadline" ]; do sleep 0.05; done
  t2=$(now)
  if kill -0 "$sink_pid" 2>/dev/null; then
    echo "not everything was delivered within 600 s; $(find "$gw/mail-spool" -type f | wc -l) spool files left" >&2
  fi
  a_rates+=("$(rate "$relay_n" "$t0" "$t1")")
  v_rates+=("$(rate "$relay_n" "$t0" "$t2")")
  kill "$gw_pid" 2>/dev/null; wait "$gw_pid" 2>/dev/null || true
  echo "round $round: smtp-source → smtp-sink ${d_rates[-1]} msg/s; → mamori → smtp-sink: accepted ${a_rates[-1]} msg/s, delivered ${v_rates[-1]} msg/s ($(ratio "${v_rates[-1]}" "${d_rates[-1]}"))"
done
direct_rate=$(median "${d_rates[@]}")
accept_rate=$(median "${a_rates[@]}")
deliver_rate=$(median "${v_rates[@]}")
echo "median: smtp-sink direct $direct_rate msg/s; mamori accepted $accept_rate msg/s, delivered $deliver_rate msg/s"
fi

# ---- 3. latency -------------------------------------------------------------------------
added_p99=n/a
if part latency; then
echo "== latency: $lat_n messages over $lat_c connection(s) =="
sink_port=$(free_port)
smtp-sink "${sink_user[@]}" 127.0.0.1:"$sink_port" 1024 >/dev/null 2>>"$work/smtp-sink.log" &
pids+=($!)
gw="$work/gateway-latency"
MAMORI_LOG=warn "$mamori" --data "$gw" tenant add bench >/dev/null
own_sink=$(free_port)
gw_port=$(free_port)
MAMORI_LOG=warn "$mamori" --data "$gw" mail serve --direction inbound --tenant bench \
  --domain acme.example --listen 127.0.0.1:"$gw_port" --next-hop 127.0.0.1:"$own_sink" \
  >"$work/gateway-latency.log" 2>&1 &
pids+=($!)
wait_port "$sink_port" smtp-sink
wait_port "$gw_port" "mamori mail serve"
"$bench" latency --direct 127.0.0.1:"$sink_port" --via 127.0.0.1:"$gw_port" \
  --own-sink 127.0.0.1:"$own_sink" --message "$msg" --messages "$lat_n" \
  --connections "$lat_c" --from "$from" --to "$to" | tee "$work/latency.out"
added_p99=$(grep -o 'added_p99_ms=[0-9.-]*' "$work/latency.out" | cut -d= -f2)
fi

# ---- summary ----------------------------------------------------------------------------
verdict() {
  [ "$1" = n/a ] && { echo "not run"; return; }
  awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN { ok = (op == ">=") ? (v >= t) : (v <= t); print ok ? "met" : "MISSED" }'
}
a_ratio=$(ratio "$mamori_rate" "$rspamd_rate")
acc_ratio=$(ratio "$accept_rate" "$direct_rate")
del_ratio=$(ratio "$deliver_rate" "$direct_rate")
echo
echo "| measure | mamori | anchor | ratio | target | |"
echo "| --- | --- | --- | --- | --- | --- |"
echo "| analysis, msg/s | $mamori_rate | rspamd $rspamd_rate | ${a_ratio}× | ≥ 10× | $(verdict "$a_ratio" 10 '>=') |"
echo "| relay accepted, msg/s | $accept_rate | smtp-sink $direct_rate | $acc_ratio | ≥ 0.50 | $(verdict "$acc_ratio" 0.5 '>=') |"
echo "| relay delivered, msg/s | $deliver_rate | smtp-sink $direct_rate | $del_ratio | ≥ 0.50 | $(verdict "$del_ratio" 0.5 '>=') |"
echo "| added latency p99, ms | $added_p99 | | | ≤ 50 | $(verdict "$added_p99" 50 '<=') |"
