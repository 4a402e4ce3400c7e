#!/usr/bin/python3
"""Fan-out: one session, several sinks, every packet to each of them, with chained and copied
buffers, and every buffer back in its pool at the end.

The engine replays a capture (a file input: its buffers from the file pools) into a session with
five sinks: a VXLAN target on a net_pcap port that takes chains (tx_chains = true: its copies
of frames of 256 bytes and more are a header buffer chained to the shared payload), one with
PacketLength 100 on such a port (the chained payload trimmed), one on a port that copies
(tx_chains = false), and a plain pcap file output (the original). scapy reads every output:
each has every input frame, in order, with the right VNI and inner bytes (whole, or the first
100 bytes); and a GWLB target, last, which takes the packet itself: its copies carry the inner
IP packet (scapy's Geneve reading), and the chained copies' frames are intact although GWLB's
outer headers replace the packet's Ethernet header. The JSON's mempools: the buffers in use when the workers stopped equal those when
they started, for the packet pool and the fan-out header and indirect pools (no leaked
reference). Then twice more with sinks that all take chains and cut alike (two targets and a
pool of two; whole frames, then PacketLength 300 on all): the copies share the packet itself as
their payload, cut once for all; every output has every frame, whole or cut, with an outer IP
length that is the frame's own, and no buffer leaks; a packet cut for its copies is counted once
on its input (truncated.packet_length, truncated.mtu), as for one target with PacketLength. Last, a live input (net_pcap) into a session
with `slice = 10`, to one target and to two sharing the payload: each copy carries the frame cut
10 bytes after its L4 header (scapy's lengths), with outer IP and UDP lengths that count what it
carries. Then three targets on one output, from a file and from a live input: the copies of a
burst written and queued together, in order, whole, cut, or refused by the MTU between frames
that go.

usage: test_fanout.py MIRRORPIPE SOURCE_DIR
"""
import json
import os
import random
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oracle"))
from common import Checker, accounting_holds, read_records, run_live_engine  # noqa: E402

from scapy.contrib.geneve import GENEVE  # noqa: E402
from scapy.layers.inet import IP, TCP, UDP  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.layers.vxlan import VXLAN  # noqa: E402
from scapy.packet import Raw  # noqa: E402
from scapy.utils import wrpcap  # noqa: E402

# Every run's engine and its capture-file input.
HEAD = """[eal]
args = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", "--log-level", "lib.eal:error"]
[[ports]]
name = "in"
role = "mirror-input"
file = "%s"
"""


