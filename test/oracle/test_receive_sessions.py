#!/usr/bin/python3
"""Receive sessions that select on the inner frame (a filter, monitored, direction, bpf, slice):
mirrorpipe as a packet broker that takes AWS's mirror traffic, narrows it and re-mirrors it.

Two inputs, each checked packet by packet against an oracle that is not mirrorpipe:

1. AWS's own VXLAN mirror traffic (the Suricata project's capture of an AWS Traffic Mirroring
   session, pcaps/third-party), sessions "dns", "ssh" and "rest" on its VNI; which session takes
   each inner frame comes from aws_mirror_model.decide (written from AWS's documentation), the
   inner frames from scapy's reading of the input.
2. Frames made by make_session_cases.py's helpers (TCP/UDP/ICMP, IPv6, ARP, fragments, AWS's
   link-local services) wrapped in VXLAN by scapy under three VNIs: 100 (two sessions with
   filters: the model), 200 (a session with a tcpdump expression and slice: tcpdump selects,
   scapy's header lengths give the slice) and 300 (no session: no_session).

The counters: received = sent + filtered + dropped; filtered_by per reason equal to the
oracles'; per-session matched/mirrored.

usage: test_receive_sessions.py MIRRORPIPE SOURCE_DIR
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checker, accounting_holds, read_records, run_mirrorpipe, scratch_dir  # noqa: E402
import aws_mirror_model as model  # noqa: E402
import make_session_cases as mk  # noqa: E402

from scapy.layers.inet import IP, TCP, UDP, ICMP  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.layers.sctp import SCTP  # noqa: E402
from scapy.layers.vxlan import VXLAN  # noqa: E402
from scapy.packet import Raw  # noqa: E402
from scapy.utils import rdpcap, wrpcap  # noqa: E402

MP, SRC = sys.argv[1], sys.argv[2]
AWS_CAPTURE = os.path.join(SRC, "pcaps", "third-party", "suricata-vxlan-aws-traffic-mirror-ssh.pcap")
EAL = ('[eal]\nargs = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", '
       '"--log-level", "lib.eal:error"]\n')
c = Checker("receive sessions")
tmp = scratch_dir("mp-recvses-")


def toml_filters(filters):
    return mk.fragment(filters, []).strip() + "\n"


def receive_config(capture, sessions, filters):
    """A tunnel input reading `capture`; one pcap output per session (the inner frames as they
    are); sessions: dicts with name, vnis and the selection keys."""
    text = EAL + '[[ports]]\nname = "tunnel"\nrole = "tunnel-input"\nfile = "%s"\n' % capture
    for s in sessions:
        text += '[[ports]]\nname = "out-%s"\nrole = "output"\nfile = "out-%s.pcap"\n' % (s["name"], s["name"])
    text += toml_filters(filters)
    for s in sessions:
        text += '[[sessions]]\nname = %s\ninput = "tunnel"\nsinks = [%s]\n' % (
            mk.toml_value(s["name"]), mk.toml_value("out-" + s["name"]))
        for key in ("vnis", "filter", "monitored", "direction", "slice"):
            if key in s:
                text += "%s = %s\n" % (key, mk.toml_value(s[key]))
    return text


def run(name, capture_frames, sessions, filters, extra_text=""):
    """Runs the configuration on the frames; returns (stats, {session: [frames written]})."""
    d = os.path.join(tmp, name)
    os.makedirs(d)
    cap = os.path.join(d, "in.pcap")
    wrpcap(cap, capture_frames)
    text = receive_config(cap, sessions, filters) + extra_text
    path = os.path.join(d, "case.toml")
    with open(path, "w") as f:
        f.write(text)
    rc, stats, err = run_mirrorpipe(MP, ["run", "-c", path])
    c.check(rc == 0, "%s: mirrorpipe run exit %d: %s" % (name, rc, err[-500:]))
    outs = {}
    for s in sessions:
        p = os.path.join(d, "out-%s.pcap" % s["name"])
        outs[s["name"]] = [r[0] for r in read_records(p)] if os.path.exists(p) else []
    if stats:
        c.check(accounting_holds(stats), "%s: received != sent + filtered + dropped" % name)
    return stats, outs


def check_counts(name, stats, want_out, want_filtered):
    if not stats:
        return
    for s, frames in want_out.items():
        got = stats["outputs"].get("out-" + s, {}).get("packets")
        c.check(got == len(frames), "%s: out-%s has %s packets, oracle %d" % (name, s, got, len(frames)))
        ss = stats.get("sessions", {}).get(s, {})
        c.check(ss.get("mirrored") == len(frames), "%s: sessions.%s.mirrored = %s, oracle %d" % (
            name, s, ss.get("mirrored"), len(frames)))
        c.check(ss.get("matched") == len(frames), "%s: sessions.%s.matched = %s, oracle %d" % (
            name, s, ss.get("matched"), len(frames)))
    fb = {k: v for k, v in stats.get("filtered_by", {}).items() if v}
    c.check(fb == want_filtered, "%s: filtered_by %s, oracle %s" % (name, fb, want_filtered))


def tally(reasons):
    out = {}
    for r in reasons:
        out[r] = out.get(r, 0) + 1
    return out


# ------------------------------------------------------------------ 1. AWS's own mirror traffic

aws_frames = [Ether(bytes(p)) for p in rdpcap(AWS_CAPTURE)]
inner = [bytes(p[VXLAN].payload) for p in aws_frames]
vni = aws_frames[0][VXLAN].vni
filters = [
    mk.F("dns", [mk.R("egress", 100, "accept", "udp", dp="53"), mk.R("egress", 110, "accept", "udp", sp="53")]),
    mk.F("ssh", [mk.R("ingress", 100, "reject", "tcp", source="78.46.93.39/32"),
                 mk.R("ingress", 200, "accept", "tcp", dp="22"),
                 mk.R("egress", 100, "accept", "tcp", sp="22")]),
]
sessions = [
    {"name": "dns", "number": 1, "vnis": [vni], "filter": "dns", "monitored": ["172.31.0.0/16"]},
    {"name": "ssh", "number": 2, "vnis": [vni], "filter": "ssh", "monitored": ["172.31.0.238/32"]},
    {"name": "rest", "number": 3, "vnis": [vni]},
]
expected = [model.decide(f, sessions, filters) for f in inner]
stats, outs = run("aws", aws_frames, sessions, filters)
want = {s["name"]: [f for f, e in zip(inner, expected) if e == ("mirrored", s["name"])] for s in sessions}
for s in sessions:
    c.check(outs[s["name"]] == want[s["name"]], "aws: session %s wrote %d frames, the model %d (or their bytes differ)" % (
        s["name"], len(outs[s["name"]]), len(want[s["name"]])))
c.check(all(len(v) > 0 for v in want.values()), "aws: the capture exercises every session: %s" % {k: len(v) for k, v in want.items()})
check_counts("aws", stats, want, tally(e[1] for e in expected if e[0] == "filtered"))

# ------------------------------------------------------------------ 2. crafted frames, three VNIs

I, P, I6, P6 = mk.INST, mk.PEER, mk.INST6, mk.PEER6
f100 = [
    mk.tcp4(P, I, 443), mk.tcp4(I, P, 443, sport=50000), mk.tcp4(P, I, 22), mk.udp4(P, I, 53), mk.udp4(I, P, 53),
    mk.icmp4(P, I), mk.tcp6(P6, I6, 443), mk.udp6(I6, P6, 123), mk.icmp6(P6, I6), mk.arp(),
    mk.udp4(I, "169.254.169.253", 53), mk.tcp4(I, "169.254.169.254", 80), mk.udp4(I, "169.254.169.123", 123),
    mk.udp4("0.0.0.0", "255.255.255.255", 67, sport=68), mk.tcp4(mk.PEER2, mk.PEER3, 443),
    mk.vlan(mk.tcp4(P, I, 8443), (0x8100, 7)),
] + mk.fragments4(P, I, TCP(sport=40000, dport=443) / Raw(b"x" * 40))
filters = [
    mk.F("web", [mk.R("ingress", 100, "reject", "tcp", dp="22"), mk.R("ingress", 200, "accept", "tcp", dp="1-10000"),
                 mk.R("egress", 100, "accept", "tcp", sp="50000")]),
    mk.F("other", [mk.R("ingress", 100, "accept", "all"), mk.R("egress", 100, "accept", "udp"),
                   mk.R("ingress", 150, "accept", "all", mk.ANY6, mk.ANY6), mk.R("egress", 150, "accept", "all", mk.ANY6, mk.ANY6)],
         network_services=["amazon-dns"]),
]
s100 = [
    {"name": "web", "number": 1, "vnis": [100], "filter": "web", "monitored": [mk.VPC, mk.VPC6]},
    {"name": "other", "number": 2, "vnis": [100], "filter": "other", "monitored": [mk.VPC, mk.VPC6]},
]
exp100 = [model.decide(bytes(f), s100, filters) for f in f100]

f200 = [mk.tcp4(P, I, 80), mk.udp4(P, I, 53), mk.tcp6(P6, I6, 22), mk.icmp4(P, I),
        mk.eth() / IP(src=P, dst=I, options=[b"\x01\x01\x01\x00"]) / TCP(sport=1, dport=2, options=[("MSS", 1460)]) / Raw(b"y" * 300)]
BPF = "tcp"
SLICE = 4
s200 = {"name": "sliced", "vnis": [200], "filter": "bpf-tcp", "slice": SLICE}
f300 = [mk.tcp4(P, I, 80), mk.udp4(P, I, 53)]

OUTER = Ether(src="02:00:00:00:00:a1", dst="02:00:00:00:00:a2") / IP(src="10.9.0.1", dst="10.9.0.2") / UDP(sport=49999, dport=4789)
wrapped = []
for v, frames in ((100, f100), (200, f200), (300, f300)):
    for f in frames:
        wrapped.append((v, f))
# interleave the VNIs so that each output's order is checked against a mixed input
wrapped = wrapped[0::3] + wrapped[1::3] + wrapped[2::3]
capture = []
for i, (v, f) in enumerate(wrapped):
    p = OUTER / VXLAN(vni=v, flags=0x08) / f
    p.time = 1700000000 + i * 0.001
    capture.append(p)

# tcpdump decides what "tcp" selects among VNI 200's inner frames
d200 = os.path.join(tmp, "bpf-oracle")
os.makedirs(d200)
in200 = [bytes(f) for v, f in wrapped if v == 200]
wrpcap(os.path.join(d200, "in.pcap"), [Ether(b) for b in in200])
subprocess.run(["tcpdump", "-r", os.path.join(d200, "in.pcap"), "-w", os.path.join(d200, "sel.pcap"), BPF],
               check=True, capture_output=True, timeout=60)
selected = [r[0] for r in read_records(os.path.join(d200, "sel.pcap"))]


def header_bytes(p):
    """Bytes of every header through L4, by scapy's own lengths."""
    layer, total = p, 0
    while layer is not None and not isinstance(layer, Raw) and layer.name != "NoPayload":
        payload = layer.payload
        if isinstance(layer, (TCP, UDP, ICMP, SCTP)):
            return total + len(bytes(layer)) - len(bytes(payload))
        total += len(bytes(layer)) - len(bytes(payload))
        layer = payload
    return total


