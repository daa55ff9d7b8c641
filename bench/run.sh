#!/bin/sh
# ggswap's benchmarks (`make bench`). Every figure is measured against a baseline measured in the
# same run on the same machine: fake-upstream hit directly, Debian's nginx as a plain reverse
# proxy, a direct stop/start of llama-server, and llama.cpp's own router mode. Prints one table
# and writes it, with the machine and the command, into docs/BENCHMARKS.md.
# Only loopback traffic (127.0.0.1). Release build only (build/ggswap, `make all`).
#
# Environment: BENCH_SECS (wrk seconds per point, default 18), BENCH_OUT (default
# docs/BENCHMARKS.md; "-" to write nothing), BENCH_PORT (first of ~12 ports, default 28500),
# BENCH_ONLY (one part: proxy, streams, real, memory or startup; the idle RSS and the discovery
# and start-up figures are measured in every run, which is all that BENCH_ONLY=startup does; with
# BENCH_ONLY the table is printed and BENCH_OUT defaults to "-", so the page keeps the full run).
set -u
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
B=$ROOT/build
SECS=${BENCH_SECS:-18}
ONLY=${BENCH_ONLY:-}
case $ONLY in ""|proxy|streams|real|memory|startup) ;; *) echo "bench: BENCH_ONLY=$ONLY: not proxy, streams, real, memory or startup" >&2; exit 2 ;; esac
if [ -n "$ONLY" ]; then OUT=${BENCH_OUT:--}; else OUT=${BENCH_OUT:-docs/BENCHMARKS.md}; fi
P0=${BENCH_PORT:-28500}
P_FAKE=$P0 P_GFAKE=$((P0 + 1)) P_NGINX=$((P0 + 2)) P_GG=$((P0 + 3)) P_GG2=$((P0 + 4))
P_A=$((P0 + 5)) P_B=$((P0 + 6)) P_DIRECT=$((P0 + 7)) P_ROUTER=$((P0 + 8)) P_START=$((P0 + 9))
T=$(mktemp -d /tmp/ggswap-bench.XXXXXX)
RES=$T/results   # figure|value|baseline name|baseline value|ratio
: > "$RES"
PIDS=""
START_S=$(date +%s)

say() { echo "bench: $*" >&2; }
die() { say "FAILED: $*"; exit 1; }
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null; done
    sleep 0.3
    for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
    rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for f in ggswap fake-upstream ggswap-mkgguf; do [ -x "$B/$f" ] || die "$B/$f is missing; run 'make all' first"; done
command -v wrk >/dev/null || die "wrk is not installed (make deps installs it)"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || die "nginx is not installed (make deps installs nginx-light)"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null
mkdir -p "$B/bench"
cc -std=gnu11 -O2 -Wall -Wextra -o "$B/bench/bclient" bench/bclient.c || die "could not build bench/bclient.c"
BC=$B/bench/bclient
for p in $P_FAKE $P_GFAKE $P_NGINX $P_GG $P_GG2 $P_A $P_B $P_DIRECT $P_ROUTER $P_START; do
    ! (echo > /dev/tcp/127.0.0.1/$p) 2>/dev/null || die "port $p is taken; set BENCH_PORT to a free range"
done 2>/dev/null

