#!/usr/bin/python3
"""Accounting when an output refuses packets (TX ring full), against the PMD's own counters.

The output is a net_ring device nobody reads: its ring takes what fits and refuses the rest.
How many it took is the PMD's `opackets` (DPDK's count, not ours); everything else must appear
as tx_full, on the input and on the output, and received = sent + filtered + dropped must hold:

1. one input, one output (the plain path: a TX buffer of one input);
2. two inputs feeding one output (a TX buffer that mixes inputs): each input's own split;
3. a session with two sinks, the full ring and a pcap file: every packet still counts as sent
   (one copy left), the ring's refusals are the ring output's drops only;
4. a mirror session whose two targets both send through the full ring, their copies chained to
   the shared packet: the ring takes a prefix of the copies (two per packet, in order), so a
   packet is sent when its first copy was taken: ceil(taken / 2) sent, the rest tx_full on the
   input, every refused copy tx_full on the output, and no buffer left in use; then the same
   two targets, one through the ring and one through a pcap port: every packet sent;
5. two inputs, each with such a session, into the one ring, the second input a few frames
   only: its copies wait in the ring's TX buffer while the first input's next copies join them
   (a buffer holding both inputs' groups, turned into fan slots), while the ring still has
   room: ceil(taken / 2) sent over both, the few all sent, each input's own accounting exact;
   and with 1000 frames for the second input, whose groups meet the first input's once the ring
   is full.

usage: test_tx_full.py MIRRORPIPE SOURCE_DIR
"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oracle"))
from common import Checker, accounting_holds, read_records, run_config, scratch_dir  # noqa: E402
from scapy.all import IP, UDP, Ether, rdpcap, wrpcap  # noqa: E402
from scapy.layers.vxlan import VXLAN  # noqa: E402

MP, SRC = sys.argv[1], sys.argv[2]
EAL = '[eal]\nargs = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", "--log-level", "lib.eal:error"]\n'
c = Checker("tx_full")
tmp = scratch_dir("mp-txfull-")
sample = rdpcap(os.path.join(SRC, "pcaps", "sample-mix.pcap"))
N = 3000
frames = [sample[i % len(sample)] for i in range(N)]
plain = os.path.join(tmp, "plain.pcap")
wrpcap(plain, frames)
plain2 = os.path.join(tmp, "plain2.pcap")
wrpcap(plain2, frames[:1000])
vxlan = os.path.join(tmp, "vxlan.pcap")
tunnelled = [Ether() / IP(src="10.0.0.5", dst="10.0.0.9") / UDP(sport=40000 + i % 100, dport=4789) /
             VXLAN(vni=7) / f for i, f in enumerate(frames)]
wrpcap(vxlan, tunnelled)

TARGET = """
[[ports]]
name = "ring"
role = "output"
devargs = "net_ring_full"
[[targets]]
name = "t"
output = "ring"
tunnel = "vxlan"
src_ip = "10.0.0.1"
dst_ip = "10.0.0.2"
dst_mac = "02:00:00:00:00:02"
"""


def run(text, name):
    return run_config(c, MP, tmp, EAL + text, name) or {"inputs": {}, "outputs": {}, "ports": {}}


def input_port(name, path):
    return '[[ports]]\nname = "%s"\nrole = "mirror-input"\nfile = "%s"\n' % (name, path)


# 1. The plain path.
s = run(input_port("in", plain) + TARGET + '[[routes]]\ninput = "in"\ntarget = "t"\n', "plain")
if s["inputs"]:
    took = s["ports"]["ring"]["opackets"]
    i, o = s["inputs"]["in"], s["outputs"]["ring"]
    c.check(0 < took < N, "plain: the ring took %d of %d (it must fill)" % (took, N))
    c.check(accounting_holds(i), "plain: accounting")
    c.check(i["packets_out"] == took and o["packets"] == took, "plain: sent %d, output %d, PMD %d" % (i["packets_out"], o["packets"], took))
    c.check(i["dropped"]["tx_full"] == N - took and o["dropped"].get("tx_full") == N - took,
            "plain: tx_full %d on the input, %s on the output, expected %d" % (i["dropped"]["tx_full"], o["dropped"], N - took))

# 2. Two inputs, one output.
s = run(input_port("a", plain) + input_port("b", plain2) + TARGET +
        '[[routes]]\ninput = "a"\ntarget = "t"\n[[routes]]\ninput = "b"\ntarget = "t"\n', "mixed")
if s["inputs"]:
    took = s["ports"]["ring"]["opackets"]
    a, b = s["inputs"]["a"], s["inputs"]["b"]
    c.check(accounting_holds(a) and accounting_holds(b), "mixed: accounting per input")
    c.check(a["packets_in"] == N and b["packets_in"] == 1000, "mixed: inputs read")
    c.check(a["packets_out"] + b["packets_out"] == took, "mixed: sent %d + %d, PMD %d" % (a["packets_out"], b["packets_out"], took))
    c.check(a["dropped"]["tx_full"] + b["dropped"]["tx_full"] == N + 1000 - took, "mixed: tx_full")
    c.check(s["outputs"]["ring"]["dropped"].get("tx_full") == N + 1000 - took, "mixed: output tx_full")

# 3. A session with two sinks: the full ring and a pcap file.
copies = os.path.join(tmp, "copies.pcap")
s = run('[[ports]]\nname = "mirror"\nrole = "tunnel-input"\nfile = "%s"\n' % vxlan + TARGET +
        '[[ports]]\nname = "file"\nrole = "output"\nfile = "%s"\n' % copies +
        '[[sessions]]\nname = "s"\ninput = "mirror"\nsinks = ["ring", "file"]\n', "fanned")
if s["inputs"]:
    took = s["ports"]["ring"]["opackets"]
    m = s["inputs"]["mirror"]
    c.check(accounting_holds(m), "fanned: accounting")
    c.check(m["packets_out"] == N and m["dropped_total"] == 0, "fanned: every packet sent (a copy left): %d" % m["packets_out"])
    c.check(s["outputs"]["ring"]["packets"] == took and s["outputs"]["ring"]["dropped"].get("tx_full") == N - took,
            "fanned: ring output %s, PMD took %d" % (s["outputs"]["ring"], took))
    c.check(s["outputs"]["file"]["packets"] == N, "fanned: the file sink got every packet")
    # The inner frame ends where the UDP datagram does (scapy leaves an inner frame's Ethernet
    # padding outside the UDP length).
    want = [bytes(p)[14 + 20 + 8 + 8:14 + 20 + p[UDP].len] for p in (Ether(bytes(q)) for q in tunnelled)]
    c.check([r[0] for r in read_records(copies)] == want, "fanned: the file holds the inner frames")

# 4. Copies that share the packet, two to the full ring (one TX buffer), or one to it.
TWO = TARGET.replace('devargs = "net_ring_full"', 'devargs = "net_ring_full"\ntx_chains = true') + """
[[targets]]
name = "t2"
output = "%s"
tunnel = "vxlan"
src_ip = "10.0.0.1"
dst_ip = "10.0.0.3"
dst_mac = "02:00:00:00:00:02"
[[sessions]]
name = "s"
input = "in"
number = 1
sinks = ["t", "t2"]
"""
s = run(input_port("in", plain) + TWO % "ring", "shared")
if s["inputs"]:
    took = s["ports"]["ring"]["opackets"]
    i, o = s["inputs"]["in"], s["outputs"]["ring"]
    c.check(0 < took < 2 * N, "shared: the ring took %d of %d copies (it must fill)" % (took, 2 * N))
    c.check(accounting_holds(i), "shared: accounting")
    c.check(i["packets_out"] == (took + 1) // 2 and i["dropped"]["tx_full"] == N - (took + 1) // 2,
            "shared: sent %d, tx_full %d; the ring took %d copies" % (i["packets_out"], i["dropped"]["tx_full"], took))
    c.check(o["packets"] == took and o["dropped"].get("tx_full") == 2 * N - took, "shared: ring output %s" % o)
    # The ring holds what it took: a header buffer per copy, and the packets they share (the
    # file input's buffers), one per packet sent; nothing else is left in use.
    held = {"mp_fan_hdr": took, "mp_file_small": (took + 1) // 2}
    for name, m in s.get("mempools", {}).items():
        c.check(m["in_use_end"] - m["in_use_start"] == held.get(name, 0),
                "shared: mempool %s: %d in use at the start, %d at the end, the ring holds %d" % (
                    name, m["in_use_start"], m["in_use_end"], held.get(name, 0)))
    c.check(set(held) <= set(s.get("mempools", {})), "shared: mempools reported: %s" % list(s.get("mempools", {})))
shared_out = os.path.join(tmp, "shared.pcap")
s = run(input_port("in", plain) + TWO % "pcap" +
        '[[ports]]\nname = "pcap"\nrole = "output"\ndevargs = "net_pcap_s,tx_pcap=%s"\ntx_chains = true\n' % shared_out,
        "shared2")
if s["inputs"]:
    took = s["ports"]["ring"]["opackets"]
    i = s["inputs"]["in"]
    c.check(0 < took < N, "shared2: the ring took %d of %d (it must fill)" % (took, N))
    c.check(accounting_holds(i) and i["packets_out"] == N and i["dropped_total"] == 0,
            "shared2: every packet sent (a copy left): %d, dropped %d" % (i["packets_out"], i["dropped_total"]))
    c.check(s["outputs"]["ring"]["dropped"].get("tx_full") == N - took and s["outputs"]["pcap"]["packets"] == N,
            "shared2: outputs %s" % s["outputs"])
    got = [Ether(r[0]) for r in read_records(shared_out)]
    # Whole, or cut to the output's MTU (1500: 20 + 8 + 8 bytes of outer IP, UDP and VXLAN
    # before the frame) as the sample's jumbo frames are.
    bad = sum(1 for g, f in zip(got, frames) if VXLAN not in g or bytes(g[VXLAN].payload) != bytes(f)[:1500 - 36])
    c.check(len(got) == N and bad == 0, "shared2: the pcap port has %d frames of %d, %d not the input's" % (
        len(got), N, bad))

# 5. Two inputs' shared copies in one TX buffer.
s = run(input_port("in", plain) + input_port("in2", plain2) + TWO % "ring" +
        '[[sessions]]\nname = "s2"\ninput = "in2"\nnumber = 1\nsinks = ["t", "t2"]\n', "shared_mixed_full")
if s["inputs"]:
    took = s["ports"]["ring"]["opackets"]
    a, b = s["inputs"]["in"], s["inputs"]["in2"]
    c.check(accounting_holds(a) and accounting_holds(b), "shared_mixed_full: accounting per input")
    c.check(a["packets_out"] + b["packets_out"] == (took + 1) // 2,
            "shared_mixed_full: sent %d + %d; the ring took %d copies" % (a["packets_out"], b["packets_out"], took))
    c.check(s["outputs"]["ring"]["dropped"].get("tx_full") == 2 * (N + 1000) - took,
            "shared_mixed_full: ring output %s" % s["outputs"]["ring"])
few = os.path.join(tmp, "few.pcap")
wrpcap(few, frames[:5])
s = run(input_port("in", plain) + input_port("in2", few) + TWO % "ring" +
        '[[sessions]]\nname = "s2"\ninput = "in2"\nnumber = 1\nsinks = ["t", "t2"]\n', "shared_mixed")
if s["inputs"]:
    took = s["ports"]["ring"]["opackets"]
    a, b = s["inputs"]["in"], s["inputs"]["in2"]
    c.check(0 < took < 2 * (N + 5), "shared_mixed: the ring took %d copies (it must fill)" % took)
    c.check(accounting_holds(a) and accounting_holds(b), "shared_mixed: accounting per input")
    c.check(b["packets_in"] == 5 and b["packets_out"] == 5, "shared_mixed: the few sent: %d of %d" % (b["packets_out"], b["packets_in"]))
    c.check(a["packets_out"] + b["packets_out"] == (took + 1) // 2,
            "shared_mixed: sent %d + %d; the ring took %d copies" % (a["packets_out"], b["packets_out"], took))
    c.check(s["outputs"]["ring"]["dropped"].get("tx_full") == 2 * (N + 5) - took, "shared_mixed: ring output %s" % s["outputs"]["ring"])

c.done()
