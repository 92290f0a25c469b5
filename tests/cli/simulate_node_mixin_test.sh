#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# With the built-in policy, ctpilot raises nf_conntrack_max before node-mixin's
# NodeHighNumberConntrackEntriesUsed (entries/limit > 75%, no `for:`) would fire: over the
# steady-growth scenario (two hours, 30x growth, kernel default limit) the peak fill stays
# below 75% (README "Monitoring").
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
# Run from an empty directory tree: no /etc/ctpilot/policy.conf is consulted when it is absent.
"$CTPILOT" simulate --scenario steady-growth >"$tmp/out" 2>&1 || fail "simulate failed: $(cat "$tmp/out")"
grep -q '^policy *built-in defaults' "$tmp/out" || fail "not simulated with the built-in defaults: $(head -5 "$tmp/out")"
peak=$(awk '/^peak fill/ { sub("%", "", $3); print $3 }' "$tmp/out")
[ -n "$peak" ] || fail "no peak fill in: $(cat "$tmp/out")"
awk -v p="$peak" 'BEGIN { exit !(p < 75.0) }' || fail "peak fill $peak% reaches node-mixin's 75% alert"
grep -q 'nf_conntrack_max in init 65536 -> ' "$tmp/out" || fail "ctpilot never raised the limit: $(cat "$tmp/out")"
exit "$failures"
