#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Real-kernel benchmark (issue 17): a real HTTP client through the NAT router, side by side in
# one run, under ctpilot and under an unlimited table.
#
# Topology from tests/kernel/lib.sh: clients -> router (masquerade) -> servers. nginx serves
# `return 200` on $CTP_SERVER_IP:80 in the servers' netns; wrk in the clients' netns sends
# `Connection: close`, so every request is a new TCP connection, closed by nginx: an ASSURED
# TIME_WAIT entry in the router for 120 s. A sampler in the router's netns (http_stats.py) reads
# drop and early_drop of /proc/net/stat/nf_conntrack (drop is the kernel's "table full" count:
# a new connection refused), the entry count and nf_conntrack_max every 100 ms.
#
# Phases (each run once per contender per round, contenders side by side):
#   fill  wrk alone for RKB_HTTP_SECONDS from nf_conntrack_max 4096 (the issue's setup).
#         Contenders: "4096 left alone"; "defaults" = ctpilot with the built-in policy (only
#         netns = the router, so that it watches nothing but this benchmark); "ISP example" =
#         examples/policies/isp-nat-gateway.conf (netns = the router); "unlimited" = no ctpilot,
#         nf_conntrack_max and buckets at the memory budget (rkb_static_at_budget) from the start.
#   udp   a flood of one-way UDP flows to ports the servers drop (never answered: each an
#         unassured entry for udp_timeout, 30 s) at RKB_HTTP_FLOOD_FACTOR (2) times what the
#         ceiling holds at the router's udp_timeout, for RKB_HTTP_UDP_SECONDS; wrk runs during
#         its last RKB_HTTP_SECONDS (when the flood's entries peak).
#   syn   the same with bare SYNs from hping3 to filtered ports (SYN_SENT entries,
#         tcp_timeout_syn_sent 120 s), for RKB_HTTP_SYN_SECONDS.
#   quiet the no-flood reference of the flood phases: the same timing as udp (wrk during the last
#         RKB_HTTP_SECONDS of RKB_HTTP_UDP_SECONDS) without a flood; contenders "defaults" and
#         "unlimited" (wrk right after the start, as in fill, served less on this machine).
#   The flood phases give the ctpilot contenders `[max] ceiling = RKB_HTTP_CEILING` (default
#   128k) so that the flood rate stays feasible on a small machine (2 x 128k / 30 s = 8.7k UDP
#   flows/s; at 256k two generators reached 12-15k of the 17.5k/s asked on 2 busy CPUs).
#   Contenders: "defaults", "defaults, shed =" (no shedding), "ISP example", "unlimited"
#   (RKB_HTTP_FLOOD_CONTENDERS: these as defaults, defaults-noshed, isp, unlimited, and
#   defaults-shed1s = the defaults with `shed_cooldown = 1s`). Every run starts from an
#   empty table at nf_conntrack_max 4096 (unlimited: at the budget).
#   On a machine with 2 or more CPUs (RKB_HTTP_PIN=1, the default there) wrk and nginx run on
#   CPU 0 and the flood generators on the last CPU (taskset), in every phase alike: a real flood
#   comes from other machines, and on 2 shared CPUs the generators took the CPU wrk needed (every
#   contender, the unlimited table too, served 38-54% of its no-flood requests). The router's work
#   for each packet stays on the CPU that sent it (veth), so the flood's conntrack and NAT work is
#   still done by this kernel, beside wrk's. RKB_HTTP_PIN=0: no pinning.
#   relax once, after the rounds: the defaults with `relax_after = 1m` and `cooldown = 1s`
#         through one UDP flood, then ctpilot keeps running until every shed timeout is back at
#         the kernel's value (at most RKB_HTTP_RELAX_WAIT seconds): how long relaxing takes.
#
# Environment: RKB_HTTP_ROUNDS (2), RKB_HTTP_PHASES ("fill quiet udp syn relax"), RKB_HTTP_SECONDS
# (10), RKB_HTTP_UDP_SECONDS (25), RKB_HTTP_SYN_SECONDS (70), RKB_HTTP_CEILING (131072),
# RKB_HTTP_FLOOD_FACTOR (2), RKB_HTTP_CONNECTIONS (32: wrk -c; wrk -t 2), RKB_HTTP_RELAX_WAIT
# (150), RKB_HTTP_FLOOD_CONTENDERS (above), RKB_HTTP_PIN (above), RKB_FRAGMENT_SUFFIX (appended to the fragment's name). Writes
# $RKB_OUT/kernel-http$RKB_FRAGMENT_SUFFIX.md. Needs root, wrk, nginx and hping3. Holds
# /tmp/ctpilot-kernel.lock while a round runs (about 8 minutes) and gives it back between rounds
# (rkb_yield_lock); nf_conntrack_max and the buckets are restored then and at exit.

