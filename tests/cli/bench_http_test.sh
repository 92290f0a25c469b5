#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The real-kernel HTTP benchmark (tests/bench/kernel/http.sh) without root or a kernel: its
# --help, its refusal of bad settings (before it needs root or takes the kernel lock), and the
# arithmetic of its helper http_stats.py on made-up samples, wrk output and journal.
. "$(dirname "$0")/lib.sh"
src=${CTPILOT_SOURCE_DIR:?set CTPILOT_SOURCE_DIR to the source tree}
bench=$src/tests/bench/kernel/http.sh
stats=$src/tests/bench/kernel/http_stats.py

out=$(bash "$bench" --help) || fail "--help exited $?"
grep -q "RKB_HTTP_CEILING" <<<"$out" || fail "--help does not document RKB_HTTP_CEILING: $out"
grep -q "Connection: close" <<<"$out" || fail "--help does not say wrk sends Connection: close"

# Each bad setting: exit 2 and a message naming it, never "needs root" or the lock.
check_refused() {
  local what=$1 status
  shift
  out=$(env "$@" bash "$bench" 2>&1)
  status=$?
  [[ $status == 2 ]] || fail "$*: exit $status, expected 2: $out"
  grep -q "$what" <<<"$out" || fail "$*: the message does not name $what: $out"
}
check_refused RKB_HTTP_ROUNDS RKB_HTTP_ROUNDS=0
check_refused RKB_HTTP_PHASES RKB_HTTP_PHASES="fill tcp"
check_refused RKB_HTTP_UDP_SECONDS RKB_HTTP_SECONDS=30 RKB_HTTP_UDP_SECONDS=20
check_refused RKB_HTTP_CEILING RKB_HTTP_CEILING=1000
check_refused RKB_HTTP_CONNECTIONS RKB_HTTP_CONNECTIONS=x
check_refused RKB_HTTP_FLOOD_CONTENDERS RKB_HTTP_FLOOD_CONTENDERS="defaults static"
out=$(bash "$bench" extra 2>&1)
[[ $? == 2 ]] || fail "an argument: expected exit 2: $out"

# Samples every 0.5 s from t=100: drops 10 in the first second, 5 more after 2 s; peak count 900
# of max 1000 at t=101.5.
cat >"$tmp/samples.txt" <<'EOF'
100.0 0 0 100 1000
100.5 10 2 400 1000
101.0 10 2 600 1000
101.5 10 3 900 1000
102.0 10 3 800 2000
102.5 15 3 850 2000
103.0 15 3 850 2000
EOF
cat >"$tmp/wrk.txt" <<'EOF'
Running 3s test @ http://203.0.113.2/
  2 threads and 32 connections
  Latency Distribution
     50%   15.55ms
     99%    1.20s
  4095 requests in 3.01s, 579.86KB read
  Socket errors: connect 3, read 0, write 0, timeout 7
Requests/sec:   1361.74
EOF
cat >"$tmp/journal.jsonl" <<'EOF'
{"id":1,"kind":"applied","netns":"r","knob":"nf_conntrack_max","old":4096,"new":8192}
{"id":2,"kind":"applied","netns":"r","knob":"nf_conntrack_udp_timeout","old":30,"new":15}
{"id":3,"kind":"intent","netns":"r","knob":"nf_conntrack_udp_timeout","old":15,"new":10}
{"id":4,"kind":"applied","netns":"r","knob":"nf_conntrack_udp_timeout","old":15,"new":10}
EOF
json=$(python3 "$stats" summary "$tmp/samples.txt" 100.0 103.0 "$tmp/journal.jsonl" "$tmp/wrk.txt") ||
  fail "http_stats.py summary failed: $json"
check() {
  local path=$1 want=$2 got
  got=$(python3 -c 'import json, sys
v = json.loads(sys.argv[1])
for k in sys.argv[2].split("/"):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(json.dumps(v))' "$json" "$path") || { fail "$path missing in $json"; return; }
  [[ "$got" == "$want" ]] || fail "$path = $got, expected $want ($json)"
}
check drops 15
check early_drops 3
check drops_after_1s 5
check drops_after_2s 5
check drops_per_second '[12, 1, 5]'
check last_drop_second 3
check peak_count 900
check peak_fill 0.9
check max_end 2000
check requests 4095
check socket_errors/connect 3
check socket_errors/timeout 7
check p50_ms 15.55
check p99_ms 1200.0
check timeouts '{"udp_timeout": [30, 15, 10]}'
python3 "$stats" summary "$tmp/empty.txt" 1 2 >/dev/null 2>&1 && fail "summary of a missing samples file succeeded"
exit "$failures"