sessions = s100 + [s200]
# The tcpdump expression's filter (its rules accept everything; the expression decides).
bpf_filter_text = '[[filters]]\nname = "bpf-tcp"\naws_exclusions = false\nbpf = "%s"\nrules = [\n  %s,\n  %s,\n]\n' % (
    BPF, mk.toml_value(mk.R("ingress", 100, "accept", "all")), mk.toml_value(mk.R("ingress", 200, "accept", "all", mk.ANY6, mk.ANY6)))
stats, outs = run("crafted", capture, sessions, filters, bpf_filter_text)

in100 = [bytes(f) for v, f in wrapped if v == 100]
exp100 = [model.decide(b, s100, filters) for b in in100]
want = {s["name"]: [b for b, e in zip(in100, exp100) if e == ("mirrored", s["name"])] for s in s100}
for s in s100:
    c.check(outs[s["name"]] == want[s["name"]], "crafted: session %s wrote %d frames, the model %d (or their bytes differ)" % (
        s["name"], len(outs[s["name"]]), len(want[s["name"]])))
want["sliced"] = [b[: header_bytes(Ether(b)) + SLICE] for b in selected]
c.check(outs["sliced"] == want["sliced"], "crafted: the sliced session wrote %s, tcpdump selected %d frames, sliced to %s" % (
    [len(b) for b in outs["sliced"]], len(selected), [len(b) for b in want["sliced"]]))