usage() {
  sed -n '3,40p' "$0" | sed 's/^# \{0,1\}//'
}

# Argument and environment validation come first: `--help` and a bad value need no root.
case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") ;;
  *) echo "http.sh: no arguments (see --help); settings come from the environment" >&2; exit 2 ;;
esac
rounds=${RKB_HTTP_ROUNDS:-2}
phases=${RKB_HTTP_PHASES:-fill quiet udp syn relax}
wrk_seconds=${RKB_HTTP_SECONDS:-10}
udp_seconds=${RKB_HTTP_UDP_SECONDS:-25}
syn_seconds=${RKB_HTTP_SYN_SECONDS:-70}
ceiling=${RKB_HTTP_CEILING:-131072}
factor=${RKB_HTTP_FLOOD_FACTOR:-2}
connections=${RKB_HTTP_CONNECTIONS:-32}
relax_wait=${RKB_HTTP_RELAX_WAIT:-150}
cpus=$(nproc)
pin=${RKB_HTTP_PIN:-$([[ $cpus -ge 2 ]] && echo 1 || echo 0)}
flood_contenders=${RKB_HTTP_FLOOD_CONTENDERS:-defaults defaults-noshed isp unlimited}
bad() { echo "http.sh: $*" >&2; exit 2; }
[[ "$rounds" =~ ^[1-9][0-9]?$ ]] || bad "RKB_HTTP_ROUNDS: 1..99, not '$rounds'"
for p in $phases; do [[ "$p" =~ ^(fill|quiet|udp|syn|relax)$ ]] || bad "RKB_HTTP_PHASES: fill, quiet, udp, syn, relax; not '$p'"; done
[[ "$wrk_seconds" =~ ^[0-9]+$ && "$wrk_seconds" -ge 2 && "$wrk_seconds" -le 120 ]] || bad "RKB_HTTP_SECONDS: 2..120"
[[ "$udp_seconds" =~ ^[0-9]+$ && "$udp_seconds" -ge "$wrk_seconds" && "$udp_seconds" -le 600 ]] ||
  bad "RKB_HTTP_UDP_SECONDS: RKB_HTTP_SECONDS..600"
[[ "$syn_seconds" =~ ^[0-9]+$ && "$syn_seconds" -ge "$wrk_seconds" && "$syn_seconds" -le 600 ]] ||
  bad "RKB_HTTP_SYN_SECONDS: RKB_HTTP_SECONDS..600"
[[ "$ceiling" =~ ^[0-9]+$ && "$ceiling" -ge 16384 && "$ceiling" -le 4194304 ]] || bad "RKB_HTTP_CEILING: 16384..4194304"
[[ "$factor" =~ ^[1-9]$ ]] || bad "RKB_HTTP_FLOOD_FACTOR: 1..9"
[[ "$connections" =~ ^[0-9]+$ && "$connections" -ge 2 && "$connections" -le 1024 ]] || bad "RKB_HTTP_CONNECTIONS: 2..1024"
for c in $flood_contenders; do
  [[ "$c" =~ ^(defaults|defaults-noshed|defaults-shed1s|isp|unlimited)$ ]] ||
    bad "RKB_HTTP_FLOOD_CONTENDERS: defaults, defaults-noshed, defaults-shed1s, isp, unlimited; not '$c'"
