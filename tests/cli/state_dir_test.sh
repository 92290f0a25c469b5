#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# README Safety promise 12: `run` creates its state directory 0750 and its files 0640; a
# symlinked journal or lock is refused (exit 1) and its target left untouched; a world-writable
# state directory is refused; `history --state-dir FILE` is an error, not an empty history.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

root=$tmp/root
make_fake_root "$root"
cat >"$tmp/policy.conf" <<'POLICY'
[controller]
netns = init
POLICY
run_once() { "$CTPILOT" --root "$root" --state-dir "$1" --policy "$tmp/policy.conf" run --once >"$tmp/out" 2>"$tmp/err"; }

umask 022
run_once "$tmp/fresh/state"
rc=$?
[ "$rc" -eq 0 ] || { fail "run --once on a fresh state directory: exit $rc, want 0"; cat "$tmp/err"; }
for f in "$tmp/fresh/state:750" "$tmp/fresh/state/journal.jsonl:640" "$tmp/fresh/state/lock:640"; do
  mode=$(stat -c %a "${f%:*}" 2>/dev/null)
  [ "$mode" = "${f##*:}" ] || fail "${f%:*} has mode $mode, want ${f##*:}"
done

printf 'keep me' >"$tmp/precious"
for name in journal.jsonl lock; do
  mkdir -p "$tmp/$name" && chmod 0750 "$tmp/$name"
  ln -s "$tmp/precious" "$tmp/$name/$name"
  run_once "$tmp/$name"
  rc=$?
  [ "$rc" -eq 1 ] || fail "run --once with a symlinked $name: exit $rc, want 1"
  grep -q "is a symbolic link" "$tmp/err" || { fail "no 'symbolic link' message for $name"; cat "$tmp/err"; }
  [ "$(wc -l <"$tmp/err")" -eq 1 ] || { fail "the $name error is not one line"; cat "$tmp/err"; }
  [ "$(cat "$tmp/precious")" = "keep me" ] || fail "the target of the symlinked $name was changed"
done

mkdir -p "$tmp/open" && chmod 0777 "$tmp/open"
run_once "$tmp/open"
rc=$?
[ "$rc" -eq 1 ] || fail "run --once on a 0777 state directory: exit $rc, want 1"
grep -q "run chmod 0750 $tmp/open" "$tmp/err" || { fail "no chmod advice for a 0777 state directory"; cat "$tmp/err"; }
[ ! -e "$tmp/open/journal.jsonl" ] || fail "a journal was created in a 0777 state directory"

touch "$tmp/file"
"$CTPILOT" --state-dir "$tmp/file" history >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 1 ] || fail "history --state-dir FILE: exit $rc, want 1"
grep -q "is not a directory" "$tmp/err" || { fail "history --state-dir FILE does not say it is not a directory"; cat "$tmp/out" "$tmp/err"; }
"$CTPILOT" --state-dir "$tmp/none" history >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] || fail "history on a missing state directory: exit $rc, want 0"

exit "$failures"
