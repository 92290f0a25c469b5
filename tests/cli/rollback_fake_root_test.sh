#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ctpilot rollback and resume over a fake root (knobs as plain files) and a hand-written journal:
# usage errors exit 2; --dry-run changes nothing; a value changed by someone else refuses the
# whole rollback (exit 3) unless --force; --last and --all restore the journaled old values,
# journal themselves and place a hold that resume lifts; other boots and vanished namespaces.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

root="$tmp/root"
state="$tmp/state"
nf="$root/proc/sys/net/netfilter"
knob() { cat "$nf/$1"; }

# A machine in boot b1 where ctpilot raised max twice and shortened TIME_WAIT; an earlier boot
# b0 raised buckets (the kernel forgot that at reboot: rollback must leave buckets alone).
setup() {
  rm -rf "$root" "$state"
  mkdir -p "$nf" "$root/proc/sys/kernel/random" "$state"
  echo b1 >"$root/proc/sys/kernel/random/boot_id"
  echo 262144 >"$nf/nf_conntrack_max"
  echo 65536 >"$nf/nf_conntrack_buckets"
  echo 60 >"$nf/nf_conntrack_tcp_timeout_time_wait"
  cat >"$state/journal.jsonl" <<'EOF'
{"id":1,"time":"2026-11-26T10:00:00.000Z","boot_id":"b0","kind":"applied","netns":"init","knob":"nf_conntrack_buckets","old":16384,"new":32768,"reason":"follow max"}
{"id":2,"time":"2026-11-27T03:00:00.000Z","boot_id":"b1","kind":"baseline","netns":"init","knob":"nf_conntrack_max","new":65536}
{"id":3,"time":"2026-11-27T03:00:01.000Z","boot_id":"b1","kind":"intent","netns":"init","knob":"nf_conntrack_max","old":65536,"new":131072,"reason":"fill 0.91 >= high_water 0.80"}
{"id":4,"time":"2026-11-27T03:00:01.004Z","boot_id":"b1","kind":"applied","netns":"init","knob":"nf_conntrack_max","old":65536,"new":131072,"reason":"fill 0.91 >= high_water 0.80","ref":3}
{"id":5,"time":"2026-11-27T03:00:02.000Z","boot_id":"b1","kind":"applied","netns":"init","knob":"nf_conntrack_tcp_timeout_time_wait","old":120,"new":60,"reason":"shorten: fill 0.95 at ceiling"}
{"id":6,"time":"2026-11-27T03:00:03.000Z","boot_id":"b1","kind":"applied","netns":"init","knob":"nf_conntrack_max","old":131072,"new":262144,"reason":"growth 850/s reaches high_water within 60s"}
EOF
}
ctp() { "$CTPILOT" --root "$root" --state-dir "$state" "$@"; }
kinds() { ctp history --json | sed -n 's/.*"kind":"\([a-z]*\)".*/\1/p' | tr '\n' ' '; }

