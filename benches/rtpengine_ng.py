#!/usr/bin/env python3
"""rtpengine's ng control protocol for benches/relay.sh: the reference relay of the same run.

ng is bencode over UDP (a cookie, a space, a bencoded dictionary; the answer echoes the
cookie). For each of CALLS calls this sends an `offer` with end A's SDP (127.0.0.1, port
PAIR_PORT_MIN + 2i) and an `answer` with end B's (PAIR_PORT_MIN + 2i + 1), as a SIP proxy in
front of rtpengine would, and prints one line per call for benches/relay_load.rs's `pairs` mode:

    a_port b_port a_dest b_dest

where a_dest is the address rtpengine's answer gave A (A sends there) and b_dest the one its
offer gave B. `delete` ends the calls. Python 3 standard library only.

Usage: rtpengine_ng.py offer NG_HOST:PORT CALLS PAIR_PORT_MIN > pairs.txt
       rtpengine_ng.py delete NG_HOST:PORT CALLS
"""

import os
import socket
import sys


def encode(value):
    if isinstance(value, dict):
        items = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in value.items())
        return b"d" + b"".join(encode(k) + encode(v) for k, v in items) + b"e"
    if isinstance(value, list):
        return b"l" + b"".join(encode(v) for v in value) + b"e"
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    return b"%d:%s" % (len(value), value)


def decode(data, i=0):
    """(value, next index) of the bencoded value at data[i:]."""
    kind = data[i : i + 1]
    if kind == b"i":
        end = data.index(b"e", i)
        return int(data[i + 1 : end]), end + 1
    if kind in (b"l", b"d"):
        i += 1
        items = []
        while data[i : i + 1] != b"e":
            value, i = decode(data, i)
            items.append(value)
        if kind == b"l":
            return items, i + 1
        return {k.decode(): v for k, v in zip(items[::2], items[1::2])}, i + 1
    colon = data.index(b":", i)
    length = int(data[i:colon])
    return data[colon + 1 : colon + 1 + length], colon + 1 + length


class Ng:
    def __init__(self, address):
        host, port = address.rsplit(":", 1)
        self.address = (host, int(port))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.settimeout(2.0)
        self.serial = 0

    def call(self, message):
        """The answer dictionary; retried on timeout (a bounded number of times)."""
        self.serial += 1
        cookie = b"%d_%d" % (os.getpid(), self.serial)
        datagram = cookie + b" " + encode(message)
        for _ in range(5):
            self.sock.sendto(datagram, self.address)
            try:
                while True:
                    data, _ = self.sock.recvfrom(65536)
                    got, _, body = data.partition(b" ")
                    if got == cookie:
                        answer, _ = decode(body)
                        if answer.get("result") != b"ok":
                            raise SystemExit(f"rtpengine: {message['command']} -> {answer}")
                        return answer
            except socket.timeout:
                continue
        raise SystemExit(f"rtpengine did not answer {message['command']} at {self.address}")


def sdp(port, session):
    return (
        f"v=0\r\no=- {session} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n"
    )


def media(text):
    """'ip:port' of the SDP's c= line and first m=audio line."""
    ip, port = "127.0.0.1", None
    for line in text.decode().splitlines():
        if line.startswith("c=IN IP4 "):
            ip = line.split()[2]
        elif line.startswith("m=audio ") and port is None:
            port = int(line.split()[1])
    if port is None:
        raise SystemExit(f"no m=audio in rtpengine's SDP: {text!r}")
    return f"{ip}:{port}"


def main():
    if len(sys.argv) < 4:
        raise SystemExit(__doc__)
    command, ng, calls = sys.argv[1], Ng(sys.argv[2]), int(sys.argv[3])
    for i in range(calls):
        call = {"call-id": f"relay-bench-{i}", "from-tag": f"a{i}"}
        if command == "offer":
            a_port = int(sys.argv[4]) + 2 * i
            b_port = a_port + 1
            offer = ng.call(dict(call, command="offer", sdp=sdp(a_port, i), ICE="remove"))
            answer = ng.call(
                dict(call, command="answer", sdp=sdp(b_port, i), ICE="remove", **{"to-tag": f"b{i}"})
            )
            print(f"{a_port} {b_port} {media(answer['sdp'])} {media(offer['sdp'])}")
        elif command == "delete":
            ng.call(dict(call, command="delete"))
        else:
            raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
