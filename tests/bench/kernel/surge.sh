#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Real-kernel benchmark: drops during TCP surges through a real NAT gateway, without ctpilot and
# with `ctpilot run` watching the router netns, and the reaction time from the start of the
# surge to the first raise of nf_conntrack_max (its `applied` journal record).
#
# Topology and surge come from tests/kernel/lib.sh: clients -> router (masquerade) -> servers
# on 8 ports, the global nf_conntrack_max lowered to 4096; every connection is closed by the
# server, so it leaves an ASSURED TIME_WAIT entry in the router for 120 s.
# For each rate: nothing acting, then ctpilot (started 2 s before the surge so that its
# estimator has samples), then "static at budget": nf_conntrack_max set, on the empty table,
# to what the built-in memory budget holds and the buckets to that / 4 (rkb_static_at_budget),
# never changed (README "Why not just set it high?"). Before each run the router's table is
# flushed, nf_conntrack_max set back to 4096 and nf_conntrack_buckets to its saved value.
#
# RKB_RATES (default "5000 10000 20000", connections/s), RKB_SURGE_SECONDS (default 10),
# RKB_INTERVAL (default 100ms: ctpilot's sampling interval), RKB_LOADGEN_PROCS (default 1: generator
# processes in parallel, each at rate / N; helps only with idle CPUs: on a shared 2-CPU machine
# both CPUs were busy at ~12k conn/s, and 2 or 4 processes went no faster than 1).
# RKB_GENERATOR (default loadgen): loadgen runs real TCP connections (ctpilot-loadgen tcp-churn,
# each closed by the server: a TIME_WAIT entry); hping3 sends bare SYNs at a fixed rate
# (apt-get install hping3; `-S -i uN`, source port counting up from 1024, one of the servers'
# listening ports per process: the server answers SYN-ACK, the client's kernel RST, and the
# router keeps the entry in CLOSE for 10 s; a SYN answered only by RST would leave no entry, the
# kernel deletes those at once): each SYN is one new entry, for a fraction of the CPU a full
# connection costs. With hping3 RKB_LOADGEN_PROCS is how many hping3 processes share the rate
# (default: one per 50,000 SYNs of the run, so that no source port repeats) and
# RKB_HPING_GAP_US overrides their -i u gap (default 1e6 / per-process rate; hping3 sends
# slower than that gap says, so measure); "completed / failed" then reads "answered /
# unanswered" SYNs. RKB_HPING_SILENT=1 sends them to ports 9000-9007 that the servers drop
# without an answer (a SYN flood at a filtered port: the router keeps SYN_SENT entries, 120 s;
# cheaper still: no SYN-ACK, no RST).
# The router's drop counter is sampled every 20 ms throughout: "first to last drop" is the time
# from its first to its last increase. With hping3 the entries are never assured, so a full table
# evicts them (early_drop) rather than refusing new ones: there the span is of drop + early_drop.
# The router's entry count and the global limit are sampled every 20 ms too: peak entries and
# peak fill (entries / nf_conntrack_max, what node-mixin's 75% alert compares) per run.
# Writes $RKB_OUT/kernel-surge.md. Needs root; holds /tmp/ctpilot-kernel.lock throughout.
CTP_DEADLINE=${CTP_DEADLINE:-600}
source "$(dirname "$0")/common.sh"
require_root_netns

rates=${RKB_RATES:-5000 10000 20000}
seconds=${RKB_SURGE_SECONDS:-10}
interval=${RKB_INTERVAL:-100ms}
interval_s=$(awk -v t="$interval" 'BEGIN { if (t ~ /ms$/) print substr(t, 1, length(t) - 2) / 1000; else print substr(t, 1, length(t) - 1) }')
[[ "$seconds" =~ ^[0-9]+$ && "$seconds" -ge 1 && "$seconds" -le 120 ]] || ctp_fail "RKB_SURGE_SECONDS: 1..120"
generator=${RKB_GENERATOR:-loadgen}
[[ "$generator" =~ ^(loadgen|hping3)$ ]] || ctp_fail "RKB_GENERATOR: loadgen or hping3"
[[ "$generator" == loadgen ]] || command -v hping3 >/dev/null || ctp_skip "RKB_GENERATOR=hping3 needs hping3 (apt-get install hping3)"
procs=${RKB_LOADGEN_PROCS:-1}
[[ "$procs" =~ ^[0-9]+$ && "$procs" -ge 1 && "$procs" -le 16 ]] || ctp_fail "RKB_LOADGEN_PROCS: 1..16"