done
[[ "$relax_wait" =~ ^[0-9]+$ && "$relax_wait" -ge 60 && "$relax_wait" -le 1800 ]] || bad "RKB_HTTP_RELAX_WAIT: 60..1800"
[[ "$pin" == 0 || ( "$pin" == 1 && $cpus -ge 2 ) ]] || bad "RKB_HTTP_PIN: 0, or 1 with 2 or more CPUs"
# The commands that run wrk and nginx, and the flood generators (see RKB_HTTP_PIN).
serve_cpu=() flood_cpu=()
if [[ "$pin" == 1 ]]; then serve_cpu=(taskset -c 0) flood_cpu=(taskset -c $((cpus - 1))); fi

CTP_DEADLINE=${CTP_DEADLINE:-3600}
source "$(dirname "$0")/common.sh"
missing=""
for tool in wrk nginx hping3 python3; do
  command -v "$tool" >/dev/null || PATH="$PATH:/usr/sbin:/sbin" command -v "$tool" >/dev/null || missing+=" $tool"
done
# Debian: nginx-light (or nginx) has /usr/sbin/nginx.
[[ -z "$missing" ]] || ctp_skip "needs$missing (apt-get install wrk nginx-light hping3 python3)"
NGINX=$(PATH="$PATH:/usr/sbin:/sbin" command -v nginx)
STATS="$(dirname "$0")/http_stats.py"
require_root_netns

ctp_make_nat_topology
buckets=$(cat "$CTP_PROC/nf_conntrack_buckets")
read -r static_max static_buckets entry_bytes <<< "$(rkb_static_at_budget)"
ctp_log "unlimited: nf_conntrack_max $static_max, buckets $static_buckets ($entry_bytes B per entry)"
rkb_drop_silently "$CTP_SERVERS" "tcp dport 9000-9007"
rkb_drop_silently "$CTP_SERVERS" "udp dport 9100-9131"
udp_timeout=$(ctp_netns_knob "$CTP_ROUTER" nf_conntrack_udp_timeout)
syn_timeout=$(ctp_netns_knob "$CTP_ROUTER" nf_conntrack_tcp_timeout_syn_sent)
udp_rate=$(( factor * ceiling / udp_timeout + 1 ))
syn_rate=$(( factor * ceiling / syn_timeout + 1 ))
shed_knobs="udp_timeout tcp_timeout_syn_sent tcp_timeout_syn_recv tcp_timeout_unacknowledged"

# nginx in the servers' netns: one `return 200` location, no logs on disk but its error log.
mkdir -p "$CTP_TMP/nginx"
cat > "$CTP_TMP/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $CTP_TMP/nginx/nginx.pid;
error_log $CTP_TMP/nginx/error.log warn;
events { worker_connections 8192; }
http {
  access_log off;
  client_body_temp_path $CTP_TMP/nginx/body;
  server {
    listen $CTP_SERVER_IP:80 backlog=4096;
    location / { return 200 "ok\n"; }
  }
}
CONF
ctp_bg ip netns exec "$CTP_SERVERS" "${serve_cpu[@]}" "$NGINX" -p "$CTP_TMP/nginx" -c "$CTP_TMP/nginx/nginx.conf" -g "daemon off;"
sleep 1
kill -0 "$CTP_LAST_PID" 2>/dev/null || ctp_fail "nginx did not start: $(cat "$CTP_TMP/nginx/error.log" 2>/dev/null)"
ip netns exec "$CTP_CLIENTS" wrk -t 1 -c 1 -d 1s -H "Connection: close" "http://$CTP_SERVER_IP/" > "$CTP_TMP/check.txt"
if ! grep -q " requests in " "$CTP_TMP/check.txt" || grep -q "Non-2xx\|Socket errors" "$CTP_TMP/check.txt"; then
  ctp_fail "wrk through the router to nginx failed: $(cat "$CTP_TMP/check.txt")"
fi
ip netns exec "$CTP_ROUTER" conntrack -F 2>/dev/null || true

