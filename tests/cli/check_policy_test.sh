#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ctpilot check-policy: every example is valid (exit 0, effective policy on stdout); every file in
# the bad-policy corpus is rejected (exit 2) with "FILE:LINE: message" lines on stderr.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
: "${CTPILOT_SOURCE_DIR:?set CTPILOT_SOURCE_DIR to the source tree}"

examples=("$CTPILOT_SOURCE_DIR"/examples/policies/*.conf)
[ -e "${examples[0]}" ] || fail "no examples in examples/policies"
for file in "${examples[@]}"; do
  "$CTPILOT" check-policy "$file" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  [ "$rc" -eq 0 ] || { fail "$file: exit $rc, want 0"; cat "$tmp/err"; }
  [ -s "$tmp/err" ] && fail "$file: unexpected stderr: $(cat "$tmp/err")"
  grep -q '^\[timeout_floors\]$' "$tmp/out" || fail "$file: effective policy missing from stdout"
  # The printed effective policy is itself a valid policy.
  "$CTPILOT" check-policy --quiet "$tmp/out" 2>"$tmp/err2" || fail "$file: effective policy rejected: $(cat "$tmp/err2")"
done

# Several files at once: each printed after "# FILE".
"$CTPILOT" check-policy "${examples[@]}" >"$tmp/out" 2>&1 || fail "all examples at once: exit $?"
[ "$(grep -c '^# ' "$tmp/out")" -ge "${#examples[@]}" ] || fail "all examples at once: missing '# FILE' headers"

bad=("$CTPILOT_SOURCE_DIR"/tests/policy/bad/*.conf)
[ "${#bad[@]}" -ge 40 ] || fail "bad-policy corpus has ${#bad[@]} files, want at least 40"
for file in "${bad[@]}"; do
  "$CTPILOT" check-policy "$file" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  [ "$rc" -eq 2 ] || fail "$file: exit $rc, want 2"
  [ -s "$tmp/out" ] && fail "$file: printed a policy although it is bad"
  line=$(sed -n '1s/^# expect: \([0-9]*\): .*/\1/p' "$file")
  grep -q "^${file}:${line}: " "$tmp/err" || { fail "$file: no '$file:$line: ' line on stderr"; cat "$tmp/err"; }
  grep -qv "^${file}:[0-9]*: " "$tmp/err" && fail "$file: stderr line not in FILE:LINE: form: $(grep -v "^${file}:[0-9]*: " "$tmp/err")"
done

# One bad file among good ones fails the whole run and prints no policy.
"$CTPILOT" check-policy "${examples[0]}" "${bad[0]}" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] || fail "good + bad: want exit 2"
[ -s "$tmp/out" ] && fail "good + bad: printed a policy"

# --quiet prints nothing on success.
"$CTPILOT" check-policy --quiet "${examples[0]}" >"$tmp/out" 2>&1 || fail "--quiet: exit $?"
[ -s "$tmp/out" ] && fail "--quiet printed something"

# An unreadable file is a problem at line 0 that says why.
"$CTPILOT" check-policy "$tmp/missing.conf" 2>"$tmp/err"
[ $? -eq 2 ] || fail "missing file: want exit 2"
grep -q "^$tmp/missing.conf:0: .*No such file or directory" "$tmp/err" || fail "missing file: $(cat "$tmp/err")"

# No file is a usage error.
"$CTPILOT" check-policy >/dev/null 2>&1
[ $? -eq 2 ] || fail "no file: want exit 2"

[ "$failures" -eq 0 ] && echo "ok: ${#examples[@]} examples valid, ${#bad[@]} bad policies rejected"
exit $((failures > 0))
