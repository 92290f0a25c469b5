#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Shared by external_yield_test.sh and external_adopt_test.sh (not a test by itself).
# Another writer changes a knob ctpilot watches (a per-netns timeout in a test netns, the way a
# config-management run re-applies /etc/sysctl.d). Run with MODE=yield (default) or MODE=adopt
# ([controller] on_external). yield: warned once, `status --json` lists the knob as unmanaged with
# the journal id of the external record, `ctpilot resume` hands it back (journaled, the value and
# the policy file untouched). adopt: warned once, the value becomes the knob's baseline in the
# journal and in `status --json`, nothing is unmanaged.
source "$(dirname "$0")/lib.sh"
require_root_netns

mode=${MODE:-yield}
CTP_TEST="external_writer_$mode"
ns="$CTP_ID-ext"
knob=nf_conntrack_tcp_timeout_time_wait
ctp_make_ct_netns "$ns"
state="$CTP_TMP/state"
cat > "$CTP_TMP/policy.conf" <<CONF
[controller]
netns = $ns
interval = 200ms
on_external = $mode
# tcp_timeout_time_wait is ctpilot's to manage (and so read each tick) only when it may shorten it.
[timeouts]
mode = shorten
CONF
cp "$CTP_TMP/policy.conf" "$CTP_TMP/policy.orig"

before=$(ctp_netns_knob "$ns" $knob)
external=$((before / 2 + 7))
ctp_start_ctpilot "$CTP_TMP/policy.conf" "$state"
sleep 1
ip netns exec "$ns" sh -c "echo $external > $CTP_PROC/$knob"
ctp_log "$knob in $ns: $before -> $external (written by someone else)"
# ctpilot reads the knobs that only writers move once a second (README "When the world
# disagrees"): wait for the warning, up to 10 s, then for the record to be journaled.
for ((i = 0; i < 100; i++)); do
  grep -q "changed by someone else" "$CTP_CTPILOT_LOG" && break
  sleep 0.1
done
sleep 0.5
kill -0 "$CTP_CTPILOT_PID" 2>/dev/null || { ctp_show_log; ctp_fail "ctpilot run died"; }

ctl() { "$CTPILOT" --policy "$CTP_TMP/policy.conf" --state-dir "$state" "$@"; }
ctl status --json > "$CTP_TMP/status.json" || ctp_fail "status --json failed: $(cat "$CTP_TMP/status.json")"
ctl history --json > "$CTP_TMP/history.json" || ctp_fail "history --json failed"
warned=$(grep -c "changed by someone else $before -> $external" "$CTP_CTPILOT_LOG" || true)
ctp_check "$warned" -eq 1 "log lines about the external change (said once)"
grep -q " warning: .*changed by someone else" "$CTP_CTPILOT_LOG" || { ctp_show_log; ctp_fail "the external change was not logged at warning"; }
ctp_check "$(ctp_netns_knob "$ns" $knob)" -eq "$external" "$knob after ctpilot saw the external write"
unmanaged=$(ctp_json /unmanaged < "$CTP_TMP/status.json")
ctp_log "status --json unmanaged: $unmanaged"

if [[ $mode == yield ]]; then
  ext_id=$(ctp_json "/kind=external/id" < "$CTP_TMP/history.json")
  ctp_check "$(ctp_json /unmanaged/0/journal_id < "$CTP_TMP/status.json")" -eq "$ext_id" "unmanaged journal id vs the external record"
  [[ $(ctp_json /unmanaged/0/knob < "$CTP_TMP/status.json") == "$knob" ]] || ctp_fail "unmanaged knob: $unmanaged"
  [[ $(ctp_json /unmanaged/0/netns < "$CTP_TMP/status.json") == "$ns" ]] || ctp_fail "unmanaged netns: $unmanaged"
  [[ $(ctp_json /unmanaged/0/reason < "$CTP_TMP/status.json") == external ]] || ctp_fail "unmanaged reason: $unmanaged"
  ctl status | grep -q "^unmanaged" || ctp_fail "status (text) shows no unmanaged section"

  ctl resume > "$CTP_TMP/resume.txt" || ctp_fail "resume failed: $(cat "$CTP_TMP/resume.txt")"
  ctp_log "resume: $(cat "$CTP_TMP/resume.txt")"
  grep -q "handed back $knob in $ns" "$CTP_TMP/resume.txt" || ctp_fail "resume did not hand $knob back"
  sleep 1
  ctl status --json > "$CTP_TMP/status2.json"
  [[ $(ctp_json /unmanaged < "$CTP_TMP/status2.json") == "[]" ]] || ctp_fail "still unmanaged after resume: $(ctp_json /unmanaged < "$CTP_TMP/status2.json")"
  ctl history --json > "$CTP_TMP/history2.json"
  resume_id=$(ctp_json "/kind=resume/id" < "$CTP_TMP/history2.json")
  ctp_check "$resume_id" -gt "$ext_id" "resume record after the external record"
  cmp -s "$CTP_TMP/policy.conf" "$CTP_TMP/policy.orig" || ctp_fail "resume edited the policy file"
  # Handed back means managed from the value in force: no write just for being handed back, and
  # not called someone else's again.
  ctp_check "$(ctp_netns_knob "$ns" $knob)" -eq "$external" "$knob after resume"
  ctp_check "$(grep -c "changed by someone else" "$CTP_CTPILOT_LOG" || true)" -eq 1 "external warnings after resume"
else
  [[ $unmanaged == "[]" ]] || ctp_fail "adopt left the knob unmanaged: $unmanaged"
  baseline=$(ctp_json "/namespaces/name=$ns/timeouts/$knob/baseline" < "$CTP_TMP/status.json")
  ctp_check "$baseline" -eq "$external" "$knob baseline in status --json after adopt"
  ctp_check "$(grep -c '"kind":"external"' "$state/journal.jsonl" || true)" -eq 0 "external records with adopt"
  grep -q "adopted as its baseline" "$CTP_CTPILOT_LOG" || { ctp_show_log; ctp_fail "no 'adopted' line in the log"; }
fi

ctp_stop "$CTP_CTPILOT_PID"
ctp_check "$CTP_STOP_STATUS" -eq 0 "ctpilot run exit status on SIGTERM"
echo "PASS: on_external = $mode"
