#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# README "Policy reference", [max] memory_budget: every namespace may hold nf_conntrack_max
# entries, so the budget bounds all of them together. Three namespaces fill with one-way UDP
# flows at once under a small budget (memory_budget = 0.05%: a cap of some 40k entries here);
# the entries of all three together never exceed the cap by more than one tick's growth.
source "$(dirname "$0")/lib.sh"
require_root_netns

names=()
for x in a b c; do
  ns="$CTP_ID-budget$x"
  ctp_make_ct_netns "$ns"
  names+=("$ns")
done
rate=5000        # new flows/s per namespace
interval_ms=200
cat > "$CTP_TMP/policy.conf" <<CONF
[controller]
interval = ${interval_ms}ms
netns = ${names[0]}, ${names[1]}, ${names[2]}
[max]
memory_budget = 0.05%
cooldown = 1s
[hashsize]
mode = fixed
CONF

ctp_set_global_max 4096
cap=$("$CTPILOT" --policy "$CTP_TMP/policy.conf" --state-dir "$CTP_TMP/plan-state" plan 2>/dev/null |
      sed -n 's/^nf_conntrack_max may go up to \([0-9]*\) .*/\1/p')
[[ -n "$cap" ]] || ctp_fail "ctpilot plan did not print the memory cap"
ctp_log "memory cap: $cap entries for all namespaces together"

ctp_start_ctpilot "$CTP_TMP/policy.conf" "$CTP_TMP/state"
for ns in "${names[@]}"; do
  ctp_bg "$LOADGEN" --netns "$ns" udp-flows --target 127.0.0.1:9000 --rate "${rate}/s" --duration 8s \
    > "$CTP_TMP/flows-$ns.json"
done

peak=0
peak_slab=0
end=$(( $(date +%s) + 10 ))
while (( $(date +%s) < end )); do
  total=0
  for ns in "${names[@]}"; do total=$(( total + $(ctp_netns_knob "$ns" nf_conntrack_count) )); done
  slab=$(awk '$1 == "nf_conntrack" {print $2}' /proc/slabinfo)
  (( total > peak )) && peak=$total
  (( slab > peak_slab )) && peak_slab=$slab
  sleep 0.1
done
max_after=$(ctp_global_max)
ctp_stop "$CTP_CTPILOT_PID"

# One tick's growth: every namespace adds at most `rate` flows per second for one interval.
tick_growth=$(( 3 * rate * interval_ms / 1000 ))
ctp_measure "memory_cap_entries" "$cap"
ctp_measure "peak_entries_three_netns" "$peak"
ctp_measure "peak_slab_active_objects" "$peak_slab"
ctp_measure "nf_conntrack_max_after" "$max_after"
ctp_measure "one_tick_growth" "$tick_growth"
grep -h "memory budget" "$CTP_CTPILOT_LOG" | tail -n 2 >&2 || true

ctp_check "$max_after" -gt 4096 "ctpilot must raise nf_conntrack_max as the namespaces fill"
ctp_check "$peak" -gt $(( cap / 2 )) "the namespaces must fill well into the budget (else the test shows nothing)"
if (( peak > cap + tick_growth )); then
  ctp_show_log 60
  ctp_fail "the three namespaces held $peak entries, above the cap $cap + one tick's growth $tick_growth"
fi
# Each namespace may hold max entries: three at max must fit the cap too, even after the flows stop.
ctp_check $(( 3 * max_after )) -le $(( cap + tick_growth )) "three namespaces at nf_conntrack_max vs the cap"
grep -q "memory budget .* entries for all namespaces together" "$CTP_CTPILOT_LOG" ||
  ctp_fail "no note says the memory budget across namespaces held a raise back"
# Each raise journals why as data (README "History and rollback", `cause`), coded by its trigger.
raises=$(grep -c '"kind":"applied","netns":"init","knob":"nf_conntrack_max"' "$CTP_TMP/state/journal.jsonl" || true)
explained=$(grep '"kind":"applied","netns":"init","knob":"nf_conntrack_max"' "$CTP_TMP/state/journal.jsonl" |
            grep -cE '"cause":\{[^}]*"code":"(drops|high_water|lookahead)"' || true)
ctp_check "$explained" -eq "$raises" "raises of nf_conntrack_max journaled with a cause (of $raises)"
echo "PASS: peak $peak entries in three namespaces (slab $peak_slab) within cap $cap + one tick $tick_growth"
