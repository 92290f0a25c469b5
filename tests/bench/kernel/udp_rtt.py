#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Worst UDP round trip over loopback, every 2 ms for DURATION seconds: `udp_rtt.py DURATION [SAMPLES]`.

One socket echoes to another in the same process, so each datagram crosses conntrack twice
(when the netns tracks: a `ct state new` rule); a hash resize stalls both. Prints
`samples N max_ms X p99_ms Y median_ms Z lost L` on one line; with SAMPLES, also writes every
round trip to that file as "<epoch seconds at send> <ms>" lines. (ping is not always installed.)
"""
import socket
import sys
import time

duration = float(sys.argv[1])
server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
server.bind(("127.0.0.1", 0))
client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
client.bind(("127.0.0.1", 0))
server.settimeout(2.0)
client.settimeout(2.0)
rtts, lost, log = [], 0, []
end = time.monotonic() + duration
while time.monotonic() < end:
    t0 = time.monotonic()
    sent_at = time.time()
    try:
        client.sendto(b"x", server.getsockname())
        data, peer = server.recvfrom(16)
        server.sendto(data, peer)
        client.recvfrom(16)
        rtts.append((time.monotonic() - t0) * 1000.0)
        log.append((sent_at, rtts[-1]))
    except socket.timeout:
        lost += 1
    time.sleep(0.002)
if len(sys.argv) > 2:
    with open(sys.argv[2], "w") as out:
        out.writelines(f"{at:.6f} {ms:.3f}\n" for at, ms in log)
rtts.sort()
pick = lambda q: rtts[min(len(rtts) - 1, int(q * len(rtts)))] if rtts else float("nan")
print(f"samples {len(rtts)} max_ms {rtts[-1] if rtts else float('nan'):.2f} p99_ms {pick(0.99):.2f} "
      f"median_ms {pick(0.5):.3f} lost {lost}")
