#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Real-kernel benchmark: how well `simulate --trace` predicts what a policy does live.
#
# 1. The NAT router of tests/kernel/lib.sh (clients -> router with masquerade -> servers), the
#    global nf_conntrack_max lowered to 4096 and left static, a TCP churn of RKB_RATE conn/s for
#    RKB_SECONDS: `ctpilot record` (every 200 ms) records the router's table while it drops.
# 2. `ctpilot simulate --trace` replays the recording under examples/policies/isp-nat-gateway.conf
#    (its netns line pointed at the router: the machine has other engineers' namespaces).
# 3. The same policy runs live (`ctpilot run`, started 1.5 s before) on the same churn from the
#    same empty table.
# Predicted and measured drops, nf_conntrack_max and changes go to $RKB_OUT/replay.md.
# Needs root; holds /tmp/ctpilot-kernel.lock for about a minute.
CTP_DEADLINE=${CTP_DEADLINE:-300}
source "$(dirname "$0")/common.sh"
require_root_netns

rate=${RKB_RATE:-3000}
seconds=${RKB_SECONDS:-15}
ctp_surge_setup 200ms
lowered=$CTP_SURGE_LOWERED
buckets=$(cat $CTP_PROC/nf_conntrack_buckets)
sed -e "s/^netns = .*/netns = $CTP_ROUTER/" "$RKB_SOURCE_DIR/examples/policies/isp-nat-gateway.conf" > "$CTP_TMP/isp.conf"
"$CTPILOT" check-policy "$CTP_TMP/isp.conf" > /dev/null || ctp_fail "the ISP policy with netns = $CTP_ROUTER is invalid"

churn() {
  "$LOADGEN" --netns "$CTP_CLIENTS" tcp-churn --target "$CTP_SERVER_IP:8000-8007" \
    --rate "$rate/s" --duration "${seconds}s" --timeout 2s > "$1"
  ctp_log "churn: $(cat "$1")"
}

# 1. Record with the limit static.
rkb_reset_table "$lowered" "$buckets"
drop0=$(ctp_proc_stat "$CTP_ROUTER" drop)
ctp_bg "$CTPILOT" --policy "$CTP_TMP/policy.conf" record --out "$CTP_TMP/trace.jsonl"
recorder=$CTP_LAST_PID
sleep 1
churn "$CTP_TMP/static.json"
sleep 1
ctp_stop "$recorder"
drops_static=$(( $(ctp_proc_stat "$CTP_ROUTER" drop) - drop0 ))
completed_static=$(ctp_json /completed < "$CTP_TMP/static.json")
attempted_static=$(ctp_json /attempted < "$CTP_TMP/static.json")
ctp_measure drops_static "$drops_static"

# 2. Replay under the ISP policy (and observe-only, for the model's own error).
sed -e "s/^netns = .*/netns = $CTP_ROUTER/" "$RKB_SOURCE_DIR/examples/policies/observe-only.conf" > "$CTP_TMP/observe.conf"
"$CTPILOT" simulate --policy "$CTP_TMP/observe.conf" --trace "$CTP_TMP/trace.jsonl" > "$CTP_TMP/observe.out" 2>&1 ||
  ctp_fail "replay under observe-only: $(cat "$CTP_TMP/observe.out")"
"$CTPILOT" simulate --policy "$CTP_TMP/isp.conf" --trace "$CTP_TMP/trace.jsonl" --csv "$CTP_TMP/replay.csv" \
  > "$CTP_TMP/replay.out" 2>&1 || ctp_fail "replay under the ISP policy: $(cat "$CTP_TMP/replay.out")"
cat "$CTP_TMP/observe.out" "$CTP_TMP/replay.out" >&2
field() { sed -n "s/$2/\\1/p" "$1" | head -n 1; }
observe_drops=$(field "$CTP_TMP/observe.out" '^dropped *\([0-9]*\) .*')
observe_error=$(field "$CTP_TMP/observe.out" '.*count off the recording by \([0-9.]*\) entries on average.*')
trace_drops=$(field "$CTP_TMP/replay.out" '^recorded *drops \([0-9]*\),.*')
predicted_drops=$(field "$CTP_TMP/replay.out" '^dropped *\([0-9]*\) .*')
predicted_max=$(field "$CTP_TMP/replay.out" '^nf_conntrack_max *[0-9]* -> \([0-9]*\) .*')
predicted_peak=$(field "$CTP_TMP/replay.out" '^peak fill .*(\([0-9]*\) entries at most)')
recorded_peak=$(field "$CTP_TMP/replay.out" '^recorded .* peak \([0-9]*\) entries.*')
predicted_changes=$(field "$CTP_TMP/replay.out" '^changes *\([0-9]*\)$')
predicted_list=$(sed -n '/^changes/,/^plot/p' "$CTP_TMP/replay.out" | grep '^  ' || true)