def main():
    binary = sys.argv[1]
    c = Checker("fan-out")
    rng = random.Random(11)
    E = Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b")
    frames = []
    for k in range(400):
        size = rng.choice([0, 20, 200, 300, 900, 1400])
        L4 = UDP if k % 3 == 0 else TCP
        frames.append(bytes(E / IP(src="10.1.0.%d" % (k % 250 + 1), dst="198.51.100.7") /
                            L4(sport=1024 + k, dport=443) / Raw(bytes(rng.randrange(256) for _ in range(size)))))
    with tempfile.TemporaryDirectory() as tmp:
        cap = os.path.join(tmp, "in.pcap")
        wrpcap(cap, [Ether(f) for f in frames])
        outs = {n: os.path.join(tmp, n + ".pcap") for n in ("chain", "chaincut", "copy", "raw", "gwlb")}
        text = HEAD % cap + """[[ports]]
name = "o-chain"
role = "output"
devargs = "net_pcap1,tx_pcap=%s"
tx_chains = true
[[ports]]
name = "o-chaincut"
role = "output"
devargs = "net_pcap2,tx_pcap=%s"
tx_chains = true
[[ports]]
name = "o-copy"
role = "output"
devargs = "net_pcap3,tx_pcap=%s"
tx_chains = false
[[ports]]
name = "raw"
role = "output"
file = "%s"
[[ports]]
name = "o-gwlb"
role = "output"
devargs = "net_pcap4,tx_pcap=%s"
tx_chains = true
[[targets]]
name = "t-gwlb"
output = "o-gwlb"
tunnel = "gwlb"
src_ip = "10.0.0.1"
dst_ip = "10.0.0.9"
dst_mac = "02:00:00:00:00:02"
gwlb_endpoint_id = "0x31e129cdc0cd8633"
""" % (outs["chain"], outs["chaincut"], outs["copy"], outs["raw"], outs["gwlb"])
        for i, (n, extra) in enumerate((("chain", ""), ("chaincut", "packet_length = 100\n"), ("copy", ""))):
            text += ('[[targets]]\nname = "t-%s"\noutput = "o-%s"\ntunnel = "vxlan"\nsrc_ip = "10.0.0.1"\n'
                     'dst_ip = "10.0.0.%d"\ndst_mac = "02:00:00:00:00:02"\nvni = %d\n%s') % (n, n, 2 + i, 10 + i, extra)
        text += '[[sessions]]\nname = "s"\ninput = "in"\nnumber = 1\nsinks = ["t-chain", "t-chaincut", "t-copy", "raw", "t-gwlb"]\n'
        p, st = run_file_job(c, binary, tmp, "f", text)
        c.check("port o-chain: tx_chains = true" in p.stdout and "port o-copy: tx_chains = false" in p.stdout,
                "the start does not say which ports chain:\n%s" % p.stdout[:1500])
        if st:
            c.check(accounting_holds(st), "counters do not add up")
            c.check(st["packets_out"] == len(frames), "packets_out %d of %d" % (st["packets_out"], len(frames)))
            for name, m in st.get("mempools", {}).items():
                c.check(m["in_use_end"] == m["in_use_start"], "mempool %s: %d buffers in use at the start, %d at the end" % (
                    name, m["in_use_start"], m["in_use_end"]))
            c.check(len(st.get("mempools", {})) >= 3, "mempools reported: %s" % st.get("mempools"))
            # A packet sent shortened is counted once on its input, whatever its copies: cut by
            # t-chaincut's PacketLength (frames over 100 bytes), and by the MTU for GWLB (an inner
            # IP packet over 1500 - 68 bytes).
            want = {"packet_length": sum(1 for f in frames if len(f) > 100),
                    "mtu": sum(1 for f in frames if len(f) - 14 > 1500 - 68)}
            got = {k: st["inputs"]["in"]["truncated"][k] for k in want}
            c.check(got == want and want["mtu"] > 0, "truncated on the input: %s, expected %s" % (got, want))
        for n, vni, cut in (("chain", 10, None), ("chaincut", 11, 100), ("copy", 12, None)):
            got = [Ether(r[0]) for r in read_records(outs[n])] if os.path.exists(outs[n]) else []
            c.check(len(got) == len(frames), "%s: %d frames of %d" % (n, len(got), len(frames)))
            bad = 0
            for g, f in zip(got, frames):
                want = f if cut is None else f[:cut]
                if VXLAN not in g or g[VXLAN].vni != vni or bytes(g[VXLAN].payload) != want:
                    bad += 1
            c.check(bad == 0, "%s: %d frames with the wrong VNI or inner bytes" % (n, bad))
        raw = [r[0] for r in read_records(outs["raw"])] if os.path.exists(outs["raw"]) else []
        c.check(raw == frames, "raw: %d frames, not the input's" % len(raw))
        # GWLB (never chained: its copy is the packet itself, the last sink): the inner IP
        # packet without its Ethernet header, cut to the 1500-byte MTU behind its 68 bytes of
        # outer IP, UDP and Geneve with GWLB's options; rewriting the packet in place must not
        # touch the frame the chained copies above share.
        got = [Ether(r[0]) for r in read_records(outs["gwlb"])] if os.path.exists(outs["gwlb"]) else []
        c.check(len(got) == len(frames), "gwlb: %d frames of %d" % (len(got), len(frames)))
        bad = sum(1 for g, f in zip(got, frames)
                  if GENEVE not in g or g[UDP].dport != 6081 or bytes(g[GENEVE].payload) != f[14:][:1500 - 68] or
                  g[IP].len != len(bytes(g[IP])))
        c.check(bad == 0, "gwlb: %d frames with the wrong inner packet or outer length" % bad)
        # Every sink takes chains and cuts alike: the copies share the packet itself as their
        # payload (no indirect buffer), cut once for all of them when PacketLength says so.
        for cut in (None, 300):
            shared_case(c, binary, tmp, cap, frames, cut)
        single_cut_case(c, binary, tmp, cap, frames)
        for live in (False, True):
            for cut, mtu, oversize in ((None, None, "drop"), (300, None, "drop"), (None, 900, "drop"),
                                       (None, 900, "truncate")):
                one_output_case(c, binary, tmp, cap, frames, live, cut, mtu, oversize)
        # Not all plain VXLAN over IPv4: each copy's header through the general writer.
        one_output_case(c, binary, tmp, cap, frames, False, 300, None, tunnels=("vxlan", "geneve", "geneve"))
        # Frames of 3000 bytes between the others: a live port (net_pcap, its buffers of 2048
        # bytes: the engine's pool is sized for the largest port MTU, 1500 here, rounded up to
        # 2 KiB) receives each in more than one buffer; they are dropped as rx_chained, and the
        # others go, in order.
        jumbo = [f if k % 7 else f + bytes(3000 - len(f)) for k, f in enumerate(frames)]
        jumbo_cap = os.path.join(tmp, "jumbo.pcap")
        wrpcap(jumbo_cap, [Ether(f) for f in jumbo])
        one_output_case(c, binary, tmp, jumbo_cap, jumbo, True, None, 1500, "truncate")
        for sinks in (["t-a"], ["t-a", "t-b"]):
            sliced_live_case(c, binary, tmp, cap, frames, sinks)
    c.done()


