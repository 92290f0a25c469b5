#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ctpilot run over a fake /proc tree with [metrics] textfile and listen: both outputs pass
# `promtool check metrics` (README "Monitoring"), show the fake table, and the endpoint
# answers only GET /metrics, survives a client that never sends a request and one that sends
# an endless header, and keeps serving meanwhile; 16 slowloris clients keep no scrape out; a
# port in use at start is bound once it is free, without a reload.
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
command -v promtool >/dev/null || { echo "SKIP: promtool not installed (Debian package prometheus)"; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

root=$tmp/root
make_fake_root "$root" 600
mkdir -p "$tmp/textfile"
# A free port: bind port 0 and read what the kernel chose.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$tmp/policy.conf" <<POLICY
[controller]
interval = 100ms
[metrics]
textfile = $tmp/textfile/ctpilot.prom
listen = 127.0.0.1:$port
POLICY
"$CTPILOT" --root "$root" --state-dir "$tmp/state" --policy "$tmp/policy.conf" run 2>"$tmp/err" &
pid=$!

# get PATH [METHOD]: status line and body of one request, via python3 (no curl needed).
get() {
  python3 - "$port" "$1" "${2:-GET}" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5)
s.sendall(f"{sys.argv[3]} {sys.argv[2]} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
data = b""
while True:
    chunk = s.recv(65536)
    if not chunk:
        break
    data += chunk
sys.stdout.write(data.decode())
PY
}

for _ in $(seq 100); do
  [ -s "$tmp/textfile/ctpilot.prom" ] && get /metrics >/dev/null 2>&1 && break
  sleep 0.1
done
[ -s "$tmp/textfile/ctpilot.prom" ] || fail "no textfile written: $(cat "$tmp/err")"
grep -q 'serving metrics at http://127.0.0.1:'"$port"'/metrics' "$tmp/err" || fail "the listen address was not logged: $(cat "$tmp/err")"

promtool check metrics <"$tmp/textfile/ctpilot.prom" >"$tmp/check1" 2>&1 || fail "promtool rejects the textfile: $(cat "$tmp/check1")"
grep -q '^ctpilot_conntrack_entries{netns="init"} 600$' "$tmp/textfile/ctpilot.prom" || fail "textfile lacks the entries: $(cat "$tmp/textfile/ctpilot.prom")"

get /metrics >"$tmp/scrape" || fail "scrape failed"
head -1 "$tmp/scrape" | grep -q '^HTTP/1.1 200 OK' || fail "GET /metrics is not 200: $(head -1 "$tmp/scrape")"
sed '1,/^\r$/d' "$tmp/scrape" >"$tmp/body"
promtool check metrics <"$tmp/body" >"$tmp/check2" 2>&1 || fail "promtool rejects the scrape: $(cat "$tmp/check2")"
grep -q '^ctpilot_build_info{' "$tmp/body" || fail "scrape lacks ctpilot_build_info"
get / | head -1 | grep -q '404' || fail "GET / is not 404"
get /metrics POST | head -1 | grep -q '405' || fail "POST /metrics is not 405"

# Slow and hostile clients: 20 idle connections (more than the endpoint keeps) and one that
# streams header bytes; the daemon keeps ticking and serving.
python3 - "$port" <<'PY' &
import socket, sys, time
port = int(sys.argv[1])
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(20)]
s = socket.create_connection(("127.0.0.1", port))
try:
    for _ in range(200):
        s.sendall(b"X-Junk: " + b"a" * 1000 + b"\r\n")
except OSError:
    pass  # closed by ctpilot once the header passed its limit
time.sleep(3)
PY
hostile=$!
sleep 0.5
before=$(grep '^ctpilot_last_tick_timestamp_seconds' "$tmp/textfile/ctpilot.prom")
sleep 0.5
after=$(grep '^ctpilot_last_tick_timestamp_seconds' "$tmp/textfile/ctpilot.prom")
[ "$before" != "$after" ] || fail "ticks stopped while clients hung on the endpoint"
ok=
for _ in $(seq 30); do
  if get /metrics 2>/dev/null | head -1 | grep -q '200 OK'; then ok=1; break; fi
  sleep 0.2
done
[ -n "$ok" ] || fail "the endpoint did not serve while idle clients held connections"
wait "$hostile"

# Slowloris: 16 clients (every slot) sending a header byte now and then; every scrape among
# them is answered all the same.
python3 - "$port" >"$tmp/slowloris" <<'PY'
import socket, sys, time
port = int(sys.argv[1])
slow = []
for _ in range(16):
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(b"GET /metrics HTTP/1.1\r\n")
    slow.append(s)
ok = 0
for _ in range(20):
    for s in slow:
        try:
            s.sendall(b"X")
        except OSError:
            pass
    c = socket.create_connection(("127.0.0.1", port), timeout=5)
    c.sendall(b"GET /metrics HTTP/1.1\nHost: x\n\n")  # bare LF line ends
    data = b""
    try:
        while chunk := c.recv(65536):
            data += chunk
    except OSError:
        pass
    ok += data.startswith(b"HTTP/1.1 200 OK")
    # Refill the slots the scrapes took.
    while len(slow) < 32:
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(b"GET /metrics HTTP/1.1\r\n")
        slow.append(s)
print(ok)
PY
[ "$(cat "$tmp/slowloris")" = 20 ] || fail "under slowloris only $(cat "$tmp/slowloris") of 20 scrapes were answered"

kill -0 "$pid" 2>/dev/null || fail "the daemon died: $(cat "$tmp/err")"
kill -TERM "$pid"
wait "$pid"
pid=
ls "$tmp/textfile" | grep -v '^ctpilot.prom$' && fail "a temporary file was left beside the textfile"

# A port in use at start: said once, and bound when it is free again, without a reload.
python3 - "$port" "$tmp/held" <<'PY' &
import os, socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
open(sys.argv[2], "w").close()
time.sleep(1.5)
PY
holder=$!
for _ in $(seq 50); do [ -e "$tmp/held" ] && break; sleep 0.1; done
"$CTPILOT" --root "$root" --state-dir "$tmp/state" --policy "$tmp/policy.conf" run 2>"$tmp/err5" &
pid=$!
wait "$holder"
ok=
for _ in $(seq 100); do
  if get /metrics 2>/dev/null | head -1 | grep -q '200 OK'; then ok=1; break; fi
  sleep 0.1
done
[ -n "$ok" ] || fail "the endpoint was not bound once the port was free: $(cat "$tmp/err5")"
[ "$(grep -c 'cannot serve metrics' "$tmp/err5")" = 1 ] || fail "the bind failure was not said exactly once: $(cat "$tmp/err5")"
grep -q 'serving metrics at http://127.0.0.1:'"$port" "$tmp/err5" || fail "no 'serving metrics' once bound: $(cat "$tmp/err5")"
kill -TERM "$pid"
wait "$pid"
pid=
exit "$failures"
