#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The ceiling is too low for the churn, so only shortening timeouts can help.
# Two identical NAT gateways, A and B, share the global nf_conntrack_max = ceiling = 4096, and
# take the same TCP churn at the same time. ctpilot watches each router with the same policy,
# except that A's has [timeouts] mode = shorten and B's mode = off.
#   - ctpilot shortens tcp_timeout_time_wait in A (and then the next in order, close_wait);
#   - drops in A fall far below drops in B;
#   - once the churn stops and A's table empties, relaxing restores both timeouts.
# Both routers start with tcp_timeout_time_wait = 20 s (not the kernel's 120 s), so that the
# entries made before the first shortening expire, and relaxing can begin, within the test's
# time bound. relax_after cannot be under 1 min (the policy's minimum): this test takes ~100 s.
# Buckets are set to ceiling / 4, as [hashsize] follow would keep them: a shortened timeout
# frees room only once the expired entry is reaped, and with 262144 buckets for 4096 entries
# only the GC worker reaps them, every "average remaining lifetime" of the whole table
# (seconds here): measured 2882 drops with shortening vs 4402 without. With 4 entries per
# bucket, lookups and early_drop reap expired entries on the way: 0 vs ~4600.
source "$(dirname "$0")/lib.sh"
require_root_netns

ceiling=4096
rate=400
duration=16s
time_wait=20
ctp_make_nat_topology a
A_CLIENTS=$CTP_CLIENTS A_ROUTER=$CTP_ROUTER A_SERVERS=$CTP_SERVERS
ctp_serve "$A_SERVERS" "$CTP_SERVER_IP:8000-8007"
ctp_check_nat_path 8000
ctp_make_nat_topology b
B_CLIENTS=$CTP_CLIENTS B_ROUTER=$CTP_ROUTER B_SERVERS=$CTP_SERVERS
ctp_serve "$B_SERVERS" "$CTP_SERVER_IP:8000-8007"
ctp_check_nat_path 8000
for router in "$A_ROUTER" "$B_ROUTER"; do
  ip netns exec "$router" sysctl -qw net.netfilter.nf_conntrack_tcp_timeout_time_wait=$time_wait
done
close_wait=$(ctp_netns_knob "$A_ROUTER" nf_conntrack_tcp_timeout_close_wait)
ctp_set_global_max "$ceiling"
ctp_set_global_buckets $((ceiling / 4))

policy() {  # policy ROUTER MODE
  cat <<CONF
[controller]
interval = 200ms
netns = $1
[max]
ceiling = $ceiling
high_water = 60%
lookahead = 10s
target_fill = 40%
cooldown = 1s
[hashsize]
mode = fixed
[timeouts]
mode = $2
shorten_at = 50%
factor = 0.25
relax_below = 10%
relax_after = 1m
cooldown = 1s
order = tcp_timeout_time_wait, tcp_timeout_close_wait
[timeout_floors]
tcp_timeout_time_wait = 1s
tcp_timeout_close_wait = 30s
CONF
}
policy "$A_ROUTER" shorten > "$CTP_TMP/policy-a.conf"
policy "$B_ROUTER" off > "$CTP_TMP/policy-b.conf"
for f in "$CTP_TMP"/policy-?.conf; do
  "$CTPILOT" check-policy "$f" >/dev/null || ctp_fail "the test's policy $f is invalid"
done

ctp_start_ctpilot "$CTP_TMP/policy-b.conf" "$CTP_TMP/state-b"
B_PID=$CTP_CTPILOT_PID B_LOG=$CTP_CTPILOT_LOG
ctp_start_ctpilot "$CTP_TMP/policy-a.conf" "$CTP_TMP/state-a"
A_PID=$CTP_CTPILOT_PID A_LOG=$CTP_CTPILOT_LOG

drop_a0=$(ctp_ct_stat "$A_ROUTER" drop)
drop_b0=$(ctp_ct_stat "$B_ROUTER" drop)
churn_start=$(date +%s.%N)
for x in a b; do
  clients=$A_CLIENTS; [[ $x == b ]] && clients=$B_CLIENTS
  ctp_bg "$LOADGEN" --netns "$clients" tcp-churn --target "$CTP_SERVER_IP:8000-8007" --rate "$rate/s" \
    --duration "$duration" --timeout 2s > "$CTP_TMP/churn-$x.json"
  [[ $x == a ]] && churn_a=$CTP_LAST_PID || churn_b=$CTP_LAST_PID
