#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ctpilot record over a fake /proc tree writes a versioned trace and changes nothing, stops on
# SIGTERM; run keeps one with [controller] trace_file; simulate --trace replays it and a real Prometheus answer (the committed fixture);
# malformed traces exit 2 with one line naming FILE:LINE or the JSON path.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
: "${CTPILOT_SOURCE_DIR:?set CTPILOT_SOURCE_DIR to the source tree}"
observe="$CTPILOT_SOURCE_DIR/examples/policies/observe-only.conf"
isp="$CTPILOT_SOURCE_DIR/examples/policies/isp-nat-gateway.conf"
fixture="$CTPILOT_SOURCE_DIR/tests/controller/data/prometheus_range_answer.json"

root=$tmp/root
make_fake_root "$root"
cat >"$root/proc/net/stat/nf_conntrack" <<'STAT'
entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
00000384  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000010 00000000 00000002 00000000 00000000  00000000 00000000 00000000 00000000
STAT
printf '[controller]\ninterval = 100ms\n' >"$tmp/policy.conf"
snapshot() { (cd "$root" && find . -type f -exec md5sum {} + | sort); }
before=$(snapshot)

"$CTPILOT" --root "$root" --policy "$tmp/policy.conf" record --out "$tmp/trace.jsonl" --duration 300ms >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] || { fail "record: exit $rc, want 0"; cat "$tmp/err"; }
head -1 "$tmp/trace.jsonl" | grep -q '^{"ctpilot_trace":1,"interval_ms":100,' || fail "trace header: $(head -1 "$tmp/trace.jsonl")"
[ "$(wc -l <"$tmp/trace.jsonl")" -eq 5 ] || fail "trace: $(wc -l <"$tmp/trace.jsonl") lines, want 5 (header + samples at 0, 100, 200, 300 ms)"
sed -n 2p "$tmp/trace.jsonl" | grep -q '"netns":"init","count":900,"max":1000,"buckets":1024,"insert":16,"drop":2,' ||
  fail "sample: $(sed -n 2p "$tmp/trace.jsonl")"
[ "$(snapshot)" = "$before" ] || fail "record changed the fake /proc tree"

# Without --duration it runs until SIGTERM, and what it wrote is a complete trace.
"$CTPILOT" --root "$root" --policy "$tmp/policy.conf" record --out "$tmp/long.jsonl" 2>"$tmp/err" &
pid=$!
sleep 0.5
kill -TERM "$pid"
wait "$pid"
rc=$?
[ "$rc" -eq 0 ] || fail "record after SIGTERM: exit $rc, want 0"
grep -q 'SIGTERM received; stopping' "$tmp/err" || fail "record did not say it stopped: $(cat "$tmp/err")"
"$CTPILOT" simulate --policy "$observe" --trace "$tmp/long.jsonl" >"$tmp/out" 2>"$tmp/err" || fail "replay of the SIGTERMed recording: exit $?: $(cat "$tmp/err")"
grep -q '^dropped       0 new flows' "$tmp/out" || fail "replay of a constant table: $(cat "$tmp/out")"

# run keeps the same trace when the policy names trace_file: its own reads, one sample per tick.
printf '[controller]\ninterval = 100ms\ntrace_file = %s\n' "$tmp/daemon.jsonl" >"$tmp/keep.conf"
"$CTPILOT" --root "$root" --state-dir "$tmp/state" --policy "$tmp/keep.conf" run --once >"$tmp/out" 2>"$tmp/err" ||
  fail "run --once with trace_file: exit $?: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/daemon.jsonl")" -eq 4 ] || fail "daemon trace: $(wc -l <"$tmp/daemon.jsonl") lines, want 4 (header + 3 ticks)"
"$CTPILOT" simulate --policy "$observe" --trace "$tmp/daemon.jsonl" >/dev/null 2>"$tmp/err" || fail "the daemon's trace does not replay: $(cat "$tmp/err")"
printf '[controller]\ntrace_file = trace.jsonl\ntrace_max_size = 1KiB\n' >"$tmp/badkeep.conf"
"$CTPILOT" check-policy "$tmp/badkeep.conf" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] || fail "relative trace_file and tiny trace_max_size: want exit 2"
grep -q 'trace_file.*not an absolute path' "$tmp/err" && grep -q 'trace_max_size.*out of range' "$tmp/err" || fail "check-policy: $(cat "$tmp/err")"

"$CTPILOT" record --duration 1s >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] || fail "record without --out: want exit 2"
"$CTPILOT" --root "$root" --policy "$tmp/policy.conf" record --out "$tmp/x" --duration soon >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] || fail "record --duration soon: want exit 2"

