#!/usr/bin/python3
"""A session's dedup_us: the same IP packet seen twice within the window (both ends of a
conversation mirrored) is mirrored once, the copy dropped as `duplicate`.

The frames are made with scapy, each with its capture time (a file input's packet time is its
capture timestamp): originals, and copies as the other end's mirror would see them (TTL or hop
limit lower, the IPv4 checksum recomputed, another DSCP/ECN, other MACs, a VLAN tag, Ethernet
padding), inside and outside the window, and near misses that differ in one byte that matters
(IP ID, a payload byte, a port). The model below decides from the rule as documented
(engine/pipeline/dedup.h): compare the IP packet with TTL/hop limit, header checksum and traffic
class zeroed, L2 ignored; a packet is a duplicate of one recorded (not itself a duplicate) at
most dedup_us before it; non-IP frames are never duplicates.

usage: test_dedup.py MIRRORPIPE SOURCE_DIR
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checker, accounting_holds, read_records, run_mirrorpipe, scratch_dir  # noqa: E402

from scapy.layers.inet import IP, TCP, UDP  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402
from scapy.layers.l2 import ARP, Dot1Q, Ether  # noqa: E402
from scapy.layers.vxlan import VXLAN  # noqa: E402
from scapy.packet import Raw  # noqa: E402
from scapy.utils import wrpcap  # noqa: E402

MP = sys.argv[1]
c = Checker("dedup")
tmp = scratch_dir("mp-dedup-")
WINDOW_US = 100
A = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
B = Ether(src="02:00:00:00:00:0b", dst="02:00:00:00:00:0c")


def other_end(p, ttl_drop=2, tos=None):
    """The packet as the mirror at the other end sees it: other MACs, lower TTL, new checksum."""
    ip = p[IP].copy() if IP in p else p[IPv6].copy()
    if IP in p:
        ip.ttl -= ttl_drop
        del ip.chksum
        if tos is not None:
            ip.tos = tos
    else:
        ip.hlim -= ttl_drop
        if tos is not None:
            ip.tc = tos
    return B / ip


def ipkey(frame):
    """The model's comparison key: the IP packet, mutable fields zeroed; None for non-IP."""
    e = Ether(frame)
    layer = e.payload
    while isinstance(layer, Dot1Q):
        layer = layer.payload
    if isinstance(layer, IP):
        ip = IP(bytes(layer)[:layer.len])
        raw = bytearray(bytes(ip))
        raw[1] = 0
        raw[8] = 0
        raw[10:12] = b"\0\0"
        return bytes(raw)
    if isinstance(layer, IPv6):
        raw = bytearray(bytes(layer)[:40 + layer.plen])
        raw[0] &= 0xF0
        raw[1] &= 0x0F
        raw[7] = 0
        return bytes(raw)
    return None


t1 = A / IP(src="10.0.0.1", dst="10.0.0.2", id=7, ttl=64) / TCP(sport=40000, dport=443, flags="PA") / Raw(b"hello world")
u6 = A / IPv6(src="2001:db8::1", dst="2001:db8::2", hlim=64) / UDP(sport=5000, dport=53) / Raw(b"query")
short = A / IP(src="10.0.0.1", dst="10.0.0.2", id=9) / UDP(sport=1, dport=2)  # 42 bytes: padded copies differ in L2 only
arp = A / ARP(psrc="10.0.0.1", pdst="10.0.0.2")
cases = [  # (time in microseconds, frame)
    (0, t1),
    (40, other_end(t1)),                              # the other end's copy: duplicate
    (60, other_end(t1, tos=0x2e << 2)),               # ... with another DSCP: duplicate
    (70, A / Dot1Q(vlan=12) / t1[IP].copy()),         # ... under a VLAN tag: duplicate
    (80, A / IP(src="10.0.0.1", dst="10.0.0.2", id=8, ttl=64) / TCP(sport=40000, dport=443, flags="PA") / Raw(b"hello world")),  # another IP ID
    (90, A / IP(src="10.0.0.1", dst="10.0.0.2", id=7, ttl=64) / TCP(sport=40000, dport=443, flags="PA") / Raw(b"hello worle")),  # one payload byte
    (150, other_end(t1)),                             # 150 us after the first: outside the window
    (200, other_end(t1)),                             # 50 us after the previous, recorded one: duplicate
    (300, u6),
    (350, other_end(u6, ttl_drop=1, tos=4)),          # IPv6, hop limit and traffic class: duplicate
    (500, short),
    (520, Ether(bytes(other_end(short)) + b"\0" * 18)),  # padded to 60 bytes: duplicate
    (600, arp),
    (610, arp),                                       # non-IP: never a duplicate
    (700, A / IP(src="10.0.0.1", dst="10.0.0.2", id=7, ttl=64) / TCP(sport=40001, dport=443, flags="PA") / Raw(b"hello world")),  # another port
]
frames = []
for us, f in cases:
    b = bytes(f)
    p = Ether(b)
    p.time = 1700000000 + us / 1e6
    frames.append((us, b, p))

# The model.
recorded = []  # (key, time)
expected, dups = [], 0
for us, b, _ in frames:
    key = ipkey(b)
    if key is not None and any(k == key and 0 <= us - t <= WINDOW_US for k, t in recorded):
        dups += 1
        continue
    if key is not None:
        recorded.append((key, us))
    expected.append(b)

cap = os.path.join(tmp, "in.pcap")
wrpcap(cap, [p for _, _, p in frames])
cfg = os.path.join(tmp, "d.toml")
out = os.path.join(tmp, "out.pcap")
with open(cfg, "w") as f:
    f.write("""[eal]
args = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", "--log-level", "lib.eal:error"]
[[ports]]
name = "in"
role = "mirror-input"
file = "%s"
[[ports]]
name = "out"
role = "output"
file = "%s"
[[targets]]
name = "t"
output = "out"
tunnel = "vxlan"
src_ip = "10.9.0.1"
dst_ip = "10.9.0.2"
vni = 1
[[sessions]]
name = "s"
input = "in"
number = 1
sinks = ["t"]
dedup_us = %d
""" % (cap, out, WINDOW_US))
rc, stats, err = run_mirrorpipe(MP, ["run", "-c", cfg])
c.check(rc == 0, "run: exit %d %s" % (rc, err[-400:]))
got = [bytes(Ether(r[0])[VXLAN].payload) for r in read_records(out)] if rc == 0 else []
c.check(got == expected, "mirrored %d frames, the model %d: got %s, expected %s" % (
    len(got), len(expected), [frames[[b for _, b, _ in frames].index(g)][0] if g in [b for _, b, _ in frames] else "?" for g in got],
    [frames[[b for _, b, _ in frames].index(e)][0] for e in expected]))
c.check(dups == 6, "the model finds %d duplicates (the cases are written for 6)" % dups)
if stats:
    c.check(accounting_holds(stats), "received != sent + filtered + dropped")
    c.check(stats["dropped"].get("duplicate") == dups, "dropped.duplicate %s, model %d" % (stats["dropped"].get("duplicate"), dups))

# dedup_us out of range: a configuration error.
bad = open(cfg).read().replace("dedup_us = %d" % WINDOW_US, "dedup_us = 0")
with open(cfg, "w") as f:
    f.write(bad)

r = subprocess.run([MP, "check", "-c", cfg], capture_output=True, text=True, timeout=60)
c.check(r.returncode == 2 and "sessions[0].dedup_us" in r.stderr, "dedup_us = 0: exit %d %s" % (r.returncode, r.stderr))
c.done()