c.check(0 < len(selected) < len(in200), "crafted: the bpf case selects some of VNI 200's frames, not all (%d of %d)" % (
    len(selected), len(in200)))
c.check(any(len(w) < len(s) for w, s in zip(want["sliced"], selected)), "crafted: slice cuts some frame")
reasons = [e[1] for e in exp100 if e[0] == "filtered"]
reasons += ["bpf_rejected"] * (len(in200) - len(selected)) + ["no_session"] * len(f300)
check_counts("crafted", stats, want, tally(reasons))
if stats:
    cut = sum(1 for w, s in zip(want["sliced"], selected) if len(w) < len(s))
    c.check(stats["truncated"]["slice"] == cut, "crafted: truncated.slice %s, expected %d" % (stats["truncated"]["slice"], cut))
    # Nothing here was cut by AWS or by a sink: a slice is not PacketLength.
    c.check(stats["truncated"]["packet_length"] == 0, "crafted: truncated.packet_length %s, expected 0 (sliced frames "
            "are counted under slice only)" % stats["truncated"]["packet_length"])

# ------------------------------------------------------------------ 3. the sinks' own cuts

# A packet sent shortened is counted once on its input (truncated.packet_length), whether AWS cut
# it upstream (its IP length says more than the frame holds), a target's packet_length cut it
# here, or both; by one target (VNI 400) or two sharing the payload (VNI 500). The frames'
# lengths and IP lengths are scapy's.
CUT = 100
cut_frames = []
for size in (10, 60, 200, 900):
    cut_frames.append(Ether(bytes(mk.eth() / IP(src=P, dst=I) / UDP(sport=40000 + size, dport=53) / Raw(b"u" * size))))
    whole = mk.eth() / IP(src=P, dst=I) / TCP(sport=41000 + size, dport=443) / Raw(b"t" * (size + 400))
    # AWS's PacketLength: the frame cut, its IP length left as it was
    cut_frames.append(Ether(bytes(whole)[:14 + 20 + 20 + size]))