def run_file_job(c, binary, tmp, tag, text):
    """Runs the configuration `text` (a file input: the engine ends with it) as TAG.toml; checks
    it exits 0. Returns the process and its stats JSON (None when it failed)."""
    cfg = os.path.join(tmp, tag + ".toml")
    with open(cfg, "w") as f:
        f.write(text)
    js = os.path.join(tmp, tag + ".json")
    p = subprocess.run([binary, "run", "-c", cfg, "--stats-json", js], capture_output=True, text=True, timeout=120)
    c.check(p.returncode == 0, "%s run: exit %d %s %s" % (tag, p.returncode, p.stdout[-600:], p.stderr[-600:]))
    return p, (json.load(open(js)) if p.returncode == 0 else None)


def shared_case(c, binary, tmp, cap, frames, cut):
    """Two targets and a pool of two, every output chaining, PacketLength `cut` on all."""
    tag = "shared%s" % (cut or "")
    outs = {n: os.path.join(tmp, "%s-%s.pcap" % (tag, n)) for n in ("a", "b", "c")}
    text = HEAD % cap
    for i, n in enumerate("abc"):
        text += '[[ports]]\nname = "o-%s"\nrole = "output"\ndevargs = "net_pcap%d,tx_pcap=%s"\ntx_chains = true\n' % (
            n, i + 1, outs[n])
    extra = "packet_length = %d\n" % cut if cut else ""
    for name, out, vni in (("t-a", "a", 20), ("t-b", "b", 21), ("t-c1", "c", 22), ("t-c2", "c", 23)):
        text += ('[[targets]]\nname = "%s"\noutput = "o-%s"\ntunnel = "vxlan"\nsrc_ip = "10.0.0.1"\n'
                 'dst_ip = "10.0.0.%d"\ndst_mac = "02:00:00:00:00:02"\nvni = %d\n%s') % (name, out, vni - 10, vni, extra)
    text += '[[pools]]\nname = "p"\nmembers = ["t-c1", "t-c2"]\n'
    text += '[[sessions]]\nname = "s"\ninput = "in"\nnumber = 1\nsinks = ["t-a", "t-b", "p"]\n'
    _, st = run_file_job(c, binary, tmp, tag, text)
    if st:
        c.check(accounting_holds(st), "%s: counters do not add up" % tag)
        c.check(st["packets_out"] == len(frames), "%s: packets_out %d of %d" % (tag, st["packets_out"], len(frames)))
        for name, m in st.get("mempools", {}).items():
            c.check(m["in_use_end"] == m["in_use_start"], "%s: mempool %s: %d buffers in use at the start, %d at the end" % (
                tag, name, m["in_use_start"], m["in_use_end"]))
        want = sum(1 for f in frames if cut and len(f) > cut)
        got = st["inputs"]["in"]["truncated"]["packet_length"]
        c.check(got == want, "%s: truncated.packet_length %d on the input, expected %d (once a packet)" % (tag, got, want))
    for n, vnis in (("a", {20}), ("b", {21}), ("c", {22, 23})):
        got = [Ether(r[0]) for r in read_records(outs[n])] if os.path.exists(outs[n]) else []
        c.check(len(got) == len(frames), "%s %s: %d frames of %d" % (tag, n, len(got), len(frames)))
        bad = 0
        for g, f in zip(got, frames):
            want = f if cut is None else f[:cut]
            # The outer IP length is the frame's own: a shared payload cut once for all.
            if (VXLAN not in g or g[VXLAN].vni not in vnis or bytes(g[VXLAN].payload) != want or
                    g[IP].len != len(bytes(g[IP]))):
                bad += 1
        c.check(bad == 0, "%s %s: %d frames with the wrong VNI, inner bytes or IP length" % (tag, n, bad))


