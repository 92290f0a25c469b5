# SPDX-License-Identifier: Apache-2.0
"""Helpers of tests/bench/kernel/http.sh (the HTTP-through-NAT benchmark).

  http_stats.py sample OUT
      Run inside the router's netns (ip netns exec): every 100 ms append
      "<epoch> <drop> <early_drop> <count> <nf_conntrack_max>" to OUT (the per-CPU counters of
      /proc/net/stat/nf_conntrack summed) until killed.
  http_stats.py summary SAMPLES START END [JOURNAL] [WRK_OUTPUT]
      Print one JSON object: drops and early drops between START and END (epoch seconds), those
      after the first second and the first 2 s, the drops of every second, peak entries and peak fill; with a
      journal, the timeouts ctpilot changed ("udp_timeout 30->15->10"); with wrk's output, its
      requests, socket errors and latency percentiles.
"""
import json
import re
import sys
import time

STAT = "/proc/net/stat/nf_conntrack"
PROC = "/proc/sys/net/netfilter/"


def read_stat():
    with open(STAT) as f:
        header = f.readline().split()
        sums = [0] * len(header)
        for line in f:
            for i, v in enumerate(line.split()):
                sums[i] += int(v, 16)
    stat = dict(zip(header, sums))
    return stat["drop"], stat["early_drop"]


def read_int(name):
    with open(PROC + name) as f:
        return int(f.read())


def sample(out):
    with open(out, "a") as f:
        while True:
            drop, early = read_stat()
            f.write(f"{time.time():.3f} {drop} {early} {read_int('nf_conntrack_count')} {read_int('nf_conntrack_max')}\n")
            f.flush()
            time.sleep(0.1)


def counters_at(rows, t):
    """The last sample at or before t (the first sample when none is)."""
    best = rows[0]
    for r in rows:
        if r[0] <= t:
            best = r
        else:
            break
    return best


def wrk_summary(text):
    out = {}
    m = re.search(r"(\d+) requests in ([\d.]+)(m?s)", text)
    if m:
        secs = float(m.group(2)) / (1000 if m.group(3) == "ms" else 1)
        out["requests"] = int(m.group(1))
        out["wrk_seconds"] = secs
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    out["socket_errors"] = {k: int(v) for k, v in zip(("connect", "read", "write", "timeout"), m.groups())} if m else {}
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non_2xx"] = int(m.group(1)) if m else 0
    for p in ("50", "99"):
        m = re.search(r"^\s+%s(?:\.000)?%%\s+([\d.]+)(us|ms|s)\s*$" % p, text, re.M)
        if m:
            scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]
            out[f"p{p}_ms"] = round(float(m.group(1)) * scale, 2)
    return out


def journal_timeouts(path):
    """{"udp_timeout": [30, 15, 10], ...}: every applied change of a timeout, in order."""
    chains = {}
    with open(path) as f:
        for line in f:
            try:
                r = json.loads(line)
            except ValueError:
                continue
            knob = str(r.get("knob", "")).removeprefix("nf_conntrack_")
            if "timeout" not in knob:
                continue
            if r.get("kind") in ("applied", "rollback"):
                chain = chains.setdefault(knob, [r.get("old")])
                chain.append(r.get("new"))
    return chains


def summary(samples, start, end, journal=None, wrk=None):
    rows = []
    with open(samples) as f:
        for line in f:
            p = line.split()
            if len(p) == 5:
                rows.append((float(p[0]), int(p[1]), int(p[2]), int(p[3]), int(p[4])))
    if not rows:
        raise SystemExit("http_stats.py: no samples in " + samples)
    first, last = counters_at(rows, start), counters_at(rows, end)
    one, two = counters_at(rows, start + 1.0), counters_at(rows, start + 2.0)
    window = [r for r in rows if start <= r[0] <= end] or [last]
    per_second = []
    t = start
    while t < end - 1e-6:
        a, b = counters_at(rows, t), counters_at(rows, min(t + 1.0, end))
        per_second.append(b[1] - a[1] + b[2] - a[2])
        t += 1.0
    out = {
        "drops": last[1] - first[1],
        "early_drops": last[2] - first[2],
        "drops_after_1s": last[1] - one[1],
        "early_drops_after_1s": last[2] - one[2],
        "drops_after_2s": last[1] - two[1],
        "early_drops_after_2s": last[2] - two[2],
        "drops_per_second": per_second,
        "peak_count": max(r[3] for r in window),
        "peak_fill": max(r[3] / r[4] for r in window if r[4] > 0),
        "max_end": last[4],
    }
    # The first second without any drop or early drop after which none came (seconds from start).
    quiet = 0
    for i, n in enumerate(per_second):
        if n:
            quiet = i + 1
    out["last_drop_second"] = quiet
    if journal:
        out["timeouts"] = journal_timeouts(journal)
    if wrk:
        with open(wrk) as f:
            out.update(wrk_summary(f.read()))
    print(json.dumps(out))


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "sample":
        sample(sys.argv[2])
    elif len(sys.argv) >= 5 and sys.argv[1] == "summary":
        args = sys.argv[2:] + [""] * 2
        summary(args[0], float(args[1]), float(args[2]), args[3] or None, args[4] or None)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
