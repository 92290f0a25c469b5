#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# README Safety promise 13, the reproductions of issue 16 for the files ctpilot reads and writes
# outside its state directory: written paths that name the state directory, /proc, /sys, /dev
# or each other are refused at check-policy time; a FIFO as the policy, a trace or an --out
# never blocks; record --out never follows a link nor overwrites silently; run --once with a
# trace_file in the state directory leaves the journal alone; a trace cut mid-line replays with
# a warning; a trace's ESC bytes are escaped; --duration 200000d does not overflow.
# `timeout` only guards against a hang (each command returns at once when the test passes).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
: "${CTPILOT_SOURCE_DIR:?set CTPILOT_SOURCE_DIR to the source tree}"
observe="$CTPILOT_SOURCE_DIR/examples/policies/observe-only.conf"
state=$tmp/state
root=$tmp/root
make_fake_root "$root"
cat >"$root/proc/net/stat/nf_conntrack" <<'STAT'
entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
00000384  00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000010 00000000 00000002 00000000 00000000  00000000 00000000 00000000 00000000
STAT

# check-policy: one FILE:LINE line per written path that ctpilot may not write; exit 2.
refused() {  # refused WANT POLICY-TEXT
  printf '%b' "$2" >"$tmp/p.conf"
  timeout 20 "$CTPILOT" --state-dir "$state" check-policy "$tmp/p.conf" >/dev/null 2>"$tmp/err"
  local rc=$?
  [ "$rc" -eq 2 ] || fail "check-policy $(printf '%b' "$2" | tr '\n' ' '): exit $rc, want 2"
  [ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "check-policy: want one line, got: $(cat "$tmp/err")"
  grep -q "^$tmp/p.conf:[0-9]*: .*$1" "$tmp/err" || fail "check-policy: want '$1', got: $(cat "$tmp/err")"
}
refused "trace_file: \"$state/journal.jsonl\" is in the state directory $state" "[controller]\ntrace_file = $state/journal.jsonl\n"
refused "is under /proc" "[controller]\ntrace_file = /proc/sys/net/netfilter/nf_conntrack_max\n"
refused "is under /dev" "[controller]\ntrace_file = /dev/null\n"
refused "is under /sys" "[metrics]\ntextfile = /sys/x.prom\n"
refused "is the root directory" "[controller]\ntrace_file = /\n"
refused "name the same file" "[controller]\ntrace_file = $tmp/m.prom\n[metrics]\ntextfile = $tmp/m.prom\n"

# run --once with such a trace_file: refused before anything is written; the journal stays.
mkdir -p "$state" && chmod 0750 "$state"
printf '[controller]\ninterval = 100ms\ntrace_file = %s/journal.jsonl\n' "$state" >"$tmp/bad.conf"
printf '[controller]\ninterval = 100ms\n' >"$tmp/ok.conf"
"$CTPILOT" --root "$root" --state-dir "$state" --policy "$tmp/ok.conf" run --once --dry-run >/dev/null 2>"$tmp/err" ||
  fail "run --once --dry-run: exit $?: $(cat "$tmp/err")"
before=$(md5sum "$state/journal.jsonl" 2>/dev/null)
"$CTPILOT" --root "$root" --state-dir "$state" --policy "$tmp/bad.conf" run --once --dry-run >/dev/null 2>"$tmp/err"
rc=$?
[ "$rc" -eq 2 ] || fail "run --once with trace_file = the journal: exit $rc, want 2"
grep -q "trace_file: .* is in the state directory" "$tmp/err" || fail "run with trace_file = the journal: $(cat "$tmp/err")"
[ "$(md5sum "$state/journal.jsonl" 2>/dev/null)" = "$before" ] || fail "the journal changed"
[ ! -e "$state/journal.jsonl.1" ] || fail "the journal was moved to journal.jsonl.1"

# Even in dry run, a dangling symlink or a directory at trace_file is left as it is.
ln -s "$tmp/created-through-link" "$tmp/trace-link"
printf '[controller]\ninterval = 100ms\ntrace_file = %s/trace-link\n' "$tmp" >"$tmp/link.conf"
"$CTPILOT" --root "$root" --state-dir "$state" --policy "$tmp/link.conf" run --once --dry-run >/dev/null 2>"$tmp/err" ||
  fail "run --once --dry-run with a link at trace_file: exit $?: $(cat "$tmp/err")"
[ ! -e "$tmp/created-through-link" ] || fail "the trace was written through a dangling symlink"
[ -L "$tmp/trace-link" ] || fail "the symlink at trace_file was moved"
[ "$(grep -c 'trace-link is a symbolic link' "$tmp/err")" -eq 1 ] || fail "want one line about the link: $(cat "$tmp/err")"

# A FIFO as the policy: check-policy and run say so at once.
mkfifo "$tmp/policy.fifo"
timeout 20 "$CTPILOT" check-policy "$tmp/policy.fifo" >/dev/null 2>"$tmp/err"
rc=$?
[ "$rc" -eq 2 ] || fail "check-policy FIFO: exit $rc, want 2 (124: it hung)"
grep -q "^$tmp/policy.fifo:0: cannot read policy: not a regular file (it is a FIFO)$" "$tmp/err" || fail "check-policy FIFO: $(cat "$tmp/err")"

# A FIFO put in place of the policy before a SIGHUP: the reload is refused at once and the
# daemon goes on ticking and stops on SIGTERM (it froze until a signal came).
printf '[controller]\ninterval = 100ms\n' >"$tmp/daemon.conf"
"$CTPILOT" --root "$root" --state-dir "$tmp/daemon-state" --policy "$tmp/daemon.conf" run --dry-run 2>"$tmp/daemon.err" &
pid=$!
wait_for() { for _ in $(seq 100); do grep -q "$1" "$tmp/daemon.err" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
wait_for "started" || fail "daemon did not start: $(cat "$tmp/daemon.err")"
rm "$tmp/daemon.conf" && mkfifo "$tmp/daemon.conf"
kill -HUP "$pid"
wait_for "not reloading the policy: .*daemon.conf:0: cannot read policy: not a regular file (it is a FIFO)\|not reloading the policy" ||
  fail "a FIFO policy on SIGHUP was not refused: $(cat "$tmp/daemon.err")"
grep -q "not a regular file (it is a FIFO)" "$tmp/daemon.err" || fail "the refused reload does not say why: $(cat "$tmp/daemon.err")"
kill -TERM "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
  fail "the daemon did not stop within 10 s of SIGTERM after a FIFO reload"
  kill -KILL "$pid"
fi
wait "$pid" 2>/dev/null

# record --out: no symlink followed, no FIFO waited on, no file overwritten without --force,
# nothing under /proc or the state directory.
record() { timeout 20 "$CTPILOT" --root "$root" --state-dir "$state" --policy "$tmp/ok.conf" record --duration 100ms "$@" >/dev/null 2>"$tmp/err"; }
echo precious >"$tmp/precious"
ln -s "$tmp/precious" "$tmp/out-link"
record --out "$tmp/out-link"
rc=$?
[ "$rc" -eq 2 ] || fail "record --out SYMLINK: exit $rc, want 2"
grep -q "out-link is a symbolic link" "$tmp/err" || fail "record --out SYMLINK: $(cat "$tmp/err")"
[ "$(cat "$tmp/precious")" = precious ] || fail "record wrote through a symlink"
record --out "$tmp/out-link" --force
[ "$(cat "$tmp/precious")" = precious ] || fail "record --force wrote through a symlink"
mkfifo "$tmp/out.fifo"
record --out "$tmp/out.fifo"
rc=$?
[ "$rc" -eq 2 ] || fail "record --out FIFO: exit $rc, want 2 (124: it hung)"
grep -q "out.fifo is a FIFO" "$tmp/err" || fail "record --out FIFO: $(cat "$tmp/err")"
echo earlier >"$tmp/earlier.jsonl"
record --out "$tmp/earlier.jsonl"
rc=$?
[ "$rc" -eq 2 ] || fail "record --out EXISTING: exit $rc, want 2"
grep -q "earlier.jsonl exists; ctpilot does not overwrite it; pass --force" "$tmp/err" || fail "record --out EXISTING: $(cat "$tmp/err")"
[ "$(cat "$tmp/earlier.jsonl")" = earlier ] || fail "record overwrote an existing file"
record --out "$tmp/earlier.jsonl" --force || fail "record --force: exit $?: $(cat "$tmp/err")"
head -1 "$tmp/earlier.jsonl" | grep -q '^{"ctpilot_trace":1' || fail "record --force did not replace the file"
record --out "$state/journal.jsonl"
[ $? -eq 2 ] && grep -q "is in the state directory" "$tmp/err" || fail "record --out the journal: $(cat "$tmp/err")"
record --out /proc/self/fd/1
[ $? -eq 2 ] && grep -q "is under /proc" "$tmp/err" || fail "record --out /proc/...: $(cat "$tmp/err")"

# --duration 200000d is beyond the clock's nanoseconds: it records until SIGTERM as asked.
"$CTPILOT" --root "$root" --policy "$tmp/ok.conf" record --out "$tmp/long.jsonl" --duration 200000d 2>"$tmp/err" &
pid=$!
for _ in $(seq 50); do
  [ "$(wc -l 2>/dev/null <"$tmp/long.jsonl" || echo 0)" -ge 4 ] && break
  sleep 0.1
done
kill -TERM "$pid"
wait "$pid"
[ "$(wc -l <"$tmp/long.jsonl")" -ge 4 ] || fail "record --duration 200000d stopped after $(($(wc -l <"$tmp/long.jsonl") - 1)) sample(s)"
grep -q 'SIGTERM received' "$tmp/err" || fail "record --duration 200000d did not run until SIGTERM: $(cat "$tmp/err")"

# simulate --trace: a FIFO or /dev/zero is refused at once; a trace cut mid-line replays with a
# warning; ESC bytes in a trace never reach the terminal raw.
timeout 20 "$CTPILOT" simulate --policy "$observe" --trace "$tmp/out.fifo" >/dev/null 2>"$tmp/err"
rc=$?
[ "$rc" -eq 2 ] && grep -q "out.fifo is not a regular file (it is a FIFO)" "$tmp/err" || fail "simulate --trace FIFO: exit $rc: $(cat "$tmp/err")"
timeout 20 "$CTPILOT" simulate --policy "$observe" --trace /dev/zero >/dev/null 2>"$tmp/err"
rc=$?
[ "$rc" -eq 2 ] && grep -q "/dev/zero is not a regular file (it is a device)" "$tmp/err" || fail "simulate --trace /dev/zero: exit $rc: $(cat "$tmp/err")"
head -c -20 "$tmp/long.jsonl" >"$tmp/cut.jsonl"
"$CTPILOT" simulate --policy "$observe" --trace "$tmp/cut.jsonl" >/dev/null 2>"$tmp/err" || fail "a trace cut mid-line: exit $?: $(cat "$tmp/err")"
grep -q "warning: $tmp/cut.jsonl:[0-9]*: the last line is cut short" "$tmp/err" || fail "no warning about the cut line: $(cat "$tmp/err")"
{ head -2 "$tmp/long.jsonl"; printf '{"time":"\\u001b]0;owned\\u0007","count":1,"max":5}\n'; } >"$tmp/esc.jsonl"
"$CTPILOT" simulate --policy "$observe" --trace "$tmp/esc.jsonl" >"$tmp/out" 2>"$tmp/err"
[ $? -eq 2 ] || fail "a trace with an ESC time: want exit 2"
grep -q 'esc.jsonl:3: "time" "\\u001b]0;owned\\u0007" is not an RFC 3339 time' "$tmp/err" || fail "ESC trace: $(cat -v "$tmp/err")"
! grep -q $'\x1b' "$tmp/out" "$tmp/err" || fail "an ESC byte from the trace reached the terminal"
{ head -2 "$tmp/long.jsonl"; printf '{"time":"2026-01-01T00:00:00Z","count":1,"max":5,"netns":"x\x1b[2J"}\n'; } >"$tmp/esc2.jsonl"
"$CTPILOT" simulate --policy "$observe" --trace "$tmp/esc2.jsonl" >"$tmp/out" 2>"$tmp/err"
! grep -q $'\x1b' "$tmp/out" "$tmp/err" || fail "a raw ESC byte from the trace reached the terminal: $(cat -v "$tmp/err")"

[ "$failures" -eq 0 ] || exit 1
echo "ok"
