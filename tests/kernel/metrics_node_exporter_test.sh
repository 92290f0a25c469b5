#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ctpilot's [metrics] textfile served by Debian's prometheus-node-exporter (textfile collector,
# started here on a free loopback port): the entries of a test netns that node_exporter serves
# match `conntrack -C` there within 3%, and the scrape passes `promtool check metrics`
# (README "Monitoring").
source "$(dirname "$0")/lib.sh"
require_root_netns
command -v prometheus-node-exporter >/dev/null ||
  ctp_skip "prometheus-node-exporter not installed (Debian package prometheus-node-exporter)"
command -v promtool >/dev/null || ctp_skip "promtool not installed (Debian package prometheus)"

ns="$CTP_ID-metrics"
flows=4000
ctp_make_ct_netns "$ns"
ctp_serve "$ns" 127.0.0.1:9000 --udp
mkdir -p "$CTP_TMP/textfile"
cat > "$CTP_TMP/policy.conf" <<CONF
[controller]
netns = $ns
interval = 200ms
dry_run = true
[metrics]
textfile = $CTP_TMP/textfile/ctpilot.prom
CONF

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ctp_bg prometheus-node-exporter --web.listen-address="127.0.0.1:$port" --collector.disable-defaults \
  --collector.textfile --collector.textfile.directory="$CTP_TMP/textfile"
ctp_bg "$CTPILOT" --policy "$CTP_TMP/policy.conf" --state-dir "$CTP_TMP/state" run 2> "$CTP_TMP/ctpilot.err"

# Unreplied UDP entries live 30 s (nf_conntrack_udp_timeout): long enough to read both counts.
"$LOADGEN" --netns "$ns" udp-flows --target 127.0.0.1:9000 --rate 8000/s --duration 5s --count "$flows" \
  > "$CTP_TMP/flows.json"
ctp_log "flows: $(cat "$CTP_TMP/flows.json")"

scrape() {
  python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
    "http://127.0.0.1:$port/metrics"
}
# Two ticks after the flows: the textfile holds the new count.
sleep 0.6
before=$(ctp_conntrack_count "$ns")
scrape > "$CTP_TMP/scrape" || ctp_fail "node_exporter did not answer on 127.0.0.1:$port"
after=$(ctp_conntrack_count "$ns")
served=$(awk -v ns="$ns" '$1 == "ctpilot_conntrack_entries{netns=\"" ns "\"}" { print $2 }' "$CTP_TMP/scrape")
ctp_measure conntrack_C "$before..$after"
ctp_measure node_exporter_entries "$served"
[ -n "$served" ] || ctp_fail "node_exporter serves no ctpilot_conntrack_entries for $ns: $(grep ctpilot_ "$CTP_TMP/scrape" | head -5; cat "$CTP_TMP/ctpilot.err")"
grep -q '^node_textfile_scrape_error 0$' "$CTP_TMP/scrape" || ctp_fail "node_exporter could not read the textfile: $(grep textfile "$CTP_TMP/scrape")"
served=${served%.*}
ctp_check "$before" -ge $((flows * 95 / 100)) "conntrack -C in $ns after $flows UDP flows"
ctp_check "$served" -ge $((before * 97 / 100)) "node_exporter's entries vs conntrack -C (3% below)"
ctp_check "$served" -le $((after * 103 / 100)) "node_exporter's entries vs conntrack -C (3% above)"
promtool check metrics < "$CTP_TMP/scrape" > "$CTP_TMP/promtool" 2>&1 ||
  ctp_fail "promtool check metrics rejects node_exporter's scrape: $(cat "$CTP_TMP/promtool")"
echo "PASS: node_exporter serves $served entries for $ns, conntrack -C $before..$after"