# ---- helpers --------------------------------------------------------------------------------
part() { [ -z "$ONLY" ] || [ "$ONLY" = "$1" ]; }  # PART: whether this run measures it
# row FIGURE VALUE BASELINE_NAME BASELINE_VALUE: the ratio is VALUE / BASELINE_VALUE.
row() {
    _ratio=$(awk -v a="$2" -v b="$4" 'BEGIN { if (a == "" || b == "" || a !~ /^[0-9.]+$/ || b !~ /^[0-9.]+$/ || b + 0 == 0) print "n/a"; else printf "%.2f", a / b }')
    echo "$1|$2|$3|$4|$_ratio" >> "$RES"
    printf 'bench: %-58s %12s   %-22s %12s   %s\n' "$1" "$2" "$3" "$4" "$_ratio" >&2
}
kv() { echo "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1; }
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
alive() { kill -0 "$1" 2>/dev/null; }
wait_health() {  # PORT PID: until GET /health is 200
    i=0
    while [ $i -lt 300 ]; do
        curl -sf -o /dev/null "http://127.0.0.1:$1/health" && return 0
        alive "$2" || return 1
        sleep 0.05; i=$((i + 1))
    done
    return 1
}
chat() {  # PORT MODEL
    curl -sf -o /dev/null -H 'Content-Type: application/json' "http://127.0.0.1:$1/v1/chat/completions" \
        -d "{\"model\":\"$2\",\"max_tokens\":1,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}"
}
wrk_point() {  # PORT CONNS [SECONDS]: prints the BENCH line of post.lua
    th=2; [ "$2" -lt 2 ] && th=1
    wrk -t$th -c"$2" -d"${3:-$SECS}s" --timeout 10s -s bench/post.lua "http://127.0.0.1:$1/v1/chat/completions" 2>&1 |
        sed -n 's/^BENCH //p'
}
fmedian() {  # "v1 v2 ...": the median (lower middle) of numbers with decimals, or empty
    echo "$1" | tr ' ' '\n' | grep -E '^[0-9]+(\.[0-9]+)?$' | sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
median() {  # ",v1,v2,...": the median (lower middle), or empty
    echo "$1" | tr ',' '\n' | grep -E '^[0-9]+$' | sort -n | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'
}
TICK_US=$(( 1000000 / $(getconf CLK_TCK) ))
ticks() {  # PID [children]: utime+stime so far (clock ticks), with its children's with "children"
    t=0
    for p in $1 $([ "${2:-}" = children ] && cat "/proc/$1/task/$1/children" 2>/dev/null); do
        t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo $t
}
cpu_stat() { awk '/^cpu / { print $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
steal_pct() {  # "STEAL0 TOTAL0": the share of the CPU time since then that the host took (steal)
    echo "$1 $(cpu_stat)" | awk '{ if ($4 > $2) printf "%.1f", ($3 - $1) * 100 / ($4 - $2); else print 0 }'
}
proxy_ticks() {  # direct|nginx|ggswap: the ticks of the process that serves that port
    case $1 in direct) ticks $FAKE ;; nginx) ticks $NG children ;; ggswap) ticks $GG ;; esac
}
cpu_per_req() {  # TICKS REQUESTS: µs of CPU per request, or empty
    awk -v t="$1" -v n="$2" -v u="$TICK_US" 'BEGIN { if (n > 0) printf "%.2f", t * u / n }'
}
ms_since() { echo $(( ($(date +%s%N) - $1) / 1000000 )); }

# ---- the processes ----------------------------------------------------------------------------
cat > "$T/fake.yaml" <<EOF
# ggswap's side of the proxy benchmark: one model whose cmd runs fake-upstream. The default
# concurrencyLimit (10, as in llama-swap) would answer 429 at 16 and 256 connections.
healthCheckTimeout: 30
logLevel: info
# Not the default 5800, which other ggswaps on a shared machine (tests) may hold.
startPort: $((P0 + 20))
models:
  fake:
    cmd: $B/fake-upstream --port \${PORT} --model fake
    proxy: http://127.0.0.1:\${PORT}
    concurrencyLimit: 100000
    ttl: 0
EOF
GG_CRASHES=0
start_ggswap() {
    "$B/ggswap" serve --config "$T/fake.yaml" --home "$T/gghome" --listen "127.0.0.1:$P_GG" \
        >>"$T/ggswap.log" 2>&1 &
    GG=$!
    PIDS="$PIDS $GG"
    wait_health $P_GG $GG || die "ggswap did not start; see its log: $(tail -n 5 "$T/ggswap.log")"
    chat $P_GG fake || die "ggswap could not load the fake model: $(tail -n 5 "$T/ggswap.log")"
}
ensure_ggswap() {
    if ! alive "$GG"; then
        GG_CRASHES=$((GG_CRASHES + 1))
        say "ggswap (pid $GG) died: $(grep -i -m1 -E 'segv|signal|abort' "$T/ggswap.log" || echo 'no message'); restarting"
        start_ggswap
    fi
}

# The direct baseline: fake-upstream of its own, which nginx also forwards to.
"$B/fake-upstream" --port $P_FAKE --model fake 2>"$T/fake.log" &
FAKE=$!
PIDS="$PIDS $FAKE"
wait_health $P_FAKE $FAKE || die "fake-upstream did not start"

