#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# simulate --trace on a real Prometheus answer: Debian's prometheus-node-exporter and prometheus
# run inside a test netns (127.0.0.1 there is the netns' own, every port free; storage in the
# test's temporary directory; scrape every second) while UDP flows and a TCP churn go through
# conntrack; the range query for node_nf_conntrack_* is fetched with curl exactly as README
# "Replay your own traffic" says, imported and replayed. Lowers the global nf_conntrack_max to 4096 for drops (lib.sh restores it).
# CTP_PROM_ANSWER_OUT=FILE keeps the answer (the committed fixture was made this way).
source "$(dirname "$0")/lib.sh"
require_root_netns
command -v prometheus >/dev/null || ctp_skip "needs prometheus (Debian package prometheus)"
command -v prometheus-node-exporter >/dev/null || ctp_skip "needs prometheus-node-exporter"
command -v curl >/dev/null || ctp_skip "needs curl"

ns="$CTP_ID-prom"
ctp_make_ct_netns "$ns"
# A table of 4096 that a churn of 3000 connections/s overfills with TIME_WAIT entries: drops.
ctp_set_global_max 4096
ctp_serve "$ns" 127.0.0.1:8000-8003
cat > "$CTP_TMP/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: node
    static_configs:
      - targets: ["127.0.0.1:9100"]
YML
ctp_bg ip netns exec "$ns" prometheus-node-exporter --web.listen-address=127.0.0.1:9100 \
  --collector.disable-defaults --collector.conntrack --collector.meminfo > "$CTP_TMP/node.log" 2>&1
ctp_bg ip netns exec "$ns" prometheus --config.file="$CTP_TMP/prometheus.yml" --storage.tsdb.path="$CTP_TMP/tsdb" \
  --web.listen-address=127.0.0.1:9090 > "$CTP_TMP/prometheus.log" 2>&1
for _ in $(seq 100); do
  ip netns exec "$ns" curl -sf http://127.0.0.1:9090/-/ready >/dev/null 2>&1 && break
  sleep 0.1
done
ip netns exec "$ns" curl -sf http://127.0.0.1:9090/-/ready >/dev/null || ctp_fail "prometheus not ready: $(tail -5 "$CTP_TMP/prometheus.log")"
# Wait for the first scrape that has the conntrack series.
for _ in $(seq 100); do
  ip netns exec "$ns" curl -sf http://127.0.0.1:9090/api/v1/query --data-urlencode 'query=node_nf_conntrack_entries' |
    grep -q '"value"' && break
  sleep 0.2
done
ctp_log "prometheus scrapes node_exporter"
start=$(date +%s)
sleep 2
"$LOADGEN" --netns "$ns" udp-flows --target 127.0.0.1:9000 --rate 400/s --duration 3s > /dev/null
"$LOADGEN" --netns "$ns" tcp-churn --target 127.0.0.1:8000-8003 --rate 3000/s --duration 4s --timeout 1500ms > /dev/null
sleep 4
end=$(date +%s)
# Empty the full table: while it is full, curl's own connection to Prometheus is dropped too
# (the kernel retries a SYN for minutes). The range ends before this.
ip netns exec "$ns" conntrack -F 2>/dev/null
ctp_log "traffic done"

# The command README "Replay your own traffic" gives, with this test's address and times.
ip netns exec "$ns" curl -sf http://127.0.0.1:9090/api/v1/query_range \
  --data-urlencode 'query={__name__=~"node_nf_conntrack_.*|node_memory_MemTotal_bytes",instance="127.0.0.1:9100"}' \
  --data-urlencode "start=$start" --data-urlencode "end=$end" --data-urlencode step=1s > "$CTP_TMP/answer.json" ||
  ctp_fail "query_range failed"
[[ -n "${CTP_PROM_ANSWER_OUT:-}" ]] && cp "$CTP_TMP/answer.json" "$CTP_PROM_ANSWER_OUT"
grep -q '"node_nf_conntrack_entries"' "$CTP_TMP/answer.json" || ctp_fail "no node_nf_conntrack_entries in the answer: $(head -c 300 "$CTP_TMP/answer.json")"

