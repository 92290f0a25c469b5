#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Records the kernel's replies to IPCTNL_MSG_CT_GET_STATS_CPU and IPCTNL_MSG_CT_GET_STATS as hex
text, for the decoding tests. Run as root, inside the netns to record (ip netns exec NAME ...):

    record_ctnetlink.py stats_cpu > ctnetlink_stats_cpu.hex
    record_ctnetlink.py stats > ctnetlink_stats.hex

The whole receive buffer is written (every message of the dump, NLMSG_DONE included), 16 bytes
per line, after a comment naming the kernel.
"""
import os
import socket
import struct
import sys

NETLINK_NETFILTER = 12
NFNL_SUBSYS_CTNETLINK = 1
IPCTNL_MSG_CT_GET_STATS_CPU = 4
IPCTNL_MSG_CT_GET_STATS = 5
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_DONE = 3


def main():
    which = sys.argv[1] if len(sys.argv) > 1 else "stats_cpu"
    subtype = IPCTNL_MSG_CT_GET_STATS_CPU if which == "stats_cpu" else IPCTNL_MSG_CT_GET_STATS
    flags = NLM_F_REQUEST | (NLM_F_DUMP if which == "stats_cpu" else 0)
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_NETFILTER)
    sock.bind((0, 0))
    msg = struct.pack("=IHHII", 20, (NFNL_SUBSYS_CTNETLINK << 8) | subtype, flags, 1, 0)
    msg += struct.pack("=BBH", socket.AF_UNSPEC, 0, 0)
    sock.send(msg)
    data = b""
    while True:
        chunk = sock.recv(65536)
        data += chunk
        # The global reply is a single message (flagged NLM_F_MULTI, but no NLMSG_DONE follows).
        if which != "stats_cpu":
            break
        _, msg_type = struct.unpack_from("=IH", chunk, len(chunk) - 20 if len(chunk) >= 20 else 0)
        if msg_type == NLMSG_DONE:
            break
    print("# recorded on Linux %s by tests/sysfs/data/record_ctnetlink.py %s" % (os.uname().release, which))
    for i in range(0, len(data), 16):
        print(" ".join("%02x" % b for b in data[i:i + 16]))


if __name__ == "__main__":
    main()