# nginx: a plain reverse proxy with keep-alive on both sides, one worker (ggswap runs one loop),
# no access log (ggswap logs no line per request at logLevel info), no buffering (SSE).
mkdir -p "$T/nginx/logs"
cat > "$T/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 65536;
pid $T/nginx/nginx.pid;
error_log $T/nginx/logs/error.log warn;
events { worker_connections 30000; }
http {
  access_log off;
  client_body_temp_path $T/nginx/body;
  proxy_temp_path $T/nginx/proxy;
  fastcgi_temp_path $T/nginx/fastcgi;
  uwsgi_temp_path $T/nginx/uwsgi;
  scgi_temp_path $T/nginx/scgi;
  keepalive_requests 100000000;
  keepalive_timeout 300s;
  upstream fake { server 127.0.0.1:$P_FAKE; keepalive 1024; keepalive_requests 100000000; keepalive_timeout 300s; }
  server {
    listen 127.0.0.1:$P_NGINX backlog=4096;
    location / {
      proxy_pass http://fake;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_read_timeout 300s;
    }
  }
}
EOF
"$NGINX" -p "$T/nginx" -c "$T/nginx/nginx.conf" -e "$T/nginx/logs/error.log" 2>"$T/nginx.err" &
NG=$!
PIDS="$PIDS $NG"
wait_health $P_NGINX $NG || die "nginx did not start: $(cat "$T/nginx.err" "$T/nginx/logs/error.log" 2>/dev/null | tail -n 3)"

start_ggswap
sleep 0.5
GG_IDLE_RSS=$(rss $GG)
NG_IDLE_RSS=$(rss $NG)
FAKE_IDLE_RSS=$(rss $FAKE)

# ---- 1. proxy overhead ------------------------------------------------------------------------
if part proxy; then
# The machine is shared: load from elsewhere comes and goes within seconds. So each point is
# ROUNDS interleaved runs of SECS/ROUNDS seconds, and the figures are the medians over the
# rounds: a burst of load falls on one round of each, not on one of the three whole. The order
# turns round every round (direct, nginx, ggswap, then ggswap, nginx, direct), so that neither
# proxy always runs right after the other (a socket backlog, a CPU still busy with the last run).
ROUNDS=${BENCH_ROUNDS:-9}
RSECS=$(( SECS / ROUNDS )); [ "$RSECS" -ge 1 ] || RSECS=1
say "1. proxy overhead: wrk ${SECS}s per point ($ROUNDS interleaved rounds of ${RSECS}s, the order reversed every round, medians), small non-streaming POST /v1/chat/completions, keep-alive"
for c in 1 16 256; do
    for who in direct nginx ggswap; do eval "${who}_all_rps='' ${who}_all_p50='' ${who}_all_p99='' ${who}_err=0 ${who}_req=0 ${who}_ticks=0"; done
    rr="" st0=$(cpu_stat)
    for r in $(seq "$ROUNDS"); do
        order="direct nginx ggswap"; [ $((r % 2)) = 0 ] && order="ggswap nginx direct"
        for who in $order; do
            case $who in direct) port=$P_FAKE ;; nginx) port=$P_NGINX ;; ggswap) ensure_ggswap; port=$P_GG ;; esac
            # CPU per request depends far less on the machine's other load than req/s does.
            t0=$(proxy_ticks $who)
            line=$(wrk_point $port $c $RSECS)
            t1=$(proxy_ticks $who)
            [ -n "$line" ] || line="requests=0 rps= p50_us= p99_us= errors=1"
            eval "${who}_req=\$(( ${who}_req + $(kv "$line" requests) )) ${who}_ticks=\$(( ${who}_ticks + t1 - t0 ))"
            eval "${who}_all_rps=\"\$${who}_all_rps $(kv "$line" rps)\" ${who}_all_p50=\"\$${who}_all_p50 $(kv "$line" p50_us)\" ${who}_all_p99=\"\$${who}_all_p99 $(kv "$line" p99_us)\""
            eval "${who}_err=\$(( ${who}_err + $(kv "$line" errors) ))"
            eval "${who}_last_rps=$(kv "$line" rps)"
        done
        # shellcheck disable=SC2154
        rr="$rr $(awk -v a="$ggswap_last_rps" -v b="$nginx_last_rps" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }')"
    done
    for who in direct nginx ggswap; do
        eval "${who}_rps=\$(fmedian \"\$${who}_all_rps\") ${who}_p50=\$(fmedian \"\$${who}_all_p50\") ${who}_p99=\$(fmedian \"\$${who}_all_p99\")"
        eval "say \"  c=$c $who: req/s per round:\$${who}_all_rps; median \$${who}_rps, p50 \$${who}_p50 µs, p99 \$${who}_p99 µs, errors \$${who}_err\""
    done
    say "  c=$c ggswap/nginx req/s per round:$rr (CPU time taken by the host meanwhile, steal: $(steal_pct "$st0") %)"
    alive "$GG" || say "  ggswap died at the end of the c=$c run (see findings)"
    # shellcheck disable=SC2154
    {
        row "req/s, c=$c: ggswap" "$ggswap_rps" "direct" "$direct_rps"
        row "req/s, c=$c: nginx" "$nginx_rps" "direct" "$direct_rps"
        # Paired: each round's two runs are seconds apart, so a shift of the machine's load
        # between rounds cancels out of their ratio, not out of a ratio of two medians.
        row "req/s, c=$c: ggswap / nginx, median of the rounds' ratios" "$(fmedian "$rr")" "nginx = 1" 1
        row "p50 latency µs, c=$c: ggswap" "$ggswap_p50" "direct" "$direct_p50"
        row "p50 latency µs, c=$c: nginx" "$nginx_p50" "direct" "$direct_p50"
        row "p99 latency µs, c=$c: ggswap" "$ggswap_p99" "direct" "$direct_p99"
        row "p99 latency µs, c=$c: nginx" "$nginx_p99" "direct" "$direct_p99"
        row "added p50 latency µs, c=$c: ggswap" "$((ggswap_p50 - direct_p50))" "nginx adds" "$((nginx_p50 - direct_p50))"
        row "proxy CPU µs per request, c=$c: ggswap" "$(cpu_per_req $ggswap_ticks $ggswap_req)" "nginx" "$(cpu_per_req $nginx_ticks $nginx_req)"
    }
    [ "$ggswap_err$nginx_err$direct_err" = 000 ] || say "  errors: direct $direct_err, nginx $nginx_err, ggswap $ggswap_err"
