#!/usr/bin/python3
"""Mirror-session options beyond AWS, checked by scapy on the engine's outputs:

- slice = N: each copy keeps every header through L4 (TCP with its options, UDP 8, SCTP 12,
  ICMP/ICMPv6 8; IPv4 options, IPv6 extension headers, VLAN tags; a later fragment its IP
  header) plus N payload bytes; scapy computes the header lengths;
- sample_flows = N: whole flows, both directions together, about 1/N of them;
- sample_packets = N: the 1st, N+1th, ... packet (one worker);
- max_pps: a paced replay above the limit is cut to about the limit, the rest rate_limited;
- the counters add up in every case.

usage: test_session_options.py MIRRORPIPE SOURCE_DIR
"""
import json
import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checker, accounting_holds, read_records, scratch_dir  # noqa: E402

from scapy.all import (ICMP, IP, SCTP, TCP, UDP, Dot1Q, Ether, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,  # noqa: E402
                       IPv6ExtHdrHopByHop, Raw, wrpcap)
from scapy.layers.vxlan import VXLAN  # noqa: E402

MP, SRC = sys.argv[1], sys.argv[2]
c = Checker("session options")
tmp = scratch_dir("mp-sesopt-")
E = Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b")


def run(frames, session_options, name):
    cap = os.path.join(tmp, name + ".pcap")
    wrpcap(cap, frames)
    out = os.path.join(tmp, name + "-out.pcap")
    js = os.path.join(tmp, name + ".json")
    cfg = os.path.join(tmp, name + ".toml")
    with open(cfg, "w") as f:
        f.write("""[eal]
args = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", "--log-level", "lib.eal:error"]
[[ports]]
name = "in"
role = "mirror-input"
file = "%s"
%s
[[ports]]
name = "out"
role = "output"
file = "%s"
[[targets]]
name = "t"
output = "out"
tunnel = "vxlan"
src_ip = "10.0.0.1"
dst_ip = "10.0.0.2"
dst_mac = "02:00:00:00:00:02"
vni = 9
[[sessions]]
name = "s"
input = "in"
number = 1
sinks = ["t"]
%s
""" % (cap, session_options.get("port", ""), out, session_options.get("session", "")))
    p = subprocess.run([MP, "run", "-c", cfg, "--stats-json", js], capture_output=True, text=True, timeout=120)
    c.check(p.returncode == 0, "%s: exit %d %s" % (name, p.returncode, p.stderr[-300:]))
    stats = json.load(open(js)) if p.returncode == 0 else None
    inner = [bytes(Ether(r[0])[VXLAN].payload) for r in read_records(out)] if p.returncode == 0 else []
    if stats:
        c.check(accounting_holds(stats), "%s: received != sent + filtered + dropped" % name)
    return stats, inner


# 1. slice: headers through L4 plus N bytes, whatever the options.
N = 10
pay = Raw(bytes(range(256)) * 2)
frames = [
    E / IP(src="10.1.0.1", dst="10.1.0.2") / TCP(sport=1, dport=2, options=[("MSS", 1460), ("NOP", None), ("WScale", 7), ("SAckOK", b"")]) / pay,
    E / IP(src="10.1.0.1", dst="10.1.0.2", options=[b"\x01\x01\x01\x00"]) / UDP(sport=3, dport=4) / pay,
    E / Dot1Q(vlan=7) / Dot1Q(vlan=8) / IP(src="10.1.0.1", dst="10.1.0.2") / ICMP() / pay,
    E / IPv6(src="fd00::1", dst="fd00::2") / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / TCP(sport=5, dport=6) / pay,
    E / IPv6(src="fd00::1", dst="fd00::2") / IPv6ExtHdrFragment(offset=0, m=1, nh=17) / UDP(sport=7, dport=8) / pay,
    E / IPv6(src="fd00::1", dst="fd00::2") / IPv6ExtHdrFragment(offset=100, nh=17) / pay,
    E / IP(src="10.1.0.1", dst="10.1.0.2", frag=20, proto=6) / pay,
    E / IP(src="10.1.0.1", dst="10.1.0.2") / SCTP(sport=9, dport=10) / pay,
    E / IP(src="10.1.0.1", dst="10.1.0.2", proto=47) / pay,
    E / IP(src="10.1.0.1", dst="10.1.0.2") / UDP(sport=3, dport=4) / Raw(b"abc"),  # shorter than N: whole
]


