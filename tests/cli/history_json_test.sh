#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ctpilot history over a hand-written journal: --json prints the records exactly as journaled,
# --limit keeps the newest, the table shows old -> new, a torn last line is tolerated with a
# warning, any other bad line fails naming its line, and no journal is an empty history.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"

state="$tmp/state"
mkdir -p "$state"
cat >"$state/journal.jsonl" <<'EOF'
{"id":1,"time":"2026-11-27T03:00:00.000Z","boot_id":"b1","kind":"baseline","netns":"init","knob":"nf_conntrack_max","new":65536,"reason":"value before the first change this boot"}
{"id":2,"time":"2026-11-27T03:00:01.000Z","boot_id":"b1","kind":"intent","netns":"init","knob":"nf_conntrack_max","old":65536,"new":131072,"reason":"fill 0.91 >= high_water 0.80","observation":{"count":59640,"fill":0.91}}
{"id":3,"time":"2026-11-27T03:00:01.004Z","boot_id":"b1","kind":"applied","netns":"init","knob":"nf_conntrack_max","old":65536,"new":131072,"reason":"fill 0.91 >= high_water 0.80","ref":2}
{"id":4,"time":"2026-11-27T03:00:02.000Z","boot_id":"b1","kind":"failed","netns":"gw","knob":"nf_conntrack_tcp_timeout_time_wait","old":120,"new":60,"reason":"shorten","ref":3,"error":"write /proc/sys/net/netfilter/nf_conntrack_tcp_timeout_time_wait: Read-only file system"}
{"id":5,"time":"2026-11-27T03:05:00.000Z","boot_id":"b1","kind":"hold","reason":"placed by rollback --all for 1h; lift with ctpilot resume","until":"2026-11-27T04:05:00.000Z"}
EOF
ctp() { "$CTPILOT" --root "$tmp" --state-dir "$state" "$@"; }

# --json: a JSON array whose elements are the journal lines, byte for byte.
ctp history --json >"$tmp/out" 2>"$tmp/err" || fail "history --json: exit $?"
{ echo "["; sed '$!s/$/,/' "$state/journal.jsonl"; echo "]"; } >"$tmp/want"
cmp -s "$tmp/out" "$tmp/want" || { fail "history --json is not the journal lines as an array"; diff "$tmp/want" "$tmp/out"; }
[ -s "$tmp/err" ] && fail "history --json: unexpected stderr: $(cat "$tmp/err")"
if command -v python3 >/dev/null; then
  python3 -c 'import json,sys; d=json.load(sys.stdin); assert [r["id"] for r in d]==[1,2,3,4,5]' <"$tmp/out" ||
    fail "history --json is not a JSON array of the 5 records"
fi

# --limit N: the newest N, still oldest first.
ctp history --json --limit 2 >"$tmp/out" || fail "history --json --limit 2: exit $?"
{ echo "["; tail -n 2 "$state/journal.jsonl" | sed '$!s/$/,/'; echo "]"; } >"$tmp/want"
cmp -s "$tmp/out" "$tmp/want" || { fail "history --limit 2 is not the last two records"; diff "$tmp/want" "$tmp/out"; }

# The table: a header, one row per record, old -> new, the error and the hold's end.
ctp history >"$tmp/out" || fail "history: exit $?"
[ "$(wc -l <"$tmp/out")" -eq 6 ] || fail "history: want a header and 5 rows, got: $(cat "$tmp/out")"
head -n 1 "$tmp/out" | grep -q '^ID  TIME  *KIND  *NETNS  *KNOB  *OLD -> NEW  *REASON$' || fail "history: bad header: $(head -n 1 "$tmp/out")"
grep -q '^ 3  2026-11-27T03:00:01.004Z  applied  *init  *nf_conntrack_max  *65536 -> 131072  *fill 0.91 >= high_water 0.80$' "$tmp/out" ||
  fail "history: no row for applied #3: $(cat "$tmp/out")"
grep -q 'failed .*gw .*120 -> 60 .*error: write .*Read-only file system' "$tmp/out" || fail "history: failed row lacks its error"
grep -q 'hold .*until 2026-11-27T04:05:00.000Z' "$tmp/out" || fail "history: hold row lacks its end"
ctp history --limit 1 | grep -q '^ 5 ' || fail "history --limit 1: not the newest record"

# A torn last line (a crash mid-write): ignored with a warning; history does not change the file.
cp "$state/journal.jsonl" "$tmp/good"
printf '{"id":6,"time":"2026-11-27T03:0' >>"$state/journal.jsonl"
cp "$state/journal.jsonl" "$tmp/torn"
ctp history --json >"$tmp/out" 2>"$tmp/err" || fail "history with a torn last line: exit $?, want 0"
grep -q 'journal.jsonl:6: ignored a torn last line' "$tmp/err" || fail "torn last line: no warning naming line 6: $(cat "$tmp/err")"
[ "$(grep -c '"id"' "$tmp/out")" -eq 5 ] || fail "torn last line: want the 5 good records"
cmp -s "$state/journal.jsonl" "$tmp/torn" || fail "history changed the journal file"

# Any other bad line: exit 1, naming the file and line.
cp "$tmp/good" "$state/journal.jsonl"
sed -i '2s/"kind":"intent"/"kind":"tuned"/' "$state/journal.jsonl"
ctp history >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 1 ] || fail "bad middle line: exit $rc, want 1"
grep -q "$state/journal.jsonl:2: field 'kind'" "$tmp/err" || fail "bad middle line: stderr does not name line 2: $(cat "$tmp/err")"
[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "bad middle line: want one line on stderr: $(cat "$tmp/err")"

# No journal yet: an empty history, and the state directory is not created for it.
"$CTPILOT" --state-dir "$tmp/none" history --json >"$tmp/out" 2>"$tmp/err" || fail "no journal: exit $?"
[ "$(cat "$tmp/out")" = "[]" ] || fail "no journal: want [], got $(cat "$tmp/out")"
[ -e "$tmp/none" ] && fail "history created the state directory"
"$CTPILOT" --state-dir "$tmp/none" history | grep -q 'no journal records' || fail "no journal: table output does not say so"

# Usage errors exit 2.
ctp history --limit 0 >/dev/null 2>&1; rc=$?; [ "$rc" -eq 2 ] || fail "--limit 0: exit $rc, want 2"
ctp history --bogus >/dev/null 2>&1; rc=$?; [ "$rc" -eq 2 ] || fail "--bogus: exit $rc, want 2"

[ "$failures" -eq 0 ] && echo "PASS" || exit 1