done
fi

# ---- 2. streaming -----------------------------------------------------------------------------
if part streams; then
say "2. streaming: forwarding delay of each chunk (fake-upstream's send stamp → client read)"
ensure_ggswap
SROUNDS=${BENCH_STREAM_ROUNDS:-7}
for spec in "1 100 20" "1000 40 50"; do
    set -- $spec
    n=$1 chunks=$2 cms=$3
    # Interleaved rounds as in section 1; each figure is the median of the rounds' figures.
    for w in d ng g; do eval "${w}_p50s='' ${w}_p99s=''"; done
    for r in $(seq "$SROUNDS"); do
        d=$($BC streams $P_FAKE "$n" "$chunks" "$cms" fake "$FAKE")
        say "  $n streams direct: $d"
        ng=$($BC streams $P_NGINX "$n" "$chunks" "$cms" fake "$NG")
        say "  $n streams nginx:  $ng"
        ensure_ggswap
        g=$($BC streams $P_GG "$n" "$chunks" "$cms" fake "$GG")
        say "  $n streams ggswap: $g"
        for w in d ng g; do
            eval "v=\$$w"
            eval "${w}_p50s=\"\$${w}_p50s $(kv "$v" p50_us)\" ${w}_p99s=\"\$${w}_p99s $(kv "$v" p99_us)\""
        done
        [ "$(kv "$g" errors)$(kv "$g" unfinished)" = 00 ] || say "  ggswap stream errors: $g"
    done
    for q in p50 p99; do
        eval "mg=\$(fmedian \"\$g_${q}s\") mn=\$(fmedian \"\$ng_${q}s\") md=\$(fmedian \"\$d_${q}s\")"
        say "  $n streams $q per round: direct$(eval echo \"\$d_${q}s\"), nginx$(eval echo \"\$ng_${q}s\"), ggswap$(eval echo \"\$g_${q}s\")"
        row "chunk delay $q µs, $n stream(s) every ${cms} ms: ggswap" "$mg" "direct" "$md"
        row "chunk delay $q µs, $n stream(s) every ${cms} ms: nginx" "$mn" "direct" "$md"
        [ "$n" = 1000 ] && [ "$q" = p99 ] && row "chunk delay p99 µs, 1000 streams: ggswap vs nginx" "$mg" "nginx" "$mn"
    done
    if [ "$n" = 1000 ]; then
        STREAM_RSS_GG=$(kv "$g" rss_kb) STREAM_RSS_NG=$(kv "$ng" rss_kb)
    fi