# Writes the policy of CONTENDER for PHASE to FILE: the built-in defaults (netns = the router),
# without shedding, or the ISP example; the flood phases add the ceiling.
write_policy() {
  local contender=$1 phase=$2 file=$3
  case "$contender" in
    defaults|defaults-noshed|defaults-shed1s|relax)
      {
        printf '[controller]\nnetns = %s\n' "$CTP_ROUTER"
        [[ "$phase" == fill ]] || printf '[max]\nceiling = %s\n' "$ceiling"
        if [[ "$contender" == defaults-noshed ]]; then printf '[timeouts]\nshed =\n'; fi
        if [[ "$contender" == defaults-shed1s ]]; then printf '[timeouts]\nshed_cooldown = 1s\n'; fi
        if [[ "$contender" == relax ]]; then printf '[timeouts]\nrelax_after = 1m\ncooldown = 1s\n'; fi
      } > "$file" ;;
    isp)
      sed -e "s/^netns = all .*/netns = $CTP_ROUTER/" "$RKB_SOURCE_DIR/examples/policies/isp-nat-gateway.conf" |
        { if [[ "$phase" == fill ]]; then cat; else sed "s/^ceiling = 8M .*/ceiling = $ceiling/"; fi; } > "$file" ;;
  esac
  "$CTPILOT" check-policy "$file" >/dev/null || ctp_fail "the $contender policy is invalid: $(cat "$file")"
}

# Prints the router's shed timeouts as "name=value ...".
shed_timeouts() {
  local k out=""
  for k in $shed_knobs; do out+="$k=$(ctp_netns_knob "$CTP_ROUTER" "nf_conntrack_$k") "; done
  echo "${out% }"
}

# Starts the flood of PHASE (udp or syn) in the background for SECONDS; sets FLOOD_PIDS and
# FLOOD_OUT (file prefix of the generators' reports).
start_flood() {
  local phase=$1 seconds=$2 k
  FLOOD_PIDS=()
  FLOOD_OUT="$CTP_TMP/flood-$RANDOM"
  if [[ "$phase" == udp ]]; then
    # Two generators (one alone fell behind at ~13k flows/s on the shared 2 CPUs), each with an
    # odd number of source ports of its own (31,977 and 31,999) and 32 target ports: 1M distinct
    # tuples each before one repeats (an even count would repeat after count flows: a repeated
    # tuple refreshes its entry instead of adding one).
    local ports
    k=1
    for ports in 1024-33000 33001-64999; do
      "${flood_cpu[@]}" "$LOADGEN" --netns "$CTP_CLIENTS" udp-flows --target "$CTP_SERVER_IP:9100-9131" --source-ports "$ports" \
        --rate "$(( (udp_rate + 1) / 2 ))/s" --duration "${seconds}s" > "$FLOOD_OUT.$k" 9>&- &
      FLOOD_PIDS+=("$!")
      k=$((k + 1))
    done
  else
    # 8 processes, one per filtered port, each counting its source port up from 1024: at most
    # 64,511 SYNs per process before a tuple repeats (syn_rate / 8 x seconds stays below). The
    # gap is 90% of 1 / rate: hping3 sends slower than -i says.
    local per=$(( (syn_rate + 7) / 8 ))
    for k in 0 1 2 3 4 5 6 7; do
      # SIGINT after SECONDS: hping3 then prints how many it sent (it sends slower than -i says).
      ip netns exec "$CTP_CLIENTS" "${flood_cpu[@]}" timeout -s INT "$seconds" \
        hping3 -q -S -p $(( 9000 + k )) -s 1024 -i "u$(( 900000 / per ))" -c $(( per * seconds )) \
        "$CTP_SERVER_IP" > "$FLOOD_OUT.$((k + 1))" 2>&1 9>&- &
      FLOOD_PIDS+=("$!")
    done
  fi
  CTP_PIDS+=("${FLOOD_PIDS[@]}")
}

