#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# simulate --prometheus against a real Prometheus (Debian package `prometheus`, on 127.0.0.1, its
# own temporary storage) holding a week of node_exporter history at 15 s for three gateways,
# backfilled with `promtool tsdb create-blocks-from openmetrics`:
#   gw1 never full; gw2 full every evening (limit 65,536, MemTotal 16 GiB); gw3 full every
#   evening far beyond what 30% of its 128 MiB can hold.
# The fleet table's recorded drops per instance are exactly the backfilled counters' increase;
# under observe-only the replay gives them back (README "Replay your own traffic": exactly);
# under the ISP example gw2's drops are gone while gw3 still drops and sits at its ceiling.
# A week at 15 s is 40,321 points per series: the fetch has to split it (Prometheus refuses
# more than 11,000). Skipped without prometheus/promtool.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
: "${CTPILOT_SOURCE_DIR:?set CTPILOT_SOURCE_DIR to the source tree}"
for tool in prometheus promtool python3; do
  command -v "$tool" >/dev/null || { echo "SKIP: needs $tool (scripts/deps.sh)"; exit 77; }
done
policies="$CTPILOT_SOURCE_DIR/examples/policies"

# A week ending at the last 15 s boundary before now (recent: within Prometheus' retention).
end=$(( $(date +%s) / 15 * 15 - 3600 ))
start=$((end - 7 * 86400))

# The history: entries live 120 s; arrivals per second by hour of day, more in the evening.
python3 - "$start" "$end" "$tmp/history.om" "$tmp/expected" <<'EOF'
import sys
start, end, out, expected = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
life, step = 120, 15
gateways = {  # instance: (limit, MemTotal, arrivals/s by day, arrivals/s 20:00-22:00)
    "gw1:9100": (65536, 16 << 30, 100, 150),
    "gw2:9100": (65536, 16 << 30, 300, 800),
    "gw3:9100": (16384, 128 << 20, 100, 3000),
}
series = {name: [] for name in ("entries", "entries_limit", "stat_insert", "stat_drop", "memory")}
totals = {}
for inst, (limit, mem, day, evening) in gateways.items():
    # A fluid model the counters explain exactly: each step 1/8 of the entries leave (life
    # 120 s at 15 s), arrivals fill the room left and the rest is dropped.
    insert = drop = 0
    count = day * life
    for t in range(start, end + 1, step):
        rate = evening if 20 <= (t % 86400) // 3600 < 22 else day
        if t > start:
            departures = count * step // life
            admitted = min(rate * step, limit - (count - departures))
            drop += rate * step - admitted
            insert += admitted
            count += admitted - departures
        labels = f'{{instance="{inst}",job="node"}}'
        series["entries"].append(f"node_nf_conntrack_entries{labels} {count} {t}")
        series["entries_limit"].append(f"node_nf_conntrack_entries_limit{labels} {limit} {t}")
        series["stat_insert"].append(f"node_nf_conntrack_stat_insert{labels} {insert} {t}")
        series["stat_drop"].append(f"node_nf_conntrack_stat_drop{labels} {drop} {t}")
        series["memory"].append(f"node_memory_MemTotal_bytes{labels} {mem} {t}")
    totals[inst] = drop
with open(out, "w") as f:
    for name, lines in series.items():
        metric = "node_memory_MemTotal_bytes" if name == "memory" else "node_nf_conntrack_" + name
        f.write(f"# HELP {metric} backfilled\n# TYPE {metric} gauge\n")
        f.write("\n".join(lines) + "\n")
    f.write("# EOF\n")
with open(expected, "w") as f:
    for inst in sorted(totals):
        f.write(f"{inst} {totals[inst]}\n")
EOF
mkdir -p "$tmp/tsdb"
promtool tsdb create-blocks-from openmetrics "$tmp/history.om" "$tmp/tsdb" >"$tmp/backfill.log" 2>&1 ||
  { fail "promtool backfill: $(tail -5 "$tmp/backfill.log")"; exit "$failures"; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'global:\n  scrape_interval: 1h\n' >"$tmp/prometheus.yml"
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" --storage.tsdb.retention.time=30d \
  --web.listen-address="127.0.0.1:$port" >"$tmp/prometheus.log" 2>&1 &
prom=$!
trap 'kill "$prom" 2>/dev/null; wait "$prom" 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 150); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/-/ready', timeout=1)" 2>/dev/null && break
  sleep 0.2
