#!/usr/bin/python3
"""A mirror filter's `bpf` expression selects what tcpdump selects: for each expression and
capture, the frames the engine mirrors are exactly `tcpdump -r IN -w OUT EXPR`'s, byte for
byte and in order, among the IP frames (the filter's rules, which accept every IPv4 and IPv6
packet here, see IP frames only). A bad expression is a configuration error carrying libpcap's
message.

usage: test_bpf.py MIRRORPIPE SOURCE_DIR
"""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checker, accounting_holds, read_records, scratch_dir  # noqa: E402

from scapy.all import IP, Dot1AD, Dot1Q, Ether, IPv6  # noqa: E402
from scapy.layers.vxlan import VXLAN  # noqa: E402

MP, SRC = sys.argv[1], sys.argv[2]
SHARED = os.path.join(SRC, "pcaps", "third-party")
CAPTURES = [os.path.join(SRC, "pcaps", "sample-mix.pcap"),
            os.path.join(SHARED, "zeek-plain-wikipedia.pcap"),
            os.path.join(SHARED, "tcpdump-plain-802.1ad_QinQ.pcap"),
            os.path.join(SHARED, "zeek-plain-ipv4-fragmented-3.pcap"),
            os.path.join(SHARED, "tcpdump-plain-icmpv6.pcap")]
EXPRESSIONS = ["tcp port 443 or udp port 53", "not port 22", "icmp or icmp6", "vlan and tcp", "net 10.0.0.0/8",
               "ip6", "tcp[tcpflags] & tcp-syn != 0", "udp and greater 100", "ip[6:2] & 0x3fff != 0"]
c = Checker("bpf")
tmp = scratch_dir("mp-bpf-")


def is_ip(frame):
    layer = Ether(frame).payload
    for _ in range(4):
        if not isinstance(layer, (Dot1Q, Dot1AD)):
            break
        layer = layer.payload
    return isinstance(layer, (IP, IPv6))


def config(capture, expr, out):
    return """[eal]
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
src_ip = "10.255.0.1"
dst_ip = "10.255.0.2"
dst_mac = "02:00:00:00:00:02"
[[filters]]
name = "f"
aws_exclusions = false
bpf = %s
rules = [
  { direction = "ingress", number = 1, action = "accept", protocol = "all", source = "0.0.0.0/0", destination = "0.0.0.0/0" },
  { direction = "ingress", number = 2, action = "accept", protocol = "all", source = "::/0", destination = "::/0" },
]
[[sessions]]
name = "s"
input = "in"
number = 1
filter = "f"
sinks = ["t"]
""" % (capture, out, json.dumps(expr))


compared = 0
for cap in CAPTURES:
    for k, expr in enumerate(EXPRESSIONS):
        tag = "%s [%s]" % (os.path.basename(cap), expr)
        ref = os.path.join(tmp, "ref.pcap")
        t = subprocess.run(["tcpdump", "-r", cap, "-w", ref, expr], capture_output=True, timeout=60)
        if t.returncode != 0:
            c.check(False, "%s: tcpdump failed: %s" % (tag, t.stderr[-200:]))
            continue
        want = [r[0] for r in read_records(ref) if is_ip(r[0])]
        out = os.path.join(tmp, "out.pcap")
        cfg = os.path.join(tmp, "bpf.toml")
        js = os.path.join(tmp, "bpf.json")
        with open(cfg, "w") as f:
            f.write(config(cap, expr, out))
        p = subprocess.run([MP, "run", "-c", cfg, "--stats-json", js], capture_output=True, text=True, timeout=120)
        c.check(p.returncode == 0, "%s: exit %d %s" % (tag, p.returncode, p.stderr[-300:]))
        if p.returncode:
            continue
        got = [bytes(Ether(r[0])[VXLAN].payload) for r in read_records(out)]
        c.check(got == want, "%s: mirrored %d frames, tcpdump selects %d IP frames" % (tag, len(got), len(want)))
        st = json.load(open(js))
        c.check(accounting_holds(st), "%s: accounting" % tag)
        ip_frames = sum(1 for r in read_records(cap) if is_ip(r[0]))
        c.check(st["filtered_by"]["bpf_rejected"] == ip_frames - len(want), "%s: bpf_rejected %d" % (tag, st["filtered_by"]["bpf_rejected"]))
        compared += len(want)

# A syntax error: a configuration error with file, line and libpcap's words.
cfg = os.path.join(tmp, "bad.toml")
with open(cfg, "w") as f:
    f.write(config(CAPTURES[0], "tcp port 443 or or", os.path.join(tmp, "x.pcap")))
p = subprocess.run([MP, "check", "-c", cfg], capture_output=True, text=True, timeout=30)
c.check(p.returncode == 2 and "bad.toml:21: filters[0].bpf:" in p.stderr and "syntax error" in p.stderr,
        "bad bpf: exit %d %s" % (p.returncode, p.stderr.strip()))
print("bpf: %d selected frames compared with tcpdump's" % compared)
subprocess.run(["rm", "-rf", tmp])
c.done()