def one_output_case(c, binary, tmp, cap, frames, live, cut, mtu, oversize="drop", tunnels=("vxlan",) * 3):
    """Three targets on one output that chains (the copies of a burst written and queued
    together, each packet's three in a row), from a capture-file input or a live one (net_pcap):
    whole frames; PacketLength `cut` on all; or an output MTU of `mtu` with `oversize` "drop",
    where the frames over it are refused by every target (each counted once on the input, once
    a copy on the output) between frames that go, or "truncate", where they are cut to fit.
    A live port drops the frames larger than its buffers (2048 bytes) as rx_chained. The output
    holds, for each frame that fits, in the input's order, its three copies in the session's
    order (VNIs 50, 51, 52), each with the frame (cut), outer IP and UDP lengths that count it,
    and an IP checksum scapy agrees with; no buffer leaks. `tunnels`: the three targets' kinds
    (Geneve's header goes through the general writer). The input's bytes out and the output's
    bytes are the output file's."""
    tag = "one-output-%s%s%s%s%s" % ("live" if live else "file", "-cut%d" % cut if cut else "",
                                     "-mtu%d%s" % (mtu, oversize) if mtu else "",
                                     "-jumbo" if max(len(f) for f in frames) > 2048 else "",
                                     "" if set(tunnels) == {"vxlan"} else "-" + "-".join(tunnels))
    out = os.path.join(tmp, tag + ".pcap")
    text = HEAD.split("[[ports]]")[0]
    if live:
        text += '[[ports]]\nname = "in"\nrole = "mirror-input"\ndevargs = "net_pcap_in,rx_pcap=%s"\n' % cap
    else:
        text += '[[ports]]\nname = "in"\nrole = "mirror-input"\nfile = "%s"\n' % cap
    text += '[[ports]]\nname = "o"\nrole = "output"\ndevargs = "net_pcap1,tx_pcap=%s"\ntx_chains = true\n' % out
    if mtu:
        text += 'mtu = %d\noversize = "%s"\n' % (mtu, oversize)
    extra = "packet_length = %d\n" % cut if cut else ""
    vnis = (50, 51, 52)
    for i, vni in enumerate(vnis):
        text += ('[[targets]]\nname = "t%d"\noutput = "o"\ntunnel = "%s"\nsrc_ip = "10.0.0.1"\n'
                 'dst_ip = "10.0.1.%d"\ndst_mac = "02:00:00:00:00:02"\nvni = %d\n%s') % (i, tunnels[i], i + 1, vni, extra)
    text += '[[sessions]]\nname = "s"\ninput = "in"\nnumber = 1\nsinks = ["t0", "t1", "t2"]\n'
    # What goes: VXLAN or Geneve (no options) over IPv4 adds 36 bytes of IP, UDP and the tunnel
    # header to the frame (as cut).
    chained = [live and len(f) > 2048 for f in frames]
    if any(chained):
        c.check(not all(chained), "%s: some frames fit a buffer" % tag)
    frames = [f for f, ch in zip(frames, chained) if not ch]
    kept = [f if cut is None else f[:cut] for f in frames]
    if mtu and oversize == "truncate":
        kept = [k[:mtu - 36] for k in kept]
    fits = [mtu is None or len(k) + 36 <= mtu for k in kept]
    cut_by_mtu = sum(1 for f, k in zip(frames, kept) if len(k) < len(f) and (cut is None or len(k) < cut))
    want_copies = [(k, vni, kind) for k, ok in zip(kept, fits) if ok for vni, kind in zip(vnis, tunnels)]
    too_big = fits.count(False)
    if mtu and mtu < 1500 and oversize == "truncate":
        c.check(0 < cut_by_mtu < len(frames), "%s: the MTU cuts some frames and not all (%d)" % (tag, cut_by_mtu))
    elif mtu and mtu < 1500:
        c.check(0 < too_big < len(frames), "%s: the MTU drops some frames and not all (%d)" % (tag, too_big))
    if live:
        cfg = os.path.join(tmp, tag + ".toml")
        with open(cfg, "w") as f:
            f.write(text)
        js = os.path.join(tmp, tag + ".json")
        log = os.path.join(tmp, tag + ".log")
        rc = run_live_engine(binary, cfg, js, log)
        c.check(rc == 0, "%s run: exit %d %s" % (tag, rc, open(log).read()[-1200:]))
        st = json.load(open(js)) if rc == 0 else None
    else:
        _, st = run_file_job(c, binary, tmp, tag, text)
    if st:
        c.check(accounting_holds(st), "%s: counters do not add up" % tag)
        inp = st["inputs"]["in"]
        c.check(st["packets_out"] == len(frames) - too_big and inp["dropped"].get("over_mtu", 0) == too_big and
                inp["dropped"].get("rx_chained", 0) == chained.count(True),
                "%s: %d sent, dropped %s; expected %d sent, %d over_mtu, %d rx_chained" % (
                    tag, st["packets_out"], inp["dropped"], len(frames) - too_big, too_big, chained.count(True)))
        o = st["outputs"]["o"]
        c.check(o["dropped"].get("over_mtu", 0) == 3 * too_big, "%s: output o dropped %s, expected %d over_mtu" % (
            tag, o["dropped"], 3 * too_big))
        want_cut = sum(1 for f, ok in zip(frames, fits) if ok and cut and len(f) > cut)
        c.check(inp["truncated"]["packet_length"] == want_cut and inp["truncated"]["mtu"] == cut_by_mtu,
                "%s: truncated %s, expected packet_length %d and mtu %d" % (tag, inp["truncated"], want_cut, cut_by_mtu))
        for name, m in st.get("mempools", {}).items():
            c.check(m["in_use_end"] == m["in_use_start"], "%s: mempool %s: %d buffers in use at the start, %d at the end" % (
                tag, name, m["in_use_start"], m["in_use_end"]))
    records = [r[0] for r in read_records(out)] if os.path.exists(out) else []
    if st:
        c.check(st["inputs"]["in"]["bytes_out"] == sum(map(len, records)) == st["outputs"]["o"]["bytes"],
                "%s: bytes out %d on the input, %d on the output, %d in the file" % (
                    tag, st["inputs"]["in"]["bytes_out"], st["outputs"]["o"]["bytes"], sum(map(len, records))))
    got = [Ether(r) for r in records]
    c.check(len(got) == len(want_copies), "%s: %d frames, expected %d" % (tag, len(got), len(want_copies)))
    bad = []
    for i, (g, (inner, vni, kind)) in enumerate(zip(got, want_copies)):
        again = IP(bytes(g[IP])) if IP in g else None
        if again is not None:
            del again.chksum
            again = IP(bytes(again))
        layer = VXLAN if kind == "vxlan" else GENEVE
        if (layer not in g or g[layer].vni != vni or bytes(g[layer].payload) != inner or
                g[IP].len != len(bytes(g[IP])) or g[UDP].len != len(bytes(g[UDP])) or again.chksum != g[IP].chksum):
            bad.append(i)
    c.check(not bad, "%s: %d copies wrong (VNI order, inner bytes, lengths or checksum), first at %s" % (
        tag, len(bad), bad[:5]))


