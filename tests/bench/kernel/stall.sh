#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Real-kernel benchmark: the worst packet delay through conntrack while ctpilot runs a growth of
# one namespace's table from ~0 to about 1M entries, with the ISP example policy as shipped
# (`[hashsize] mode = presize`, max_stall 5ms) and with the old behaviour (the same policy with
# `mode = follow` and no stall bound); then the same with the built-in defaults (an empty policy
# file: netns = all, presize) and the defaults' old behaviour (only `mode = follow`, no stall bound).
#
# A netns of ours fills with one-way UDP flows (ctpilot-loadgen udp-flows; an input rule drops
# them, the UDP timeout is raised so nothing expires); `ctpilot run` watches it at interval 1s;
# meanwhile a UDP echo every 2 ms (udp_rtt.py) runs over loopback in a second netns whose conntrack tracks it (a
# `ct state new` rule), so every echo goes through the shared hash table. The echo starts 1 s
# before ctpilot, so it also crosses the resize ctpilot makes at start (presize). A resize holds every
# bucket lock: the echo's worst round trip shows the stall. The global knobs are restored between
# the runs and at exit (lib.sh).
#
# "static" runs no ctpilot: nf_conntrack_max and the buckets are set once, on the empty table
# before the fill, to what the built-in memory budget holds and that / 4 (rkb_static_at_budget;
# README "Why not just set it high?").
# RKB_STALL_ENTRIES (default 1000000), RKB_STALL_RATE (default 50000 flows/s), RKB_STALL_MODES
# (default "old new defaults-old defaults static").
# Writes $RKB_OUT/kernel-stall.md. Needs root; holds /tmp/ctpilot-kernel.lock throughout.
CTP_DEADLINE=${CTP_DEADLINE:-400}
source "$(dirname "$0")/common.sh"
require_root_netns

entries=${RKB_STALL_ENTRIES:-1000000}
rate=${RKB_STALL_RATE:-50000}
seconds=$(( entries / rate + 4 ))
source_dir="$RKB_SOURCE_DIR"

pinger="$CTP_ID-ping"
ctp_make_ct_netns "$pinger"

read -r static_max static_buckets entry_bytes <<< "$(rkb_static_at_budget)"

# The ISP example policy watching the fill netns; "old" resizes as max grows, without a bound.
# "defaults": an empty file (every key at its built-in default, netns = all); "defaults-old": the
# defaults but resizing as max grows, without a bound.
make_policy() {
  local mode=$1 fill=$2 file=$3
  case "$mode" in
    defaults) : > "$file" ;;
    defaults-old) printf '[hashsize]\nmode = follow\nmax_stall = 10s\n' > "$file" ;;
  esac
  if [[ "$mode" == defaults* ]]; then
    "$CTPILOT" check-policy "$file" >/dev/null || ctp_fail "policy $file is invalid"
    return
  fi
  sed -e "s/^netns = .*/netns = $fill/" "$source_dir/examples/policies/isp-nat-gateway.conf" > "$file"
  if [[ "$mode" == old ]]; then
    sed -i -e 's/^mode = presize .*/mode = follow/' -e 's/^max_stall = .*/max_stall = 10s/' "$file"
  fi
  "$CTPILOT" check-policy "$file" >/dev/null || ctp_fail "policy $file is invalid"
}

# Prints the worst echo round trip (ms) that overlapped one of ctpilot's ticks with knob writes:
# from the tick's journal time (the sample, before its writes) to 250 ms after the sum of its
# writes' measured durations; "none" without writes.
during_writes() {
  python3 - "$1" "$2" <<'PY'
import collections, datetime, json, sys
ticks = collections.defaultdict(float)
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("kind") == "applied":
        ticks[r["time"]] += r.get("observation", {}).get("write_us", 0) / 1e6
spans = []
for time, write_s in ticks.items():
    start = datetime.datetime.fromisoformat(time.replace("Z", "+00:00")).timestamp()
    spans.append((start, start + write_s + 0.25))
hits = [float(ms) for at, ms in (l.split() for l in open(sys.argv[2]))
        if any(float(at) <= b and float(at) + float(ms) / 1000 >= a for a, b in spans)]
print(f"{max(hits):.2f} ({len(spans)} ticks with writes)" if hits else f"none ({len(spans)} ticks with writes)")
PY
}

