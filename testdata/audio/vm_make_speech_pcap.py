#!/usr/bin/env python3
"""Writes vm_speech_10s.pcap: 10.00 s of speech as SIPp plays it with play_pcap_audio (or,
with a third argument, that many seconds: vm_speech_30s.pcap, the caller who speaks through
the greeting and on until a node dies under the call, tests/it/nodes_lost.rs).

The speech is SIPp's own sample (/usr/share/sip-tester/g711a.pcap, 7.08 s of PCMA in 30 ms
packets) looped to 80,000 samples and repacketised at 20 ms: 500 RTP packets, payload type 8
(PCMA), sequence numbers and timestamps consecutive, one SSRC. The voicemail tests send it as
the caller's message and compare the stored WAV with it (duration within 100 ms).

Usage: python3 testdata/audio/vm_make_speech_pcap.py [source.pcap] [out.pcap] [seconds]
"""
import struct
import sys

SOURCE = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/sip-tester/g711a.pcap"
OUT = sys.argv[2] if len(sys.argv) > 2 else "testdata/audio/vm_speech_10s.pcap"
SAMPLES = int(sys.argv[3]) * 8000 if len(sys.argv) > 3 else 80_000
FRAME = 160


def payloads(path):
    data = open(path, "rb").read()
    offset = 24
    while offset < len(data):
        _, _, incl, _ = struct.unpack("<IIII", data[offset:offset + 16])
        packet = data[offset + 16:offset + 16 + incl]
        offset += 16 + incl
        # Ethernet 14 + IPv4 (IHL) + UDP 8 + RTP 12 (no CSRC in this file)
        ihl = (packet[14] & 0x0F) * 4
        yield packet[14 + ihl + 8 + 12:]


audio = b"".join(payloads(SOURCE))
looped = (audio * (SAMPLES // len(audio) + 1))[:SAMPLES]

out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
for n in range(SAMPLES // FRAME):
    rtp = struct.pack("!BBHII", 0x80, 8 | (0x80 if n == 0 else 0), 1000 + n, 8000 + n * FRAME,
                      0x5EED0A1A) + looped[n * FRAME:(n + 1) * FRAME]
    udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n & 0xFFFF, 0, 64, 17, 0,
                     bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
    frame = b"\x00" * 12 + b"\x08\x00" + ip
    micros = n * 20_000
    out += struct.pack("<IIII", 1_700_000_000 + micros // 1_000_000, micros % 1_000_000,
                       len(frame), len(frame)) + frame
open(OUT, "wb").write(out)
print(f"{OUT}: {SAMPLES // FRAME} packets, {SAMPLES / 8000:.2f} s")