def single_cut_case(c, binary, tmp, cap, frames):
    """One session, one target with PacketLength 100 (the packet itself wrapped in place): every
    frame cut to 100 bytes, and each cut one counted on the input."""
    out = os.path.join(tmp, "single-cut.pcap")
    text = HEAD % cap + '[[ports]]\nname = "o"\nrole = "output"\nfile = "%s"\n' % out
    text += ('[[targets]]\nname = "t"\noutput = "o"\ntunnel = "vxlan"\nsrc_ip = "10.0.0.1"\ndst_ip = "10.0.0.2"\n'
             'dst_mac = "02:00:00:00:00:02"\nvni = 40\n')
    text += '[[sessions]]\nname = "s"\ninput = "in"\nnumber = 1\nsinks = ["t"]\npacket_length = 100\n'
    _, st = run_file_job(c, binary, tmp, "single-cut", text)
    got = [Ether(r[0]) for r in read_records(out)] if os.path.exists(out) else []
    bad = sum(1 for g, f in zip(got, frames) if VXLAN not in g or bytes(g[VXLAN].payload) != f[:100])
    c.check(len(got) == len(frames) and bad == 0, "single-cut: %d frames of %d, %d not cut to 100 bytes" % (
        len(got), len(frames), bad))
    if st:
        want = sum(1 for f in frames if len(f) > 100)
        got_n = st["inputs"]["in"]["truncated"]["packet_length"]
        c.check(got_n == want, "single-cut: truncated.packet_length %d on the input, expected %d" % (got_n, want))


