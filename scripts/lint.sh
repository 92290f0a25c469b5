#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The code's own checks (README "Tests"): every C++ file tracked under controller/, policy/,
# sysfs/ and tests/ formatted as .clang-format says (a diff fails), and clang-tidy with the
# checks .clang-tidy lists (any warning fails) over every translation unit of controller/, policy/
# and sysfs/ (tests/ and the tools are formatted, not linted). `--core` lints only policy/ and
# sysfs/ (quicker while iterating). `--fix-format` rewrites the files instead of failing. Uses
# ./build's compile_commands.json (scripts/build.sh writes it): no build of its own.
set -euo pipefail
cd "$(dirname "$0")/.."

scope='^(controller|policy|sysfs)/'
fix=0
for arg in "$@"; do
  case "$arg" in
    --all) ;;  # the default since CI lints controller/ too; kept for old command lines
    --core) scope='^(policy|sysfs)/' ;;
    --fix-format) fix=1 ;;
    -h|--help) sed -n '3,8p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "lint: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done
for tool in clang-format clang-tidy run-clang-tidy; do
  command -v "$tool" >/dev/null || { echo "lint: $tool missing; run scripts/deps.sh (as root)" >&2; exit 1; }
done

mapfile -t sources < <(git ls-files -- 'controller/*.cpp' 'controller/*.h' 'policy/*.cpp' 'policy/*.h' \
  'sysfs/*.cpp' 'sysfs/*.h' 'tests/*.cpp' 'tests/*.h')
((${#sources[@]} > 0)) || { echo "lint: no sources found (run it in a git checkout)" >&2; exit 1; }
if ((fix)); then
  clang-format -i "${sources[@]}"
  echo "lint: formatted ${#sources[@]} files"
  exit 0
fi
# One private temporary file (mktemp) for both tools' output, never a predictable name in /tmp.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! clang-format --dry-run --Werror "${sources[@]}" 2>"$log"; then
  head -40 "$log" >&2
  echo "lint: $(grep -c 'error:' "$log") lines are not formatted as .clang-format says;" \
    "run scripts/lint.sh --fix-format" >&2
  exit 1
fi
echo "lint: format: ${#sources[@]} files clean"

[[ -f build/compile_commands.json ]] || { echo "lint: build/compile_commands.json missing; run scripts/build.sh" >&2; exit 1; }
mapfile -t units < <(printf '%s\n' "${sources[@]}" | grep -E "$scope" | grep '\.cpp$')
# run-clang-tidy exits 0 on warnings with -quiet in some versions: count them as well.
status=0
run-clang-tidy -p build -j "$(nproc)" -quiet "${units[@]/#/$PWD/}" >"$log" 2>&1 || status=$?
found=$(sed 's/\x1b\[[0-9;]*m//g' "$log" | grep -E '^/.*: (warning|error): ' | sort -u || true)
if ((status != 0)) || [[ -n "$found" ]]; then
  if [[ -n "$found" ]]; then echo "$found" >&2; else tail -40 "$log" >&2; fi
  echo "lint: clang-tidy: $(printf '%s' "$found" | grep -c . || true) findings in ${#units[@]} files" >&2
  exit 1
fi
echo "lint: clang-tidy: ${#units[@]} files clean"
