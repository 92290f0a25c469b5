#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Under journald (JOURNAL_STREAM names stderr) every stderr line starts with its sd-daemon
# priority, so `journalctl -p warning` works: <6> info, <4> warn, <3> error. Elsewhere,
# including a JOURNAL_STREAM that names another file, lines are as before (README "Logs").
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
root=$tmp/root
make_fake_root "$root" 600
rm -f "$root/proc/net/stat/nf_conntrack"  # no statistics there: a warning
printf '[controller]\ninterval = 100ms\n' >"$tmp/policy.conf"

: >"$tmp/err"
JOURNAL_STREAM=$(stat -c '%d:%i' "$tmp/err") \
  "$CTPILOT" --root "$root" --state-dir "$tmp/state" --policy "$tmp/policy.conf" run --once 2>>"$tmp/err"
grep -q '^<6>info: started' "$tmp/err" || fail "info line without <6>: $(cat "$tmp/err")"
grep -q '^<4>warning: no conntrack statistics' "$tmp/err" || fail "warning without <4>: $(cat "$tmp/err")"
bad=$(grep -v '^<[0-7]>' "$tmp/err") && fail "lines without a priority prefix: $bad"

# A bad policy on SIGHUP is an error: <3>.
: >"$tmp/err3"
JOURNAL_STREAM=$(stat -c '%d:%i' "$tmp/err3") \
  "$CTPILOT" --root "$root" --state-dir "$tmp/state3" --policy "$tmp/policy.conf" run 2>>"$tmp/err3" &
pid=$!
for _ in $(seq 100); do grep -q 'started' "$tmp/err3" && break; sleep 0.1; done
printf '[max]\nceiling = lots\n' >"$tmp/policy.conf"
kill -HUP "$pid"
for _ in $(seq 100); do grep -q 'not reloading' "$tmp/err3" && break; sleep 0.1; done
kill -TERM "$pid"
wait "$pid"
grep -q '^<3>error: not reloading the policy' "$tmp/err3" || fail "error line without <3>: $(cat "$tmp/err3")"
printf '[controller]\ninterval = 100ms\n' >"$tmp/policy.conf"

# stderr elsewhere: no prefix, timestamps as before.
JOURNAL_STREAM=1:1 "$CTPILOT" --root "$root" --state-dir "$tmp/state" --policy "$tmp/policy.conf" run --once \
  2>"$tmp/err2"
grep -q '^<' "$tmp/err2" && fail "a prefix although stderr is not the journal: $(head -3 "$tmp/err2")"
grep -q 'warning: no conntrack statistics' "$tmp/err2" || fail "the warning is missing: $(cat "$tmp/err2")"
grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T.* info: started' "$tmp/err2" ||
  fail "timestamps missing with a JOURNAL_STREAM that is not stderr: $(head -2 "$tmp/err2")"
"$CTPILOT" --root "$root" --state-dir "$tmp/state" --policy "$tmp/policy.conf" run --once 2>"$tmp/err4"
grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T.* info: started' "$tmp/err4" || fail "timestamps missing off journald: $(head -2 "$tmp/err4")"
exit "$failures"