policy="$(dirname "$0")/../../examples/policies/observe-only.conf"
"$CTPILOT" simulate --policy "$policy" --trace "$CTP_TMP/answer.json" > "$CTP_TMP/replay.out" 2> "$CTP_TMP/replay.err" ||
  ctp_fail "simulate --trace on the Prometheus answer failed: $(cat "$CTP_TMP/replay.err")"
cat "$CTP_TMP/replay.out" "$CTP_TMP/replay.err" >&2
grep -q "^trace .*: prometheus, " "$CTP_TMP/replay.out" || ctp_fail "the answer was not read as a Prometheus trace"
peak=$(sed -n 's/^recorded .* peak \([0-9]*\) entries.*/\1/p' "$CTP_TMP/replay.out")
ctp_measure prometheus_recorded_peak "$peak"
ctp_check "$peak" -gt 500 "the peak count node_exporter saw (UDP flows stay 30 s)"
mean_error=$(sed -n 's/.*count off the recording by \([0-9.]*\) entries on average.*/\1/p' "$CTP_TMP/replay.out")
ctp_measure prometheus_replay_mean_count_error "$mean_error"
ctp_check "${mean_error%.*}" -le 5 "mean count error of the observe-only replay"
recorded_drops=$(sed -n 's/^recorded *drops \([0-9]*\),.*/\1/p' "$CTP_TMP/replay.out")
replayed_drops=$(sed -n 's/^dropped *\([0-9]*\) .*/\1/p' "$CTP_TMP/replay.out")
ctp_measure prometheus_recorded_drops "$recorded_drops"
ctp_measure prometheus_replayed_drops "$replayed_drops"
ctp_check "$recorded_drops" -gt 0 "drops node_exporter saw at nf_conntrack_max=4096"
ctp_check "$((replayed_drops * 10))" -ge "$((recorded_drops * 9))" "replayed drops within 10% of the recorded ones"
ctp_check "$replayed_drops" -le "$recorded_drops" "replayed drops must not exceed the recorded ones"

# A second range query per metric family, as several files: the same replay.
ctp_log "replayed one answer"

# The same with promtool (it prints the matrix alone).
if command -v promtool >/dev/null; then
  ip netns exec "$ns" promtool query range -o json --start="$start" --end="$end" --step=1s http://127.0.0.1:9090 \
    '{__name__=~"node_nf_conntrack_.*",instance="127.0.0.1:9100"}' > "$CTP_TMP/promtool.json" || ctp_fail "promtool query range failed"
  "$CTPILOT" simulate --policy "$policy" --trace "$CTP_TMP/promtool.json" > "$CTP_TMP/promtool.out" 2>&1 ||
    ctp_fail "simulate --trace on promtool's output failed: $(cat "$CTP_TMP/promtool.out")"
  grep -q "^recorded *drops $recorded_drops," "$CTP_TMP/promtool.out" || ctp_fail "promtool's answer: $(cat "$CTP_TMP/promtool.out")"
fi
for m in entries entries_limit stat_drop stat_early_drop stat_insert; do
  ip netns exec "$ns" curl -sf http://127.0.0.1:9090/api/v1/query_range \
    --data-urlencode "query=node_nf_conntrack_$m{instance=\"127.0.0.1:9100\"}" \
    --data-urlencode "start=$start" --data-urlencode "end=$end" --data-urlencode step=2s > "$CTP_TMP/$m.json"
done
"$CTPILOT" simulate --policy "$policy" --trace "$CTP_TMP/entries.json" --trace "$CTP_TMP/entries_limit.json" \
  --trace "$CTP_TMP/stat_drop.json" --trace "$CTP_TMP/stat_early_drop.json" --trace "$CTP_TMP/stat_insert.json" \
  > "$CTP_TMP/several.out" 2>&1 || ctp_fail "simulate with several Prometheus files failed: $(cat "$CTP_TMP/several.out")"
grep -q "every 2s" "$CTP_TMP/several.out" || ctp_fail "several files: expected a 2s step: $(cat "$CTP_TMP/several.out")"
echo "PASS: Prometheus answer replayed (peak $peak, mean count error $mean_error)"