done
fi

# ---- 2b/3. a real llama-server: time to first token, swaps ------------------------------------
LS=$(sh scripts/get-llama-server 2>"$T/get-llama.log" | tail -n 1)
if part real && [ -n "$LS" ] && [ -x "$LS" ]; then
    say "3. real llama-server ($LS): writing two 110 MB models"
    mkdir -p "$T/models"
    "$B/ggswap-mkgguf" tiny "$T/models/a.gguf" --name a --seed 1 --embd 512 --layers 8 --ff 1536 &&
        "$B/ggswap-mkgguf" tiny "$T/models/b.gguf" --name b --seed 2 --embd 512 --layers 8 --ff 1536 ||
        die "ggswap-mkgguf tiny failed"
    LSARGS="-c 512 -t 2 --no-webui"
    "$LS" --help 2>/dev/null | grep -q -- '--no-webui' || LSARGS="-c 512 -t 2"
    cat > "$T/real.yaml" <<EOF
healthCheckTimeout: 60
logLevel: info
models:
  a:
    cmd: $LS -m $T/models/a.gguf --port $P_A $LSARGS
    proxy: http://127.0.0.1:$P_A
  b:
    cmd: $LS -m $T/models/b.gguf --port $P_B $LSARGS
    proxy: http://127.0.0.1:$P_B
EOF
    "$B/ggswap" serve --config "$T/real.yaml" --home "$T/gghome2" --listen "127.0.0.1:$P_GG2" >"$T/ggswap2.log" 2>&1 &
    GG2=$!
    PIDS="$PIDS $GG2"
    wait_health $P_GG2 $GG2 || die "ggswap (real models) did not start: $(tail -n 5 "$T/ggswap2.log")"
    chat $P_GG2 a || die "ggswap could not load model a: $(tail -n 5 "$T/ggswap2.log")"
    TT='{"model":"a","stream":true,"max_tokens":4,"temperature":0,"messages":[{"role":"user","content":"hi"}]}'
    $BC ttfb $P_A /v1/chat/completions "$TT" 3 >/dev/null  # warm both paths
    $BC ttfb $P_GG2 /v1/chat/completions "$TT" 3 >/dev/null
    # Alternate, so that the other engineers' load falls on both alike.
    td="" tg=""
    for k in $(seq 15); do
        td="$td,$(kv "$($BC ttfb $P_A /v1/chat/completions "$TT" 1)" data_p50_us)"
        tg="$tg,$(kv "$($BC ttfb $P_GG2 /v1/chat/completions "$TT" 1)" data_p50_us)"
    done
    say "  time to first token (µs) direct:$td"
    say "  time to first token (µs) ggswap:$tg"
    row "time to first token p50 µs (real llama-server, 110 MB model): ggswap" "$(median "$tg")" "direct" "$(median "$td")"

    # Swaps, three ways, in interleaved rounds (two swaps each: A→B, B→A).
    # shellcheck disable=SC2086
    "$LS" --models-dir "$T/models" --models-max 1 --port $P_ROUTER $LSARGS >"$T/router.log" 2>&1 &
    RT=$!
    PIDS="$PIDS $RT"
    wait_health $P_ROUTER $RT || say "  llama.cpp's router did not start: $(tail -n 3 "$T/router.log")"
    sg="" sd="" sr="" sstop="" shealth=""
    for k in 1 2 3; do
        g=$($BC swap $P_GG2 a b 1)
        say "  swap through ggswap: $g"
        sg="$sg,$(kv "$g" all_us)"
        d=$($BC swapdirect $P_DIRECT 1 -- "$LS" -m "$T/models/a.gguf" --port $P_DIRECT $LSARGS \
            -- "$LS" -m "$T/models/b.gguf" --port $P_DIRECT $LSARGS)
        say "  swap by hand (SIGTERM A, wait, start B, poll /health every 1 ms, request): $d"
        sd="$sd,$(kv "$d" all_us)" sstop="$sstop,$(kv "$d" stop_all_us)" shealth="$shealth,$(kv "$d" health_all_us)"
        if alive $RT; then
            r=$($BC swap $P_ROUTER a b 1)
            say "  swap through llama.cpp's router (--models-max 1): $r"
            sr="$sr,$(kv "$r" all_us)"
        fi
    done
    kill $RT $GG2 2>/dev/null; wait $RT $GG2 2>/dev/null
    g="p50_us=$(median "$sg")" d="p50_us=$(median "$sd") stop_p50_us=$(median "$sstop") start_to_health_p50_us=$(median "$shealth")" r="p50_us=$(median "$sr")"
    row "swap A→B, request to first byte, p50 µs: ggswap" "$(kv "$g" p50_us)" "by hand (stop+start+req)" "$(kv "$d" p50_us)"
    row "swap A→B, request to first byte, p50 µs: ggswap" "$(kv "$g" p50_us)" "llama.cpp router" "$(kv "$r" p50_us)"
    row "  by hand: stop A p50 µs" "$(kv "$d" stop_p50_us)" "-" ""
    row "  by hand: start B to /health 200 p50 µs" "$(kv "$d" start_to_health_p50_us)" "-" ""
