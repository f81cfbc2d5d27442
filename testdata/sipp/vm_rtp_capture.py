#!/usr/bin/env python3
"""Captures the RTP OneStatus sends on loopback, for the voicemail tests with SIPp as caller.

SIPp plays RTP but does not record what it receives, and OneStatus sends to the address the
caller's packets come from (symmetric RTP), which is SIPp's own socket. So the test listens
on the loopback interface itself (an AF_PACKET socket: Linux, root or CAP_NET_RAW) for UDP
datagrams whose source port is in OneStatus's RTP port range, and writes one line per
datagram:  <seconds since start> <source port> <destination port> <UDP payload in hex>

Usage: vm_rtp_capture.py <port_min> <port_max> <out file>. Prints "ready" once listening;
runs until killed.
"""
import binascii
import socket
import struct
import sys
import time

PACKET_OUTGOING = 4

port_min, port_max, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.ntohs(0x0003))
# A loaded host may not run this script for a while; a large buffer keeps the datagrams
# queued meanwhile (SO_RCVBUFFORCE needs CAP_NET_ADMIN, as root has; else the capped size).
try:
    sock.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)  # SO_RCVBUFFORCE
except OSError:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
sock.bind(("lo", 0))
start = time.monotonic()
with open(path, "w", buffering=1) as out:
    print("ready", flush=True)
    while True:
        frame, address = sock.recvfrom(65535)
        # Loopback shows each datagram twice (out and in): keep the incoming copy.
        if address[2] == PACKET_OUTGOING or len(frame) < 14 + 20 + 8:
            continue
        if frame[12:14] != b"\x08\x00":
            continue
        ip = frame[14:]
        ihl = (ip[0] & 0x0F) * 4
        if ip[9] != 17:
            continue
        source, destination, length = struct.unpack("!HHH", ip[ihl:ihl + 6])
        if not port_min <= source <= port_max:
            continue
        payload = ip[ihl + 8:ihl + length]
        out.write(f"{time.monotonic() - start:.6f} {source} {destination} "
                  f"{binascii.hexlify(payload).decode()}\n")