# The tests' topology and policy, sampling every 100 ms as in the cost benchmark.
ctp_surge_setup "$interval"
lowered=$CTP_SURGE_LOWERED
buckets=$(cat $CTP_PROC/nf_conntrack_buckets)
read -r static_max static_buckets entry_bytes <<< "$(rkb_static_at_budget)"
ctp_log "static at budget: nf_conntrack_max $static_max, buckets $static_buckets ($entry_bytes B per entry)"

# Runs the churn at RATE for $seconds from $procs generator processes in parallel (RATE/procs
# each); prints nothing, leaves one report in FILE (counters and achieved rates summed).
churn() {
  [[ "$generator" == hping3 ]] && { syn_flood "$@"; return; }
  local rate=$1 file=$2 k pids=()
  for k in $(seq "$procs"); do
    "$LOADGEN" --netns "$CTP_CLIENTS" tcp-churn --target "$CTP_SERVER_IP:8000-8007" \
      --rate "$((rate / procs))/s" --duration "${seconds}s" --timeout 2s > "$file.$k" &
    pids+=("$!")
  done
  wait "${pids[@]}"
  python3 -c 'import json, sys
reports = [json.load(open(f)) for f in sys.argv[1:]]
print(json.dumps({k: (max if k.endswith("_s") else sum)(r[k] for r in reports)
                  for k in reports[0] if isinstance(reports[0][k], (int, float))}))' \
    "$file".* > "$file"
  ctp_log "churn $rate/s ($procs processes): $(cat "$file")"
}

# Sends RATE SYNs/s for $seconds from hping3 processes in the clients' netns, each to one of
# the servers' listening ports (8000, 8001, ...) from source ports 1024 up; leaves a report in FILE
# with the fields churn() reports: completed = answered SYNs, failed = unanswered ones,
# rate_sent = SYNs sent / sending time (wall time of the slowest process - the 1 s hping3 waits
# for late replies after its last SYN); rate_achieved = new connections the router's conntrack saw
# (forwarded in state new or dropped) / sending time.
syn_flood() {
  local rate=$1 file=$2 k n=${RKB_LOADGEN_PROCS:-$(( (rate * seconds + 49999) / 50000 ))} pids=() start
  local per=$(( rate / n )) count=$(( rate * seconds / n ))
  local gap=${RKB_HPING_GAP_US:-$(( 1000000 / per ))} seen0 seen1
  (( n <= 8 )) || ctp_fail "hping3: at most 8 processes (one per server port), not $n"
  hping_desc="$n hping3 processes (-i u$gap each)"
  local port=8000
  if [[ "${RKB_HPING_SILENT:-0}" == 1 ]]; then
    port=9000
    ip netns exec "$CTP_SERVERS" nft list chain inet ctpsilent c_in >/dev/null 2>&1 ||
      rkb_drop_silently "$CTP_SERVERS" "tcp dport 9000-9007"
  fi
  seen0=$(rkb_router_new_entries)
  start=$(rkb_now)
  for k in $(seq "$n"); do
    ip netns exec "$CTP_CLIENTS" timeout $(( seconds * 4 + 10 )) \
      hping3 -q -S -p $(( port + (k - 1) % 8 )) -s 1024 -i "u$gap" -c "$count" "$CTP_SERVER_IP" > "$file.$k" 2>&1 &
    pids+=("$!")
  done
  wait "${pids[@]}" || true
  local elapsed; elapsed=$(rkb_sub "$(rkb_now)" "$start")
  seen1=$(rkb_router_new_entries)
  python3 -c 'import json, re, sys
sent = answered = 0
for f in sys.argv[3:]:
    m = re.search(r"(\d+) packets tr\w*mitted, (\d+) packets received", open(f).read())
    if m:
        sent += int(m.group(1)); answered += int(m.group(2))
sending = max(float(sys.argv[1]) - 1, 0.1)
print(json.dumps({"sent": sent, "completed": answered, "failed": sent - answered, "rate_sent": sent / sending,
                  "rate_achieved": float(sys.argv[2]) / sending}))' "$elapsed" "$((seen1 - seen0))" "$file".* > "$file"
  ctp_log "syn flood $rate/s ($n hping3 processes, -i u$gap each): $(cat "$file")"
}

