#!/usr/bin/python3
"""Differential decapsulation: `mirrorpipe decap` against scapy's dissection of the same bytes.

A fixed seed generates a few thousand valid and near-valid tunnels: VXLAN, Geneve with an
Ethernet payload, GWLB Geneve (IPv4/IPv6 payload, class 0x0108 options among random ones), and
VXLAN inside GWLB Geneve; outer IPv4 (sometimes with options) or IPv6 (sometimes with extension
headers), up to three VLAN tags; random flags, reserved bits, VNIs, option lists, UDP checksums;
some damaged: a few bytes cut off the frame or off the capture (snaplen), a length field or an
option length a little off, a flag that matters flipped.

Scapy dissects each frame. From scapy's fields the test says what a receiver that follows
RFC 7348 and RFC 8926 must do: deliver this inner frame (bytes and wire length), or drop it for
one of these reasons. mirrorpipe must agree on every packet: a delivered frame must be the one
scapy found, a dropped one must be dropped for a reason scapy's reading justifies. Packets are
run in groups of the same expectation (one `decap` per group) so that every drop counter is
attributed; output frames are matched to their input by timestamp. A failing group is run
again packet by packet to name the packets.

Rules applied on top of scapy, where scapy does not validate or reads differently:
  R1 scapy validates nothing (versions, lengths, flags, reserved bits, option lengths): the
     checks are made here on scapy's field values, in RFC terms: IPv4 version/IHL/total length
     and fragments (RFC 791), IPv6 payload length and extension headers (RFC 8200), UDP length
     (RFC 768), VXLAN I flag (RFC 7348 section 5), Geneve version, opt_len, option lengths,
     critical options and the O bit (RFC 8926 sections 3.4, 3.5).
  R2 scapy binds VXLAN to the UDP source port as well as the destination (and to 4790, 6633,
     8472, 48879); a receiver keys on the destination port only (RFC 7348 section 5: the
     source port is a flow hash). The destination port decides here.
  R3 scapy reads VXLAN-GPE and GBP layouts when flag bits 0x04 / 0x80 are set; RFC 7348 says
     reserved bits are ignored on receipt (wire-formats.md): the inner frame is the 8th byte
     after the VXLAN header on, whatever the flags.
  R4 a VXLAN, Geneve Ethernet payload shorter than an Ethernet header, and an empty Geneve L3
     payload, are no frame to deliver (inner_runt).
  R5 mirrorpipe is stricter than scapy where wire-formats.md and README.md say so: a Geneve
     protocol type below 0x0600 is a length, not an EtherType (RFC 8926 section 3.4, README
     decap: geneve_bad_protocol); at most two VLAN tags are walked (not_ip after them); at most
     8 IPv6 extension headers before UDP (README decap: ip_bad_header); mirrorpipe understands
     no critical Geneve option (RFC 8926 section 3.5: geneve_critical_option).
  R6 only the mirroring layers come off (README decap): a Geneve IPv4/IPv6 payload is
     unwrapped once more only when it is a whole, valid IP/UDP datagram to a VXLAN port;
     otherwise it is delivered as it is, behind the outer MACs and the Geneve protocol type.
  R7 a capture cut by its snaplen: lengths are checked against the wire length, headers must
     be in the captured bytes, and the inner frame is what was captured of it (README decap).
  R8 UDP checksums are not verified by default (wire-formats.md): a wrong one changes nothing.
  R9 the inner frame ends where the outer (or nested) UDP datagram ends (README decap).

usage: test_decap_differential.py MIRRORPIPE SOURCE_DIR
"""
import collections
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checker, read_records, run_mirrorpipe, scratch_dir  # noqa: E402

from scapy.all import (ICMP, IP, TCP, UDP, Dot1AD, Dot1Q, Ether, IPv6, IPv6ExtHdrDestOpt,  # noqa: E402
                       IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, Raw, conf)
from scapy.contrib.geneve import GENEVE, GeneveOptions  # noqa: E402
from scapy.layers.vxlan import VXLAN  # noqa: E402