setup
# Usage: exactly one selection; a duration for --hold.
for args in "" "--last 1 --all" "--to 2 --last 1" "--last 0" "--to -1" "--all --hold soon" "--all extra"; do
  # shellcheck disable=SC2086
  ctp rollback $args >/dev/null 2>"$tmp/err"
  rc=$?
  [ "$rc" -eq 2 ] || fail "rollback $args: exit $rc, want 2"
  [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "rollback $args: want one line on stderr: $(cat "$tmp/err")"
done
ctp rollback >/dev/null 2>"$tmp/err"
grep -q 'exactly one of --last N, --to ID or --all' "$tmp/err" || fail "no selection: message does not say what to do"

# --dry-run: prints the steps newest first, changes neither knobs nor journal.
cp "$state/journal.jsonl" "$tmp/journal.before"
ctp rollback --all --dry-run >"$tmp/out" 2>"$tmp/err" || fail "dry-run: exit $?"
cat >"$tmp/want" <<'EOF'
would restore nf_conntrack_max in init 262144 -> 131072 (undoing #6 of 2026-11-27T03:00:03.000Z: growth 850/s reaches high_water within 60s)
would restore nf_conntrack_tcp_timeout_time_wait in init 60 -> 120 (undoing #5 of 2026-11-27T03:00:02.000Z: shorten: fill 0.95 at ceiling)
would restore nf_conntrack_max in init 131072 -> 65536 (undoing #4 of 2026-11-27T03:00:01.004Z: fill 0.91 >= high_water 0.80)
EOF
cmp -s "$tmp/out" "$tmp/want" || { fail "dry-run output"; diff "$tmp/want" "$tmp/out"; }
[ "$(knob nf_conntrack_max)" = 262144 ] || fail "dry-run changed nf_conntrack_max"
cmp -s "$state/journal.jsonl" "$tmp/journal.before" || fail "dry-run changed the journal"

# Someone else changed max: refused whole, exit 3, one line naming knob, found, expected, --force.
echo 100000 >"$nf/nf_conntrack_max"
ctp rollback --all >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 3 ] || fail "tampered: exit $rc, want 3"
grep -q '^ctpilot rollback: nf_conntrack_max in init is 100000, not 262144 as ctpilot last set it (#6): .*--force' "$tmp/err" ||
  fail "tampered: no line naming the knob, 100000, 262144 and --force: $(cat "$tmp/err")"
[ "$(knob nf_conntrack_max)" = 100000 ] || fail "tampered: max was written"
[ "$(knob nf_conntrack_tcp_timeout_time_wait)" = 60 ] || fail "tampered: time_wait was written although the rollback was refused"
cmp -s "$state/journal.jsonl" "$tmp/journal.before" || fail "tampered: the refused rollback journaled something"
ctp rollback --all --dry-run >/dev/null 2>&1; rc=$?; [ "$rc" -eq 3 ] || fail "tampered dry-run: exit $rc, want 3"

# --force restores anyway.
ctp rollback --last 1 --force >"$tmp/out" 2>"$tmp/err" || fail "--force: exit $?: $(cat "$tmp/err")"
[ "$(knob nf_conntrack_max)" = 131072 ] || fail "--force: max is $(knob nf_conntrack_max), want 131072"
grep -q 'restored nf_conntrack_max in init 100000 -> 131072' "$tmp/out" || fail "--force: output: $(cat "$tmp/out")"

# --last 1 then --all: the rest, newest first, exactly the old values; buckets (boot b0) untouched.
setup
ctp rollback --last 1 >"$tmp/out" 2>"$tmp/err" || fail "--last 1: exit $?: $(cat "$tmp/err")"
[ "$(knob nf_conntrack_max)" = 131072 ] || fail "--last 1: max is $(knob nf_conntrack_max), want 131072"
[ "$(knob nf_conntrack_tcp_timeout_time_wait)" = 60 ] || fail "--last 1 touched time_wait"
[ "$(kinds)" = "applied baseline intent applied applied applied hold intent rollback " ] || fail "--last 1: journal kinds: $(kinds)"
ctp rollback --all --hold 30m >"$tmp/out" 2>"$tmp/err" || fail "--all: exit $?: $(cat "$tmp/err")"
[ "$(knob nf_conntrack_max)" = 65536 ] || fail "--all: max is $(knob nf_conntrack_max), want 65536"
[ "$(knob nf_conntrack_tcp_timeout_time_wait)" = 120 ] || fail "--all: time_wait is $(knob nf_conntrack_tcp_timeout_time_wait), want 120"
[ "$(knob nf_conntrack_buckets)" = 65536 ] || fail "--all changed buckets from an earlier boot"
grep -q '^placed a hold until ' "$tmp/out" || fail "--all: no hold announced: $(cat "$tmp/out")"
sed -n 2p "$tmp/out" | grep -q '^restored nf_conntrack_tcp_timeout_time_wait in init 60 -> 120 (undoing #5' || fail "--all: not newest first: $(cat "$tmp/out")"
ctp history --json --limit 5 >"$tmp/hist"
grep -q '"kind":"rollback","netns":"init","knob":"nf_conntrack_max","old":131072,"new":65536,"reason":"rollback of #4","ref":4' "$tmp/hist" ||
  fail "--all: no rollback record for #4: $(cat "$tmp/hist")"
grep -q '"kind":"hold","reason":"placed by rollback --all for 30m; lift with ctpilot resume","until":"' "$tmp/hist" ||
  fail "--all: no hold record with until: $(cat "$tmp/hist")"
ctp rollback --all >"$tmp/out" 2>&1 || fail "nothing left: exit $?"
grep -q '^nothing to roll back' "$tmp/out" || fail "nothing left: $(cat "$tmp/out")"

# resume lifts the holds (journaled) and says which; a second resume has nothing to lift.
ctp resume >"$tmp/out" 2>"$tmp/err" || fail "resume: exit $?: $(cat "$tmp/err")"
[ "$(grep -c '^lifted hold #' "$tmp/out")" -eq 2 ] || fail "resume: want 2 holds lifted: $(cat "$tmp/out")"
ctp history --json --limit 1 | grep -q '"kind":"resume"' || fail "resume: no resume record"
ctp resume >"$tmp/out" || fail "second resume: exit $?"
grep -q '^no holds to lift' "$tmp/out" || fail "second resume: $(cat "$tmp/out")"

# --hold 0: no hold record.
setup
ctp rollback --last 1 --hold 0 >/dev/null 2>&1 || fail "--hold 0: exit $?"
kinds | grep -q hold && fail "--hold 0 placed a hold"

# A namespace that vanished: reported and skipped, the rest restored, exit 1.
setup
echo '{"id":7,"time":"2026-11-27T03:00:04.000Z","boot_id":"b1","kind":"applied","netns":"gw","knob":"nf_conntrack_tcp_timeout_close_wait","old":60,"new":30,"reason":"shorten"}' >>"$state/journal.jsonl"
ctp rollback --all >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 1 ] || fail "vanished netns: exit $rc, want 1"
grep -q "skipped #7 (nf_conntrack_tcp_timeout_close_wait in gw): the namespace has vanished: netns 'gw' not found" "$tmp/err" ||
  fail "vanished netns: not reported: $(cat "$tmp/err")"
[ "$(knob nf_conntrack_max)" = 65536 ] || fail "vanished netns: the other changes were not restored"

# The journal cannot be written: nothing changes, exit 1. (A directory in the journal's place
# fails even for root, unlike permissions.)
setup
mv "$state/journal.jsonl" "$tmp/j" && mkdir "$state/journal.jsonl"
ctp rollback --all >/dev/null 2>"$tmp/err"
rc=$?
[ "$rc" -eq 1 ] || fail "unopenable journal: exit $rc, want 1"
[ "$(knob nf_conntrack_max)" = 262144 ] || fail "unopenable journal: max changed"
rmdir "$state/journal.jsonl" && mv "$tmp/j" "$state/journal.jsonl"

# Two rollbacks at once: while one holds STATE_DIR/rollback.lock (flock(1) stands in for it),
# a second says it waits, waits, and then rolls back from the journal as the first left it.
if command -v flock >/dev/null; then
  setup
  : >"$state/rollback.lock"
  flock "$state/rollback.lock" sleep 1 &
  holder=$!
  sleep 0.2
  ctp rollback --all --hold 0 >"$tmp/out" 2>"$tmp/err"
  rc=$?
  wait "$holder"
  [ "$rc" -eq 0 ] || fail "second rollback: exit $rc, want 0: $(cat "$tmp/err")"
  grep -q 'another rollback is running in this state directory; waiting for it to finish' "$tmp/err" ||
    fail "second rollback: did not say it waits: $(cat "$tmp/err")"
  [ "$(knob nf_conntrack_max)" = 65536 ] || fail "second rollback: max is $(knob nf_conntrack_max), want 65536"
fi

# No boot id: exit 1 with a message.
rm "$root/proc/sys/kernel/random/boot_id"
ctp rollback --all >/dev/null 2>"$tmp/err"
rc=$?
[ "$rc" -eq 1 ] || fail "no boot id: exit $rc, want 1"
grep -q 'cannot tell which boot this is' "$tmp/err" || fail "no boot id: $(cat "$tmp/err")"

[ "$failures" -eq 0 ] && echo "PASS" || exit 1