# Samples the router's drop counter every 20 ms in the background; appends "<epoch> <value>"
# to FILE whenever it moves, and "<entries> <nf_conntrack_max>" to FILE.fill every time.
# Sets WATCH_PID.
watch_drops() {
  local file=$1
  ( exec 9>&-
    last=""
    while true; do
      v=$(ctp_proc_stat "$CTP_ROUTER" drop)
      [[ "$generator" == hping3 ]] && v=$(( v + $(ctp_proc_stat "$CTP_ROUTER" early_drop) ))
      [[ "$v" != "$last" ]] && echo "$EPOCHREALTIME $v" >> "$file"
      last=$v
      echo "$(ctp_netns_knob "$CTP_ROUTER" nf_conntrack_count) $(ctp_global_max)" >> "$file.fill"
      sleep 0.02
    done ) &
  WATCH_PID=$!
  CTP_PIDS+=("$WATCH_PID")
}

# Prints "SECONDS / TICKS" from the first to the last increase of the drop counter in FILE,
# or "none" when it never moved.
drop_span() {
  awk -v iv="$interval_s" 'NR == 1 { base = $2; next } $2 > base { if (!first) first = $1; last = $1 }
    END { if (!first) print "none"; else printf "%.2f s / %.1f ticks\n", last - first, (last - first) / iv }' "$1"
}

# Prints "peak entries | peak fill" from the samples in FILE.fill.
peak_fill() {
  awk '$1 > c { c = $1 } $2 > 0 && $1 / $2 > f { f = $1 / $2 } END { printf "%d | %.2f%%\n", c, f * 100 }' "$1.fill"
}

# One row of the side-by-side table: CONTENDER RATE DROPS COMPLETED/FAILED REPORT DROPFILE MAX_END
side_row() {
  local who=$1 rate=$2 drops=$3 cf=$4 report=$5 dropfile=$6 max_end=$7 peak hash
  peak=$(peak_fill "$dropfile")
  hash=$(awk -v b="$(cat $CTP_PROC/nf_conntrack_buckets)" 'BEGIN { printf "%.1f", b * 8 / 1048576 }')
  local entries=${peak%% *}
  side+=("| $rate | $who | $(printf '%.0f' "$(ctp_json /rate_achieved < "$report")") | $drops | $cf | $peak | $(awk -v e="$entries" -v b="$entry_bytes" -v h="$hash" 'BEGIN { printf "%.1f", e * b / 1048576 + h }') | $hash | $max_end |")
}

