#!/usr/bin/env bash
# WAF benchmark: wrk against (a) nginx as a plain reverse proxy, (b) nginx + ModSecurity 3 +
# OWASP CRS (PL1, blocking), (c) Mamori's WAF with the same CRS at PL1 — same backend (nginx
# serving a small page), same GET and POST-form requests, in one run. Prints req/s, p50/p99
# latency and the ratios; then the latency Mamori adds over the backend at moderate load.
# Beside them, (d) Mamori with no rules at all: the most any rule engine behind Mamori's proxy
# could reach on this machine, against which the 20x target can be read.
#
# Needs: nginx libnginx-mod-http-modsecurity modsecurity-crs wrk (Debian packages).
# Usage: bash bench/waf/run.sh [seconds per run, default 10]   (MAMORI=path: another build;
#        ROUNDS=n: every measured run n times, interleaved, ratios from the medians;
#        WAF_ARGS="...": more arguments to `mamori waf serve`, e.g. "--scheduling normal";
#        CRS=DIR: another CRS for both WAFs, e.g. ../shared/testdata/waf/crs-v4)
set -euo pipefail
cd "$(dirname "$0")/../.."
DUR=${1:-10}
ROUNDS=${ROUNDS:-1}
TARGET=${CARGO_TARGET_DIR:-target}
for bin in nginx wrk; do command -v $bin >/dev/null || { echo "missing $bin: apt-get install nginx libnginx-mod-http-modsecurity modsecurity-crs wrk"; exit 1; }; done
# CRS=DIR: another CRS (e.g. ../shared/testdata/waf/crs-v4) for both WAFs, with its
# crs-setup.conf, else its crs-setup.conf.example. Default: Debian's modsecurity-crs (3.3.4).
CRS_DIR=${CRS:-/usr/share/modsecurity-crs}
CRS_DIR=$(cd "$CRS_DIR" && pwd) || { echo "no CRS directory $CRS"; exit 1; }
[ -d "$CRS_DIR/rules" ] || { echo "missing $CRS_DIR/rules (Debian's CRS: apt-get install modsecurity-crs)"; exit 1; }
MODSEC_MOD=$(ls /usr/lib/nginx/modules/ngx_http_modsecurity_module.so)
# MAMORI=path measures another build (e.g. an older one, alternately with this one).
if [ -n "${MAMORI:-}" ]; then
  MAMORI_BIN=$MAMORI
else
  cargo build --release -q -p mamori
  MAMORI_BIN=$TARGET/release/mamori
fi
WORK=$(mktemp -d /tmp/mamori-bench-waf.XXXX)
chmod 755 "$WORK"   # nginx's workers (www-data) read the page from here
trap 'nginx -p "$WORK" -c "$WORK/nginx.conf" -s stop 2>/dev/null || true; kill ${MAMORI_PID:-} ${BARE_PID:-} 2>/dev/null || true; rm -rf "$WORK"' EXIT

# ModSecurity with Debian's CRS at PL1, blocking, with the request/response body settings of
# ModSecurity's recommended configuration (Debian ships no copy of it).
cat > "$WORK/modsecurity.conf" <<CONF
SecRuleEngine On
SecRequestBodyAccess On
SecRequestBodyLimit 13107200
SecRequestBodyNoFilesLimit 131072
SecRequestBodyLimitAction Reject
SecResponseBodyAccess On
SecResponseBodyMimeType text/plain text/html text/xml
SecResponseBodyLimit 524288
SecResponseBodyLimitAction ProcessPartial
SecArgumentSeparator &
SecCookieFormat 0
SecAuditEngine Off
SecUnicodeMapFile /etc/nginx/unicode.mapping 20127
CONF
if [ "$CRS_DIR" = /usr/share/modsecurity-crs ]; then
  CRS_SETUP=/etc/modsecurity/crs/crs-setup.conf
elif [ -f "$CRS_DIR/crs-setup.conf" ]; then
  CRS_SETUP=$CRS_DIR/crs-setup.conf
