#!/usr/bin/env python3
"""Writes vm_dtmf_<key>.pcap: one RFC 4733 key press each, as SIPp's own
/usr/share/sip-tester/dtmf_2833_<key>.pcap (payload type 101, 7 updates 20 ms apart, then the
end packet three times with one sequence number), but with sequence numbers and timestamps that
grow from one key to the next in the order the retrieval scenario presses them
(2 5 8 0 # 1 9 6 7), as one phone's stream does. SIPp's stock pcaps each have unrelated
sequence numbers, so played one after another their stream goes backwards: OneStatus's DTMF
detector then takes the later keys for late packets of earlier events and drops them.

Usage: python3 testdata/audio/vm_make_dtmf_pcaps.py   (from the crate root)
"""
import struct

ORDER = ["2", "5", "8", "0", "pound", "1", "9", "6", "7"]
EVENT = {"pound": 11, "star": 10, **{str(d): d for d in range(10)}}
SSRC = 0x5EED0D7F


def frame(n, seq, ts, marker, payload):
    rtp = struct.pack("!BBHII", 0x80, 101 | (0x80 if marker else 0), seq, ts, SSRC) + payload
    udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n, 0, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
    return b"\x00" * 12 + b"\x08\x00" + ip


for position, key in enumerate(ORDER):
    seq = 20_000 + 100 * position
    ts = 160_000 + 8_000 * position
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
    packets = []
    for i in range(7):
        packets.append((i * 20_000, seq + i, i == 0, struct.pack("!BBH", EVENT[key], 10, 320 * i)))
    for i in range(3):
        packets.append((140_000 + i * 100, seq + 7, False,
                        struct.pack("!BBH", EVENT[key], 0x80 | 10, 2240)))
    for n, (micros, s, marker, payload) in enumerate(packets):
        f = frame(n, s, ts, marker, payload)
        out += struct.pack("<IIII", 1_700_000_000 + micros // 1_000_000, micros % 1_000_000,
                           len(f), len(f)) + f
    open(f"testdata/audio/vm_dtmf_{key}.pcap", "wb").write(out)
print(f"{len(ORDER)} key pcaps written")
