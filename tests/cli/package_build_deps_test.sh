#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The package's Build-Depends are complete and the package build installs only them
# (README "Install"): every package scripts/deps.sh lists to build ctpilot (the lines before
# its test tools) is a Build-Depends of scripts/debian/control, and scripts/package.sh installs
# the Build-Depends, not the ~35 packages of deps.sh.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
: "${CTPILOT_SOURCE_DIR:?set CTPILOT_SOURCE_DIR to the source tree}"
bash "$CTPILOT_SOURCE_DIR/scripts/package.sh" --build-deps >"$tmp/build-deps" 2>"$tmp/err" ||
  fail "package.sh --build-deps: $(cat "$tmp/err")"
# deps.sh: the packages from `packages=(` up to its "# monitoring tests" comment (the build
# tools and libraries); build-essential stands for g++ and dpkg-dev.
sed -n '/^packages=(/,/# monitoring tests/p' "$CTPILOT_SOURCE_DIR/scripts/deps.sh" | sed '1d' | grep -v '^ *#' |
  tr -s ' ' '\n' | grep -v '^$' |
  sed 's/^build-essential$/g++\ndpkg-dev/' >"$tmp/needed"
[ -s "$tmp/needed" ] || fail "no build packages found in scripts/deps.sh"
while read -r p; do
  grep -qx "$p" "$tmp/build-deps" || fail "Build-Depends lacks $p (scripts/debian/control)"
done <"$tmp/needed"
grep -v '^ *#' "$CTPILOT_SOURCE_DIR/scripts/package.sh" | grep -q 'deps\.sh' &&
  fail "package.sh runs scripts/deps.sh (every test tool) to build the package"
exit "$failures"