# The real Prometheus answer: the ISP policy raises the limit and drops nothing of what the
# 4096-entry table dropped; a plot when gnuplot is there.
"$CTPILOT" simulate --policy "$isp" --trace "$fixture" --csv "$tmp/replay.csv" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] || { fail "prometheus fixture: exit $rc, want 0"; cat "$tmp/err"; }
grep -q '^recorded      drops [1-9]' "$tmp/out" || fail "fixture: no recorded drops shown: $(cat "$tmp/out")"
grep -q '^dropped       0 new flows' "$tmp/out" || fail "fixture under the ISP policy: want 0 drops: $(grep dropped "$tmp/out")"
grep -q 'raises\|nf_conntrack_max in init 4096 -> ' "$tmp/out" || fail "fixture: no raise listed: $(cat "$tmp/out")"
head -1 "$tmp/replay.csv" | grep -q '^time_s,netns,count,max,buckets,drop,early_drop,insert_failed,recorded_count,recorded_max,recorded_drop$' ||
  fail "replay csv header: $(head -1 "$tmp/replay.csv")"
if command -v gnuplot >/dev/null; then
  [ -s "$tmp/replay.csv.png" ] || fail "gnuplot is installed but no plot was written"
else
  grep -q '^plot          no plot: gnuplot is not installed' "$tmp/out" || fail "no word about the missing gnuplot"
fi
grep -q 'note: nf_conntrack_buckets is not in node_exporter' "$tmp/err" || fail "the buckets assumption is not reported: $(cat "$tmp/err")"

# Malformed traces: exit 2, one line, FILE:LINE or FILE: $.json.path.
check_bad() {
  local file=$1 want=$2
  "$CTPILOT" simulate --policy "$observe" --trace "$file" >/dev/null 2>"$tmp/err"
  local rc=$?
  [ "$rc" -eq 2 ] || fail "$file: exit $rc, want 2"
  [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$file: want one line, got: $(cat "$tmp/err")"
  grep -qF "$want" "$tmp/err" || fail "$file: want '$want', got: $(cat "$tmp/err")"
}
{ head -2 "$tmp/trace.jsonl"; echo '{"time":"2026-11-29T21:00:00Z","count":"many","max":5}'; } >"$tmp/bad.jsonl"
check_bad "$tmp/bad.jsonl" "ctpilot simulate: $tmp/bad.jsonl:3: \"count\" is \"many\", want an integer from 0 to 2147483647"
# A bad last line that ends with its newline is an error (only a line cut short, without one, is left out).
{ head -3 "$tmp/trace.jsonl"; echo '{"time":'; } >"$tmp/torn.jsonl"
check_bad "$tmp/torn.jsonl" "$tmp/torn.jsonl:4: invalid JSON"
# The second value of the first series becomes "lots".
sed '0,/\],\[\([0-9.]*\),"[0-9]*"\]/s//],[\1,"lots"]/' "$fixture" >"$tmp/bad.json"
check_bad "$tmp/bad.json" "$tmp/bad.json: \$.data.result[0].values[1][1]: \"lots\" is not a number"
echo '{"status":"success","data":{"resultType":"vector","result":[]}}' >"$tmp/vector.json"
check_bad "$tmp/vector.json" "$tmp/vector.json: \$.data.resultType: vector, want \"matrix\""
"$CTPILOT" simulate --policy "$isp" --trace "$fixture" --entry-life 2s >"$tmp/out" 2>/dev/null || fail "--entry-life 2s: exit $?"
grep -q '^entry life    2.0s ' "$tmp/out" || fail "--entry-life not applied: $(grep 'entry life' "$tmp/out")"
"$CTPILOT" simulate --policy "$isp" --scenario flash-crowd --entry-life 2s >/dev/null 2>&1
[ $? -eq 2 ] || fail "--entry-life with --scenario: want exit 2"
printf '[controller]\nnetns = router\n' >"$tmp/router.conf"
"$CTPILOT" simulate --policy "$tmp/router.conf" --trace "$fixture" >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] || fail "a policy watching a netns the trace lacks: want exit 2"
grep -q "the policy watches netns router which the trace does not hold (it has: init)" "$tmp/err" || fail "netns mismatch: $(cat "$tmp/err")"
"$CTPILOT" simulate --policy "$observe" --trace "$tmp/none.jsonl" >/dev/null 2>"$tmp/err"
[ $? -eq 1 ] || fail "missing trace file: want exit 1"
"$CTPILOT" simulate --policy "$observe" --trace "$fixture" --scenario flash-crowd >/dev/null 2>"$tmp/err"
[ $? -eq 2 ] || fail "--trace with --scenario: want exit 2"

[ "$failures" -eq 0 ] || exit 1
echo "ok"
