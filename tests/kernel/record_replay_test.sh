#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ctpilot record on real traffic, then simulate --trace on the recording: with the global
# nf_conntrack_max lowered to 2048, UDP flows and a TCP churn inside a netns fill the table
# and the kernel drops new flows. `record` samples that netns (and never writes a knob), the
# trace holds the kernel's own counters, and replaying it under an observe-only policy gives
# back the recorded drop total and count (README "Replay your own traffic").
source "$(dirname "$0")/lib.sh"
require_root_netns

ns="$CTP_ID-rec"
ctp_make_ct_netns "$ns"
ctp_serve "$ns" 127.0.0.1:8000-8003
cat > "$CTP_TMP/policy.conf" <<CONF
[controller]
interval = 200ms
netns = $ns
CONF
sed -e "s/^netns = .*/netns = $ns/" -e "s/^interval = .*/interval = 200ms/" \
  "$(dirname "$0")/../../examples/policies/observe-only.conf" > "$CTP_TMP/observe.conf"

ctp_set_global_max 2048
max_before=$(ctp_global_max)
drop_before=$(ctp_ct_stat "$ns" drop)
ctp_bg "$CTPILOT" --policy "$CTP_TMP/policy.conf" record --out "$CTP_TMP/trace.jsonl" --duration 20s
recorder=$CTP_LAST_PID
sleep 0.5
"$LOADGEN" --netns "$ns" udp-flows --target 127.0.0.1:9000 --rate 500/s --duration 1s > "$CTP_TMP/udp.json"
# 3000/s for 3 s: more connections than 2048 TIME_WAIT entries (120 s each) can hold.
"$LOADGEN" --netns "$ns" tcp-churn --target 127.0.0.1:8000-8003 --rate 3000/s --duration 3s \
  --timeout 1500ms > "$CTP_TMP/churn.json"
sleep 0.5
# SIGINT stops the recording cleanly, long before --duration.
kill -INT "$recorder"
for _ in $(seq 50); do kill -0 "$recorder" 2>/dev/null || break; sleep 0.1; done
kill -0 "$recorder" 2>/dev/null && ctp_fail "record did not stop on SIGINT"
wait "$recorder" || ctp_fail "record exited $? after SIGINT"
drop_after=$(ctp_ct_stat "$ns" drop)
ctp_check "$(ctp_global_max)" -eq "$max_before" "record must not change nf_conntrack_max"

lines=$(wc -l < "$CTP_TMP/trace.jsonl")
ctp_check "$lines" -ge 20 "samples in the trace (5 per second for about 5 s)"
head -n 1 "$CTP_TMP/trace.jsonl" | grep -q '"ctpilot_trace":1' || ctp_fail "no version header: $(head -n 1 "$CTP_TMP/trace.jsonl")"
grep -q "\"netns\":\"$ns\"" "$CTP_TMP/trace.jsonl" || ctp_fail "the trace has no sample of $ns"
recorded_drops=$((drop_after - drop_before))
ctp_check "$recorded_drops" -gt 0 "the churn must produce drops at nf_conntrack_max=2048 (else the setup is wrong)"

"$CTPILOT" simulate --policy "$CTP_TMP/observe.conf" --trace "$CTP_TMP/trace.jsonl" --csv "$CTP_TMP/replay.csv" \
  > "$CTP_TMP/replay.out" 2> "$CTP_TMP/replay.err" || ctp_fail "simulate --trace failed: $(cat "$CTP_TMP/replay.err")"
cat "$CTP_TMP/replay.out" >&2
trace_drops=$(sed -n 's/^recorded *drops \([0-9]*\),.*/\1/p' "$CTP_TMP/replay.out")
replayed_drops=$(sed -n 's/^dropped *\([0-9]*\) .*/\1/p' "$CTP_TMP/replay.out")
mean_error=$(sed -n 's/.*count off the recording by \([0-9.]*\) entries on average.*/\1/p' "$CTP_TMP/replay.out")
ctp_measure recorded_drops_kernel "$recorded_drops"
ctp_measure recorded_drops_trace "$trace_drops"
ctp_measure replayed_drops "$replayed_drops"
ctp_measure replay_mean_count_error "$mean_error"
ctp_check "$trace_drops" -eq "$recorded_drops" "drops in the trace vs the kernel's counter over the recording"
# The replay works on 200 ms steps: drops within a step where the table also emptied a little
# are admitted; it must stay close to the recording, and never invent drops.
ctp_check "$replayed_drops" -le "$recorded_drops" "replayed drops must not exceed the recorded ones"
ctp_check "$((replayed_drops * 10))" -ge "$((recorded_drops * 9))" "replayed drops within 10% of the recorded ones"
ctp_check "${mean_error%.*}" -le 20 "mean count error of the observe-only replay (entries, table of 2048)"
echo "PASS: recorded $recorded_drops drops, replayed $replayed_drops, mean count error $mean_error"