def header_bytes(p):
    """Bytes of every header through L4, by scapy's own lengths."""
    b = bytes(p)
    layer = p
    total = 0
    while layer is not None and not isinstance(layer, Raw) and layer.name != "NoPayload":
        payload = layer.payload
        if isinstance(layer, (TCP, UDP, ICMP, SCTP)):
            return total + len(bytes(layer)) - len(bytes(payload))
        total += len(bytes(layer)) - len(bytes(payload))
        layer = payload
    return min(total, len(b))


stats, inner = run(frames, {"session": "slice = %d" % N}, "slice")
c.check(len(inner) == len(frames), "slice: %d frames out of %d" % (len(inner), len(frames)))
cut = 0
for i, (f, got) in enumerate(zip(frames, inner)):
    want = bytes(f)[: header_bytes(f) + N]
    cut += len(want) < len(bytes(f))
    c.check(got == want, "slice: frame %d kept %d bytes, expected %d (headers %d + %d)" % (i, len(got), len(want), header_bytes(f), N))
if stats:
    c.check(stats["truncated"]["slice"] == cut, "slice: truncated.slice %d, expected %d" % (stats["truncated"]["slice"], cut))

# 2. sample_flows: whole flows, both directions, about 1/4 of 400 flows.
rng = random.Random(7)
flows = []
for k in range(400):
    a, b = "10.2.%d.%d" % (k // 200, k % 200 + 1), "10.3.%d.%d" % (rng.randrange(200), rng.randrange(1, 250))
    sp, dp = rng.randrange(1024, 65535), rng.choice([80, 443, 53])
    flows.append((a, b, sp, dp))
frames = []
for a, b, sp, dp in flows:
    frames.append(E / IP(src=a, dst=b) / TCP(sport=sp, dport=dp, flags="S"))
    frames.append(E / IP(src=b, dst=a) / TCP(sport=dp, dport=sp, flags="SA"))
stats, inner = run(frames, {"session": "sample_flows = 4"}, "sample-flows")
kept = set()
for f in inner:
    p = Ether(f)
    kept.add(frozenset([(p[IP].src, p[TCP].sport), (p[IP].dst, p[TCP].dport)]))
halves = 0
for a, b, sp, dp in flows:
    key = frozenset([(a, sp), (b, dp)])
    n = sum(1 for f in inner if frozenset([(Ether(f)[IP].src, Ether(f)[TCP].sport), (Ether(f)[IP].dst, Ether(f)[TCP].dport)]) == key) if key in kept else 0
    halves += key in kept and n != 2
c.check(halves == 0, "sample_flows: %d flows kept in one direction only" % halves)
c.check(60 <= len(kept) <= 140, "sample_flows: %d of 400 flows kept, expected about 100" % len(kept))
if stats:
    c.check(stats["filtered_by"]["not_sampled"] == len(frames) - len(inner), "sample_flows: not_sampled count")

# 3. sample_packets: the 1st, 4th, 7th... of one worker.
frames = [E / IP(src="10.4.0.1", dst="10.4.0.2", id=i) / UDP(sport=1000 + i, dport=9) for i in range(30)]
stats, inner = run(frames, {"session": "sample_packets = 3"}, "sample-packets")
c.check([Ether(f)[IP].id for f in inner] == list(range(0, 30, 3)), "sample_packets: ids %s" % [Ether(f)[IP].id for f in inner])

# 4. max_pps: 1000 packets a second for 2 s against a limit of 200 a second.
frames = [E / IP(src="10.5.0.1", dst="10.5.0.2", id=i) / UDP(sport=1, dport=2) for i in range(2000)]
stats, inner = run(frames, {"session": "max_pps = 200", "port": "pace = 1000"}, "max-pps")
c.check(300 <= len(inner) <= 560, "max_pps: %d of 2000 mirrored in about 2 s at 200/s" % len(inner))
if stats:
    c.check(stats["dropped"]["rate_limited"] == 2000 - len(inner), "max_pps: rate_limited %d" % stats["dropped"]["rate_limited"])

subprocess.run(["rm", "-rf", tmp])
c.done()
