#!/usr/bin/python3
"""The appliance's burst in stages (Worker::burst_appliance), end to end on a live port.

An appliance port on net_pcap (no sessions, no allowed sources, no verdicts; with an address of
its own, as a GWLB target has) reads 600 frames that scapy builds: GWLB's own layout (Geneve
with GWLB's three options in GWLB's order, IPv4 inside: TCP, UDP and ICMP flows in both
directions), which the stages take, mixed at random with frames the stages leave to the
per-packet path in the middle of a burst: returned all the same (an IPv6 payload, outer IPv4
options, the options in another order, a VLAN tag) or dropped (VNI 5: not_gwlb; UDP to another
port: not_tunnel_port; a multicast source: gwlb_source_bad). scapy computes each return on its
own (MACs: back to the sender, from the port's; IPv4 addresses swapped, TTL 64, header checksum
recomputed; every other byte as it came). The port's output must be exactly those returns, in
the input's order; the drops counted under their reasons; received = sent + filtered + dropped.

usage: test_appliance_burst.py MIRRORPIPE SOURCE_DIR
"""
import json
import os
import random
import struct
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oracle"))
from common import Checker, accounting_holds, read_records, run_live_engine  # noqa: E402

from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_NOP  # noqa: E402
from scapy.layers.inet6 import IPv6  # noqa: E402
from scapy.layers.l2 import Dot1Q, Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402
from scapy.utils import wrpcap  # noqa: E402

# net_pcap's own MAC for its first device: 02 and "pcap" in ASCII, then the device's index
# (DPDK's drivers/net/pcap); the appliance returns from the port's MAC.
PORT_MAC = "02:70:63:61:70:00"
PORT_IP = "10.9.0.2"
GWLB_MAC = "02:00:00:00:00:01"
GWLB_IP = "10.9.0.1"


def gwlb_options(endpoint, attachment, cookie, order=(1, 2, 3)):
    """GWLB's three options (class 0x0108): endpoint ID, attachment ID (8 bytes), cookie (4)."""
    body = {1: struct.pack("!HBBQ", 0x0108, 1, 2, endpoint), 2: struct.pack("!HBBQ", 0x0108, 2, 2, attachment),
            3: struct.pack("!HBBI", 0x0108, 3, 1, cookie)}
    return b"".join(body[t] for t in order)


def geneve(payload, proto=0x0800, vni=0, options=b""):
    assert len(options) % 4 == 0
    return struct.pack("!BBHI", len(options) // 4, 0, proto, vni << 8) + options + bytes(payload)


def inner_packet(rng):
    a, b = "172.16.%d.%d" % (rng.randrange(4), rng.randrange(1, 250)), "192.168.1.%d" % rng.randrange(1, 20)
    if rng.random() < 0.5:
        a, b = b, a
    kind = rng.randrange(3)
    if kind == 0:
        return IP(src=a, dst=b, ttl=63) / TCP(sport=rng.randrange(1024, 65535), dport=443, flags="A") / Raw(b"x" * rng.randrange(0, 40))
    if kind == 1:
        return IP(src=a, dst=b, ttl=63) / UDP(sport=rng.randrange(1024, 65535), dport=53) / Raw(b"q" * rng.randrange(0, 40))
    return IP(src=a, dst=b, ttl=63) / ICMP(id=rng.randrange(65536)) / Raw(b"p" * 8)


def frame(rng, kind):
    """(bytes, the drop reason or None)."""
    endpoint, attachment, cookie = 0x0102030405060708, 0x1112131415161718, rng.randrange(1 << 32)
    opts = gwlb_options(endpoint, attachment, cookie)
    src, dport, vni, proto, payload = GWLB_IP, 6081, 0, 0x0800, inner_packet(rng)
    ip_extra = {}
    vlan = False
    reason = None
    if kind == "ipv6":
        proto, payload = 0x86DD, IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=40000, dport=443)
    elif kind == "ip-options":
        ip_extra = {"options": [IPOption_NOP(), IPOption_NOP(), IPOption_NOP(), IPOption_NOP()]}
    elif kind == "other-order":
        opts = gwlb_options(endpoint, attachment, cookie, order=(3, 1, 2))
    elif kind == "vlan":
        vlan = True
    elif kind == "vni":
        vni, reason = 5, "not_gwlb"
    elif kind == "port":
        dport, reason = 9999, "not_tunnel_port"
    elif kind == "multicast":
        src, reason = "224.0.0.5", "gwlb_source_bad"
    l2 = Ether(src=GWLB_MAC, dst=PORT_MAC)
    if vlan:
        l2 = l2 / Dot1Q(vlan=7)
    # GWLB's UDP checksum: computed (scapy) on half the frames, zero on the others.
    udp = UDP(sport=rng.randrange(1024, 65535), dport=dport, chksum=None if rng.random() < 0.5 else 0)
    f = l2 / IP(src=src, dst=PORT_IP, ttl=255, id=rng.randrange(65536), **ip_extra) / udp / Raw(
        geneve(payload, proto, vni, opts))
    return bytes(f), reason


