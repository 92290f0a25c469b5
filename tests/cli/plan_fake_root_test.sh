#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ctpilot plan over a fake /proc tree: prints the observation and what run would do, and changes
# nothing (README Safety promise 5): no knob written, no state directory created, an existing journal left
# byte for byte as it was.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

root=$tmp/root
make_fake_root "$root"
printf '[controller]\ninterval = 100ms\n' >"$tmp/policy.conf"
snapshot() { (cd "$root" && find . -type f -exec md5sum {} + | sort); }
before=$(snapshot)

"$CTPILOT" --root "$root" --state-dir "$tmp/state" --policy "$tmp/policy.conf" plan >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] || { fail "plan: exit $rc, want 0"; cat "$tmp/err"; }
grep -Eq '^init +900 +1000 +90\.0%' "$tmp/out" || fail "no observation row for init: $(cat "$tmp/out")"
grep -q "would raise nf_conntrack_max in init 1000 -> " "$tmp/out" || fail "plan does not say it would raise max: $(cat "$tmp/out")"
[ "$(snapshot)" = "$before" ] || fail "plan changed the fake /proc tree"
[ -e "$tmp/state" ] && fail "plan created the state directory"

# With a journal: read, never written.
mkdir -p "$tmp/state"
cat >"$tmp/state/journal.jsonl" <<'JOURNAL'
{"id":1,"time":"2026-11-27T03:00:00Z","boot_id":"11111111-2222-3333-4444-555555555555","kind":"baseline","netns":"init","knob":"nf_conntrack_max","old":800,"new":800,"reason":"value before ctpilot's first change this boot"}
{"id":2,"time":"2026-11-27T03:00:00Z","boot_id":"11111111-2222-3333-4444-555555555555","kind":"hold","reason":"rollback --all","until":"2100-01-01T00:00:00Z"}
JOURNAL
sum=$(md5sum <"$tmp/state/journal.jsonl")
"$CTPILOT" --root "$root" --state-dir "$tmp/state" --policy "$tmp/policy.conf" plan >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] || { fail "plan with a journal: exit $rc, want 0"; cat "$tmp/err"; }
[ "$(md5sum <"$tmp/state/journal.jsonl")" = "$sum" ] || fail "plan changed the journal"
[ "$(ls "$tmp/state")" = "journal.jsonl" ] || fail "plan left files in the state directory: $(ls "$tmp/state")"
grep -q "^hold: every knob" "$tmp/out" || fail "plan does not show the hold: $(cat "$tmp/out")"
grep -q "baseline of this boot: nf_conntrack_max 800" "$tmp/out" || fail "plan does not show the baseline: $(cat "$tmp/out")"
grep -q "would raise" "$tmp/out" && fail "plan would act despite the hold: $(cat "$tmp/out")"
[ "$(snapshot)" = "$before" ] || fail "plan changed the fake /proc tree"

[ "$failures" -eq 0 ] || exit 1
echo "ok"