aws_cut = [len(bytes(f)) - 14 < f[IP].len for f in cut_frames]
c.check(any(aws_cut) and not all(aws_cut), "cuts: some frames arrive cut by AWS, some whole")
cut_capture = []
for i, (v, f) in enumerate([(400, f) for f in cut_frames] + [(500, f) for f in cut_frames]):
    p = OUTER / VXLAN(vni=v, flags=0x08) / f
    p.time = 1700000100 + i * 0.001
    cut_capture.append(p)
d = os.path.join(tmp, "cuts")
os.makedirs(d)
cut_cap = os.path.join(d, "in.pcap")
wrpcap(cut_cap, cut_capture)
text = EAL + '[[ports]]\nname = "tunnel"\nrole = "tunnel-input"\nfile = "%s"\n' % cut_cap
text += '[[ports]]\nname = "o"\nrole = "output"\nfile = "out-cuts.pcap"\n'
for name, vni in (("t-one", 41), ("t-a", 42), ("t-b", 43)):
    text += ('[[targets]]\nname = "%s"\noutput = "o"\ntunnel = "vxlan"\nsrc_ip = "10.0.0.1"\ndst_ip = "10.0.0.2"\n'
             'dst_mac = "02:00:00:00:00:02"\nvni = %d\npacket_length = %d\n') % (name, vni, CUT)
text += '[[sessions]]\nname = "one"\ninput = "tunnel"\nvnis = [400]\nsinks = ["t-one"]\n'
text += '[[sessions]]\nname = "two"\ninput = "tunnel"\nvnis = [500]\nsinks = ["t-a", "t-b"]\n'
path = os.path.join(d, "case.toml")
with open(path, "w") as f:
    f.write(text)
rc, stats, err = run_mirrorpipe(MP, ["run", "-c", path])
c.check(rc == 0, "cuts: mirrorpipe run exit %d: %s" % (rc, err[-500:]))
out_path = os.path.join(d, "out-cuts.pcap")
got = [Ether(r[0]) for r in read_records(out_path)] if os.path.exists(out_path) else []
want_out = [(41, bytes(f)[:CUT]) for f in cut_frames] + [(vni, bytes(f)[:CUT]) for f in cut_frames for vni in (42, 43)]
got_out = [(g[VXLAN].vni, bytes(g[VXLAN].payload)) if VXLAN in g else (None, b"") for g in got]
c.check(sorted(got_out) == sorted(want_out), "cuts: the copies written are not the frames cut to %d bytes (%d written, %d expected)" % (
    CUT, len(got_out), len(want_out)))
if stats:
    c.check(accounting_holds(stats), "cuts: received != sent + filtered + dropped")
    want_n = 2 * sum(1 for f, a in zip(cut_frames, aws_cut) if a or len(bytes(f)) > CUT)
    got_n = stats["inputs"]["tunnel"]["truncated"]["packet_length"]
    c.check(got_n == want_n, "cuts: truncated.packet_length %s on the input, expected %d (once a packet, AWS's cut or ours)" % (
        got_n, want_n))

# ------------------------------------------------------------------ 4. configuration

for key, value, message in (
        ("number", "1", "number on a session of a mirror-input only"),
        ("vni", "5", "vni on a session of a mirror-input only"),
        ("filter", '"nope"', "the name of a [[filters]] table")):
    text = receive_config(os.path.join(tmp, "crafted", "in.pcap"), [{"name": "x", "vnis": [1]}], []).replace('name = "x"\n', 'name = "x"\n%s = %s\n' % (key, value))
    p = os.path.join(tmp, "bad-%s.toml" % key)
    with open(p, "w") as f:
        f.write(text)
    r = subprocess.run([MP, "check", "-c", p], capture_output=True, text=True, timeout=60)
    c.check(r.returncode == 2 and message in r.stderr and "sessions[0].%s" % key in r.stderr,
            "config: a receive session with %s = %s: exit %d, %s" % (key, value, r.returncode, r.stderr.strip()))

c.done()
