#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every command reads the journal through one view (README: History and rollback): on the same
# records, status, plan, run, rollback and resume agree on the active holds (a resume naming a
# knob lifts that knob's hold, not a hold on every knob), on the baseline, and on an intent
# that a crash left without outcome (rollback undoes it; a restarted run journals its outcome).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

root=$tmp/root
state=$tmp/state
nf=$root/proc/sys/net/netfilter
make_fake_root "$root"
mkdir -p "$state" "$root/run/netns"
echo 1900 >"$nf/nf_conntrack_max"
b=$fake_boot_id
cat >"$state/journal.jsonl" <<EOF2
{"id":1,"time":"2026-11-27T03:00:00.000Z","boot_id":"$b","kind":"baseline","netns":"init","knob":"nf_conntrack_max","old":1000,"new":1000}
{"id":2,"time":"2026-11-27T03:00:01.000Z","boot_id":"$b","kind":"hold","until":"2199-01-01T00:00:00.000Z","reason":"every knob"}
{"id":3,"time":"2026-11-27T03:00:02.000Z","boot_id":"$b","kind":"hold","netns":"init","knob":"nf_conntrack_max","until":"2199-01-01T00:00:00.000Z","reason":"max only"}
{"id":4,"time":"2026-11-27T03:00:03.000Z","boot_id":"$b","kind":"resume","netns":"init","knob":"nf_conntrack_max"}
{"id":5,"time":"2026-11-27T03:00:04.000Z","boot_id":"$b","kind":"intent","netns":"init","knob":"nf_conntrack_max","old":1000,"new":1900,"reason":"raise"}
EOF2
printf '[controller]\nnetns = init\n[max]\nceiling = 1M\n' >"$tmp/policy.conf"
ctp() { "$CTPILOT" --root "$root" --state-dir "$state" --policy "$tmp/policy.conf" "$@"; }

# status: the hold on every knob (#2) is active, the one on max (#3) was lifted.
ctp status --json >"$tmp/status" 2>"$tmp/err" || fail "status: exit $?: $(cat "$tmp/err")"
holds=$(grep -Eo "\"kind\": *\"hold\"" "$tmp/status" | wc -l)
[ "$holds" -eq 1 ] || fail "status: $holds active holds, want 1: $(cat "$tmp/status")"
grep -Eq "\"until\": *\"2199-01-01T00:00:00.000Z\"" "$tmp/status" || fail "status: hold #2 not shown"

# plan: the same single hold, on every knob.
ctp plan >"$tmp/plan" 2>"$tmp/err" || fail "plan: exit $?: $(cat "$tmp/err")"
[ "$(grep -c '^hold: ' "$tmp/plan")" -eq 1 ] || fail "plan: want one hold line: $(grep '^hold' "$tmp/plan")"
grep -q '^hold: every knob left alone' "$tmp/plan" || fail "plan: the hold on every knob is missing"

# rollback --dry-run: the intent alone is a change to undo.
ctp rollback --all --dry-run >"$tmp/out" 2>"$tmp/err" || fail "rollback --dry-run: exit $?: $(cat "$tmp/err")"
grep -q '^would restore nf_conntrack_max in init 1900 -> 1000 (undoing intent #5' "$tmp/out" ||
  fail "rollback --dry-run: $(cat "$tmp/out") $(cat "$tmp/err")"

# run --once: held, so no new intent; the knob says the intent's write happened: applied, ref 5.
ctp run --once >/dev/null 2>"$tmp/err" || fail "run --once: exit $?: $(cat "$tmp/err")"
[ "$(cat "$nf/nf_conntrack_max")" = 1900 ] || fail "run --once changed max although every knob is held"
grep -q '"kind":"applied".*"new":1900.*"ref":5' "$state/journal.jsonl" || fail "run --once: no applied record for #5"
[ "$(grep -c '"kind":"intent"' "$state/journal.jsonl")" -eq 1 ] || fail "run --once: a new intent under a hold"

# resume: lifts exactly the hold status showed.
ctp resume >"$tmp/out" 2>"$tmp/err" || fail "resume: exit $?"
[ "$(grep -c '^lifted hold' "$tmp/out")" -eq 1 ] || fail "resume: $(cat "$tmp/out")"
grep -q '^lifted hold #2 ' "$tmp/out" || fail "resume lifted another hold: $(cat "$tmp/out")"

# rollback --all: back to the baseline.
ctp rollback --all --hold 0 >"$tmp/out" 2>"$tmp/err" || fail "rollback --all: exit $?: $(cat "$tmp/err")"
[ "$(cat "$nf/nf_conntrack_max")" = 1000 ] || fail "rollback --all: max $(cat "$nf/nf_conntrack_max"), want 1000"
ctp rollback --all >"$tmp/out" 2>&1 || fail "second rollback: exit $?"
grep -q '^nothing to roll back' "$tmp/out" || fail "second rollback: $(cat "$tmp/out")"

exit "$failures"