# Prints the flood's achieved rate (new flows per second of sending) from its reports.
flood_rate() {
  local phase=$1 seconds=$2
  if [[ "$phase" == udp ]]; then
    # Flows sent / the slowest generator's time: a generator that falls behind sends late.
    python3 -c 'import json, sys
rs = [json.load(open(f)) for f in sys.argv[1:]]
print(round(sum(r["sent"] for r in rs) / max(max(r["elapsed_s"] for r in rs), 0.1)))' "$FLOOD_OUT".*
  else
    cat "$FLOOD_OUT".* | awk -v s="$seconds" '/packets tr[a-z]*mitted/ { n += $1 } END { printf "%.0f\n", n / s }'
  fi
}

# One run: CONTENDER PHASE ROUND. Prints nothing; appends a JSON line to $CTP_TMP/runs.jsonl.
run_one() {
  local contender=$1 phase=$2 round=$3 tag="$1-$2-$3" state="" flood_s=0 t0 start end summary
  ctp_log "== round $round, $phase, $contender"
  if [[ "$contender" == unlimited ]]; then
    rkb_reset_table "$CTP_SURGE_LOWERED" "$buckets"
    ctp_set_global_buckets "$static_buckets"
    ctp_set_global_max "$static_max"
  else
    rkb_reset_table "$CTP_SURGE_LOWERED" "$buckets"
  fi
  local before; before=$(shed_timeouts)
  if [[ "$contender" != unlimited && "$contender" != alone ]]; then
    state="$CTP_TMP/state-$tag"
    write_policy "$contender" "$phase" "$CTP_TMP/policy-$tag.conf"
    ctp_start_ctpilot "$CTP_TMP/policy-$tag.conf" "$state"
    sleep 1.5
  fi
  ctp_bg ip netns exec "$CTP_ROUTER" python3 "$STATS" sample "$CTP_TMP/samples-$tag.txt"
  local sampler=$CTP_LAST_PID
  # The load starts only once the sampler has its first sample: drops before it would be missed.
  local waited
  for waited in $(seq 50); do [[ -s "$CTP_TMP/samples-$tag.txt" ]] && break; sleep 0.1; done
  [[ -s "$CTP_TMP/samples-$tag.txt" ]] || ctp_fail "the sampler wrote nothing in 5 s (waited $waited)"
  sleep 0.2
  t0=$(rkb_now)
  local seen0; seen0=$(rkb_router_new_entries)
  if [[ "$phase" != fill ]]; then
    [[ "$phase" == syn ]] && flood_s=$syn_seconds || flood_s=$udp_seconds
    [[ "$phase" == quiet ]] || start_flood "${phase/relax/udp}" "$flood_s"
    sleep $(( flood_s - wrk_seconds ))
  fi
  start=$(rkb_now)
  if [[ "$phase" != relax ]]; then
    ip netns exec "$CTP_CLIENTS" "${serve_cpu[@]}" wrk -t 2 -c "$connections" -d "${wrk_seconds}s" --latency \
      -H "Connection: close" "http://$CTP_SERVER_IP/" > "$CTP_TMP/wrk-$tag.txt" 2>&1 9>&- ||
      ctp_fail "wrk failed: $(cat "$CTP_TMP/wrk-$tag.txt")"
  fi
  [[ "$phase" == fill || "$phase" == quiet ]] || wait "${FLOOD_PIDS[@]}" || true
  end=$(rkb_now)
  local rate="" seen=""
  if [[ "$phase" != fill && "$phase" != quiet ]]; then
    rate=$(flood_rate "${phase/relax/udp}" "$flood_s")
    # New entries the router saw (forwarded in state new, or dropped) minus wrk's connections,
    # per second of the flood's wall time: the rate that reached conntrack.
    seen=$(( $(rkb_router_new_entries) - seen0 ))
  fi
  local after_flood; after_flood=$(shed_timeouts)
  local relaxed_s=""
  if [[ "$phase" == relax ]]; then
    # Wait for every shed timeout to be back at its value from before the flood.
    local waited=0
    while [[ "$(shed_timeouts)" != "$before" && $waited -lt $relax_wait ]]; do sleep 1; waited=$((waited + 1)); done
    [[ "$(shed_timeouts)" == "$before" ]] && relaxed_s=$waited || relaxed_s="not within ${relax_wait}"
  fi
  kill "$sampler" 2>/dev/null || true
  if [[ -n "$state" ]]; then
    kill -0 "$CTP_CTPILOT_PID" 2>/dev/null || { ctp_show_log; ctp_fail "ctpilot run died ($tag)"; }
    ctp_stop "$CTP_CTPILOT_PID"
  fi
  local journal="" wrk="$CTP_TMP/wrk-$tag.txt"
  [[ -n "$state" ]] && journal="$state/journal.jsonl"
  [[ "$phase" == relax ]] && wrk=""
  # Drops are counted over the wrk run (fill) or the whole flood (from its start).
  [[ "$phase" == fill ]] || start=$t0
  summary=$(python3 "$STATS" summary "$CTP_TMP/samples-$tag.txt" "$start" "$end" "$journal" "$wrk")
  python3 -c 'import json, sys
d = json.loads(sys.argv[1])
d.update(contender=sys.argv[2], phase=sys.argv[3], round=int(sys.argv[4]), flood_rate=sys.argv[5],
         timeouts_before=sys.argv[6], timeouts_after=sys.argv[7], relaxed_s=sys.argv[8], load=sys.argv[9])
if sys.argv[10]:
    d["flood_seen_rate"] = round((int(sys.argv[10]) - d.get("requests", 0)) / (float(sys.argv[12]) - float(sys.argv[11])))
print(json.dumps(d))' "$summary" "$contender" "$phase" "$round" "$rate" "$before" "$after_flood" "$relaxed_s" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "$seen" "$t0" "$end" | tee -a "$CTP_TMP/runs.jsonl" >&2
  # A run with ctpilot leaves shortened timeouts behind (relax_after is 15 minutes): put the
  # kernel's values back in the router before the next run.
  local kv
  for kv in $before; do echo "${kv#*=}" | ip netns exec "$CTP_ROUTER" tee "$CTP_PROC/nf_conntrack_${kv%%=*}" >/dev/null; done
}

