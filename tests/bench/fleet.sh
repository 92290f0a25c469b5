#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Fleet replay benchmark (README "Replay a whole fleet"): how fast `simulate` replays, and how long
# a fleet of INSTANCES gateways x DAYS days at 15 s takes when fetched from a local Prometheus
# (Debian package `prometheus`, loopback, its own temporary storage, history backfilled with
# `promtool tsdb create-blocks-from openmetrics`) and replayed under the ISP example policy.
# Writes bench/results/fleet.md. Needs prometheus, promtool, python3; no root.
# Usage: tests/bench/fleet.sh [INSTANCES] [DAYS]   (default 50 7); BUILD_DIR (default build).
set -euo pipefail
cd "$(dirname "$0")/../.."
instances=${1:-50}
days=${2:-7}
build="${BUILD_DIR:-build}"
ctpilot="$build/ctpilot"
policy=examples/policies/isp-nat-gateway.conf
out=bench/results/fleet.md
tmp=$(mktemp -d)
prom=
cleanup() {
  [ -n "$prom" ] && kill "$prom" 2>/dev/null && wait "$prom" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
[ -x "$ctpilot" ] || { echo "fleet.sh: build $ctpilot first" >&2; exit 1; }

end=$(($(date +%s) / 15 * 15 - 3600))
start=$((end - days * 86400))
# The fluid model of tests/cli/simulate_prometheus_test.sh: entries live 120 s, evening peaks;
# gateway k gets (k mod 5 + 1) x 150 arrivals/s by day and 3x that from 20:00 to 22:00.
python3 - "$start" "$end" "$instances" "$tmp/history.om" <<'EOF'
import sys
start, end, n, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
life, step, limit = 120, 15, 262144
names = ("entries", "entries_limit", "stat_insert", "stat_drop")
with open(out, "w") as f:
    rows = {name: [] for name in names}
    for name in names:
        f.write(f"# HELP node_nf_conntrack_{name} backfilled\n# TYPE node_nf_conntrack_{name} gauge\n")
        for k in range(n):
            inst = f"gw{k + 1:03d}:9100"
            day = (k % 5 + 1) * 150
            insert = drop = 0
            count = day * life
            lines = []
            for t in range(start, end + 1, step):
                rate = 3 * day if 20 <= (t % 86400) // 3600 < 22 else day
                if t > start:
                    departures = count * step // life
                    admitted = min(rate * step, limit - (count - departures))
                    drop += rate * step - admitted
                    insert += admitted
                    count += admitted - departures
                value = {"entries": count, "entries_limit": limit, "stat_insert": insert, "stat_drop": drop}[name]
                lines.append(f'node_nf_conntrack_{name}{{instance="{inst}",job="node"}} {value} {t}')
            f.write("\n".join(lines) + "\n")
    f.write("# EOF\n")
EOF
samples=$(grep -c '^node_nf_conntrack_entries{' "$tmp/history.om")
mkdir -p "$tmp/tsdb"
backfill_start=$(date +%s.%N)
promtool tsdb create-blocks-from openmetrics "$tmp/history.om" "$tmp/tsdb" >"$tmp/backfill.log" 2>&1
backfill=$(echo "$(date +%s.%N) - $backfill_start" | bc)
rm -f "$tmp/history.om"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'global:\n  scrape_interval: 1h\n' >"$tmp/prometheus.yml"
prometheus --config.file="$tmp/prometheus.yml" --storage.tsdb.path="$tmp/tsdb" --storage.tsdb.retention.time=30d \
  --web.listen-address="127.0.0.1:$port" >"$tmp/prometheus.log" 2>&1 &
prom=$!
for _ in $(seq 300); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/-/ready', timeout=1)" 2>/dev/null && break
  sleep 0.2
done
from=$(date -u -d "@$start" +%Y-%m-%dT%H:%M:%SZ)
to=$(date -u -d "@$end" +%Y-%m-%dT%H:%M:%SZ)

# The whole fleet: fetch (pieces of 10,000 points) + import + replay of every instance.
/usr/bin/time -f '%e %U %S %M' -o "$tmp/fleet.time" "$ctpilot" simulate --policy "$policy" --prometheus "http://127.0.0.1:$port" \
  --from "$from" --to "$to" --step 15s --timeout 120s --json >"$tmp/fleet.json" 2>"$tmp/fleet.err"
read -r fleet_wall fleet_user fleet_sys fleet_rss <"$tmp/fleet.time"
rows=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(len(d['rows']), d['totals']['recorded_drops'], d['totals']['replayed_drops'])" "$tmp/fleet.json")

# One instance on one core, from a saved answer: samples replayed per CPU second (fetch excluded).
python3 - "$port" "$start" "$end" "$tmp/one" <<'EOF'
import sys, urllib.request, urllib.parse
port, start, end, out = sys.argv[1:]
q = '{__name__=~"node_nf_conntrack_.*",instance="gw001:9100"}'
s = int(start)
i = 0
while s <= int(end):
    e = min(int(end), s + 9999 * 15)
    url = f"http://127.0.0.1:{port}/api/v1/query_range?" + urllib.parse.urlencode({"query": q, "start": s, "end": e, "step": 15})
    open(f"{out}{i}.json", "wb").write(urllib.request.urlopen(url).read())
    s, i = e + 15, i + 1
EOF
traces=()
for f in "$tmp"/one*.json; do traces+=(--trace "$f"); done
/usr/bin/time -f '%e %U %S %M' -o "$tmp/one.time" taskset -c 0 "$ctpilot" simulate --policy "$policy" "${traces[@]}" >/dev/null 2>&1
read -r one_wall one_user one_sys one_rss <"$tmp/one.time"
per_instance=$((samples / instances))
rate=$(echo "$per_instance / ($one_user + $one_sys)" | bc)

{
  echo "# Fleet replay: $instances instances x $days days at 15 s from a local Prometheus"
  echo
  echo "\`bash tests/bench/fleet.sh $instances $days\` on $(date -u +%Y-%m-%d), $(nproc) CPUs shared with other work"
  echo "(a loaded machine: wall times vary; CPU times are steadier). Prometheus $(prometheus --version 2>&1 | head -1 | awk '{print $3}')"
  echo "on 127.0.0.1 with the history backfilled ($((samples / instances)) instants per series, 4 series per instance, $samples instants in all;"
  echo "backfill ${backfill%.*} s);"
  echo "policy $policy."
  echo
  echo "| measure | value |"
  echo "|---|---:|"
  echo "| fleet: wall time, fetch + import + replay of every instance | ${fleet_wall} s |"
  echo "| fleet: CPU time (user + sys) | $(echo "$fleet_user + $fleet_sys" | bc) s |"
  echo "| fleet: peak memory (RSS) | $((fleet_rss / 1024)) MiB |"
  echo "| fleet: rows, recorded drops, replayed drops | $rows |"
  echo "| one instance, one core: samples replayed per CPU second | $rate |"
  echo "| one instance, one core: $per_instance samples | $(echo "$one_user + $one_sys" | bc) s CPU, $((one_rss / 1024)) MiB |"
} >"$out"
cat "$out"