rows=()
run() {
  local mode=$1 fill="$CTP_ID-fill-$1" state="$CTP_TMP/state-$1" ping_out="$CTP_TMP/ping-$1.txt"
  ctp_make_ct_netns "$fill"
  ip netns exec "$fill" nft add chain inet ctp c_input '{ type filter hook input priority 0; }'
  ip netns exec "$fill" nft add rule inet ctp c_input udp dport 9000-9999 drop
  ip netns exec "$fill" sysctl -qw net.netfilter.nf_conntrack_udp_timeout=3600
  [[ "$mode" == static ]] || make_policy "$mode" "$fill" "$CTP_TMP/policy-$mode.conf"

  # The echo starts first, so that it also crosses a resize ctpilot makes at start (presize).
  ctp_bg ip netns exec "$pinger" python3 "$source_dir/tests/bench/kernel/udp_rtt.py" $((seconds + 4)) \
    "$CTP_TMP/rtt-$mode.txt" > "$ping_out" 2>&1
  local ping_pid=$CTP_LAST_PID
  sleep 1
  local static_write=""
  if [[ "$mode" == static ]]; then
    local t0=$EPOCHREALTIME
    ctp_set_global_buckets "$static_buckets"
    static_write=$(awk -v a="$EPOCHREALTIME" -v b="$t0" 'BEGIN { printf "%.0f", (a - b) * 1e6 }')
    ctp_set_global_max "$static_max"
    mkdir -p "$state"
    : > "$state/journal.jsonl"
  else
    ctp_start_ctpilot "$CTP_TMP/policy-$mode.conf" "$state"
  fi
  sleep 2
  "$LOADGEN" --netns "$fill" udp-flows --target "127.0.0.1:9000-9022" --rate "${rate}/s" --count "$entries" \
    --duration "${seconds}s" > "$CTP_TMP/fill-$mode.json"
  ctp_log "fill ($mode): $(cat "$CTP_TMP/fill-$mode.json")"
  wait "$ping_pid" 2>/dev/null || true
  local count drops early raises
  count=$(ctp_netns_knob "$fill" nf_conntrack_count)
  drops=$(ctp_proc_stat "$fill" drop)
  early=$(ctp_proc_stat "$fill" early_drop)
  local max_end; max_end=$(ctp_global_max)
  local fill_mem; fill_mem=$(awk -v c="$count" -v m="$max_end" -v e="$entry_bytes" -v b="$(cat $CTP_PROC/nf_conntrack_buckets)" \
    'BEGIN { printf "%.2f%% | %.0f + %.1f", c / m * 100, c * e / 1048576, b * 8 / 1048576 }')
  raises=$(grep '"kind":"applied"' "$state/journal.jsonl" | grep -c '"knob":"nf_conntrack_max"' || true)
  [[ "$mode" == static ]] || ctp_stop "$CTP_CTPILOT_PID"
  local worst resizes
  worst=$(awk '{ print $4 " (p99 " $6 ", median " $8 ")" }' "$ping_out")
  resizes=$(grep '"kind":"applied"' "$state/journal.jsonl" | grep '"knob":"nf_conntrack_buckets"' |
            sed -n 's/.*"old":\([0-9]*\).*"new":\([0-9]*\).*"entries":\([0-9]*\).*"write_us":\([0-9]*\).*/\1 -> \2 (\4 us, \3 entries)/p' |
            paste -sd ';' - || true)
  [[ "$mode" == static ]] && resizes="set once before the fill: $CTP_SAVED_BUCKETS -> $static_buckets ($static_write us, shell-timed)"
  ctp_measure "worst_ping_ms_$mode" "${worst:-none}"
  local during
  during=$(during_writes "$state/journal.jsonl" "$CTP_TMP/rtt-$mode.txt")
  ctp_measure "worst_ping_during_writes_ms_$mode" "$during"
  local hmode
  hmode=$(grep -m1 '^mode' "$CTP_TMP/policy-$mode.conf" 2>/dev/null | cut -d' ' -f3 || true)
  [[ "$mode" == static ]] && { hmode="static"; during="none (no ctpilot)"; raises="none (static)"; }
  rows+=("| $mode | ${hmode:-presize (default)} | $count | $drops / $early | $raises, to $max_end | $fill_mem | ${resizes:-none} | $during | ${worst:-?} |")
  # Empty the table before the next run: deleting the netns frees its entries.
  ip netns del "$fill"
  CTP_NETNS=("${CTP_NETNS[@]/$fill}")
  for _ in $(seq 100); do (( $(awk '$1 == "nf_conntrack" {print $2}' /proc/slabinfo) < 50000 )) && break; sleep 0.2; done
  ctp_restore_globals_keep
}