started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$rounds"); do
  # The kernel tests wait at most 10 minutes for the lock: give it back between rounds.
  [[ "$round" == 1 ]] || rkb_yield_lock
  for phase in $phases; do
    case "$phase" in
      fill) contenders="alone defaults isp unlimited" ;;
      quiet) contenders="defaults unlimited" ;;
      udp|syn) contenders=$flood_contenders ;;
      relax) continue ;;
    esac
    for c in $contenders; do run_one "$c" "$phase" "$round"; done
  done
done
if [[ " $phases " == *" relax "* ]]; then
  rkb_yield_lock
  run_one relax relax 1
fi
finished=$(date -u '+%H:%M UTC')

python3 - "$CTP_TMP/runs.jsonl" "$started" "$finished" "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)" \
  "$udp_rate" "$syn_rate" "$ceiling" "$factor" "$wrk_seconds" "$udp_seconds" "$syn_seconds" "$connections" \
  "$static_max" "$udp_timeout" "$syn_timeout" "${RKB_FRAGMENT_SUFFIX:-}" "$pin" "$cpus" <<'PY' | rkb_write_fragment "http${RKB_FRAGMENT_SUFFIX:-}"
import json, sys
(runs_file, started, finished, load0, load1, udp_rate, syn_rate, ceiling, factor, wrk_s, udp_s, syn_s,
 conns, static_max, udp_to, syn_to, suffix, pin, cpus) = sys.argv[1:]
runs = [json.loads(l) for l in open(runs_file)]
names = {"alone": "4096 left alone", "defaults": "defaults", "defaults-noshed": "defaults, `shed =`",
         "defaults-shed1s": "defaults, `shed_cooldown = 1s`",
         "isp": "ISP example", "unlimited": "unlimited", "relax": "defaults, relax_after 1m, cooldown 1s"}
