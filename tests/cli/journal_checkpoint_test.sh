#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# journal.checkpoint (README: History and rollback): `run` writes it once journal.jsonl holds
# 1 MiB past the last one (0640, no temporary file left), starts from it at the next start
# (knowing this boot's baselines: none journaled again; a rollback's hold appended after it
# holds), and a damaged, symlinked or stale one is
# removed and the whole journal read, with one warning line; the journal stays the truth.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

root=$tmp/root
state=$tmp/state
make_fake_root "$root" 900
mkdir -p "$root/run/netns" "$state"
chmod 0750 "$state"
# 1.1 MiB of this boot's planned records (they change no state).
awk -v boot="$fake_boot_id" 'BEGIN { for (i = 1; i <= 5000; i++)
  printf "{\"id\":%d,\"time\":\"2026-11-26T10:00:00.000Z\",\"boot_id\":\"%s\",\"kind\":\"planned\",\"netns\":\"init\",\"knob\":\"nf_conntrack_max\",\"old\":1000,\"new\":2000,\"reason\":\"filler filler filler filler filler filler filler filler\"}\n", i, boot }' \
  >"$state/journal.jsonl"
printf '[controller]\ninterval = 100ms\nnetns = init\n[max]\nceiling = 1M\n' >"$tmp/policy.conf"
ctp() { "$CTPILOT" --root "$root" --state-dir "$state" --policy "$tmp/policy.conf" "$@"; }
baselines() { grep -c '"kind":"baseline"' "$state/journal.jsonl"; }
checkpoint=$state/journal.checkpoint

ctp run --once >/dev/null 2>"$tmp/err" || fail "first run --once: exit $?: $(cat "$tmp/err")"
[ -f "$checkpoint" ] || fail "no journal.checkpoint after a run over 1.1 MiB of journal"
[ "$(stat -c %a "$checkpoint")" = 640 ] || fail "journal.checkpoint mode $(stat -c %a "$checkpoint"), want 640"
[ -e "$checkpoint.tmp" ] && fail "journal.checkpoint.tmp left behind"
grep -q 'not using' "$tmp/err" && fail "first run: $(cat "$tmp/err")"
before=$(baselines)
[ "$before" -gt 0 ] || fail "the first run journaled no baseline: the test would prove nothing"

ctp run --once >/dev/null 2>"$tmp/err" || fail "second run --once: exit $?: $(cat "$tmp/err")"
grep -q 'journal: started from journal.checkpoint (up to record #' "$tmp/err" ||
  fail "second run did not start from the checkpoint: $(cat "$tmp/err")"
grep -q 'not using' "$tmp/err" && fail "second run: $(cat "$tmp/err")"
[ "$(baselines)" = "$before" ] || fail "baselines journaled again after a start from the checkpoint: $before -> $(baselines)"

# A rollback appends after the checkpoint: the next start reads its records (the hold it placed
# keeps run from changing anything).
ctp rollback --all --hold 1h >"$tmp/out" 2>&1 || fail "rollback --all --hold 1h: exit $?: $(cat "$tmp/out")"
knobs_before=$(cat "$root/proc/sys/net/netfilter/"nf_conntrack_{max,buckets,tcp_timeout_time_wait})
ctp run --once >/dev/null 2>"$tmp/err" || fail "run --once after the rollback: exit $?: $(cat "$tmp/err")"
grep -q 'started from journal.checkpoint .* record(s) after it' "$tmp/err" || fail "run after rollback: $(cat "$tmp/err")"
[ "$(cat "$root/proc/sys/net/netfilter/"nf_conntrack_{max,buckets,tcp_timeout_time_wait})" = "$knobs_before" ] ||
  fail "run changed knobs under the rollback's hold: it missed records appended after the checkpoint"
ctp resume >/dev/null 2>&1 || fail "resume: exit $?"

# Damaged: one warning line, the whole journal read, the same state; a new checkpoint follows.
sed -i 's/"last_id":/"last_id":1/' "$checkpoint"
ctp run --once >/dev/null 2>"$tmp/err" || fail "run --once with a damaged checkpoint: exit $?: $(cat "$tmp/err")"
[ "$(grep -c 'journal: not using journal.checkpoint (' "$tmp/err")" = 1 ] ||
  fail "a damaged checkpoint is not one warning line: $(cat "$tmp/err")"
grep 'not using' "$tmp/err" | grep -q 'warning' || fail "not at warning level: $(cat "$tmp/err")"
grep -q 'started from journal.checkpoint' "$tmp/err" && fail "started from a damaged checkpoint"
[ "$(baselines)" = "$before" ] || fail "baselines journaled again after a damaged checkpoint"
[ -f "$checkpoint" ] || fail "no new checkpoint after the damaged one"
ctp run --once >/dev/null 2>"$tmp/err" || fail "run --once after: exit $?"
grep -q 'started from journal.checkpoint' "$tmp/err" || fail "the new checkpoint is not used: $(cat "$tmp/err")"

# A symlink in its place is not followed: warned, removed, its target untouched.
echo "keep me" >"$tmp/target"
rm -f "$checkpoint"
ln -s "$tmp/target" "$checkpoint"
ctp run --once >/dev/null 2>"$tmp/err" || fail "run --once with a symlinked checkpoint: exit $?: $(cat "$tmp/err")"
grep -q 'journal: not using journal.checkpoint (.*symbolic link' "$tmp/err" || fail "symlink: $(cat "$tmp/err")"
[ "$(cat "$tmp/target")" = "keep me" ] || fail "the symlink's target was changed"
[ -L "$checkpoint" ] && fail "the symlinked checkpoint is still there"

# Deleting it changes nothing but speed.
rm -f "$checkpoint"
ctp run --once >/dev/null 2>"$tmp/err" || fail "run --once without checkpoint: exit $?"
grep -q 'checkpoint' "$tmp/err" && fail "a missing checkpoint is said: $(cat "$tmp/err")"
[ "$(baselines)" = "$before" ] || fail "baselines journaled again without checkpoint"
ctp history >/dev/null 2>&1 || fail "history: exit $?"

exit "$failures"
