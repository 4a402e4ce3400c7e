#!/usr/bin/python3
"""Seed corpora for the fuzz targets, from the project's captures and configuration files.

usage: make_seeds.py OUT_DIR [--shared DIR]

Writes OUT_DIR/TARGET/ for every target of fuzz/CMakeLists.txt (one file per input, named by
its SHA-1, so a second run adds nothing twice). Frames come from pcaps/, pcaps/third-party/,
test/golden/*.pcap and the shared captures (../shared/pcaps beside the checkout unless --shared
says otherwise); the targets that read selector bytes first (fuzz_decap, fuzz_appliance,
fuzz_encap: see the comment at the top of each) get each frame behind a few selector values.
fuzz_config gets examples/*.toml and test/config/bad/*.toml; fuzz_health gets conversations
built here in its record format and the received frames of test/golden/health-frames.tsv.
Large corpora are not committed: scripts/fuzz writes them under build-fuzz/.
"""
import argparse
import glob
import hashlib
import logging
import os
import struct
import sys

logging.getLogger("scapy").setLevel(logging.ERROR)  # link types it does not dissect are fine: raw bytes
from scapy.utils import PcapReader, PcapNgReader  # Debian's python3-scapy

SRC = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MAX_FRAME = 4096  # libFuzzer's default -max_len


def write(out, target, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    path = os.path.join(d, hashlib.sha1(data).hexdigest())
    if not os.path.exists(path):
        with open(path, "wb") as f:
            f.write(data)


def frames(paths):
    seen = set()
    for path in paths:
        try:
            with open(path, "rb") as f:
                magic = f.read(4)
            reader = PcapNgReader if magic == b"\x0a\x0d\x0d\x0a" else PcapReader
            with reader(path) as r:
                for pkt in r:
                    b = bytes(pkt)
                    if 0 < len(b) <= MAX_FRAME and b not in seen:
                        seen.add(b)
                        yield b
        except Exception as e:  # a capture scapy cannot read is skipped, and said
            print("make_seeds: skipping %s: %s" % (path, e), file=sys.stderr)


# fuzz_health: records [length][mode][bytes]; mode 0x04 = a TCP segment from the member,
# 0x10 SEQ = 1000 + signed byte 4, 0x20 ACK = ISS + 1 + 16-bit value at bytes 8-9,
# bits 0-1 advance the clock (3 = 3 s), 0x80 poll only.
def tcp(flags, seq_delta=0, ack_delta=0, payload=b"", options=b""):
    doff = (20 + len(options)) // 4
    hdr = struct.pack("!HHbxxxHHBBHHH", 0, 0, seq_delta, ack_delta, 0, doff << 4, flags, 64240, 0, 0)
    return hdr + options + payload


def record(mode, data):
    assert len(data) < 256
    return bytes([len(data), mode]) + data


def health_seeds():
    seg = 0x04 | 0x10 | 0x20
    synack = record(seg, tcp(0x12))
    yield bytes([0]) + synack                                   # TCP: pass
    yield bytes([2]) + record(seg, tcp(0x14))                  # TCP: refused (RST,ACK)
    yield bytes([0]) + record(0x83, b"") * 3                    # TCP: timeout
    yield bytes([4]) + record(seg | 1, tcp(0x12)) + synack      # short timeout, repeated SYN-ACK
    for port_bit, host in ((0, "10.0.0.2"), (2, "10.0.0.2:8080")):
        request = ("GET /health?check=1 HTTP/1.1\r\nHost: %s\r\nUser-Agent: mirrorpipe-health-check\r\n"
                   "Connection: close\r\n\r\n" % host).encode()
        n = len(request)
        mss = b"\x02\x04\x05\xb4"
        for status in (b"HTTP/1.1 200 OK\r\n\r\n", b"HTTP/1.0 404 Not Found\r\n", b"HTTP/1.1 399\r\n",
                       b"SSH-2.0-OpenSSH\r\n", b"HTTP/1.1 2"):
            yield (bytes([1 | port_bit]) + record(seg, tcp(0x12, options=mss)) +
                   record(seg, tcp(0x18, 1, n, status)))
        yield bytes([1 | port_bit]) + record(seg, tcp(0x12)) + record(seg, tcp(0x11, 1, n))        # FIN first
        yield bytes([1 | port_bit]) + record(seg, tcp(0x12)) + record(seg, tcp(0x14, 1, n))        # RST
        yield (bytes([1 | port_bit]) + record(seg, tcp(0x12)) + record(seg, tcp(0x18, 2, n, b"TTP/1.1 200 OK\r\n")) +
               record(seg, tcp(0x18, 1, n, b"HTTP/1.1 200 OK\r\n")))                              # out of order
        yield bytes([1 | port_bit]) + record(seg, tcp(0x12)) + record(0x83, b"") * 3 + record(0x40, b"")
    # The frames scapy built for the unit tests (test/golden/health-frames.tsv), raw.
    rows = [l.rstrip("\n").split("\t") for l in open(os.path.join(SRC, "test/golden/health-frames.tsv"))]
    raw = [bytes.fromhex(r[3]) for r in rows if r[0] == "in" and len(r) > 3 and len(r[3]) <= 510]
    for i in range(0, len(raw), 3):
        yield bytes([1]) + b"".join(record(0, f) for f in raw[i:i + 3])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--shared", default=os.path.join(os.path.dirname(SRC), "shared", "pcaps"))
    a = ap.parse_args()
    captures = sorted(glob.glob(os.path.join(SRC, "pcaps", "*.pcap*")) +
                      glob.glob(os.path.join(SRC, "pcaps", "third-party", "*.pcap*")) +
                      glob.glob(os.path.join(SRC, "test", "golden", "*.pcap*")) +
                      glob.glob(os.path.join(a.shared, "*.pcap*")))
    n = 0
    for f in frames(captures):
        n += 1
        write(a.out, "parse_frame", f)
        for sel in (0x00, 0x01):
            write(a.out, "decap", bytes([sel]) + f)
        write(a.out, "appliance", bytes([0x00]) + f)
        for sel in (0x00, 0x03, 0x05, 0x26):
            write(a.out, "encap", bytes([sel, 0]) + f)
    for path in sorted(glob.glob(os.path.join(SRC, "examples", "*.toml")) +
                       glob.glob(os.path.join(SRC, "test", "config", "bad", "*.toml"))):
        with open(path, "rb") as f:
            write(a.out, "config", f.read())
    for s in health_seeds():
        write(a.out, "health", s)
    counts = {t: len(os.listdir(os.path.join(a.out, t))) for t in sorted(os.listdir(a.out))}
    print("make_seeds: %d frames from %d captures; %s" % (n, len(captures),
          ", ".join("%s %d" % kv for kv in counts.items())))


if __name__ == "__main__":
    main()