base = {r["round"]: r["requests"] for r in runs if r["phase"] == "fill" and r["contender"] == "unlimited"}
# The no-flood reference of a flood run: the quiet run (same timing) of its contender or else the
# defaults' in that round; without quiet runs the fill runs.
quiet_phase = "quiet" if any(r["phase"] == "quiet" for r in runs) else "fill"
own = {(r["contender"], r["round"]): r["requests"] for r in runs if r["phase"] == quiet_phase}
def pct(n, d):
    return f"{100 * n / d:.1f}%" if d else "-"
def errs(r):
    e = r.get("socket_errors", {})
    return f"{e.get('connect', 0)} / {e.get('timeout', 0)}" if e else "0 / 0"
def chains(r):
    t = r.get("timeouts")
    if t is None:
        return "-"
    return ", ".join(f"{k} {'->'.join(str(v) for v in c)}" for k, c in sorted(t.items())) or "none"
def drops(r, key="drops", early="early_drops"):
    return f"{r[key]:,} / {r[early]:,}"
w = print
w(f"### HTTP through a NAT router: wrk + nginx, fill and floods (real kernel){' (' + suffix.strip('-') + ')' if suffix else ''}")
w()
w(f"Measured {started} - {finished} by `tests/bench/kernel/http.sh`; load average before {load0}, after {load1}.")
w(f"clients -> router (nftables masquerade) -> servers in three network namespaces; nginx `return 200` in the")
w(f"servers, `wrk -t 2 -c {conns} -H \"Connection: close\"` in the clients: every request is a new TCP connection,")
w(f"closed by nginx, an ASSURED TIME_WAIT entry in the router for 120 s. Drops (the kernel's \"table full\":")
w(f"a new connection refused) and early drops (an unassured entry evicted to admit a new one) from")
w(f"/proc/net/stat/nf_conntrack of the router, sampled every 100 ms. Each run starts from an empty table at")
w(f"nf_conntrack_max 4096; unlimited = no ctpilot, nf_conntrack_max {int(static_max):,} (the built-in memory budget) from the start.")
w(f"ctpilot contenders watch only the router's netns (`netns = ROUTER`, everything else as the policy says).")
if pin == "1":
    w(f"wrk and nginx run on CPU 0, the flood generators on CPU {int(cpus) - 1} (taskset, every phase alike: a real flood")
    w("comes from other machines); the router's work for each packet is done on the CPU that sent it.")
else:
    w(f"No CPU pinning: wrk, nginx and the flood generators share the machine's {cpus} CPUs.")
w()
if any(r["phase"] == "fill" for r in runs):
    w(f"**Fill from 4096, wrk alone for {wrk_s} s.** \"% of unlimited\" compares with the unlimited run of the same round;")
    w("drops in the first second and after it (ctpilot's default interval is 1 s until the table is half full).")
    w()
    w("| round | contender | requests | % of unlimited | p99 latency | connect errors / timeouts | drops / early drops | drops / early drops after 1 s | drops per second | peak entries | nf_conntrack_max at end | load |")
    w("|---:|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---|")
    for r in runs:
        if r["phase"] != "fill":
            continue
        w(f"| {r['round']} | {names[r['contender']]} | {r.get('requests', 0):,} | {pct(r.get('requests', 0), base.get(r['round']))} | "
          f"{r.get('p99_ms', '-')} ms | {errs(r)} | {drops(r)} | {drops(r, 'drops_after_1s', 'early_drops_after_1s')} | "
          f"{' '.join(str(n) for n in r['drops_per_second'])} | {r['peak_count']:,} | {r['max_end']:,} | {r['load']} |")
    w()
rs = [r for r in runs if r["phase"] == "quiet"]
if rs:
    w(f"**No flood, the flood runs' timing: wrk during the last {wrk_s} s of {udp_s} s** (the ctpilot contender with the")
    w("flood phases' ceiling): the no-flood reference of the flood tables below.")
    w()
    w("| round | contender | requests | % of unlimited | p99 latency | connect errors / timeouts | drops / early drops | peak entries | load |")
    w("|---:|---|---:|---:|---:|---:|---:|---:|---|")
    qbase = {r["round"]: r["requests"] for r in rs if r["contender"] == "unlimited"}
    for r in rs:
        w(f"| {r['round']} | {names[r['contender']]} | {r.get('requests', 0):,} | {pct(r.get('requests', 0), qbase.get(r['round']))} | "
          f"{r.get('p99_ms', '-')} ms | {errs(r)} | {drops(r)} | {r['peak_count']:,} | {r['load']} |")
    w()