MP, SRC = sys.argv[1], sys.argv[2]
COUNT = 3000
SEED = 8926
VXLAN_PORT, GENEVE_PORT = 4789, 6081
MAX_VLAN_TAGS = 2
MAX_IPV6_EXT = 8
IPV6_EXT = (IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt, IPv6ExtHdrRouting)
conf.padding = True
c = Checker("decap differential")
tmp = scratch_dir("mp-diff-")


# ---------------------------------------------------------------- generation (fixed seed)

def rand_mac(rng):
    return "02:%02x:%02x:%02x:%02x:%02x" % tuple(rng.randrange(256) for _ in range(5))


def rand_inner_l3(rng):
    payload = Raw(bytes(rng.randrange(256) for _ in range(rng.randrange(0, 80))))
    if rng.random() < 0.25:
        ip = IPv6(src="2001:db8::%x" % rng.randrange(1, 65535), dst="2001:db8::1")
    else:
        ip = IP(src="10.%d.%d.%d" % (rng.randrange(256), rng.randrange(256), rng.randrange(1, 255)), dst="10.0.0.1")
    l4 = rng.choice([TCP(sport=rng.randrange(1, 65536), dport=443, seq=rng.randrange(2 ** 32)),
                     UDP(sport=rng.randrange(1, 65536), dport=53), ICMP() if ip.version == 4 else UDP(dport=123)])
    return ip / l4 / payload


def rand_inner_frame(rng):
    e = Ether(src=rand_mac(rng), dst=rand_mac(rng))
    if rng.random() < 0.1:
        e = e / Dot1Q(vlan=rng.randrange(4096))
    return e / rand_inner_l3(rng)


def rand_options(rng):
    opts = b""
    if rng.random() < 0.5:  # GWLB's three, in GWLB's order or shuffled
        gw = [struct.pack("!HBB", 0x0108, 1, 2) + bytes(rng.randrange(256) for _ in range(8)),
              struct.pack("!HBB", 0x0108, 2, 2) + bytes(rng.randrange(256) for _ in range(8)),
              struct.pack("!HBB", 0x0108, 3, 1) + bytes(rng.randrange(256) for _ in range(4))]
        if rng.random() < 0.2:
            rng.shuffle(gw)
        opts += b"".join(gw)
    for _ in range(rng.choice([0, 0, 1, 2, 3])):
        words = rng.randrange(0, 6)
        typ = rng.randrange(0x80) | (0x80 if rng.random() < 0.04 else 0)
        reserved = rng.choice([0, 0, 0, 0xE0])
        opts += struct.pack("!HBB", rng.choice([0x0100, 0x0108, 0xFF00, rng.randrange(65536)]), typ, reserved | words)
        opts += bytes(rng.randrange(256) for _ in range(words * 4))
    return opts[:252]


def vxlan_header(rng, vni):
    flags = 0x08
    if rng.random() < 0.3:
        flags = rng.randrange(256) | 0x08
    if rng.random() < 0.05:
        flags &= ~0x08
    rsvd = bytes(rng.randrange(256) for _ in range(3)) if rng.random() < 0.2 else b"\0\0\0"
    last = bytes([rng.randrange(256)]) if rng.random() < 0.2 else b"\0"
    return bytes([flags]) + rsvd + vni.to_bytes(3, "big") + last


