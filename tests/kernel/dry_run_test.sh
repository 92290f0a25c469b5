#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The NAT surge with `ctpilot run --dry-run` watching the router changes no
# knob (global max and buckets, the router's timeouts) and journals planned records only.
source "$(dirname "$0")/lib.sh"
require_root_netns

lowered=$CTP_SURGE_LOWERED
ctp_surge_setup
buckets_before=$(cat $CTP_PROC/nf_conntrack_buckets)
ctp_timeouts_snapshot "$CTP_ROUTER" > "$CTP_TMP/timeouts-before"

state="$CTP_TMP/state"
ctp_start_ctpilot "$CTP_TMP/policy.conf" "$state" --dry-run
ctp_watch_max "$CTP_TMP/max.log"
drop0=$(ctp_ct_stat "$CTP_ROUTER" drop)
ctp_surge_churn "$CTP_TMP/churn.json"
drops=$(( $(ctp_ct_stat "$CTP_ROUTER" drop) - drop0 ))
kill -0 "$CTP_CTPILOT_PID" 2>/dev/null || { ctp_show_log; ctp_fail "ctpilot run --dry-run died during the surge"; }
ctp_stop "$CTP_CTPILOT_PID"
ctp_check "$CTP_STOP_STATUS" -eq 0 "ctpilot run --dry-run exit status on SIGTERM"
ctp_measure drops_dry_run "$drops"

# No knob moved, at any moment of the surge.
ctp_check "$(wc -l < "$CTP_TMP/max.log")" -eq 1 "nf_conntrack_max values seen during the surge ($(tr '\n' ' ' < "$CTP_TMP/max.log"))"
ctp_check "$(ctp_global_max)" -eq "$lowered" "nf_conntrack_max after the dry run"
ctp_check "$(cat $CTP_PROC/nf_conntrack_buckets)" -eq "$buckets_before" "nf_conntrack_buckets after the dry run"
ctp_timeouts_snapshot "$CTP_ROUTER" > "$CTP_TMP/timeouts-after"
diff -u "$CTP_TMP/timeouts-before" "$CTP_TMP/timeouts-after" >&2 || ctp_fail "router timeouts changed in a dry run"
# Nothing acted, so the surge really dropped: the dry run saw what a real run would have fixed.
ctp_check "$drops" -gt 0 "drops in the router during the dry run (else the surge proves nothing)"

# The journal holds planned records only, and at least one plans to raise nf_conntrack_max.
"$CTPILOT" --policy "$CTP_TMP/policy.conf" --state-dir "$state" history --json > "$CTP_TMP/history.json" ||
  ctp_fail "ctpilot history --json failed: $(cat "$CTP_TMP/history.json")"
ctp_json '/*/kind' < "$CTP_TMP/history.json" | sort | uniq -c > "$CTP_TMP/kinds"
ctp_log "journal kinds: $(tr -s ' \n' ' ' < "$CTP_TMP/kinds")"
planned=$(ctp_json '/*/kind' < "$CTP_TMP/history.json" | grep -c '^planned$' || true)
others=$(ctp_json '/*/kind' < "$CTP_TMP/history.json" | grep -vc '^planned$' || true)
ctp_measure planned_records "$planned"
ctp_check "$others" -eq 0 "journal records other than planned in a dry run"
ctp_check "$planned" -gt 0 "planned records in the journal"
planned_max=$(ctp_json '/*/knob' < "$CTP_TMP/history.json" | grep -c '^nf_conntrack_max$' || true)
ctp_check "$planned_max" -gt 0 "planned raises of nf_conntrack_max"
echo "PASS: dry run changed nothing ($drops drops), journaled $planned planned records"
