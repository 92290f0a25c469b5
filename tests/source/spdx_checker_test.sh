#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The SPDX check (spdx_test.sh) itself: on a small git tree it passes when every source file
# carries the line (after a #! line too), and fails naming a new C++ file, a new script that is
# not yet committed, and a line that sits below the first three.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cd "$tmp"
git init -q .
mkdir -p policy scripts tests/fuzz/corpus/policy examples
printf '// SPDX-License-Identifier: Apache-2.0\nint x;\n' >policy/a.cpp
printf '#!/usr/bin/env bash\n# SPDX-License-Identifier: Apache-2.0\ntrue\n' >scripts/a.sh
printf 'not a source file\n' >tests/fuzz/corpus/policy/seed.h   # corpus: data, exempt
printf '[max]\nceiling = 1M\n' >examples/p.conf                 # a policy: data, exempt
git add -A
out=$(bash "$here/spdx_test.sh" "$tmp" 2>&1) || fail "a tree where every file carries the line was refused: $out"
grep -q 'all 2 source files' <<<"$out" || fail "expected 2 files checked: $out"

printf 'int y;\n' >policy/b.h                                   # committed, no line
git add policy/b.h
printf '#!/bin/sh\ntrue\n' >scripts/new.sh                      # not yet committed, no line
printf '#\n#\n#\n# SPDX-License-Identifier: Apache-2.0\n' >CMakeLists.txt  # too far down
status=0
out=$(bash "$here/spdx_test.sh" "$tmp" 2>&1) || status=$?
[[ $status == 1 ]] || fail "files without the line gave exit $status, not 1: $out"
for f in policy/b.h scripts/new.sh CMakeLists.txt; do
  grep -q "^$f: " <<<"$out" || fail "$f not named: $out"
done
grep -q 'FAIL: 3 of 5 files' <<<"$out" || fail "expected 3 of 5 files named: $out"
echo "spdx checker: passes a licensed tree, names each file without the line"
