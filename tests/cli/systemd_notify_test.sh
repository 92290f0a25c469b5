#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ctpilot run under a NOTIFY_SOCKET this test listens on (systemd is not PID 1 here): READY=1
# after the first tick, a one-line STATUS=, WATCHDOG=1 per tick, RELOADING=1 then READY=1
# around SIGHUP; the unit in examples/systemd passes `systemd-analyze verify`, and its
# ExecReload= fails on a bad policy before any signal is sent (README "As a service").
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
: "${CTPILOT_SOURCE_DIR:?set CTPILOT_SOURCE_DIR to the source tree}"
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }
pid=
listener=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null
  [ -n "$listener" ] && kill "$listener" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

wait_for() {  # wait_for PATTERN FILE: up to 10 s
  for _ in $(seq 100); do
    grep -q -- "$1" "$2" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}

# The listener: one line per datagram, newlines inside a datagram shown as " | ".
python3 - "$tmp/notify" "$tmp/messages" <<'PY' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
with open(sys.argv[2], "a", buffering=1) as out:
    while True:
        data = s.recv(4096).decode()
        out.write(data.strip().replace("\n", " | ") + "\n")
PY
listener=$!
for _ in $(seq 50); do [ -S "$tmp/notify" ] && break; sleep 0.1; done

root=$tmp/root
make_fake_root "$root" 900
printf '[controller]\ninterval = 100ms\n[hashsize]\nmode = fixed\n' >"$tmp/policy.conf"  # one change: the raise
NOTIFY_SOCKET=$tmp/notify WATCHDOG_USEC=30000000 \
  "$CTPILOT" --root "$root" --state-dir "$tmp/state" --policy "$tmp/policy.conf" run 2>"$tmp/err" &
pid=$!

wait_for 'READY=1' "$tmp/messages" || fail "no READY=1: $(cat "$tmp/messages" "$tmp/err")"
[ "$(grep -c 'READY=1' "$tmp/messages")" -eq 1 ] || fail "READY=1 sent more than once before any reload"
head -1 "$tmp/messages" | grep -q 'READY=1 | STATUS=init 90.0% full (900/1000)' ||
  fail "the first message is not READY=1 with the status line: $(head -1 "$tmp/messages")"
wait_for 'WATCHDOG=1' "$tmp/messages" || fail "no WATCHDOG=1"
sleep 0.5
[ "$(grep -c 'WATCHDOG=1' "$tmp/messages")" -ge 3 ] || fail "WATCHDOG=1 is not sent every tick: $(cat "$tmp/messages")"
wait_for 'last change .* raised nf_conntrack_max' "$tmp/messages" || fail "STATUS= does not name the last change: $(tail -1 "$tmp/messages")"

printf '[max]\nceiling = lots\n' >"$tmp/policy.conf"
kill -HUP "$pid"
wait_for 'RELOADING=1' "$tmp/messages" || fail "no RELOADING=1 on SIGHUP"
wait_for 'READY=1 | STATUS=policy reload failed' "$tmp/messages" || fail "no READY=1 after a failed reload: $(tail -3 "$tmp/messages")"
printf '[controller]\ninterval = 100ms\n[hashsize]\nmode = fixed\n' >"$tmp/policy.conf"  # one change: the raise
kill -HUP "$pid"
wait_for 'READY=1 | STATUS=init' "$tmp/messages" || fail "no READY=1 with the status after a good reload"
kill -TERM "$pid"
wait "$pid" || fail "ctpilot exited non-zero on SIGTERM: $(cat "$tmp/err")"
pid=
wait_for 'STOPPING=1' "$tmp/messages" || fail "no STOPPING=1 on SIGTERM"

# Without NOTIFY_SOCKET nothing is sent and nothing fails.
"$CTPILOT" --root "$root" --state-dir "$tmp/state2" --policy "$tmp/policy.conf" run --once 2>"$tmp/err2" ||
  fail "run --once without NOTIFY_SOCKET failed: $(cat "$tmp/err2")"

# The unit: verified with the built binary in place of /usr/sbin/ctpilot, and without its
# Documentation= man pages (installed only by the package, whose test verifies them).
unit=$tmp/ctpilot.service
sed -e "s|/usr/sbin/ctpilot|$CTPILOT|g" -e '/^Documentation=man:/d' \
  "$CTPILOT_SOURCE_DIR/examples/systemd/ctpilot.service" >"$unit"
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify "$unit" >"$tmp/verify" 2>&1 || fail "systemd-analyze verify: $(cat "$tmp/verify")"
else
  echo "note: systemd-analyze not installed; unit not verified"
fi
grep -q '^Type=notify$' "$unit" || fail "the unit is not Type=notify"
grep -q '^WatchdogSec=' "$unit" || fail "the unit has no WatchdogSec="

# `systemctl reload` runs ExecReload= lines in order and fails at the first that fails: with a
# bad policy the check fails before the signal is sent. Run them with the policy path swapped
# for a test file and $MAINPID for a process that records a SIGHUP.
sleep 30 &
sleeper=$!
run_reload() {  # run_reload POLICY: exit status of the ExecReload= lines, like systemd
  local line cmd
  while IFS= read -r line; do
    cmd=${line#ExecReload=}
    cmd=${cmd//\/etc\/ctpilot\/policy.conf/$1}
    cmd=${cmd//\$MAINPID/$sleeper}
    cmd=${cmd//\/bin\/kill -HUP/\/bin\/kill -0}
    eval "$cmd" || return 1
  done < <(grep '^ExecReload=' "$unit")
}
printf '[max]\nceiling = lots\n' >"$tmp/bad.conf"
printf '[max]\nceiling = 1M\n' >"$tmp/good.conf"
run_reload "$tmp/bad.conf" 2>"$tmp/reload_err" && fail "ExecReload= succeeded on a bad policy"
grep -q 'bad.conf:2' "$tmp/reload_err" || fail "ExecReload= did not name the bad line: $(cat "$tmp/reload_err")"
run_reload "$tmp/good.conf" || fail "ExecReload= failed on a good policy"
kill "$sleeper" 2>/dev/null
exit "$failures"