def sliced_live_case(c, binary, tmp, cap, frames, sinks):
    """A live input (net_pcap, no capture metadata) into a session with `slice = 10` and
    `sinks`: one target, or two sharing the payload. Each copy carries the frame cut 10 bytes
    after its TCP or UDP header (scapy's lengths), and its outer IP and UDP lengths count what
    it carries."""
    tag = "sliced%d" % len(sinks)
    outs = {n: os.path.join(tmp, "%s-%s.pcap" % (tag, n)) for n in ("a", "b")}
    text = HEAD.split("[[ports]]")[0]
    text += '[[ports]]\nname = "in"\nrole = "mirror-input"\ndevargs = "net_pcap_in,rx_pcap=%s"\n' % cap
    for i, n in enumerate("ab"):
        text += '[[ports]]\nname = "o-%s"\nrole = "output"\ndevargs = "net_pcap%d,tx_pcap=%s"\ntx_chains = true\n' % (
            n, i + 1, outs[n])
        text += ('[[targets]]\nname = "t-%s"\noutput = "o-%s"\ntunnel = "vxlan"\nsrc_ip = "10.0.0.1"\n'
                 'dst_ip = "10.0.0.%d"\ndst_mac = "02:00:00:00:00:02"\nvni = %d\n') % (n, n, 10 + i, 30 + i)
    text += '[[sessions]]\nname = "s"\ninput = "in"\nnumber = 1\nslice = 10\nsinks = %s\n' % json.dumps(sinks)
    cfg = os.path.join(tmp, tag + ".toml")
    with open(cfg, "w") as f:
        f.write(text)
    js = os.path.join(tmp, tag + ".json")
    log = os.path.join(tmp, tag + ".log")
    rc = run_live_engine(binary, cfg, js, log)  # net_pcap does not end with its file
    c.check(rc == 0, "%s run: exit %d %s" % (tag, rc, open(log).read()[-1200:]))
    if rc == 0:
        st = json.load(open(js))
        c.check(accounting_holds(st) and st["packets_out"] == len(frames), "%s: accounting, %d sent of %d" % (
            tag, st["packets_out"], len(frames)))
    want = []
    for f in frames:
        e = Ether(f)
        headers = len(f) - (len(bytes(e[Raw])) if Raw in e else 0)
        want.append(f[:headers + 10])
    c.check(any(len(w) < len(f) for w, f in zip(want, frames)), "%s: the slice cuts some frame" % tag)
    for n, vni in zip("ab", (30, 31)):
        if "t-" + n not in sinks:
            continue
        got = [Ether(r[0]) for r in read_records(outs[n])] if os.path.exists(outs[n]) else []
        c.check(len(got) == len(frames), "%s %s: %d frames of %d" % (tag, n, len(got), len(frames)))
        bad = sum(1 for g, w in zip(got, want)
                  if VXLAN not in g or g[VXLAN].vni != vni or bytes(g[VXLAN].payload) != w or
                  g[IP].len != len(bytes(g[IP])) or g[UDP].len != len(bytes(g[UDP])))
        c.check(bad == 0, "%s %s: %d copies with the wrong inner bytes or outer lengths" % (tag, n, bad))


if __name__ == "__main__":
    main()
