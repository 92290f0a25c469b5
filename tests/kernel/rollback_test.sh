#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ctpilot rollback on the real kernel: a journal of this boot says ctpilot raised the global
# nf_conntrack_max and shortened TIME_WAIT inside a namespace this test creates; a tampered
# TIME_WAIT refuses the whole rollback (exit 3, nothing written); then rollback --all restores
# both exactly, the timeout through the namespace.
source "$(dirname "$0")/lib.sh"
require_root_netns

ns="$CTP_ID-rollback"
ctp_add_netns "$ns"
state="$CTP_TMP/state"
saved=$(ctp_global_max)
tw() { ctp_netns_knob "$ns" nf_conntrack_tcp_timeout_time_wait; }
set_tw() { ip netns exec "$ns" sh -c "echo $1 > $CTP_PROC/nf_conntrack_tcp_timeout_time_wait"; }

boot=$(cat /proc/sys/kernel/random/boot_id)
raised=$((saved + 1024))
ctp_set_global_max "$raised"
set_tw 60
mkdir -p "$state"
cat > "$state/journal.jsonl" <<JOURNAL
{"id":1,"time":"2026-11-27T03:00:01.000Z","boot_id":"$boot","kind":"applied","netns":"init","knob":"nf_conntrack_max","old":$saved,"new":$raised,"reason":"test raise"}
{"id":2,"time":"2026-11-27T03:00:02.000Z","boot_id":"$boot","kind":"applied","netns":"$ns","knob":"nf_conntrack_tcp_timeout_time_wait","old":120,"new":60,"reason":"test shorten"}
JOURNAL

# Someone else set TIME_WAIT to 45 in the namespace: the rollback is refused whole.
set_tw 45
rc=0
"$CTPILOT" --state-dir "$state" rollback --all > "$CTP_TMP/out" 2> "$CTP_TMP/err" || rc=$?
ctp_check "$rc" -eq 3 "exit code of rollback over a tampered value ($(cat "$CTP_TMP/err"))"
grep -q "nf_conntrack_tcp_timeout_time_wait in $ns is 45, not 60" "$CTP_TMP/err" ||
  ctp_fail "refusal does not name the tampered knob: $(cat "$CTP_TMP/err")"
ctp_check "$(ctp_global_max)" -eq "$raised" "nf_conntrack_max after a refused rollback (unchanged)"

set_tw 60
"$CTPILOT" --state-dir "$state" rollback --all --hold 0 > "$CTP_TMP/out" 2> "$CTP_TMP/err" ||
  ctp_fail "rollback --all: $(cat "$CTP_TMP/err")"
ctp_check "$(ctp_global_max)" -eq "$saved" "nf_conntrack_max after rollback --all"
ctp_check "$(tw)" -eq 120 "TIME_WAIT in $ns after rollback --all"
ctp_check "$(grep -c '"kind":"rollback"' "$state/journal.jsonl")" -eq 2 "rollback records in the journal"
echo "PASS: rollback restored nf_conntrack_max $raised -> $saved and TIME_WAIT 60 -> 120 in $ns"