# 3. The same policy live on the same churn.
rkb_reset_table "$lowered" "$buckets"
drop1=$(ctp_proc_stat "$CTP_ROUTER" drop)
ctp_start_ctpilot "$CTP_TMP/isp.conf" "$CTP_TMP/state"
sleep 1.5
surge_start=$(rkb_now)
churn "$CTP_TMP/live.json"
drops_live=$(( $(ctp_proc_stat "$CTP_ROUTER" drop) - drop1 ))
entries_live=$(ctp_conntrack_count "$CTP_ROUTER")
live_max=$(ctp_global_max)
ctp_stop "$CTP_CTPILOT_PID"
completed_live=$(ctp_json /completed < "$CTP_TMP/live.json")
attempted_live=$(ctp_json /attempted < "$CTP_TMP/live.json")
live_changes=$(grep -c '"kind":"applied"' "$CTP_TMP/state/journal.jsonl" || true)
live_list=$(grep '"kind":"applied"' "$CTP_TMP/state/journal.jsonl" | while read -r line; do
  t=$("$JSON_GET" /time <<< "$line"); k=$("$JSON_GET" /knob <<< "$line")
  printf '  %+.1fs  %s %s -> %s  (%s)\n' "$(rkb_sub "$(rkb_epoch "$t")" "$surge_start")" "$k" \
    "$("$JSON_GET" /old <<< "$line")" "$("$JSON_GET" /new <<< "$line")" "$("$JSON_GET" /reason <<< "$line")"
done)
ctp_measure drops_predicted "$predicted_drops"
ctp_measure drops_live "$drops_live"

mkdir -p "$RKB_OUT"
{
  echo "### Replay fidelity on the real kernel: predicted vs live (\`tests/bench/kernel/replay.sh\`)"
  echo
  echo "NAT router of the kernel tests (clients -> router with masquerade -> servers, network namespaces),"
  echo "TCP churn of $rate conn/s for $seconds s, each connection leaving an ASSURED TIME_WAIT entry in the router;"
  echo "global nf_conntrack_max lowered to $lowered. Recorded with \`ctpilot record\` every 200 ms with the limit static,"
  echo "replayed with \`ctpilot simulate --trace\` under examples/policies/isp-nat-gateway.conf (netns set to the"
  echo "router), then the same policy live on the same churn from the same empty table. $(date -u +%Y-%m-%d), Linux $(uname -r)."
  echo
  echo "| | drops | peak entries | nf_conntrack_max at the end | changes | connections attempted / completed |"
  echo "|---|---:|---:|---:|---:|---:|"
  echo "| recorded, limit static (kernel counter) | $drops_static | $recorded_peak | $lowered | 0 | $attempted_static / $completed_static |"
  echo "| replay under observe-only (model error) | $observe_drops (trace: $trace_drops) | $recorded_peak | $lowered | 0 | |"
  echo "| **predicted**: replay under the ISP policy | $predicted_drops | $predicted_peak | $predicted_max | $predicted_changes | |"
  echo "| **measured**: the ISP policy live | $drops_live | $entries_live (at the end) | $live_max | $live_changes | $attempted_live / $completed_live |"
  echo
  echo "Observe-only replay: count off the recording by $observe_error entries on average."
  echo
  echo "Predicted changes (time since the start of the recording):"
  echo '```'
  echo "$predicted_list"
  echo '```'
  echo "Live changes (time since the start of the churn):"
  echo '```'
  echo "$live_list"
  echo '```'
} > "$RKB_OUT/replay.md"
[[ -s "$CTP_TMP/replay.csv.png" ]] && cp "$CTP_TMP/replay.csv.png" "$RKB_OUT/replay.png" &&
  printf '\n![replay under the ISP policy: count, max and drops, replayed and recorded](replay.png)\n' >> "$RKB_OUT/replay.md"
cat "$RKB_OUT/replay.md"