done
# Watch A's timeouts while the churn runs.
shortest_tw=$time_wait
first_shorten=none
while kill -0 "$churn_a" 2>/dev/null || kill -0 "$churn_b" 2>/dev/null; do
  tw=$(ctp_netns_knob "$A_ROUTER" nf_conntrack_tcp_timeout_time_wait)
  if [[ "$tw" -lt "$shortest_tw" ]]; then
    shortest_tw=$tw
    [[ $first_shorten == none ]] && first_shorten=$(printf %.2f "$(echo "$(date +%s.%N) - $churn_start" | bc)")
  fi
  sleep 0.2
done
wait "$churn_a" "$churn_b"
churn_end=$(date +%s.%N)
ctp_log "churn A: $(cat "$CTP_TMP/churn-a.json")"
ctp_log "churn B: $(cat "$CTP_TMP/churn-b.json")"
drops_a=$(( $(ctp_ct_stat "$A_ROUTER" drop) - drop_a0 ))
drops_b=$(( $(ctp_ct_stat "$B_ROUTER" drop) - drop_b0 ))
cw_a=$(ctp_netns_knob "$A_ROUTER" nf_conntrack_tcp_timeout_close_wait)
ctp_measure drops_with_shortening "$drops_a"
ctp_measure drops_without_shortening "$drops_b"
ctp_measure failed_connections_with_shortening "$(ctp_json /failed < "$CTP_TMP/churn-a.json")"
ctp_measure failed_connections_without_shortening "$(ctp_json /failed < "$CTP_TMP/churn-b.json")"
ctp_measure seconds_to_first_shortening "$first_shorten"
ctp_measure shortest_time_wait "$shortest_tw"
ctp_measure close_wait_after_churn "$cw_a"

ctp_check "$(ctp_global_max)" -eq "$ceiling" "nf_conntrack_max stays at the ceiling"
ctp_check "$drops_b" -gt 0 "drops in B with shortening off (else the setup proves nothing)"
ctp_check "$shortest_tw" -lt "$time_wait" "A's tcp_timeout_time_wait shortened"
ctp_check "$cw_a" -lt "$close_wait" "A's tcp_timeout_close_wait (next in order) shortened"
ctp_check "$(ctp_netns_knob "$B_ROUTER" nf_conntrack_tcp_timeout_time_wait)" -eq "$time_wait" \
  "B's tcp_timeout_time_wait with shortening off"
if (( drops_a * 10 > drops_b )); then ctp_show_log 60; fi
ctp_check $((drops_a * 10)) -le "$drops_b" "drops with shortening x 10 vs without (far below)"

# Relaxing: A's table empties once the entries made before shortening expire (20 s), then
# after relax_after (1 min) of calm ctpilot steps both timeouts back to where they were.
ctp_stop "$B_PID"
relaxed=none
for _ in $(seq 220); do
  tw=$(ctp_netns_knob "$A_ROUTER" nf_conntrack_tcp_timeout_time_wait)
  cw=$(ctp_netns_knob "$A_ROUTER" nf_conntrack_tcp_timeout_close_wait)
  if [[ "$tw" -eq "$time_wait" && "$cw" -eq "$close_wait" ]]; then
    relaxed=$(printf %.1f "$(echo "$(date +%s.%N) - $churn_end" | bc)")
    break
  fi
  kill -0 "$A_PID" 2>/dev/null || { CTP_CTPILOT_LOG=$A_LOG ctp_show_log; ctp_fail "ctpilot (A) died"; }
  sleep 0.5
done
ctp_measure seconds_from_churn_end_to_relaxed "$relaxed"
ctp_stop "$A_PID"
ctp_check "$CTP_STOP_STATUS" -eq 0 "ctpilot run (A) exit status on SIGTERM"
if [[ $relaxed == none ]]; then
  CTP_CTPILOT_LOG=$A_LOG ctp_show_log 30
  ctp_fail "timeouts not relaxed within 110 s of the churn's end: time_wait $tw (want $time_wait), close_wait $cw (want $close_wait)"
fi
echo "PASS: drops with shortening $drops_a, without $drops_b; time_wait down to ${shortest_tw}s, relaxed ${relaxed}s after the churn"
