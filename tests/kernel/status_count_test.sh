#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# In a netns with a `ct state new` rule, a few thousand one-way UDP flows make a few
# thousand conntrack entries; `ctpilot status --json` (watching that netns) reports that
# namespace's count within a few percent of `conntrack -C` there.
source "$(dirname "$0")/lib.sh"
require_root_netns

ns="$CTP_ID-count"
flows=4000
ctp_make_ct_netns "$ns"
ctp_serve "$ns" 127.0.0.1:9000 --udp
cat > "$CTP_TMP/policy.conf" <<CONF
[controller]
netns = $ns
CONF

# Unreplied UDP entries live 30 s (nf_conntrack_udp_timeout): long enough to read both counts.
"$LOADGEN" --netns "$ns" udp-flows --target 127.0.0.1:9000 --rate 8000/s --duration 5s --count "$flows" \
  > "$CTP_TMP/flows.json"
ctp_log "flows: $(cat "$CTP_TMP/flows.json")"

before=$(ctp_conntrack_count "$ns")
"$CTPILOT" --policy "$CTP_TMP/policy.conf" --state-dir "$CTP_TMP/state" status --json > "$CTP_TMP/status.json" ||
  ctp_fail "ctpilot status --json failed: $(cat "$CTP_TMP/status.json")"
after=$(ctp_conntrack_count "$ns")
ctp_log "status of $ns: $(ctp_json "/namespaces/name=$ns" < "$CTP_TMP/status.json" 2>&1)"
count=$(ctp_json "/namespaces/name=$ns/count" < "$CTP_TMP/status.json")
ctp_measure conntrack_C "$before..$after"
ctp_measure status_count "$count"

# The setup must really have made the entries, else the comparison below proves nothing.
ctp_check "$before" -ge $((flows * 95 / 100)) "conntrack -C in $ns after $flows UDP flows"
ctp_check "$count" -ge $((before * 97 / 100)) "status count vs conntrack -C (3% below)"
ctp_check "$count" -le $((after * 103 / 100)) "status count vs conntrack -C (3% above)"
# The initial netns tracks nothing here: a count from the wrong netns would be far off.
echo "PASS: status count $count, conntrack -C $before..$after"