else
  CRS_SETUP=$CRS_DIR/crs-setup.conf.example
fi
cat > "$WORK/modsec-main.conf" <<CONF
Include $WORK/modsecurity.conf
Include $CRS_SETUP
Include $CRS_DIR/rules/*.conf
CONF
echo "CRS: $CRS_DIR (setup: $CRS_SETUP)"
mkdir -p "$WORK/html" "$WORK/logs"
head -c 2000 /dev/zero | tr '\0' 'x' > "$WORK/html/index.html"
# nginx runs as many workers as Mamori runs serving threads (one per core, as Debian's
# default `worker_processes auto`): with one worker, ModSecurity was held to one core while
# Mamori used two, which doubled the ratio against it.
CORES=$(nproc)
cat > "$WORK/nginx.conf" <<CONF
load_module $MODSEC_MOD;
worker_processes $CORES;
error_log $WORK/logs/error.log warn;
pid $WORK/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  upstream backend { server 127.0.0.1:18100; keepalive 64; }
  server { listen 127.0.0.1:18100; root $WORK/html;
           error_page 405 =200 /index.html;
           location / { try_files /index.html =404; } }
  server { listen 127.0.0.1:18101;
           location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; } }
  server { listen 127.0.0.1:18102; modsecurity on; modsecurity_rules_file $WORK/modsec-main.conf;
           location / { proxy_pass http://backend; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
CONF
nginx -p "$WORK" -c "$WORK/nginx.conf"
"$MAMORI_BIN" --data "$WORK/mamori-data" waf serve --listen 127.0.0.1:18103 \
  --upstream http://127.0.0.1:18100 --rules "$CRS_DIR" --audit-log "$WORK/audit.jsonl" ${WAF_ARGS:-} 2>"$WORK/mamori.log" &
MAMORI_PID=$!
echo "SecRuleEngine On" > "$WORK/no-rules.conf"
"$MAMORI_BIN" --data "$WORK/mamori-bare" waf serve --listen 127.0.0.1:18104 \
  --upstream http://127.0.0.1:18100 --rules "$WORK/no-rules.conf" ${WAF_ARGS:-} 2>"$WORK/mamori-bare.log" &
BARE_PID=$!
for port in 18103 18104; do
  for i in $(seq 1 100); do curl -s -o /dev/null http://127.0.0.1:$port/ && break; sleep 0.2; done
done

cat > "$WORK/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body   = "user=alice&comment=Hello+world%2C+see+you+at+the+meeting+tomorrow&page=2"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
LUA
# Varied: every request carries a query value and a session cookie no request sent before
# (each wrk thread numbers its own), as when each request comes from a new visitor. Mamori
# remembers its work on values it has seen (see crates/mamori-waf/src/engine/memo.rs); here
# none repeat, so this is its cost on values it has never seen.
cat > "$WORK/varied.lua" <<'LUA'
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
function request()
  n = n + 1
  local v = n * 16 + (tid or 0)
  wrk.headers["Cookie"] = string.format("session=%08x%08x; theme=dark", (v * 2654435761) % 4294967296, v)
  return wrk.format("GET", string.format("/index.html?q=hello+%d&page=%d", v, v % 50))
end
LUA
# Moderate load: each connection waits 5 ms after every answer before its next request
# (wrk times a request from when it is written, so the wait is not in the latency).
cat > "$WORK/paced.lua" <<'LUA'
function delay()
  return 5
end
LUA
HDRS=(-H "Host: shop.example" -H "User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
      -H "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
      -H "Accept-Language: ja,en-US;q=0.7,en;q=0.3" -H "Accept-Encoding: gzip, deflate")

# Sanity: an attack is blocked by both WAFs, a normal request passes.
for port in 18102 18103; do
  a=$(curl -s -o /dev/null -w '%{http_code}' -H "Host: shop.example" "http://127.0.0.1:$port/?id=1%27%20union%20select%20password%20from%20users--")
  n=$(curl -s -o /dev/null -w '%{http_code}' "${HDRS[@]}" "http://127.0.0.1:$port/index.html?q=hello&page=2")
  echo "port $port: attack -> $a, normal -> $n"
done

# Warm-up, not measured: each setup serves both request kinds for 2 seconds first. Without
# it the first measured run of a setup was the slowest: Mamori's first GET run used 100 µs
# of CPU per request where the same run repeated at the end of the script used 79.
for port in 18101 18102 18103 18104; do
  wrk -t2 -c32 -d2s "${HDRS[@]}" "http://127.0.0.1:$port/index.html?q=hello&page=2" >/dev/null
  wrk -t2 -c32 -d2s -s "$WORK/post.lua" "${HDRS[@]}" "http://127.0.0.1:$port/index.html" >/dev/null
done

# CPU per request (user+system clock ticks of /proc/PID/stat over the run, in µs) of nginx's
# workers (in (a) proxy and backend, in (b) ModSecurity too, in (c) the backend only) and of
# Mamori: unlike req/s it hardly moves when other work shares the 2 cores.
NGINX_WORKERS=$(pgrep -d' ' -P "$(cat "$WORK/nginx.pid")")
HZ=$(getconf CLK_TCK)
ticks() { local p t=0; for p in "$@"; do t=$((t + $(awk '{print $14+$15}' "/proc/$p/stat"))); done; echo $t; }
declare -A PID_OF=([18103]=$MAMORI_PID [18104]=$BARE_PID)
run() { # name port kind(get|post) conns -> "rps p50 p99 non2xx nginx_us mamori_us"
  local out n0 m0
  n0=$(ticks $NGINX_WORKERS); m0=$(ticks ${PID_OF[$2]:-})
  if [ "$3" = post ]; then
    out=$(wrk -t2 -c"$4" -d"${DUR}s" --latency -s "$WORK/post.lua" "${HDRS[@]}" "http://127.0.0.1:$2/index.html")
  elif [ "$3" = varied ]; then
    out=$(wrk -t2 -c"$4" -d"${DUR}s" --latency -s "$WORK/varied.lua" "${HDRS[@]}" "http://127.0.0.1:$2/")
  elif [ "$3" = paced ]; then
    out=$(wrk -t2 -c"$4" -d"${DUR}s" --latency -s "$WORK/paced.lua" "${HDRS[@]}" "http://127.0.0.1:$2/index.html?q=hello&page=2")
  else
    out=$(wrk -t2 -c"$4" -d"${DUR}s" --latency "${HDRS[@]}" "http://127.0.0.1:$2/index.html?q=hello&page=2")
  fi
  local rps p50 p99 non2xx
  rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
  p50=$(echo "$out" | awk '$1=="50%" {print $2}')
  p99=$(echo "$out" | awk '$1=="99%" {print $2}')
  non2xx=$(echo "$out" | awk '/Non-2xx/ {print $5}')
  local reqs n1 m1
  reqs=$(echo "$out" | awk '/requests in/ {print $1}')
  n1=$(ticks $NGINX_WORKERS); m1=$(ticks ${PID_OF[$2]:-})
  echo "$rps $p50 $p99 ${non2xx:-0} $(( (n1 - n0) * 1000000 / HZ / reqs )) $(( (m1 - m0) * 1000000 / HZ / reqs ))"
}
printf "%-28s %10s %10s %10s %8s %14s %14s\n" "setup" "req/s" "p50" "p99" "non-2xx" "nginx µs/req" "mamori µs/req"
declare -A R C
# ROUNDS=n repeats the nine loaded runs n times, interleaved, and the ratios are taken from
# each setup's median req/s: on a shared machine one run says little.
for round in $(seq 1 "$ROUNDS"); do
  for kind in get post varied; do
    setups=("nginx:18101" "nginx+modsecurity+crs:18102" "mamori-waf+crs:18103")
    # With no rules a varied GET costs what a fixed one does.
    [ "$kind" = varied ] || setups+=("mamori-waf-no-rules:18104")
    for setup in "${setups[@]}"; do
      name=${setup%%:*}; port=${setup##*:}
      read -r rps p50 p99 bad ncpu mcpu < <(run "$name" "$port" "$kind" 32)
      R[$name-$kind]+="$rps "
      C[$name-$kind]+="$((ncpu + mcpu)) "
      printf "%-28s %10s %10s %10s %8s %14s %14s\n" "$name ($kind)" "$rps" "$p50" "$p99" "$bad" "$ncpu" "$mcpu"
    done
  done
done
for kind in get post varied; do
  python3 - "${R[nginx-$kind]}" "${R[nginx+modsecurity+crs-$kind]}" "${R[mamori-waf+crs-$kind]}" "$kind" \
    "${C[nginx+modsecurity+crs-$kind]}" "${C[mamori-waf+crs-$kind]}" <<'PY'
import statistics, sys
a, b, c, _, mb, mc = (statistics.median(float(x) for x in arg.split()) if i != 3 else 0
                      for i, arg in enumerate(sys.argv[1:7]))
kind, n = sys.argv[4], len(sys.argv[1].split())
over = f" (medians of {n} runs: {a:.0f} / {b:.0f} / {c:.0f} req/s)" if n > 1 else ""
# The targets are for the benchmark's fixed requests; the varied run is reported beside them.
t20, t50 = ("", "") if kind == "varied" else (" (target >= 20x)", " (target >= 50%)")
print(f"{kind}: mamori / modsecurity = {c/b:.1f}x{t20}; mamori / nginx = {c/a*100:.0f}%{t50}{over}")
# The servers' CPU per request (nginx's workers, backend included, plus Mamori): the ratio
# that does not depend on how the 2 cores are shared with wrk.
print(f"{kind}: server CPU per request: modsecurity {mb:.0f} µs, mamori {mc:.0f} µs (backend included) = {mb/mc:.1f}x less")
PY
done
# The ceiling: Mamori's proxy with no rules, against ModSecurity and nginx.
for kind in get post; do
  python3 - "${R[nginx-$kind]}" "${R[nginx+modsecurity+crs-$kind]}" "${R[mamori-waf-no-rules-$kind]}" "$kind" <<'PY'
import statistics, sys
a, b, d = (statistics.median(float(x) for x in arg.split()) for arg in sys.argv[1:4])
print(f"{sys.argv[4]}: ceiling: mamori with no rules {d:.0f} req/s = {d/b:.1f}x modsecurity, {d/a*100:.0f}% of nginx; 20x modsecurity = {20*b:.0f} req/s = {20*b/a*100:.0f}% of nginx")
PY
done
# Added latency: backend direct vs through Mamori. At moderate load — 8 connections, each
# waiting 5 ms between requests (about 1,500 req/s, a quarter of Mamori's capacity here),
# ROUNDS times alternately — and, for comparison, with 4 connections sending back to back,
# which keeps the two cores busy: there the latency is mostly waiting for a core.
for round in $(seq 1 "$ROUNDS"); do
  read -r drps d50 d99 _ _ _ < <(run backend 18100 paced 8)
  read -r mrps m50 m99 _ _ _ < <(run mamori 18103 paced 8)
  echo "moderate load ($drps / $mrps req/s) p99: backend $d99, through mamori $m99 (p50 $d50 -> $m50); target: <= 1 ms added"
done
read -r _ d50 d99 _ _ _ < <(run backend 18100 get 4)
read -r _ m50 m99 _ _ _ < <(run mamori 18103 get 4)
echo "4 connections back to back p99: backend $d99, through mamori $m99 (p50 $d50 -> $m50)"
# The benchmark's requests match no rule; the audit records are the sanity check's attack and
# the start-up check's bare request (numeric Host). The log is rotated at 100 MiB: count all.
cat "$WORK"/audit.jsonl* 2>/dev/null | grep -c . | sed 's/^/audit records: /' || true
