#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every source, script, build and unit file of the project carries the line
# `SPDX-License-Identifier: Apache-2.0` within its first three lines (README "License").
# Data the tests read line by line (policies, scenarios, journals, traces) and prose are exempt.
# Usage: spdx_test.sh [ROOT] (default: CTPILOT_SOURCE_DIR or the repository of this file).
set -u
root=${1:-${CTPILOT_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}}
cd "$root" || exit 1

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t files < <(git ls-files --cached --others --exclude-standard)
else
  mapfile -t files < <(find . -path ./.git -prune -o -path './build*' -prune -o -type f -print | sed 's|^\./||')
fi

wanted() {
  case $1 in
    tests/fuzz/corpus/*) return 1 ;;
    *.cpp | *.h | *.sh | *.py | *.bash | *.cmake | */CMakeLists.txt | CMakeLists.txt | *.service | *.yml | *.yaml | *.j2) return 0 ;;
    .ci/run | scripts/debian/rules | scripts/debian/postinst | scripts/debian/postrm | Containerfile | */Containerfile) return 0 ;;
  esac
  return 1
}

checked=0
missing=()
for f in "${files[@]}"; do
  [[ -f $f ]] || continue
  wanted "$f" || continue
  checked=$((checked + 1))
  head -n 3 -- "$f" | grep -q 'SPDX-License-Identifier: Apache-2.0' || missing+=("$f")
done
if ((checked == 0)); then
  echo "FAIL: no source file found under $root"
  exit 1
fi
if ((${#missing[@]} > 0)); then
  printf '%s: no "SPDX-License-Identifier: Apache-2.0" in its first three lines\n' "${missing[@]}"
  echo "FAIL: ${#missing[@]} of $checked files lack the license line; add it as a comment at the top (after a #! line)"
  exit 1
fi
echo "spdx: all $checked source files carry SPDX-License-Identifier: Apache-2.0"