done
url="http://127.0.0.1:$port"
range=(--from "$(date -u -d "@$start" +%Y-%m-%dT%H:%M:%SZ)" --to "$(date -u -d "@$end" +%Y-%m-%dT%H:%M:%SZ)" --step 15s)

# rows FILE: "instance recorded replayed" per table row, sorted by instance.
rows() { awk '/^gw[0-9]/ {print $1, $2, $3}' "$1" | sort; }

"$CTPILOT" simulate --policy "$policies/observe-only.conf" --prometheus "$url" --match '{job="node"}' "${range[@]}" \
  >"$tmp/observe" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] || { fail "observe-only: exit $rc: $(cat "$tmp/err")"; tail -5 "$tmp/prometheus.log"; exit "$failures"; }
rows "$tmp/observe" >"$tmp/observe.rows"
awk '{print $1, $2}' "$tmp/observe.rows" | diff "$tmp/expected" - >/dev/null ||
  fail "recorded drops per instance differ from the backfilled counters: want $(tr '\n' ' ' <"$tmp/expected"), got $(tr '\n' ' ' <"$tmp/observe.rows")"
awk '$2 != $3 {bad = 1} END {exit bad}' "$tmp/observe.rows" || fail "observe-only did not give back the recorded drops: $(tr '\n' ' ' <"$tmp/observe.rows")"
awk '$2 > 0' "$tmp/expected" | grep -q gw3 || fail "the history has no drops on gw3"
echo "MEASURE simulate_prometheus observe_only_rows = $(tr '\n' ';' <"$tmp/observe.rows")"

"$CTPILOT" simulate --policy "$policies/isp-nat-gateway.conf" --prometheus "$url" "${range[@]}" >"$tmp/isp" 2>"$tmp/err" ||
  fail "ISP policy: exit $?: $(cat "$tmp/err")"
rows "$tmp/isp" >"$tmp/isp.rows"
echo "MEASURE simulate_prometheus isp_rows = $(tr '\n' ';' <"$tmp/isp.rows")"
grep -q '^gw1:9100 0 0$' "$tmp/isp.rows" || fail "gw1 (never full) under the ISP policy: $(grep gw1 "$tmp/isp.rows")"
grep -Eq '^gw2:9100 [1-9][0-9]* 0$' "$tmp/isp.rows" || fail "gw2 under the ISP policy: want its drops gone: $(grep gw2 "$tmp/isp.rows")"
grep -Eq '^gw3:9100 [1-9][0-9]* [1-9][0-9]*$' "$tmp/isp.rows" || fail "gw3 under the ISP policy: want it still dropping: $(grep gw3 "$tmp/isp.rows")"
grep -q '^still dropping 1 (gw3:9100)' "$tmp/isp" || fail "still dropping: $(grep '^still' "$tmp/isp")"
grep -q '^at ceiling    1 (gw3:9100)' "$tmp/isp" || fail "at ceiling: $(grep '^at ceiling' "$tmp/isp")"

# A selector that matches nothing: one line, exit 2.
"$CTPILOT" simulate --policy "$policies/observe-only.conf" --prometheus "$url" --match '{job="nope"}' "${range[@]}" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 2 ] || fail "empty match: exit $rc, want 2"
grep -q 'the selector matched nothing' "$tmp/err" || fail "empty match: $(cat "$tmp/err")"
# Prometheus' own error for a bad selector, quoted: exit 1.
"$CTPILOT" simulate --policy "$policies/observe-only.conf" --prometheus "$url" --match '{job=~"("}' "${range[@]}" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 1 ] || fail "bad regex: exit $rc, want 1"
grep -q 'answered 400 Bad Request: .*error parsing regexp' "$tmp/err" || fail "bad regex: $(cat "$tmp/err")"

exit "$failures"
