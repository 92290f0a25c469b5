#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# ctpilot simulate on a fleet (README "Replay a whole fleet"): a query_range answer of three
# instances given to --trace is one table row per instance with each one's recorded drops,
# --json and --csv DIR; and --prometheus against a small loopback server standing in for
# Prometheus (python3): a week fetched in pieces under the 11,000-point limit the server enforces
# as Prometheus does, and each failure one line: server down or silent (exit 1), 4xx/5xx quoting
# Prometheus' `error` (exit 1, escapes escaped), authentication required and refused (exit 1),
# a selector that matches nothing and series that cannot be grouped (exit 2).
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
: "${CTPILOT_SOURCE_DIR:?set CTPILOT_SOURCE_DIR to the source tree}"
command -v python3 >/dev/null || { echo "SKIP: needs python3"; exit 77; }
observe="$CTPILOT_SOURCE_DIR/examples/policies/observe-only.conf"

# expect_fail RC PATTERN ARGS...: simulate exits RC with one stderr line matching PATTERN.
expect_fail() {
  local want=$1 pattern=$2 rc
  shift 2
  "$CTPILOT" simulate --policy "$observe" "$@" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  [ "$rc" -eq "$want" ] || fail "$*: exit $rc, want $want: $(cat "$tmp/err")"
  [ "$(grep -cv '^ctpilot simulate: \(note\|warning\):' "$tmp/err")" -eq 1 ] || fail "$*: want one error line: $(cat "$tmp/err")"
  grep -q -- "$pattern" "$tmp/err" || fail "$*: want '$pattern' in: $(cat "$tmp/err")"
}

# The fake Prometheus: /api/v1/query_range (under a path prefix choosing the behaviour) answers
# node_exporter's series of gw1..gw3 at the step asked; gwN's drop counter rises by N-1 per step.
cat >"$tmp/fake.py" <<'EOF'
import json, sys, time, base64
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler
from urllib.parse import urlparse, parse_qs

log = open(sys.argv[2], "a")

def matrix(start, end, step, instances):
    result = []
    n = int((end - start) / step) + 1
    for k, inst in enumerate(instances):
        times = [start + i * step for i in range(n)]
        for name, f in (("node_nf_conntrack_entries", lambda i: 100), ("node_nf_conntrack_entries_limit", lambda i: 100),
                        ("node_nf_conntrack_stat_insert", lambda i: 0),
                        ("node_nf_conntrack_stat_drop", lambda i, k=k: k * int(round((times[i] - 1.7e9) / step)))):
            result.append({"metric": {"__name__": name, "instance": inst, "job": "node"},
                           "values": [[t, str(f(i))] for i, t in enumerate(times)]})
    return result

class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def do_GET(self):
        u = urlparse(self.path)
        mode = u.path.split("/")[1]
        q = parse_qs(u.query)
        log.write(f"{mode} {q.get('start', [''])[0]} {q.get('end', [''])[0]} {q.get('step', [''])[0]} {self.headers.get('Authorization', '-')}\n")
        log.flush()
        if mode == "hang":
            time.sleep(30)
            return
        if mode == "auth" and self.headers.get("Authorization") != "Basic " + base64.b64encode(b"ops:s3cret").decode():
            return self.send(401, {"status": "error", "errorType": "unauthorized", "error": "missing or bad credentials"})
        if mode == "e400":
            return self.send(400, {"status": "error", "errorType": "bad_data", "error": "parse error: unexpected \u001b[31m character"})
        if mode == "e503":
            return self.send(503, {"status": "error", "errorType": "unavailable", "error": "TSDB not ready"})
        start, end, step = float(q["start"][0]), float(q["end"][0]), float(q["step"][0])
        if (end - start) / step > 11000:
            return self.send(400, {"status": "error", "errorType": "bad_data",
                                   "error": "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"})
        instances = [] if mode == "empty" else ["gw1:9100", "gw2:9100", "gw3:9100"]
        body = {"status": "success", "data": {"resultType": "matrix", "result": matrix(start, end, step, instances)}}
        if mode == "warn":
            body["warnings"] = ["partial answer: store gw-eu unreachable"]
        self.send(200, body)

s = ThreadingHTTPServer(("127.0.0.1", 0), H)
open(sys.argv[1], "w").write(str(s.server_address[1]))
s.serve_forever()
EOF
python3 "$tmp/fake.py" "$tmp/port" "$tmp/requests" &
server=$!
trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$tmp"' EXIT
for _ in $(seq 50); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || { fail "the fake Prometheus did not start"; exit 1; }
url="http://127.0.0.1:$(cat "$tmp/port")"

# A week at 15 s (40,321 points per series) needs pieces: the server refuses more than 11,000.
"$CTPILOT" simulate --policy "$observe" --prometheus "$url/ok" --from 2026-11-01T00:00:00Z --to 2026-11-08T00:00:00Z \
  --step 15s --csv "$tmp/csv" >"$tmp/out" 2>"$tmp/err"
rc=$?
[ "$rc" -eq 0 ] || fail "--prometheus a week: exit $rc: $(cat "$tmp/err")"
pieces=$(grep -c '^ok ' "$tmp/requests")
[ "$pieces" -eq 5 ] || fail "a week at 15s: $pieces requests, want 5 (each under 11,000 points)"
# Rows worst first; gwN recorded (N-1) x 40,320 drops and observe-only gives them back.
awk '/^gw[0-9]/ {print $1, $2, $3}' "$tmp/out" >"$tmp/rows"
printf 'gw3:9100 80640 80640\ngw2:9100 40320 40320\ngw1:9100 0 0\n' | diff - "$tmp/rows" >/dev/null ||
  fail "fleet table rows (instance, recorded drops, replayed drops): $(cat "$tmp/rows")"
