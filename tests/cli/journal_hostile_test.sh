#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Journal lines no record has (1e400, 100,000 levels of nesting, a time in year 0, a hold until
# 9999) make every command say journal.jsonl:LINE: and stop, never crash; status --json prints
# bytes that are not UTF-8 as U+FFFD instead of aborting; rollback refuses a --hold that would
# overflow the clock (README: History and rollback).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

root=$tmp/root
state=$tmp/state
make_fake_root "$root"
mkdir -p "$state" "$root/run/netns"
printf '[controller]\nnetns = init\n' >"$tmp/policy.conf"
ctp() { "$CTPILOT" --root "$root" --state-dir "$state" --policy "$tmp/policy.conf" "$@"; }
first='{"id":1,"time":"2026-11-27T03:00:00.000Z","boot_id":"b0","kind":"planned"}'

deep=$(head -c 100000 /dev/zero | tr '\0' '[')$(head -c 100000 /dev/zero | tr '\0' ']')
for bad in '{"id":2,"time":"2026-11-27T03:00:00.000Z","boot_id":"b0","kind":"planned","observation":{"x":1e400}}' \
  "{\"id\":2,\"time\":\"2026-11-27T03:00:00.000Z\",\"boot_id\":\"b0\",\"kind\":\"planned\",\"observation\":$deep}" \
  '{"id":2,"time":"0000-01-01T00:00:00Z","boot_id":"b0","kind":"planned"}' \
  '{"id":2,"time":"2026-11-27T03:00:00.000Z","boot_id":"b0","kind":"hold","until":"9999-12-31T23:59:59Z"}'; do
  printf '%s\n%s\n' "$first" "$bad" >"$state/journal.jsonl"
  what=${bad:0:70}
  for cmd in "history" "history --json" "rollback --all" "resume" "run --once"; do
    # shellcheck disable=SC2086
    ctp $cmd >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ "$rc" -eq 1 ] || fail "$cmd on $what: exit $rc, want 1"
    grep -q 'journal.jsonl:2: ' "$tmp/err" || fail "$cmd on $what: no journal.jsonl:2: $(head -c 300 "$tmp/err")"
  done
  for cmd in "status" "status --json" "plan"; do
    # shellcheck disable=SC2086
    ctp $cmd >"$tmp/out" 2>"$tmp/err"
    rc=$?
    [ "$rc" -lt 2 ] || fail "$cmd on $what: exit $rc"
    grep -q 'journal.jsonl:2: ' "$tmp/out" "$tmp/err" || fail "$cmd on $what: the bad line is not named"
  done
done
rm -f "$state/journal.jsonl"

# A knob file holding bytes that are not UTF-8: status --json still prints valid JSON.
printf '\xff\xfe\n' >"$root/proc/sys/net/netfilter/nf_conntrack_max"
ctp status --json >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -lt 2 ] || fail "status --json with a \\xff knob: exit $rc"
grep -q "$(printf '\xef\xbf\xbd')" "$tmp/out" || fail "status --json: the bad bytes are not shown as U+FFFD"
if grep -q "$(printf '\xff')" "$tmp/out"; then fail "status --json printed a raw \\xff byte"; fi
echo 1000 >"$root/proc/sys/net/netfilter/nf_conntrack_max"

# A hold long enough to overflow the clock is refused, with the bound in one line.
for hold in 106751d 366d 1000000000000d; do
  ctp rollback --all --hold "$hold" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  [ "$rc" -eq 2 ] || fail "--hold $hold: exit $rc, want 2"
  [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "--hold $hold: want one line: $(cat "$tmp/err")"
  grep -Eq 'at most 365d|not a duration' "$tmp/err" || fail "--hold $hold: $(cat "$tmp/err")"
done

exit "$failures"
