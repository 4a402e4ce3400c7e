#!/usr/bin/python3
"""Seed corpora for the fuzz targets, from the project's captures and configuration files.

usage: make_seeds.py OUT_DIR [--shared DIR]

Writes OUT_DIR/TARGET/ for every target of fuzz/CMakeLists.txt (one file per input, named by
its SHA-1, so a second run adds nothing twice). Frames come from pcaps/, pcaps/third-party/,
test/golden/*.pcap and the shared captures (../shared/pcaps beside the checkout unless --shared
says otherwise); the targets that read selector bytes first (fuzz_decap, fuzz_appliance,
fuzz_encap: see the comment at the top of each) get each frame behind a few selector values.
fuzz_config gets examples/*.toml and test/config/bad/*.toml; fuzz_health gets conversations
built here in its record format and the received frames of test/golden/health-frames.tsv;
fuzz_pcap gets the capture files themselves (cut to MAX_CAPTURE bytes) and small captures built
here in every link type, byte order and timestamp resolution the reader accepts.
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
MAX_CAPTURE = 4096  # a capture seed longer than this is cut (its last record then truncated)


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


# fuzz_pcap: whole captures. pcap (tcpdump.org file format) and pcapng
# (draft-ietf-opsawg-pcapng: SHB, IDB with options, EPB, SPB) in both byte orders.
def pcap_file(linktype, records, nano=False, endian="<", snaplen=65535):
    magic = 0xa1b23c4d if nano else 0xa1b2c3d4
    out = struct.pack(endian + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)
    for i, (data, wire) in enumerate(records):
        out += struct.pack(endian + "IIII", 1700000000 + i, 999999999 if nano else 999999, len(data), wire) + data
    return out


def pcapng_block(endian, btype, body):
    body += b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack(endian + "II", btype, n) + body + struct.pack(endian + "I", n)


def pcapng_option(endian, code, value):
    return struct.pack(endian + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def pcapng_file(linktype, records, endian="<", tsresol=None, simple=False):
    shb = struct.pack(endian + "IHHq", 0x1a2b3c4d, 1, 0, -1)
    opts = b""
    if tsresol is not None:
        opts = pcapng_option(endian, 9, bytes([tsresol])) + struct.pack(endian + "HH", 0, 0)
    idb = struct.pack(endian + "HHI", linktype, 0, 0) + opts
    out = pcapng_block(endian, 0x0a0d0d0a, shb) + pcapng_block(endian, 1, idb)
    for i, (data, wire) in enumerate(records):
        if simple:
            out += pcapng_block(endian, 3, struct.pack(endian + "I", wire) + data)
        else:
            comment = pcapng_option(endian, 1, b"vni=7 session=0") + struct.pack(endian + "HH", 0, 0)
            epb = struct.pack(endian + "IIIII", 0, i, 1000 * i, len(data), wire) + data
            out += pcapng_block(endian, 6, epb + b"\0" * (-len(data) % 4) + comment)
    return out


def pcap_seeds(captures):
    for path in captures:
        with open(path, "rb") as f:
            yield f.read(MAX_CAPTURE)
    ip4 = bytes.fromhex("450000200001000040110000c0000201c000020204d212b5000c0000") + b"data"
    ip6 = bytes.fromhex("6000000000081140") + bytes(15) + b"\x01" + bytes(15) + b"\x02" + bytes.fromhex("04d212b500080000")
    eth = bytes.fromhex("020000000002020000000001 0800".replace(" ", "")) + ip4
    sll = struct.pack("!HHH8sH", 0, 1, 6, bytes.fromhex("0200000000010000"), 0x0800) + ip4
    sll2 = struct.pack("!HHIHBB8s", 0x86dd, 0, 2, 1, 0, 6, bytes.fromhex("0200000000010000")) + ip6
    records = {1: [(eth, len(eth)), (eth[:20], len(eth)), (b"", 0)],
               113: [(sll, len(sll)), (sll[:10], 16)],
               276: [(sll2, len(sll2)), (sll2[:19], 20)],
               101: [(ip4, len(ip4)), (ip6, len(ip6)), (b"\x00", 1)],
               228: [(ip4, len(ip4))],
               229: [(ip6, len(ip6))]}
    for linktype, recs in records.items():
        for endian in ("<", ">"):
            yield pcap_file(linktype, recs, endian=endian)
            yield pcapng_file(linktype, recs, endian=endian)
        yield pcap_file(linktype, recs, nano=True)
    yield pcap_file(1, [(eth, 70000)], snaplen=262144)           # wire length beyond an mbuf
    yield pcap_file(1, records[1])[:-10]                         # ends inside a record
    yield pcap_file(147, records[1])                             # a link type the reader refuses
    for tsresol in (6, 9, 0x9e):
        yield pcapng_file(1, records[1], tsresol=tsresol)
    yield pcapng_file(1, records[1], simple=True)


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
    for s in pcap_seeds(captures):
        write(a.out, "pcap", s)
    counts = {t: len(os.listdir(os.path.join(a.out, t))) for t in sorted(os.listdir(a.out))}
    print("make_seeds: %d frames from %d captures; %s" % (n, len(captures),
          ", ".join("%s %d" % kv for kv in counts.items())))


if __name__ == "__main__":
    main()