else
    part real && say "3. SKIPPED time to first token and swap figures: no llama-server ($(tail -n 2 "$T/get-llama.log" | tr '\n' ' '))"
    part real && row "time to first token / swaps" "skipped: no llama-server" "-" ""
fi

# ---- 4. memory --------------------------------------------------------------------------------
say "4. memory (VmRSS)"
ensure_ggswap
row "RSS kB, idle (model loaded, no clients): ggswap" "$GG_IDLE_RSS" "nginx" "$NG_IDLE_RSS"
if part memory; then
i=$($BC idle $P_GG 10000 "$GG")
say "  10,000 idle keep-alive connections, ggswap: $i"
j=$($BC idle $P_NGINX 10000 "$NG")
say "  10,000 idle keep-alive connections, nginx: $j"
row "RSS kB, 10,000 idle keep-alive connections: ggswap" "$(kv "$i" rss_kb)" "nginx" "$(kv "$j" rss_kb)"
row "bytes per idle connection: ggswap" "$(kv "$i" per_conn_bytes)" "nginx" "$(kv "$j" per_conn_bytes)"
row "RSS kB, 1,000 concurrent streams: ggswap" "${STREAM_RSS_GG:-}" "nginx" "${STREAM_RSS_NG:-}"
ensure_ggswap
sleep 1
# RSS is sampled every 0.2 s while wrk runs: wrk closes connections with answers in flight when
# it stops, which must not, but may, take ggswap down (see docs/BENCHMARKS.md).
sample_rss() {  # PID FILE
    while alive "$1"; do r=$(rss "$1"); [ -n "$r" ] && echo "$r" > "$2"; sleep 0.2; done
}
mem_run() {  # SECONDS FILE: wrk at 16 connections; prints its BENCH line
    sample_rss $GG "$2" &
    SP=$!
    wrk -t2 -c16 -d"$1s" --timeout 10s -s bench/post.lua "http://127.0.0.1:$P_GG/v1/chat/completions" 2>&1 | sed -n 's/^BENCH //p'
    sleep 0.3
    kill $SP 2>/dev/null; wait $SP 2>/dev/null
}
# wrk runs for a time, not a count: 1 s gives the first ~10,000 requests; then 10 s runs until
# the total passes 1,000,000 (or 150 s have passed; the total is reported as it is).
t0=$(date +%s%N)
m1=$(mem_run 1 "$T/rss10k")
N1=$(kv "$m1" requests)
R10K=$(cat "$T/rss10k" 2>/dev/null)
say "  first run: $m1, RSS $R10K kB"
NT=${N1:-0}
while [ "$NT" -lt 1000000 ] && [ "$(ms_since "$t0")" -lt 150000 ]; do
    ensure_ggswap
    m2=$(mem_run 10 "$T/rss1m")
    NT=$((NT + $(kv "$m2" requests)))
    say "  $m2; $NT requests so far, RSS $(cat "$T/rss1m" 2>/dev/null) kB"
done
R1M=$(cat "$T/rss1m" 2>/dev/null)
row "RSS kB after $NT requests (goal 1,000,000): ggswap" "$R1M" "after first $N1" "$R10K"
fi

# ---- 5. discovery and start-up ----------------------------------------------------------------
say "5. discovery: writing 1,000 GGUF fixtures"
mkdir -p "$T/scan/a" "$T/scan/b"
i=0
while [ $i -lt 1000 ]; do
    sub=a; [ $((i % 2)) = 1 ] && sub=b
    "$B/ggswap-mkgguf" meta "$T/scan/$sub/model$i-7b-instruct-q4_k_m.gguf" --arch llama --size-label 7B \
        --ctx 4096 --chat-template >/dev/null || die "ggswap-mkgguf meta failed"
    i=$((i + 1))