# Puts the saved knobs back between runs, keeping the lock.
ctp_restore_globals_keep() {
  [[ "$(cat $CTP_PROC/nf_conntrack_buckets)" == "$CTP_SAVED_BUCKETS" ]] || echo "$CTP_SAVED_BUCKETS" > $CTP_PROC/nf_conntrack_buckets
  [[ "$(ctp_global_max)" == "$CTP_SAVED_MAX" ]] || echo "$CTP_SAVED_MAX" > $CTP_PROC/nf_conntrack_max
}

for mode in ${RKB_STALL_MODES:-old new defaults-old defaults static}; do
  [[ "$mode" =~ ^(old|new|defaults|defaults-old|static)$ ]] ||
    ctp_fail "RKB_STALL_MODES: $mode is not old, new, defaults, defaults-old or static"
  run "$mode"
done

{
  echo "### Worst packet delay through conntrack while a table grows to ~1M entries (real kernel)"
  echo
  echo "One netns fills with $entries one-way UDP flows at $rate/s while \`ctpilot run\` (ISP example policy"
  echo "watching that netns, interval 1s; or the built-in defaults: empty policy file, netns = all) watches it; a UDP echo every 2 ms over conntrack in another netns (tests/bench/kernel/udp_rtt.py)"
  echo "records the worst round trip, overall and during ctpilot's ticks that wrote a knob (from the tick to"
  echo "250 ms after its writes' measured time)."
  echo "old: \`mode = follow\`, no stall bound; new: the policy as shipped"
  echo "(\`mode = presize\`, \`max_stall = 5ms\`); defaults-old: an empty policy but \`[hashsize] mode = follow\`"
  echo "and no stall bound; defaults: an empty policy file; static: no ctpilot, nf_conntrack_max $static_max and"
  echo "$static_buckets buckets set once before the fill (what the built-in memory_budget holds at $entry_bytes B"
  echo "per entry, and that / 4). Resizes from ctpilot's journal: buckets, measured write time, entries rehashed."
  echo
  echo "Fill = entries / nf_conntrack_max at the end (what node-mixin's 75% alert compares); memory = entries x"
  echo "$entry_bytes B + buckets x 8 B (the hash) at the end."
  echo
  echo "| behaviour | hashsize mode | entries at the end | drops / early drops | raises of max (journal), to | fill at the end | memory at the end: entries + hash (MiB) | resizes (journal) | worst echo RTT during ctpilot's writes (ms) | worst echo RTT overall (ms) |"
  echo "|---|---|---:|---:|---:|---:|---:|---|---:|---:|"
  printf '%s\n' "${rows[@]}"
  echo
} | rkb_write_fragment stall
