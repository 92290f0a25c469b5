#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# With the global nf_conntrack_max lowered to 2048, a TCP churn inside a netns fills it
# with ASSURED TIME_WAIT entries and the kernel drops SYNs; `ctpilot status --json` reports the
# same drop total, read over ctnetlink, as /proc/net/stat/nf_conntrack shows in that netns
# (`conntrack -S`, an independent netlink reader, on kernels without that file).
source "$(dirname "$0")/lib.sh"
require_root_netns

ns="$CTP_ID-drops"
ctp_make_ct_netns "$ns"
ctp_serve "$ns" 127.0.0.1:8000-8003
cat > "$CTP_TMP/policy.conf" <<CONF
[controller]
netns = $ns
CONF

ctp_set_global_max 2048
# 3000/s for 4 s: far more connections than 2048 TIME_WAIT entries (120 s each) can hold.
"$LOADGEN" --netns "$ns" tcp-churn --target 127.0.0.1:8000-8003 --rate 3000/s --duration 4s \
  --timeout 1500ms > "$CTP_TMP/churn.json"
ctp_log "churn: $(cat "$CTP_TMP/churn.json")"

proc_drop=$(ctp_ct_stat "$ns" drop)
"$CTPILOT" --policy "$CTP_TMP/policy.conf" --state-dir "$CTP_TMP/state" status --json > "$CTP_TMP/status.json" ||
  ctp_fail "ctpilot status --json failed: $(cat "$CTP_TMP/status.json")"
proc_drop_after=$(ctp_ct_stat "$ns" drop)
ctp_log "status of $ns: $(ctp_json "/namespaces/name=$ns" < "$CTP_TMP/status.json" 2>&1)"

source_name=$(ctp_json "/namespaces/name=$ns/stats/source" < "$CTP_TMP/status.json")
status_drop=$(ctp_json "/namespaces/name=$ns/stats/drop" < "$CTP_TMP/status.json")
ctp_measure "churn_rate_achieved" "$(ctp_json /rate_achieved < "$CTP_TMP/churn.json")"
ctp_measure "drops_procfs" "$proc_drop"
ctp_measure "drops_status_netlink" "$status_drop"

ctp_check "$proc_drop" -gt 0 "the churn must produce drops at nf_conntrack_max=2048 (else the setup is wrong)"
ctp_check "$proc_drop" -eq "$proc_drop_after" "drops must not move while status reads them (churn stopped)"
[[ "$source_name" == netlink ]] || ctp_fail "status read its statistics from '$source_name', expected netlink"
ctp_check "$status_drop" -eq "$proc_drop" "status --json drop total (netlink) vs /proc/net/stat/nf_conntrack"
echo "PASS: $proc_drop drops, status over netlink agrees"