rows=()
side=()
for rate in $rates; do
  [[ "$rate" =~ ^[0-9]+$ ]] || ctp_fail "RKB_RATES: $rate is not a number"

  rkb_reset_table "$lowered" "$buckets"
  drop0=$(ctp_proc_stat "$CTP_ROUTER" drop)
  early0=$(ctp_proc_stat "$CTP_ROUTER" early_drop)
  watch_drops "$CTP_TMP/drops-without-$rate.txt"
  churn "$rate" "$CTP_TMP/without-$rate.json"
  kill "$WATCH_PID" 2>/dev/null || true
  span_without=$(drop_span "$CTP_TMP/drops-without-$rate.txt")
  drops_without=$(( $(ctp_proc_stat "$CTP_ROUTER" drop) - drop0 ))
  early_without=$(( $(ctp_proc_stat "$CTP_ROUTER" early_drop) - early0 ))
  achieved_without=$(ctp_json /rate_achieved < "$CTP_TMP/without-$rate.json")
  failed_without=$(ctp_json /failed < "$CTP_TMP/without-$rate.json")
  completed_without=$(ctp_json /completed < "$CTP_TMP/without-$rate.json")
  ctp_measure "drops_without_${rate}" "$drops_without"
  [[ "$generator" == hping3 ]] && d="$drops_without / $early_without" || d="$drops_without"
  side_row "kernel default ($lowered)" "$rate" "$d" "$completed_without / $failed_without" \
    "$CTP_TMP/without-$rate.json" "$CTP_TMP/drops-without-$rate.txt" "$(ctp_global_max)"

  rkb_reset_table "$lowered" "$buckets"
  state="$CTP_TMP/state-$rate"
  ctp_start_ctpilot "$CTP_TMP/policy.conf" "$state"
  sleep 1.5
  drop1=$(ctp_proc_stat "$CTP_ROUTER" drop)
  early1=$(ctp_proc_stat "$CTP_ROUTER" early_drop)
  surge_start=$(rkb_now)
  watch_drops "$CTP_TMP/drops-with-$rate.txt"
  churn "$rate" "$CTP_TMP/with-$rate.json"
  kill "$WATCH_PID" 2>/dev/null || true
  span_with=$(drop_span "$CTP_TMP/drops-with-$rate.txt")
  drops_with=$(( $(ctp_proc_stat "$CTP_ROUTER" drop) - drop1 ))
  early_with=$(( $(ctp_proc_stat "$CTP_ROUTER" early_drop) - early1 ))
  peak_max=$(ctp_global_max)
  kill -0 "$CTP_CTPILOT_PID" 2>/dev/null || { ctp_show_log; ctp_fail "ctpilot run died during the surge"; }
  ctp_stop "$CTP_CTPILOT_PID"
  achieved_with=$(ctp_json /rate_achieved < "$CTP_TMP/with-$rate.json")
  failed_with=$(ctp_json /failed < "$CTP_TMP/with-$rate.json")
  completed_with=$(ctp_json /completed < "$CTP_TMP/with-$rate.json")

  # The first applied raise of nf_conntrack_max in the journal, and how many raises there were.
  raises=$(grep '"kind":"applied"' "$state/journal.jsonl" | grep -c '"knob":"nf_conntrack_max"' || true)
  first_time=$(grep '"kind":"applied"' "$state/journal.jsonl" | grep '"knob":"nf_conntrack_max"' | head -n 1 |
               "$JSON_GET" /time "" || true)
  if [[ -n "$first_time" ]]; then
    reaction=$(printf "%.2f" "$(rkb_sub "$(rkb_epoch "$first_time")" "$surge_start")")
  else
    reaction="none"
  fi
  ctp_measure "drops_with_${rate}" "$drops_with"
  ctp_measure "reaction_s_${rate}" "$reaction"
  ctp_measure "first_to_last_drop_with_${rate}" "$span_with"
  [[ "$generator" == hping3 ]] && d="$drops_with / $early_with" || d="$drops_with"
  side_row "ctpilot" "$rate" "$d" "$completed_with / $failed_with" \
    "$CTP_TMP/with-$rate.json" "$CTP_TMP/drops-with-$rate.txt" "$peak_max"

  # Static at budget: set on the empty table, before the surge, never changed.
  rkb_reset_table "$lowered" "$buckets"
  ctp_set_global_buckets "$static_buckets"
  ctp_set_global_max "$static_max"
  drop2=$(ctp_proc_stat "$CTP_ROUTER" drop)
  early2=$(ctp_proc_stat "$CTP_ROUTER" early_drop)
  watch_drops "$CTP_TMP/drops-static-$rate.txt"
  churn "$rate" "$CTP_TMP/static-$rate.json"
  kill "$WATCH_PID" 2>/dev/null || true
  drops_static=$(( $(ctp_proc_stat "$CTP_ROUTER" drop) - drop2 ))
  early_static=$(( $(ctp_proc_stat "$CTP_ROUTER" early_drop) - early2 ))
  ctp_measure "drops_static_${rate}" "$drops_static"
  [[ "$generator" == hping3 ]] && d="$drops_static / $early_static" || d="$drops_static"
  side_row "static at budget" "$rate" "$d" \
    "$(ctp_json /completed < "$CTP_TMP/static-$rate.json") / $(ctp_json /failed < "$CTP_TMP/static-$rate.json")" \
    "$CTP_TMP/static-$rate.json" "$CTP_TMP/drops-static-$rate.txt" "$(ctp_global_max)"
  if [[ "$generator" == hping3 ]]; then
    drops_without="$drops_without / $early_without"
    drops_with="$drops_with / $early_with"
  fi
  rows+=("| $rate | $interval | $(printf '%.0f' "$achieved_without") | $drops_without | $completed_without / $failed_without | $span_without | $(printf '%.0f' "$achieved_with") | $drops_with | $completed_with / $failed_with | $span_with | $reaction | $raises | $peak_max |")
