#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kill -9 the daemon during the NAT surge, after it raised nf_conntrack_max;
# restart it on the same state directory (the lock of the dead process must not block it);
# then `rollback --all` still restores the baseline exactly.
source "$(dirname "$0")/lib.sh"
require_root_netns

lowered=$CTP_SURGE_LOWERED
ctp_surge_setup
buckets_before=$(cat $CTP_PROC/nf_conntrack_buckets)
state="$CTP_TMP/state"

ctp_start_ctpilot "$CTP_TMP/policy.conf" "$state"
first_pid=$CTP_CTPILOT_PID
ctp_bg ctp_surge_churn "$CTP_TMP/churn.json" 12s
churn_pid=$CTP_LAST_PID
surge_start=$(date +%s.%N)

# Wait for the first raise, then kill -9 at once: the journal may be mid-record.
for _ in $(seq 100); do [[ "$(ctp_global_max)" -gt "$lowered" ]] && break; sleep 0.05; done
first_raise=$(ctp_global_max)
ctp_check "$first_raise" -gt "$lowered" "nf_conntrack_max raised within 5 s of the surge"
kill -KILL "$first_pid"
wait "$first_pid" 2>/dev/null || true
ctp_log "killed ctpilot (pid $first_pid) with SIGKILL $(echo "$(date +%s.%N) - $surge_start" | bc)s into the surge, max $first_raise"

# Restart on the same state directory while the surge goes on.
ctp_start_ctpilot "$CTP_TMP/policy.conf" "$state"
wait "$churn_pid" || ctp_fail "the churn failed"
drops=$(ctp_ct_stat "$CTP_ROUTER" drop)
kill -0 "$CTP_CTPILOT_PID" 2>/dev/null || { ctp_show_log; ctp_fail "the restarted ctpilot died"; }
ctp_stop "$CTP_CTPILOT_PID"
ctp_check "$CTP_STOP_STATUS" -eq 0 "restarted ctpilot run exit status on SIGTERM"
ctp_measure max_before_kill "$first_raise"
ctp_measure max_after_restart "$(ctp_global_max)"
ctp_measure drops_crash_surge "$drops"
# The restarted instance took over (the dead one's lock did not block it) and kept raising.
ctp_check "$(ctp_global_max)" -gt "$first_raise" "nf_conntrack_max raised again by the restarted ctpilot"

"$CTPILOT" --policy "$CTP_TMP/policy.conf" --state-dir "$state" history --json > "$CTP_TMP/history.json" ||
  ctp_fail "ctpilot history --json after the crash failed: $(cat "$CTP_TMP/history.json")"
ctp_rollback_all_restores "$CTP_TMP/policy.conf" "$state" "$lowered" "$buckets_before"
echo "PASS: killed at max $first_raise, restarted, rollback restored $lowered"
