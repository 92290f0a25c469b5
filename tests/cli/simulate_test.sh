#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ctpilot simulate: a built-in scenario by name runs the controller in virtual time and prints a
# summary (and a CSV); bad usage, unknown scenarios and bad scenario files exit 2 with one clear
# line (FILE:LINE for file problems). Nothing on this machine is read or changed.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
: "${CTPILOT_SOURCE_DIR:?set CTPILOT_SOURCE_DIR to the source tree}"
policy="$CTPILOT_SOURCE_DIR/examples/policies/isp-nat-gateway.conf"

"$CTPILOT" simulate --policy "$policy" --scenario flash-crowd --csv "$tmp/run.csv" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] || { fail "flash-crowd: exit $rc, want 0"; cat "$tmp/err"; }
grep -q '^dropped       0 new flows' "$tmp/out" || fail "flash-crowd with the ISP policy: want 0 drops: $(grep dropped "$tmp/out")"
grep -q 'nf_conntrack_max in init 65536 -> ' "$tmp/out" || fail "flash-crowd: no raise of nf_conntrack_max listed"
grep -q 'growth .* reaches high_water' "$tmp/out" || fail "flash-crowd: changes listed without their reasons"
head -1 "$tmp/run.csv" | grep -q '^time_s,netns,count,max,buckets,drop,early_drop,insert_failed,' || fail "csv header: $(head -1 "$tmp/run.csv")"
[ "$(wc -l <"$tmp/run.csv")" -eq 1802 ] || fail "csv: $(wc -l <"$tmp/run.csv") lines, want 1802 (header + 30 min at 1 s + t=0)"

# The same run again gives the same summary (seeded, virtual time).
"$CTPILOT" simulate --policy "$policy" --scenario flash-crowd >"$tmp/out2" 2>/dev/null
diff <(grep -v '^csv ' "$tmp/out") "$tmp/out2" >/dev/null || fail "two runs of the same scenario differ"

# A scenario file by path, with --seed.
printf 'duration 1m\nphase 0s..1m udp_oneway rate=100/s\n' >"$tmp/mine.scenario"
"$CTPILOT" simulate --policy "$policy" --scenario "$tmp/mine.scenario" --seed 3 >"$tmp/out" 2>"$tmp/err" || fail "file scenario: exit $?"
grep -q 'seed 3' "$tmp/out" || fail "file scenario: --seed not shown"

# Unknown name: exit 2, one line naming the known scenarios.
"$CTPILOT" simulate --policy "$policy" --scenario no-such-thing >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 2 ] || fail "unknown scenario: exit $rc, want 2"
grep -q "no scenario named 'no-such-thing'.*known: .*flash-crowd" "$tmp/err" || fail "unknown scenario: $(cat "$tmp/err")"

# Bad scenario file: FILE:LINE lines, exit 2.
printf 'duration 1m\nphase 0s..1m tcp_short rate=lots\n' >"$tmp/bad.scenario"
"$CTPILOT" simulate --policy "$policy" --scenario "$tmp/bad.scenario" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 2 ] || fail "bad scenario: exit $rc, want 2"
grep -q "^$tmp/bad.scenario:2: rate 'lots'" "$tmp/err" || fail "bad scenario: no FILE:LINE message: $(cat "$tmp/err")"

# No scenario: exit 2.
"$CTPILOT" simulate --policy "$policy" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] || fail "no --scenario: want exit 2"

# Traffic in a netns the policy does not watch is pointed out.
"$CTPILOT" simulate --policy "$CTPILOT_SOURCE_DIR/examples/policies/small-vps.conf" --scenario netns-router >/dev/null 2>"$tmp/err"
grep -q "netns router which the policy does not watch" "$tmp/err" || fail "unwatched netns not reported: $(cat "$tmp/err")"

[ "$failures" -eq 0 ] && echo "simulate: all checks passed"
exit $((failures > 0))
