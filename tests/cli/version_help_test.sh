#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ctpilot --version / -V print version, source revision and build date on one line;
# --help fits 80 columns without cutting the default policy path in two; `ctpilot help` and
# suggestions for a mistyped command.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

line_re='^ctpilot [0-9]+\.[0-9]+\.[0-9]+ \(revision [A-Za-z0-9._+-]+, built [0-9]{4}-[0-9]{2}-[0-9]{2}\)$'
for flag in --version -V; do
  out=$("$CTPILOT" "$flag") || fail "$flag: exit $?"
  [[ $out =~ $line_re ]] || fail "$flag: '$out' is not 'ctpilot X.Y.Z (revision R, built YYYY-MM-DD)'"
done
[ "$("$CTPILOT" --version)" = "$("$CTPILOT" -V)" ] || fail "--version and -V differ"

"$CTPILOT" --help >"$tmp/help" || fail "--help: exit $?"
grep -q -- '-V \[ --version \]' "$tmp/help" || fail "--help does not list -V"
grep -q '/etc/ctpilot/policy.conf' "$tmp/help" || fail "--help: the default policy path is cut in two"
grep -q '/var/lib/ctpilot' "$tmp/help" || fail "--help: the default state directory is missing"
# The option lines (after "global options:") fit 80 columns.
awk 'f && length($0) > 80 { print "too long: " $0; bad = 1 } /^global options:/ { f = 1 } END { exit bad }' "$tmp/help" \
  || fail "--help: an option line is wider than 80 columns"

# `ctpilot help` is --help, `ctpilot help COMMAND` the command's --help; a mistyped command
# gets the one it probably meant.
"$CTPILOT" help >"$tmp/help2" || fail "help: exit $?"
cmp -s "$tmp/help" "$tmp/help2" || fail "ctpilot help differs from ctpilot --help"
"$CTPILOT" help status >"$tmp/help3" || fail "help status: exit $?"
"$CTPILOT" status --help | cmp -s - "$tmp/help3" || fail "ctpilot help status differs from ctpilot status --help"
"$CTPILOT" stauts 2>"$tmp/typo" && fail "ctpilot stauts: exit 0"
grep -q "did you mean 'status'" "$tmp/typo" || fail "no suggestion for stauts: $(cat "$tmp/typo")"
"$CTPILOT" help stauts 2>"$tmp/typo2" && fail "ctpilot help stauts: exit 0"
grep -q "did you mean 'status'" "$tmp/typo2" || fail "no suggestion for help stauts: $(cat "$tmp/typo2")"
"$CTPILOT" frobnicate 2>"$tmp/typo3" && fail "ctpilot frobnicate: exit 0"
grep -q "did you mean" "$tmp/typo3" && fail "a far-fetched suggestion: $(cat "$tmp/typo3")"

# The generator behind the version line: "unknown" outside a git checkout, and the date from
# SOURCE_DATE_EPOCH when it is set (reproducible builds).
: "${CTPILOT_SOURCE_DIR:?set CTPILOT_SOURCE_DIR to the source tree}"
if command -v cmake >/dev/null; then
  mkdir "$tmp/not-git"
  SOURCE_DATE_EPOCH=86400 GIT_CEILING_DIRECTORIES="$tmp" cmake -DSOURCE_DIR="$tmp/not-git" -DVERSION=9.8.7 \
    -DOUT="$tmp/values.h" -P "$CTPILOT_SOURCE_DIR/controller/build_info.cmake" || fail "build_info.cmake: exit $?"
  grep -qx '#define CTPILOT_REVISION "unknown"' "$tmp/values.h" || fail "outside git: $(grep REVISION "$tmp/values.h")"
  grep -qx '#define CTPILOT_BUILD_DATE "1970-01-02"' "$tmp/values.h" || fail "SOURCE_DATE_EPOCH ignored: $(grep DATE "$tmp/values.h")"
  grep -qx '#define CTPILOT_VERSION "9.8.7"' "$tmp/values.h" || fail "version not passed through"
fi

exit "$failures"
