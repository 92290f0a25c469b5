#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The built binary carries Debian's hardening (README "Install"): PIE, full RELRO (relro and
# bind now), the stack protector and _FORTIFY_SOURCE's checked functions; and no path of the
# tree it was built in once its debug symbols are stripped (as the package strips them).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
: "${CTPILOT_SOURCE_DIR:?set CTPILOT_SOURCE_DIR to the source tree}"
for tool in readelf objcopy strings; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool not installed (binutils)"; exit 77; }
done
readelf -s --wide "$CTPILOT" | grep -q '__asan_init' && { echo "SKIP: a sanitizer build"; exit 77; }
readelf -h "$CTPILOT" | grep -q 'Type:.*DYN' || fail "not a position-independent executable"
readelf -l --wide "$CTPILOT" | grep -q 'GNU_RELRO' || fail "no RELRO segment"
readelf -d "$CTPILOT" | grep -Eq 'BIND_NOW|FLAGS_1.*NOW' || fail "not linked with -z now"
readelf --dyn-syms --wide "$CTPILOT" | grep -q '__stack_chk_fail' || fail "no stack protector (__stack_chk_fail)"
readelf --dyn-syms --wide "$CTPILOT" | grep -Eq ' __[a-z_]+_chk(@|$)' || fail "no _FORTIFY_SOURCE checked function"
if command -v hardening-check >/dev/null; then
  hardening-check "$CTPILOT" >"$tmp/hardening" 2>&1 || fail "hardening-check: $(cat "$tmp/hardening")"
fi
objcopy --strip-debug "$CTPILOT" "$tmp/stripped"
source_dir=$(cd "$CTPILOT_SOURCE_DIR" && pwd -P)
build_dir=$(cd "$(dirname "$CTPILOT")" && pwd -P)
for dir in "$source_dir" "$build_dir"; do
  strings -a "$tmp/stripped" | grep -F "$dir" >"$tmp/paths" && fail "the binary names $dir: $(head -3 "$tmp/paths")"
done
exit "$failures"