def expected_return(data):
    """What the appliance sends back for `data`, computed by scapy alone."""
    e = Ether(data)
    e.dst, e.src = e.src, PORT_MAC
    ip = e[IP]
    ip.src, ip.dst = ip.dst, ip.src
    ip.ttl = 64
    del ip.chksum
    return bytes(e)


def main():
    binary = sys.argv[1]
    c = Checker("appliance-burst")
    rng = random.Random(5)
    kinds = ["fast"] * 12 + ["ipv6", "ip-options", "other-order", "vlan", "vni", "port", "multicast"]
    frames = [frame(rng, rng.choice(kinds)) for _ in range(600)]
    want_out = [expected_return(f) for f, reason in frames if reason is None]
    want_drops = {}
    for _, reason in frames:
        if reason:
            want_drops[reason] = want_drops.get(reason, 0) + 1
    c.check(len(want_out) > 400 and len(want_drops) == 3, "the mix: %d returns, drops %s" % (len(want_out), want_drops))

    with tempfile.TemporaryDirectory(prefix="mp-appliance-burst-") as tmp:
        cap = os.path.join(tmp, "in.pcap")
        out = os.path.join(tmp, "out.pcap")
        wrpcap(cap, [Ether(f) for f, _ in frames])
        cfg = os.path.join(tmp, "appliance.toml")
        with open(cfg, "w") as f:
            f.write('[eal]\nargs = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", '
                    '"--log-level", "lib.eal:error"]\n'
                    '[[ports]]\nname = "gwlb"\nrole = "appliance"\ndevargs = "net_pcap0,rx_pcap=%s,tx_pcap=%s"\n'
                    'ip = "%s"\n' % (cap, out, PORT_IP))
        js = os.path.join(tmp, "stats.json")
        log = os.path.join(tmp, "engine.log")
        rc = run_live_engine(binary, cfg, js, log)  # net_pcap does not end with its file
        c.check(rc == 0, "run: exit %d %s" % (rc, open(log).read()[-1500:]))
        if rc == 0:
            st = json.load(open(js))
            c.check(st["packets_in"] == len(frames), "received %d of %d" % (st["packets_in"], len(frames)))
            c.check(accounting_holds(st), "accounting: %s" % json.dumps(
                {k: st[k] for k in ("packets_in", "packets_out", "filtered", "dropped")}))
            c.check(st["packets_out"] == len(want_out), "sent %d, expected %d" % (st["packets_out"], len(want_out)))
            drops = {k: v for k, v in st["dropped"].items() if v}
            c.check(drops == want_drops, "dropped %s, expected %s" % (drops, want_drops))
        got = [r[0] for r in read_records(out)] if os.path.exists(out) else []
        c.check(len(got) == len(want_out), "%d frames returned, expected %d" % (len(got), len(want_out)))
        wrong = [i for i, (g, w) in enumerate(zip(got, want_out)) if g != w]
        c.check(not wrong, "%d returns differ from scapy's, in order; the first at %s:\n got  %s\n want %s" % (
            len(wrong), wrong[:1], got[wrong[0]].hex() if wrong else "", want_out[wrong[0]].hex() if wrong else ""))
    c.done()


if __name__ == "__main__":
    main()