for phase, rate, secs, what, to in (("udp", udp_rate, udp_s, "one-way UDP flows to filtered ports (udp_timeout", udp_to),
                                    ("syn", syn_rate, syn_s, "bare SYNs to filtered ports (hping3; tcp_timeout_syn_sent", syn_to)):
    rs = [r for r in runs if r["phase"] == phase]
    if not rs:
        continue
    w(f"**{phase.upper()} flood: {what} {to} s) requested at {int(rate):,}/s = {factor} x ceiling {int(ceiling):,} / {to} s, for {secs} s;")
    w(f"wrk during its last {wrk_s} s.** The ctpilot contenders have `[max] ceiling = {int(ceiling)}`. Flood sent: by the generators")
    w("per second of their own time; reaching conntrack: new entries the router saw (forwarded in state new, or dropped) minus")
    w("wrk's requests, per second from the flood's start to its end. Drops count from the")
    w("flood's start (the drop counter does not tell the flood from wrk: wrk's own failures are its connect errors and")
    w(f"timeouts). \"% of no-flood\" compares wrk's requests with the same contender's {quiet_phase} run of that round (`shed =` and ISP")
    w("example, which have none: the defaults'). Timeouts: ctpilot's applied changes (journal), and the router's")
    w("shed timeouts when the flood ended (relax_after is 15 min: not yet relaxed; see the relax run below).")
    w()
    w("| round | contender | flood sent /s | flood reaching conntrack /s | requests | % of no-flood | % of unlimited, same flood | p99 latency | connect errors / timeouts | drops / early drops | after 2 s | last second with one | peak entries (% of ceiling) | peak fill | nf_conntrack_max at end | timeouts changed | shed timeouts at flood end | load |")
    w("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|")
    for r in rs:
        ref = own.get((r["contender"], r["round"])) or own.get(("defaults", r["round"]))
        same = next((u.get("requests") for u in rs if u["contender"] == "unlimited" and u["round"] == r["round"]), None)
        w(f"| {r['round']} | {names[r['contender']]} | {int(r['flood_rate'] or 0):,} | {r.get('flood_seen_rate', 0):,} | {r.get('requests', 0):,} | "
          f"{pct(r.get('requests', 0), ref)} | {pct(r.get('requests', 0), same)} | {r.get('p99_ms', '-')} ms | {errs(r)} | "
          f"{drops(r)} | {drops(r, 'drops_after_2s', 'early_drops_after_2s')} | {r['last_drop_second']} of {len(r['drops_per_second'])} | "
          f"{r['peak_count']:,} ({100 * r['peak_count'] / int(ceiling):.0f}%) | {100 * r['peak_fill']:.1f}% | {r['max_end']:,} | "
          f"{chains(r)} | {r['timeouts_after']} | {r['load']} |")
    w()
for r in runs:
    if r["phase"] != "relax":
        continue
    w(f"**Relaxing after the flood.** The defaults with `relax_after = 1m` and `cooldown = 1s` (the built-in 15 min and 30 s")
    w(f"would keep this run for tens of minutes) through the same UDP flood (achieved {int(r['flood_rate'] or 0):,}/s, no wrk), then")
    w(f"ctpilot kept running until every shed timeout was back at its value from before: {r['relaxed_s']} s after the flood ended.")
    w(f"Timeouts changed (journal): {chains(r)}. Before: {r['timeouts_before']}; at flood end: {r['timeouts_after']}.")
    w(f"Drops / early drops during the flood: {drops(r)}; peak entries {r['peak_count']:,} ({100 * r['peak_fill']:.1f}%).")
    w()
PY