done

{
  if [[ "$generator" == hping3 ]]; then
    echo "### Drops during SYN surges through a NAT router (real kernel, hping3)"
    echo
    echo "clients -> router (nftables masquerade) -> servers in three network namespaces; $hping_desc"
    echo "in the clients send bare SYNs (source ports counting up),"
    if [[ "${RKB_HPING_SILENT:-0}" == 1 ]]; then
      echo "to ports the servers drop without an answer: each SYN is a new SYN_SENT entry in the router (120 s)."
    else
      echo "to listening ports: each SYN is a new entry in the router, closed by the client's RST to the SYN-ACK (CLOSE, 10 s)."
    fi
    echo "Achieved = new connections the router's conntrack saw (forwarded in state new, or dropped)"
    echo "per second of sending. \"completed / failed\" = answered / unanswered SYNs. The entries are never"
    echo "assured, so a full table evicts some of them (early_drop) and refuses the rest (drop): drops below"
    echo "are drop / early_drop, and \"first to last drop\" spans both counters."
  else
    echo "### Drops during TCP surges through a NAT router (real kernel)"
    echo
    echo "clients -> router (nftables masquerade) -> servers in three network namespaces; each"
    echo "connection is closed by the server and leaves an ASSURED TIME_WAIT entry in the router."
  fi
  echo "Global nf_conntrack_max lowered to $lowered; ${seconds} s of churn per run; drops and early drops"
  echo "from /proc/net/stat/nf_conntrack in the router netns. With ctpilot: \`ctpilot run\` watching the"
  echo "router (interval $interval, high_water 60%, lookahead 10s, target_fill 40%, cooldown 1s), started 1.5 s"
  echo "before the surge; reaction = time of the first \`applied\` raise in the journal minus the surge start;"
  echo "first to last drop = from the first to the last increase of the router's drop counter (sampled every 20 ms),"
  echo "in seconds and in ctpilot's ticks."
  [[ "$generator" == hping3 ]] || echo "Failed connections needed more than their SYN retransmissions (2 s timeout)."
  echo
  echo "| requested conn/s | interval | achieved conn/s (without) | drops without | completed / failed without | first to last drop without | achieved conn/s (with) | drops with ctpilot | completed / failed with | first to last drop with | reaction (s) | raises | nf_conntrack_max at end |"
  echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
  echo
  if [[ "$generator" == loadgen ]]; then
    echo "Without ctpilot the generator cannot keep the requested rate once the table is full: its 4096"
    echo "concurrent connections wait on SYNs that the router drops (each failed connection counts the SYN and"
    echo "its retransmission) until the 2 s connect timeout."
    echo
  fi
  echo "Side by side, the same surge under each contender (the interval is ctpilot's, $interval):"
  echo "kernel default = the lowered limit left alone; static at budget = nf_conntrack_max $static_max"
  echo "and $static_buckets buckets, set on the empty table before the surge (what the built-in"
  echo "memory_budget holds at $entry_bytes B per entry, \`ctpilot status --json\`; buckets = that / 4)."
  echo "Peak entries and peak fill (entries / nf_conntrack_max: what node-mixin's 75% alert compares) from"
  echo "20 ms samples of the router; peak memory = peak entries x $entry_bytes B + the hash; hash = buckets x 8 B."
  echo
  echo "| requested conn/s | contender | achieved conn/s | drops$([[ "$generator" == hping3 ]] && echo ' / early drops') | completed / failed | peak entries | peak fill | peak memory (MiB) | hash (MiB) | nf_conntrack_max at end |"
  echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
  printf '%s\n' "${side[@]}"
  echo
} | rkb_write_fragment "surge${RKB_FRAGMENT_SUFFIX:-}"