done
"$B/ggswap" scan --models-dir "$T/scan" >/dev/null  # warm the page cache for both
$BC readheads "$T/scan" >/dev/null
best_scan="" best_read=""
for k in 1 2 3; do
    t0=$(date +%s%N)
    n=$("$B/ggswap" scan --models-dir "$T/scan" | tail -n 1)
    s=$(( ($(date +%s%N) - t0) / 1000 ))
    rh=$(kv "$($BC readheads "$T/scan")" us)
    [ -z "$best_scan" ] || [ "$s" -lt "$best_scan" ] && best_scan=$s
    [ -z "$best_read" ] || [ "$rh" -lt "$best_read" ] && best_read=$rh
done
say "  ggswap scan: $n, best of 3 $best_scan µs; reading the first 64 KB of each file: $best_read µs"
row "scan 1,000 GGUF files µs (ggswap scan, whole process)" "$best_scan" "open+read 64 KB each" "$best_read"

best() {  # N CMD...: best startup_us of N runs
    n=$1; shift
    b=""
    for k in $(seq "$n"); do
        v=$(kv "$($BC startup "$@")" startup_us)
        [ -n "$v" ] && [ "$v" -ge 0 ] && { [ -z "$b" ] || [ "$v" -lt "$b" ]; } && b=$v
    done
    echo "$b"
}
sg=$(best 5 $P_START -- "$B/ggswap" serve --config "$T/fake.yaml" --home "$T/gghome3" --listen 127.0.0.1:$P_START)
sf=$(best 5 $P_START -- "$B/fake-upstream" --port $P_START)
row "start-up to /health 200 µs: ggswap serve --config (1 model)" "$sg" "fake-upstream" "$sf"
sgd=$(best 3 $P_START -- "$B/ggswap" serve --models-dir "$T/scan" --home "$T/gghome4" --llama-server /bin/true --listen 127.0.0.1:$P_START)
if [ -n "$LS" ] && [ -x "$LS" ]; then
    sr=$(best 3 $P_START -- "$LS" --models-dir "$T/scan" --port $P_START)
else
    sr=""
fi
row "start-up to /health 200 µs, 1,000 GGUF files in --models-dir: ggswap" "$sgd" "llama.cpp router" "$sr"

TOTAL_S=$(( $(date +%s) - START_S ))
[ "$GG_CRASHES" = 0 ] || say "ggswap crashed $GG_CRASHES time(s) during the run and was restarted; see $OUT"
row "ggswap crashes during the run (restarted each time)" "$GG_CRASHES" "-" ""

# ---- the table ---------------------------------------------------------------------------------
table() {
    echo "| figure | value | baseline | baseline value | ratio |"
    echo "|---|---:|---|---:|---:|"
    awk -F'|' '{ printf "| %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5 }' "$RES"
}
echo
table
echo
echo "total run time: ${TOTAL_S} s"
if [ "$OUT" != "-" ]; then
    {
        echo "# Benchmarks"
        echo
        echo "Produced by \`make bench\` (\`sh bench/run.sh\`, wrk ${SECS} s per point) on $(date -u '+%Y-%m-%d %H:%M UTC'),"
        echo "ggswap $(git describe --always --dirty 2>/dev/null), total run time ${TOTAL_S} s."
        echo
        echo "Machine: $(nproc) CPUs ($(sed -n 's/^model name[^:]*: //p' /proc/cpuinfo | head -n 1)), kernel $(uname -r),"
        echo "load average at the end $(cut -d' ' -f1-3 /proc/loadavg) (the machine is shared; every figure is a"
        echo "ratio to a baseline measured minutes apart in the same run). Tools: $(wrk -v 2>&1 | head -n 1 | cut -d' ' -f1-2),"
        echo "$("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), llama-server $( [ -n "$LS" ] && "$LS" --version 2>&1 | sed -n 's/^version: //p' | head -n 1)."
        echo
        echo "Ratio = value / baseline value: for req/s higher is better, for latency, time and memory lower is better."
        echo
        table
        echo
        cat bench/ANALYSIS.md
    } > "$OUT.tmp" && mv "$OUT.tmp" "$OUT"
    say "wrote $OUT"
fi