def geneve_header(rng, proto, options):
    ver = 0 if rng.random() > 0.03 else rng.randrange(1, 4)
    flags = (0x80 if rng.random() < 0.04 else 0) | (0x40 if rng.random() < 0.2 else 0) | \
            (rng.randrange(64) if rng.random() < 0.1 else 0)
    if rng.random() < 0.03:
        proto = rng.choice([0, 0x05DC, 0x0600, 0x88CC])
    vni = rng.randrange(1 << 24) if rng.random() < 0.7 else 0
    rsvd = rng.randrange(256) if rng.random() < 0.1 else 0
    return struct.pack("!BBHI", (ver << 6) | (len(options) // 4), flags, proto, (vni << 8) | rsvd) + options


def outer_udp(rng, dport):
    sport = rng.randrange(49152, 65536)
    while sport in (4789, 4790, 6081, 6633, 8472, 48879):
        sport = rng.randrange(49152, 65536)
    cs = rng.random()
    if cs < 0.4:
        return UDP(sport=sport, dport=dport, chksum=0)
    if cs < 0.9:
        return UDP(sport=sport, dport=dport)  # scapy computes it
    return UDP(sport=sport, dport=dport, chksum=rng.randrange(1, 65536))  # wrong, not verified (R8)


def outer_ip(rng, v6=None):
    if v6 is None:
        v6 = rng.random() < 0.3
    if v6:
        ip = IPv6(src="fd00::%x" % rng.randrange(1, 65535), dst="fd00::1", hlim=rng.randrange(256))
        n = rng.choice([0, 0, 0, 0, 1, 2, 3, MAX_IPV6_EXT, MAX_IPV6_EXT + 1])
        for i in range(n):
            ip = ip / (IPv6ExtHdrHopByHop() if i == 0 else rng.choice(IPV6_EXT[1:])())
        return ip
    opts = []
    if rng.random() < 0.15:
        opts = [b"\x01" * (4 * rng.randrange(1, 10) - 1) + b"\x00"]
    flags = rng.choice([0, 0, 0, 2, 2, 1]) if rng.random() < 0.2 else 0
    frag = rng.randrange(1, 100) if rng.random() < 0.02 else 0
    return IP(src="192.168.%d.%d" % (rng.randrange(256), rng.randrange(1, 255)), dst="192.168.0.1",
              ttl=rng.randrange(256), id=rng.randrange(65536), flags=flags, frag=frag, options=opts)


def outer_l2(rng):
    e = Ether(src=rand_mac(rng), dst=rand_mac(rng))
    r = rng.random()
    if r < 0.1:
        e = e / Dot1Q(vlan=rng.randrange(4096))
    elif r < 0.15:
        e = e / Dot1AD(vlan=rng.randrange(4096)) / Dot1Q(vlan=rng.randrange(4096))
    elif r < 0.17:
        e = e / Dot1Q(vlan=1) / Dot1Q(vlan=2) / Dot1Q(vlan=3)
    return e


def generate(rng):
    kind = rng.choice(["vxlan", "vxlan", "geneve-eth", "gwlb", "gwlb", "vxlan-in-gwlb"])
    if kind == "vxlan":
        pkt = outer_l2(rng) / outer_ip(rng) / outer_udp(rng, VXLAN_PORT) / \
            Raw(vxlan_header(rng, rng.randrange(1 << 24)) + bytes(rand_inner_frame(rng)))
    elif kind == "geneve-eth":
        pkt = outer_l2(rng) / outer_ip(rng) / outer_udp(rng, GENEVE_PORT) / \
            Raw(geneve_header(rng, 0x6558, rand_options(rng)) + bytes(rand_inner_frame(rng)))
    elif kind == "gwlb":
        l3 = rand_inner_l3(rng)
        pkt = outer_l2(rng) / outer_ip(rng) / outer_udp(rng, GENEVE_PORT) / \
            Raw(geneve_header(rng, 0x86DD if l3.version == 6 else 0x0800, rand_options(rng)) + bytes(l3))
    else:
        nested = outer_ip(rng, v6=rng.random() < 0.2) / outer_udp(rng, VXLAN_PORT) / \
            Raw(vxlan_header(rng, rng.randrange(1 << 24)) + bytes(rand_inner_frame(rng)))
        pkt = outer_l2(rng) / outer_ip(rng) / outer_udp(rng, GENEVE_PORT) / \
            Raw(geneve_header(rng, 0x86DD if nested.version == 6 else 0x0800, rand_options(rng)) + bytes(nested))
    b = bytearray(bytes(pkt))
    wire = len(b)
    m = rng.random()
    udp_off = udp_offset(bytes(b))
    if m < 0.08:  # the frame ends early: every length still claims the whole packet
        del b[len(b) - rng.randrange(1, 9):]
        wire = len(b)
    elif m < 0.16:  # the capture ends early: snaplen
        del b[len(b) - rng.randrange(1, 61):]
    elif m < 0.22 and udp_off is not None:  # UDP length a little off
        ulen = struct.unpack_from("!H", b, udp_off + 4)[0]
        struct.pack_into("!H", b, udp_off + 4, max(0, ulen + rng.choice([-9, -3, -1, 1, 2, 8])))
    elif m < 0.26 and udp_off is not None and kind != "vxlan":  # Geneve opt_len a little off
        g = udp_off + 8
        if len(b) > g:
            b[g] = (b[g] & 0xC0) | ((b[g] + rng.choice([-1, 1, 2])) & 0x3F)
    elif m < 0.30 and udp_off is not None and kind != "vxlan":  # an option length a little off
        g = udp_off + 8
        if len(b) > g + 12 and b[g] & 0x3F:
            b[g + 8 + 3] = (b[g + 8 + 3] & 0xE0) | ((b[g + 8 + 3] + rng.choice([-1, 1])) & 0x1F)
    elif m < 0.33:  # the outer IPv4 total length a little off
        ip_off = 14 + 4 * vlan_count(bytes(b))
        if len(b) > ip_off + 4 and b[ip_off] >> 4 == 4:
            t = struct.unpack_from("!H", b, ip_off + 2)[0]
            struct.pack_into("!H", b, ip_off + 2, max(0, t + rng.choice([-5, -1, 1, 4])))
    if wire < len(b):
        wire = len(b)
    return bytes(b), wire, kind


def vlan_count(b):
    n, off = 0, 12
    while len(b) >= off + 2 and struct.unpack_from("!H", b, off)[0] in (0x8100, 0x88A8, 0x9100) and n < 3:
        n, off = n + 1, off + 4
    return n


def udp_offset(b):
    """Where the outer UDP header is in a generated (undamaged) frame, from scapy."""
    p = Ether(b)
    return len(b) - len(p[UDP].original) if UDP in p and p[UDP].original else None


# ---------------------------------------------------------------- scapy's reading

class Drop(Exception):
    def __init__(self, *reasons):
        super().__init__(reasons)
        self.reasons = set(reasons)


def dissect_ip_udp(cap, wire_end, off, cls):
    """RFC 791 / 8200 / 768 on scapy's IP or IPv6 (`cls`) dissection at `off`. Returns
    (udp layer, udp offset, udp end) or raises Drop. `cap` is the captured frame; `wire_end` is
    where the enclosing packet ends on the wire."""
    if cls is IP:
        if len(cap) < off + 20:
            raise Drop("headers_truncated")
        layer = IP(cap[off:wire_end])
        if layer.version != 4 or layer.ihl is None or layer.ihl * 4 < 20:
            raise Drop("ip_bad_header")
        hl = layer.ihl * 4
        if len(cap) < off + hl:
            raise Drop("headers_truncated")
        if layer.len < hl or layer.len > wire_end - off:
            raise Drop("ip_bad_length")
        if layer.flags.MF or layer.frag:
            raise Drop("ip_fragment")
        ip_end, l4 = off + layer.len, off + hl
        if layer.proto != 17:
            raise Drop("not_udp")
        nxt = layer.payload
    else:
        if len(cap) < off + 40:
            raise Drop("headers_truncated")
        layer = IPv6(cap[off:wire_end])
        if layer.version != 6:
            raise Drop("ip_bad_header")
        if layer.plen == 0 or 40 + layer.plen > wire_end - off:
            raise Drop("ip_bad_length")
        ip_end, l4, nxt, walked = off + 40 + layer.plen, off + 40, layer.payload, 0
        nh = layer.nh
        while nh in (0, 43, 60, 44):
            if nh == 44:
                raise Drop("ip_fragment")
            if walked == MAX_IPV6_EXT:  # R5
                raise Drop("ip_bad_header")
            if len(cap) < l4 + 2 or not isinstance(nxt, IPV6_EXT):
                raise Drop("headers_truncated")
            nh, l4, nxt, walked = nxt.nh, l4 + (nxt.len + 1) * 8, nxt.payload, walked + 1
            if l4 > ip_end:
                raise Drop("ip_bad_header")
        if nh != 17:
            raise Drop("not_udp")
    if len(cap) < l4 + 8:
        raise Drop("headers_truncated")
    udp = UDP(cap[l4:l4 + 8]) if not isinstance(nxt, UDP) else nxt
    if udp.len < 8 or udp.len > ip_end - l4:
        raise Drop("udp_bad_length")
    return udp, l4, l4 + udp.len


def read_vxlan(cap, udp_off, udp_end):
    h = udp_off + 8
    if udp_end - h < 8 or len(cap) < h + 8:
        raise Drop("headers_truncated")
    v = VXLAN(cap[h:min(udp_end, len(cap))])
    if not v.flags & 0x08:  # R1 (the I flag), R3 (nothing else)
        raise Drop("vxlan_no_vni_flag")
    if udp_end - (h + 8) < 14:
        raise Drop("inner_runt")  # R4
    inner = bytes(v.original)[8:]  # R3: the bytes after the 8-byte header, whatever scapy made of them
    return inner, udp_end - (h + 8)


def expected(cap, wire):
    """('deliver', inner bytes, inner wire length) or raises Drop with the justified reasons."""
    if len(cap) < 14:
        raise Drop("headers_truncated")
    # 802.1Q / 802.1ad tags (TPIDs 0x8100, 0x88a8 and the older 0x9100), then IPv4 or IPv6.
    etype, off, tags = Ether(cap[:14]).type, 14, 0
    while etype in (0x8100, 0x88A8, 0x9100):
        if tags == MAX_VLAN_TAGS:  # R5
            raise Drop("not_ip")
        if len(cap) < off + 4:
            raise Drop("headers_truncated")
        etype, off, tags = Dot1Q(cap[off:off + 4]).type, off + 4, tags + 1
    if etype not in (0x0800, 0x86DD):
        raise Drop("not_ip")
    udp, udp_off, udp_end = dissect_ip_udp(cap, wire, off, IP if etype == 0x0800 else IPv6)
    if udp.dport == VXLAN_PORT:  # R2
        inner, inner_wire = read_vxlan(cap, udp_off, udp_end)
        return inner, inner_wire
    if udp.dport != GENEVE_PORT:
        raise Drop("not_tunnel_port")
    g = udp_off + 8
    if udp_end - g < 8 or len(cap) < g + 8:
        raise Drop("headers_truncated")
    gen = GENEVE(cap[g:min(udp_end, len(cap))])
    if gen.version != 0:
        raise Drop("geneve_bad_version")
    opt_bytes = gen.optionlen * 4
    if opt_bytes > udp_end - g - 8:
        raise Drop("geneve_options_overrun")
    if len(cap) < g + 8 + opt_bytes:
        raise Drop("headers_truncated")
    # Options (R1): scapy's GeneveOptions read one at a time (its option list does not split
    # them: the first option takes the rest as its payload). Each must be whole; a critical
    # one is not understood (R5); the first fault found is the reason.
    opts = cap[g + 8:g + 8 + opt_bytes]
    at = 0
    while at < len(opts):
        if len(opts) - at < 4:
            raise Drop("geneve_options_overrun")
        o = GeneveOptions(opts[at:at + 4])
        if 4 + o.length * 4 > len(opts) - at:
            raise Drop("geneve_options_overrun")
        if o.type & 0x80:
            raise Drop("geneve_critical_option")
        at += 4 + o.length * 4
    if gen.oam:
        raise Drop("geneve_oam")
    payload = g + 8 + opt_bytes
    proto = gen.proto
    if proto == 0x6558:
        if udp_end - payload < 14:
            raise Drop("inner_runt")  # R4
        return cap[payload:min(udp_end, len(cap))], udp_end - payload
    if proto < 0x0600:
        raise Drop("geneve_bad_protocol")  # R5
    if udp_end == payload:
        raise Drop("inner_runt")  # R4
    if proto in (0x0800, 0x86DD):  # R6
        try:
            nudp, nudp_off, nudp_end = dissect_ip_udp(cap, udp_end, payload, IP if proto == 0x0800 else IPv6)
        except Drop:
            nudp = None
        if nudp is not None and nudp.dport == VXLAN_PORT:
            return read_vxlan(cap, nudp_off, nudp_end)
    eth = cap[0:12] + struct.pack("!H", proto)
    return eth + cap[payload:min(udp_end, len(cap))], 14 + udp_end - payload


# ---------------------------------------------------------------- running mirrorpipe

def write_pcap(path, items):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, cap, wire in items:
            f.write(struct.pack("<IIII", 1700000000 + i, 0, len(cap), wire) + cap)


def run_group(name, items):
    """mirrorpipe decap over `items` [(index, cap, wire)]: (delivered {index: (bytes, wire)},
    drop counts) or None."""
    src, out = os.path.join(tmp, name + ".pcap"), os.path.join(tmp, name + ".out.pcap")
    write_pcap(src, items)
    rc, stats, err = run_mirrorpipe(MP, ["decap", "-r", src, "-w", out, "--no-progress"])
    c.check(rc == 0, "%s: decap exit %d: %s" % (name, rc, err.strip()[-300:]))
    if rc != 0:
        return None
    got = {ts[0] - 1700000000: (data, w) for data, w, ts in read_records(out)}
    return got, {k: v for k, v in stats["dropped"].items() if v}, stats


def main():
    rng = random.Random(SEED)
    packets = [generate(rng) for _ in range(COUNT)]
    groups = collections.defaultdict(list)
    want = {}
    for i, (cap, wire, kind) in enumerate(packets):
        try:
            inner, inner_wire = expected(cap, wire)
            want[i] = ("deliver", inner, inner_wire)
            groups["deliver"].append((i, cap, wire))
        except Drop as d:
            want[i] = ("drop", d.reasons)
            groups["drop-" + "+".join(sorted(d.reasons))].append((i, cap, wire))
    print("%d packets: %s" % (COUNT, {k: len(v) for k, v in sorted(groups.items())}))
    c.check(len(groups["deliver"]) > COUNT // 3, "too few deliverable packets generated: %d" % len(groups["deliver"]))
    c.check(len(groups) > 12, "too few kinds of outcome generated: %d" % len(groups))

    for name, items in sorted(groups.items()):
        res = run_group(name, items)
        if res is None:
            continue
        got, dropped, stats = res
        c.check(stats["packets_in"] == len(items), "%s: %d read of %d" % (name, stats["packets_in"], len(items)))
        bad = []
        if name == "deliver":
            for i, cap, wire in items:
                _, inner, inner_wire = want[i]
                g = got.get(i)
                if g is None or g[0] != inner or g[1] != inner_wire:
                    bad.append(i)
            c.check(not dropped, "deliver: mirrorpipe dropped %s" % dropped)
        else:
            reasons = want[items[0][0]][1]
            c.check(not got, "%s: mirrorpipe delivered %d of them (packets %s)" % (name, len(got), sorted(got)[:10]))
            c.check(set(dropped) <= reasons and sum(dropped.values()) == len(items),
                    "%s: mirrorpipe's drops %s, scapy's reading justifies %s for %d packets" % (name, dropped, sorted(reasons), len(items)))
            if got or not set(dropped) <= reasons or sum(dropped.values()) != len(items):
                bad = [i for i, _, _ in items]
        for i in bad[:8]:  # name the packets: one run each
            cap, wire, kind = packets[i]
            r = run_group("packet%d" % i, [(i, cap, wire)])
            if r is None:
                continue
            g, d, _ = r
            mp = ("deliver %s (wire %d)" % (g[i][0].hex(), g[i][1])) if i in g else "drop %s" % sorted(d)
            sc = ("deliver %s (wire %d)" % (want[i][1].hex(), want[i][2])) if want[i][0] == "deliver" else "drop %s" % sorted(want[i][1])
            c.check(False, "packet %d (%s, %d of %d bytes captured): mirrorpipe: %s; scapy's reading: %s\n  frame %s"
                    % (i, kind, len(cap), wire, mp, sc, cap.hex()))
    c.done()


if __name__ == "__main__":
    main()