grep -q '^still dropping 2 (gw3:9100, gw2:9100)' "$tmp/out" || fail "still dropping: $(grep still "$tmp/out")"
for f in gw1_9100 gw2_9100 gw3_9100; do
  [ "$(wc -l <"$tmp/csv/$f.csv")" -eq 40321 ] || fail "--csv DIR: $f.csv has $(wc -l <"$tmp/csv/$f.csv") lines, want 40321"
done

# The same fleet from a saved answer (several instances in one file) given to --trace, as JSON.
python3 -c "import urllib.request,sys; sys.stdout.write(urllib.request.urlopen('$url/ok/api/v1/query_range?query=x&start=1800000000&end=1800003000&step=15').read().decode())" >"$tmp/fleet.json"
"$CTPILOT" simulate --policy "$observe" --trace "$tmp/fleet.json" --json >"$tmp/out" 2>"$tmp/err" || fail "--trace fleet --json: exit $?: $(cat "$tmp/err")"
python3 - "$tmp/out" <<'EOF' || fail "--trace fleet --json: $(head -c 600 "$tmp/out")"
import json, sys
d = json.load(open(sys.argv[1]))
rows = [(r["instance"], r["recorded_drops"], r["replayed_drops"]) for r in d["rows"]]
assert rows == [("gw3:9100", 400, 400), ("gw2:9100", 200, 200), ("gw1:9100", 0, 0)], rows
assert d["totals"]["recorded_drops"] == 600 and d["still_dropping"] == ["gw2:9100", "gw3:9100"], d["totals"]
EOF

# --csv DIR writes like every file ctpilot writes (README Safety promise 13): a symbolic link
# planted in DIR under an instance's CSV name is refused, and what it points to stays as it was.
mkdir "$tmp/csvlink"
echo precious >"$tmp/victim"
ln -s "$tmp/victim" "$tmp/csvlink/gw1_9100.csv"
expect_fail 1 'gw1_9100.csv is a symbolic link, not a regular file' --trace "$tmp/fleet.json" --csv "$tmp/csvlink"
[ "$(cat "$tmp/victim")" = precious ] || fail "--csv DIR wrote through a symbolic link"

# Series that cannot be grouped: the same metric of one instance under two jobs.
python3 - "$tmp/fleet.json" "$tmp/ambiguous.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
twin = json.loads(json.dumps(d["data"]["result"][0]))
twin["metric"]["job"] = "node-copy"
d["data"]["result"].append(twin)
json.dump(d, open(sys.argv[2], "w"))
EOF
expect_fail 2 'twice with different labels' --trace "$tmp/ambiguous.json"

# Failures, each one line.
port_down=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
expect_fail 1 "cannot query Prometheus at http://127.0.0.1:$port_down: Connection refused" --prometheus "http://127.0.0.1:$port_down" --since 1h
expect_fail 1 'answered 400 Bad Request: parse error: unexpected \\x1b\[31m character' --prometheus "$url/e400" --since 1h
grep -q $'\x1b' "$tmp/err" && fail "an ESC byte from Prometheus reached the terminal"
expect_fail 1 'answered 503 Service Unavailable: TSDB not ready' --prometheus "$url/e503" --since 1h
expect_fail 1 'answered 401 Unauthorized: authentication required; give --basic-auth-file' --prometheus "$url/auth" --since 1h
printf 'ops:wrong\n' >"$tmp/wrong"
expect_fail 1 'answered 401 Unauthorized: the credentials given were refused' --prometheus "$url/auth" --since 1h --basic-auth-file "$tmp/wrong"
printf 'ops:s3cret\n' >"$tmp/secret"
"$CTPILOT" simulate --policy "$observe" --prometheus "$url/auth" --since 1h --basic-auth-file "$tmp/secret" >"$tmp/out" 2>"$tmp/err" ||
  fail "basic auth from a file: exit $?: $(cat "$tmp/err")"
expect_fail 1 'no answer within 1 s (--timeout)' --prometheus "$url/hang" --since 1h --timeout 1s
expect_fail 2 'no node_nf_conntrack_\* or ctpilot_conntrack_\* series (the selector matched nothing?)' --prometheus "$url/empty" --since 1h --match '{job="nope"}'
expect_fail 2 'want label matchers only' --prometheus "$url/ok" --since 1h --match 'rate(x[5m])'
expect_fail 2 'needs --since D' --prometheus "$url/ok"
expect_fail 2 'raise --step' --prometheus "$url/ok" --since 3650d --step 1s
expect_fail 2 'go with --prometheus URL' --trace "$tmp/fleet.json" --since 1h
# Prometheus' warnings (a partial answer) are said.
"$CTPILOT" simulate --policy "$observe" --prometheus "$url/warn" --since 1h >"$tmp/out" 2>"$tmp/err" || fail "warnings: exit $?"
grep -q '^ctpilot simulate: warning: Prometheus: partial answer: store gw-eu unreachable' "$tmp/err" || fail "warnings not said: $(cat "$tmp/err")"
# Credentials never on the command line: a URL with user:password is refused.
expect_fail 2 'credentials in the URL' --prometheus "http://ops:s3cret@127.0.0.1:1" --since 1h

exit "$failures"
