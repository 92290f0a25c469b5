#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# scripts/function_length.py over a small tree: it names a long function without a reason,
# accepts one with `// long: <reason>` above it, flags a marker above a short function, and
# is not misled by lambdas, initialisers, constructors' member initialisers, strings or comments.
set -u
src=${CTPILOT_SOURCE_DIR:?}
python=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

body() { for ((k = 0; k < $1; k++)); do echo "  x += $k;"; done; }
mkdir -p "$tmp/policy"
{
  echo '#include <string>'
  echo 'namespace ctpilot::policy {'
  echo 'namespace {'
  echo 'const char* kText = "} { not code";  // } nor this'
  echo '}  // namespace'
  echo 'int longWithoutReason(int x) {'
  body 59
  echo '  return x;'
  echo '}'
  echo '/// Does a lot.'
  echo '// long: one table of cases, read top to bottom'
  echo 'int longWithReason(int x) {'
  echo '  const auto add = [&](int y) {'
  body 40
  echo '    return y; };'
  body 30
  echo '  return add(x);'
  echo '}'
  echo '// long: no longer true'
  echo 'int shortWithReason(int x) { return x; }'
  echo 'int exactlySixty(int x) {'
  body 57
  echo '  return x;'
  echo '}'
  echo 'class Widget {'
  echo ' public:'
  echo '  Widget(int a) : a_{a}, b_(a) {'
  body 70
  echo '  }'
  echo ' private:'
  echo '  int a_;'
  echo '  int b_;'
  echo '};'
  echo 'const int kTable[] = {'
  body 70 | sed 's/x += \(.*\);/\1,/'
  echo '};'
  echo '}  // namespace ctpilot::policy'
} >"$tmp/policy/sample.cpp"

"$python" "$src/scripts/function_length.py" --root "$tmp" policy >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 1 ] || fail "exit $rc, want 1: $(cat "$tmp/out" "$tmp/err")"
grep -q '^policy/sample.cpp:6: longWithoutReason is 62 lines (over 60)' "$tmp/out" || fail "long function not named: $(cat "$tmp/out")"
grep -q 'longWithReason' "$tmp/out" && fail "a function with a reason was listed: $(cat "$tmp/out")"
grep -q 'shortWithReason is 1 lines, not over 60: remove its' "$tmp/out" || fail "stale marker not flagged: $(cat "$tmp/out")"
grep -q 'exactlySixty' "$tmp/out" && fail "a 60-line function was listed: $(cat "$tmp/out")"
grep -q 'Widget is 72 lines' "$tmp/out" || fail "constructor with member initialisers not measured: $(cat "$tmp/out")"
grep -q 'kTable' "$tmp/out" && fail "an initialiser was taken for a function: $(cat "$tmp/out")"
[ "$(wc -l <"$tmp/out")" -eq 3 ] || fail "want 3 lines: $(cat "$tmp/out")"

"$python" "$src/scripts/function_length.py" --root "$tmp" --list policy >"$tmp/out" 2>/dev/null
grep -q 'longWithReason is 75 lines: long: one table of cases, read top to bottom' "$tmp/out" ||
  fail "--list does not show the reason: $(cat "$tmp/out")"

# Split or explained, the tree passes.
sed -i 's|^int longWithoutReason|// long: a test of the marker\nint longWithoutReason|; /^\/\/ long: no longer true$/d' "$tmp/policy/sample.cpp"
sed -i 's|^  Widget(int a)|  // long: a test of the marker\n  Widget(int a)|' "$tmp/policy/sample.cpp"
"$python" "$src/scripts/function_length.py" --root "$tmp" policy >"$tmp/out" 2>&1 || fail "explained tree fails: $(cat "$tmp/out")"
echo "PASS"
