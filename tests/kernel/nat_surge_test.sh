#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# A surge through a real NAT gateway. clients -> router (masquerade,
# ip_forward) -> servers; ctpilot watches the router netns, as on an ISP gateway. With the
# global nf_conntrack_max lowered to 4096:
#   1. a TCP churn from the clients, with nothing acting, produces drops in the router;
#   2. the same churn with `ctpilot run` watching the router produces no drop, because
#      nf_conntrack_max is raised ahead of the fill;
#   3. `ctpilot rollback --all` restores 4096 exactly.
source "$(dirname "$0")/lib.sh"
require_root_netns

lowered=$CTP_SURGE_LOWERED
ctp_surge_setup
buckets_before=$(cat $CTP_PROC/nf_conntrack_buckets)

# 1. Nothing acts: the router's table fills with ASSURED TIME_WAIT entries and SYNs are dropped.
drop0=$(ctp_ct_stat "$CTP_ROUTER" drop)
ctp_surge_churn "$CTP_TMP/churn-without.json"
drops_without=$(( $(ctp_ct_stat "$CTP_ROUTER" drop) - drop0 ))
ctp_measure drops_without_ctpilot "$drops_without"
ctp_measure failed_connections_without "$(ctp_json /failed < "$CTP_TMP/churn-without.json")"
ctp_measure churn_rate_achieved "$(ctp_json /rate_achieved < "$CTP_TMP/churn-without.json")"
ctp_check "$drops_without" -gt 0 "drops in the router with nothing acting (else the setup proves nothing)"
ctp_check "$(ctp_global_max)" -eq "$lowered" "nf_conntrack_max untouched while nothing acts"

# Start again from an empty table.
ip netns exec "$CTP_ROUTER" conntrack -F 2>/dev/null
ctp_check "$(ctp_conntrack_count "$CTP_ROUTER")" -lt 100 "router table flushed"

# 2. The same churn with ctpilot watching the router.
state="$CTP_TMP/state"
ctp_start_ctpilot "$CTP_TMP/policy.conf" "$state"
ctp_watch_max "$CTP_TMP/max.log"
drop1=$(ctp_ct_stat "$CTP_ROUTER" drop)
surge_start=$(date +%s.%N)
ctp_surge_churn "$CTP_TMP/churn-with.json"
drops_with=$(( $(ctp_ct_stat "$CTP_ROUTER" drop) - drop1 ))
raised_to=$(ctp_global_max)
first_raise=$(ctp_first_change_after "$CTP_TMP/max.log" "$surge_start" "$lowered")
kill -0 "$CTP_CTPILOT_PID" 2>/dev/null || { ctp_show_log; ctp_fail "ctpilot run died during the surge"; }
ctp_stop "$CTP_CTPILOT_PID"
ctp_log "ctpilot run stopped with status $CTP_STOP_STATUS"
ctp_measure drops_with_ctpilot "$drops_with"
ctp_measure failed_connections_with "$(ctp_json /failed < "$CTP_TMP/churn-with.json")"
ctp_measure seconds_to_first_raise "$first_raise"
ctp_measure max_raised_to "$raised_to"
ctp_check "$CTP_STOP_STATUS" -eq 0 "ctpilot run exit status on SIGTERM"
ctp_check "$raised_to" -gt "$lowered" "ctpilot raised nf_conntrack_max"
if [[ "$drops_with" -ne 0 ]]; then ctp_show_log; fi
ctp_check "$drops_with" -eq 0 "drops in the router with ctpilot running"
# Stopping leaves the tuned value in place (rollback_on_exit is opt-in).
ctp_check "$(ctp_global_max)" -eq "$raised_to" "nf_conntrack_max after ctpilot stopped"

# 3. Rollback restores the lowered value exactly (and buckets, whatever happened to them).
ctp_rollback_all_restores "$CTP_TMP/policy.conf" "$state" "$lowered" "$buckets_before"
echo "PASS: drops without ctpilot $drops_without, with ctpilot $drops_with; first raise after ${first_raise}s"
