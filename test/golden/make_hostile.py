#!/usr/bin/python3
"""The hostile corpus: damaged tunnels and frames, mixed with good tunnel packets whose inner
frames are known, for the live engine (test/engine/test_hostile_corpus.py) and the decap unit
tests.

Every length field too short and too long (IPv4 total length and IHL, UDP length, Geneve opt_len
and option lengths), zero and maximal values, truncation at every header offset of a VXLAN, a
GWLB Geneve and a VXLAN-in-GWLB-Geneve packet (the frame just ends; or the length fields are
rewritten to agree with the cut), Geneve option lists that overrun, nesting deeper than the two
mirroring layers, IPv4 options on the outer header, IPv6 extension-header chains, 802.1Q and
QinQ stacks.

Writes <outdir>/hostile.pcap and <outdir>/hostile.tsv, one row per frame: index, expected
reason, expected inner frame (hex, "-" when dropped), what the frame is. The expected reason is
"none" (delivered: the inner frame must be the hex given), a drop reason's name, or "dropped"
(some drop reason: a header read from the wrong place, whose reason depends on whatever bytes
land there). Every expectation follows from RFC 791, RFC 768, RFC 8200, RFC 7348, RFC 8926 and
the receive rules in README.md (decap) and the drop-reason list, not from mirrorpipe's output.
No frame carries a snaplen cut: on the live engine a frame is what the wire had.

    /usr/bin/python3 test/golden/make_hostile.py test/golden
"""
import os
import random
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_malformed import INNER, INNER_B, INNER_L3, OUT, eth_l3, gen, patch, v4, vx  # noqa: E402

from scapy.all import (IP, TCP, UDP, Dot1AD, Dot1Q, Ether, IPv6, IPv6ExtHdrDestOpt,  # noqa: E402
                       IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, PadN, Raw)
from scapy.contrib.geneve import GENEVE, GeneveOptions  # noqa: E402
from scapy.layers.vxlan import VXLAN  # noqa: E402

ETH = 14
V4 = 20
V6 = 40
UDPH = 8
TUN = 8  # VXLAN header, Geneve base header
MAX_IPV6_EXT_HEADERS = 8  # README.md, decap: the IPv6 extension headers walked before UDP

ROWS = []


def row(frame, reason, inner=None, what=""):
    assert (reason == "none") == (inner is not None), what
    ROWS.append((bytes(frame), reason, inner.hex() if inner is not None else "-", what))


def ipv4_checksum(header):
    s = 0
    for i in range(0, len(header), 2):
        s += (header[i] << 8) | header[i + 1]
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def set_ipv4_length(b, ip_off, total):
    """IPv4 total length set, header checksum recomputed (so that a verifying receiver agrees)."""
    b = bytearray(b)
    struct.pack_into("!H", b, ip_off + 2, total)
    ihl = (b[ip_off] & 15) * 4
    struct.pack_into("!H", b, ip_off + 10, 0)
    struct.pack_into("!H", b, ip_off + 10, ipv4_checksum(bytes(b[ip_off:ip_off + ihl])))
    return bytes(b)


def set_u16(b, off, value):
    return patch(b, off, struct.pack("!H", value))


def gwlb_options(endpoint=bytes(range(8)), attachment=bytes(8), cookie=b"\x01\x02\x03\x04"):
    return [GeneveOptions(classid=0x0108, type=1, length=2, data=endpoint),
            GeneveOptions(classid=0x0108, type=2, length=2, data=attachment),
            GeneveOptions(classid=0x0108, type=3, length=1, data=cookie)]


def gwlb(payload_l3, **kw):
    # optionlen always given: scapy's own computation masks the 16 bit (0x2f).
    return v4() / gen(proto=0x86DD if payload_l3.version == 6 else 0x0800, optionlen=8,
                      options=gwlb_options(), **kw) / payload_l3


def geneve_walk(options):
    """RFC 8926 section 3.5: options are Class(16) Type(8) R(3) Length(5) + Length*4 bytes; one
    that does not fit in opt_len overruns; a critical option (type bit 7) that the receiver does
    not understand (mirrorpipe understands none) drops the packet. The first fault found, in
    the order of the list, is the reason."""
    at = 0
    while at < len(options):
        if len(options) - at < 4:
            return "geneve_options_overrun"
        size = 4 + (options[at + 3] & 0x1F) * 4
        if size > len(options) - at:
            return "geneve_options_overrun"
        if options[at + 2] & 0x80:
            return "geneve_critical_option"
        at += size
    return None


def good_inner(i, vlan=False):
    """A distinct inner frame per good packet, so that a mixed-up delivery cannot pass."""
    e = Ether(src="02:11:11:11:11:%02x" % (i & 0xFF), dst="02:22:22:22:22:22")
    if vlan:
        e = e / Dot1Q(vlan=100 + i)
    return e / IP(src="10.9.%d.1" % (i & 0xFF), dst="10.9.0.2") / TCP(sport=1000 + i, dport=80, seq=i) / Raw(b"good-%04d" % i)


def good_packets():
    """Good tunnel packets of every kind, with their inner frames (what must come out)."""
    out = []
    for i in range(48):
        inner = good_inner(i, vlan=(i % 7 == 3))
        kind = i % 6
        if kind == 0:
            f = v4() / vx(vni=1 + i) / inner
            exp = bytes(inner)
        elif kind == 1:
            f = OUT / IPv6(src="fd00::1", dst="fd00::2") / vx(vni=0xFFFFFF - i) / inner
            exp = bytes(inner)
        elif kind == 2:
            f = v4() / gen(vni=i, proto=0x6558) / inner
            exp = bytes(inner)
        elif kind == 3:
            f = gwlb(inner[IP])
            exp = eth_l3(0x0800) + bytes(inner[IP])
        elif kind == 4:
            tm = (IP(src="172.31.0.238", dst="10.0.8.64") / UDP(sport=65400 + i, dport=4789, chksum=0) /
                  VXLAN(flags=0x08, vni=5569041) / inner)
            f = gwlb(tm)
            exp = bytes(inner)
        else:
            f = OUT / Dot1AD(vlan=10) / Dot1Q(vlan=20) / IP(src="192.168.50.1", dst="192.168.50.2") / vx(vni=77) / inner
            exp = bytes(inner)
        out.append((bytes(f), exp, "good #%d (%s)" % (i, ["vxlan", "vxlan ipv6", "geneve eth", "gwlb",
                                                            "vxlan in gwlb", "vxlan qinq"][kind])))
    return out


def truncations():
    vx4 = bytes(v4() / vx() / INNER)                                        # 50 bytes of headers
    gw4 = bytes(gwlb(INNER[IP]))                                           # 82 bytes of headers
    tm = IP(src="172.31.0.238", dst="10.0.8.64") / UDP(sport=65400, dport=4789, chksum=0) / VXLAN(flags=0x08, vni=123) / INNER
    gwvx = bytes(gwlb(tm))                                                 # 82 + 36 bytes of headers
    vx6 = bytes(OUT / IPv6(src="fd00::1", dst="fd00::2") / vx() / INNER)    # 70 bytes of headers

    # The frame just ends at k: every length field still claims the whole packet. Below a whole
    # outer IP header the headers are cut short; from there the IP length is beyond the frame.
    for name, pkt, ip_hdr, upto in (("vxlan", vx4, V4, 50 + ETH), ("gwlb geneve", gw4, V4, 82 + 1),
                                    ("vxlan in gwlb", gwvx, V4, 118 + ETH), ("vxlan ipv6", vx6, V6, 70 + ETH)):
        for k in range(0, upto + 1):
            reason = "headers_truncated" if k < ETH + ip_hdr else "ip_bad_length"
            row(pkt[:k], reason, what="%s cut at %d, lengths unchanged" % (name, k))

    # The frame ends at k and the outer IP and UDP lengths say so (a sender that wrote short
    # packets): each header is then cut short by the datagram, not by the frame.
    def consistent(pkt, k):
        b = set_ipv4_length(pkt[:k], ETH, k - ETH)
        return set_u16(b, ETH + V4 + 4, k - ETH - V4) if k >= ETH + V4 + UDPH else b

    for k in range(ETH + V4, len(vx4) + 1):
        b = consistent(vx4, k)
        inner_at = ETH + V4 + UDPH + TUN
        if k < inner_at:
            row(b, "headers_truncated", what="vxlan cut at %d, lengths agree: header cut by the datagram" % k)
        elif k - inner_at < ETH:
            row(b, "inner_runt", what="vxlan cut at %d, lengths agree: inner frame of %d bytes" % (k, k - inner_at))
        else:
            row(b, "none", vx4[inner_at:k], what="vxlan cut at %d, lengths agree" % k)

    g_opts = ETH + V4 + UDPH + TUN
    payload_at = g_opts + 32
    for k in range(ETH + V4, len(gw4) + 1):
        b = consistent(gw4, k)
        if k < g_opts:
            row(b, "headers_truncated", what="gwlb cut at %d, lengths agree: Geneve header cut" % k)
        elif k < payload_at:
            row(b, "geneve_options_overrun", what="gwlb cut at %d, lengths agree: opt_len beyond the datagram" % k)
        elif k == payload_at:
            row(b, "inner_runt", what="gwlb cut at %d, lengths agree: empty L3 payload" % k)
        else:
            # An L3 payload is not validated: GWLB carries any IP packet; only an IPv4/UDP
            # packet to a VXLAN port (here not: TCP) is a second mirroring layer.
            row(b, "none", eth_l3(0x0800) + gw4[payload_at:k], what="gwlb cut at %d, lengths agree: partial L3 payload" % k)

    # VXLAN inside GWLB Geneve, cut after the Geneve layer. Outer lengths agree with the cut, the
    # nested IPv4 and UDP lengths do not: the nested packet is no valid IPv4/UDP datagram, so
    # it is not a mirroring layer and the Geneve payload is delivered as it is.
    n_ip = payload_at
    for k in range(n_ip + 1, len(gwvx) + 1, 3):
        b = consistent(gwvx, k)
        if k == len(gwvx):
            row(b, "none", INNER_B, what="vxlan in gwlb, whole")
        else:
            row(b, "none", eth_l3(0x0800) + gwvx[n_ip:k], what="vxlan in gwlb cut at %d, nested lengths unchanged" % k)
    # ... and with the nested lengths agreeing too.
    n_udp, n_vx = n_ip + V4, n_ip + V4 + UDPH
    n_inner = n_vx + TUN
    for k in range(n_ip + 1, len(gwvx) + 1):
        b = consistent(gwvx, k)
        if k >= n_ip + V4:
            b = set_ipv4_length(b, n_ip, k - n_ip)
        if k >= n_udp + UDPH:
            b = set_u16(b, n_udp + 4, k - n_udp)
        if k < n_udp + UDPH:
            row(b, "none", eth_l3(0x0800) + b[n_ip:k],
                what="vxlan in gwlb cut at %d, nested lengths agree: no whole nested IPv4/UDP, L3 payload" % k)
        elif k < n_inner:
            row(b, "headers_truncated", what="vxlan in gwlb cut at %d, nested lengths agree: VXLAN header cut" % k)
        elif k - n_inner < ETH:
            row(b, "inner_runt", what="vxlan in gwlb cut at %d, nested lengths agree: inner frame of %d bytes" % (k, k - n_inner))
        else:
            row(b, "none", gwvx[n_inner:k], what="vxlan in gwlb cut at %d, nested lengths agree" % k)


def length_fields():
    vx4 = bytes(v4() / vx() / INNER)
    gw4 = bytes(gwlb(INNER[IP]))
    for name, pkt in (("vxlan", vx4), ("gwlb", gw4)):
        total = len(pkt) - ETH
        for t, reason in ((0, "ip_bad_length"), (1, "ip_bad_length"), (19, "ip_bad_length"),
                          (20, "udp_bad_length"), (total - 1, "udp_bad_length"), (total + 1, "ip_bad_length"),
                          (0xFFFF, "ip_bad_length")):
            row(set_ipv4_length(pkt, ETH, t), reason, what="%s, IPv4 total length %d of %d" % (name, t, total))
    for ihl in (0, 1, 4):
        row(patch(vx4, ETH, bytes([0x40 | ihl])), "ip_bad_header", what="IPv4 IHL %d" % ihl)
    row(patch(vx4, ETH, b"\x46"), "dropped", what="IPv4 IHL 6 without options: UDP read 4 bytes late")
    row(patch(vx4, ETH, b"\x4f"), "dropped", what="IPv4 IHL 15 without options: UDP read 40 bytes late")
    row(patch(vx4, ETH, b"\x35"), "ip_bad_header", what="IPv4 version 3")
    row(patch(vx4, ETH, b"\xf5"), "ip_bad_header", what="IPv4 version 15")

    udp_len = len(vx4) - ETH - V4
    for u, reason, inner in ((0, "udp_bad_length", None), (7, "udp_bad_length", None), (8, "headers_truncated", None),
                             (15, "headers_truncated", None), (16, "inner_runt", None), (16 + 13, "inner_runt", None),
                             (16 + 14, "none", INNER_B[:14]), (udp_len - 1, "none", INNER_B[:-1]),
                             (udp_len + 1, "udp_bad_length", None), (0xFFFF, "udp_bad_length", None)):
        row(set_u16(vx4, ETH + V4 + 4, u), reason, inner, what="vxlan, UDP length %d of %d" % (u, udp_len))
    g_udp = len(gw4) - ETH - V4
    for u, reason, inner in ((8, "headers_truncated", None), (15, "headers_truncated", None),
                             (16, "geneve_options_overrun", None), (16 + 31, "geneve_options_overrun", None),
                             (16 + 32, "inner_runt", None), (16 + 33, "none", eth_l3(0x0800) + INNER_L3[:1]),
                             (g_udp - 1, "none", eth_l3(0x0800) + INNER_L3[:-1]), (g_udp + 1, "udp_bad_length", None)):
        row(set_u16(gw4, ETH + V4 + 4, u), reason, inner, what="gwlb, UDP length %d of %d" % (u, g_udp))

    # Geneve opt_len (the low 6 bits of the first Geneve byte) against the 32 bytes of options.
    g = ETH + V4 + UDPH
    opts = gw4[g + TUN:g + TUN + 32]
    for words in (0, 1, 7, 9, 63):
        b = patch(gw4, g, bytes([words]))
        if words * 4 > len(gw4) - g - TUN:
            row(b, "geneve_options_overrun", what="gwlb, opt_len %d: beyond the datagram" % words)
            continue
        fault = geneve_walk(b[g + TUN:g + TUN + words * 4])
        if fault:
            row(b, fault, what="gwlb, opt_len %d of 8" % words)
        else:
            # The payload starts where opt_len says (RFC 8926 section 3.4), whatever it holds.
            row(b, "none", eth_l3(0x0800) + b[g + TUN + words * 4:], what="gwlb, opt_len %d of 8" % words)
    # Each option's own length field, too short and too long.
    for which, at in (("endpoint", 0), ("attachment", 12), ("cookie", 24)):
        for words in (0, 1, 2, 3, 31):
            o = bytearray(opts)
            o[at + 3] = (o[at + 3] & 0xE0) | words
            b = patch(gw4, g + TUN, bytes(o))
            fault = geneve_walk(bytes(o))
            if fault:
                row(b, fault, what="gwlb, %s option length %d words" % (which, words))
            else:
                row(b, "none", eth_l3(0x0800) + INNER_L3, what="gwlb, %s option length %d words" % (which, words))
    # Overrunning lists that a walker could loop on: the last option one word too long, many
    # empty options, an option whose length reaches exactly the end.
    row(raw_geneve(opt_len=1, options=struct.pack("!HBB", 0x0108, 3, 1), proto=0x0800, payload=INNER_L3),
        "geneve_options_overrun", what="geneve option of 8 bytes in an opt_len of 4")
    row(raw_geneve(opt_len=63, options=struct.pack("!HBB", 0x0101, 0x01, 0) * 63, proto=0x6558, payload=INNER_B),
        "none", INNER_B, what="geneve, 63 empty options (opt_len 63, the maximum)")
    row(raw_geneve(opt_len=63, options=struct.pack("!HBB", 0x0101, 0x01, 0) * 62 + struct.pack("!HBB", 0x0101, 0x01, 1),
                   proto=0x6558, payload=INNER_B),
        "geneve_options_overrun", what="geneve, 63 words of options, the last claiming one word more")
    row(raw_geneve(opt_len=32, options=struct.pack("!HBB", 0xFFFF, 0x7F, 31) + b"\xab" * 124, proto=0x6558, payload=INNER_B),
        "none", INNER_B, what="geneve, one 128-byte option (class 0xffff, the largest)")


def raw_geneve(opt_len, options, proto, payload, first=None, flags=0, vni=0, outer=None):
    """Geneve from its bytes (RFC 8926 section 3.4), so that any field can hold any value."""
    hdr = struct.pack("!BBHI", first if first is not None else opt_len, flags, proto, vni << 8)
    return bytes((outer if outer is not None else v4()) / UDP(sport=50001, dport=6081, chksum=0) /
                 Raw(hdr + options + payload))


def extremes():
    vx4 = bytes(v4() / vx() / INNER)
    row(v4() / vx(vni=0) / INNER, "none", INNER_B, what="vxlan VNI 0")
    row(v4() / vx(vni=0xFFFFFF) / INNER, "none", INNER_B, what="vxlan VNI 0xffffff")
    row(v4() / UDP(sport=0, dport=4789, chksum=0) / VXLAN(flags=0x08, vni=1) / INNER, "none", INNER_B, what="UDP source port 0")
    row(v4() / UDP(sport=65535, dport=4789, chksum=0) / VXLAN(flags=0x08, vni=1) / INNER, "none", INNER_B, what="UDP source port 65535")
    row(v4() / UDP(sport=50000, dport=0, chksum=0) / VXLAN(flags=0x08, vni=1) / INNER, "not_tunnel_port", what="UDP destination port 0")
    row(v4() / UDP(sport=4789, dport=65535, chksum=0) / VXLAN(flags=0x08, vni=1) / INNER, "not_tunnel_port",
        what="UDP destination port 65535 (source port 4789 says nothing)")
    row(v4(ttl=0) / vx() / INNER, "none", INNER_B, what="IPv4 TTL 0")
    row(v4(tos=0xFF, id=0xFFFF) / vx() / INNER, "none", INNER_B, what="IPv4 TOS and ID 0xff..")
    row(v4(flags="evil+DF") / vx() / INNER, "none", INNER_B, what="IPv4 reserved flag and DF (not a fragment)")
    row(v4(frag=0x1FFF) / vx() / INNER, "ip_fragment", what="IPv4 fragment offset 0x1fff")
    row(v4(proto=0) / vx() / INNER, "not_udp", what="IPv4 protocol 0")
    row(v4(proto=255) / vx() / INNER, "not_udp", what="IPv4 protocol 255")
    for t in (0x0000, 0x05FF, 0xFFFF, 0x8847):
        row(Ether(src="02:aa:00:00:00:01", dst="02:bb:00:00:00:02", type=t) / Raw(vx4[ETH:]), "not_ip",
            what="EtherType 0x%04x" % t)
    row(patch(vx4, 0, b"\xff" * 12), "none", INNER_B, what="broadcast destination and source MACs")
    for flags, reason in ((0xFF, "none"), (0xF7, "vxlan_no_vni_flag"), (0x00, "vxlan_no_vni_flag"), (0x08, "none")):
        b = patch(vx4, ETH + V4 + UDPH, bytes([flags, 0xFF, 0xFF, 0xFF]))
        b = patch(b, ETH + V4 + UDPH + 7, b"\xff")
        row(b, reason, INNER_B if reason == "none" else None, what="vxlan flags 0x%02x, reserved bytes 0xff" % flags)
    for ver in (1, 2, 3):
        row(raw_geneve(0, b"", 0x6558, INNER_B, first=ver << 6), "geneve_bad_version", what="geneve version %d" % ver)
    row(raw_geneve(0, b"", 0x6558, INNER_B, flags=0xFF), "geneve_oam", what="geneve flags 0xff (O, C, reserved)")
    row(raw_geneve(0, b"", 0x6558, INNER_B, flags=0x7F, vni=0xFFFFFF), "none", INNER_B,
        what="geneve C and reserved bits, no option, VNI 0xffffff")
    for proto, reason in ((0x0000, "geneve_bad_protocol"), (0x05FF, "geneve_bad_protocol"), (0x0600, "none"), (0xFFFF, "none")):
        row(raw_geneve(0, b"", proto, INNER_L3), reason, eth_l3(proto) + INNER_L3 if reason == "none" else None,
            what="geneve protocol 0x%04x" % proto)
    row(raw_geneve(1, struct.pack("!HBB", 0x0108, 0x80, 0), 0x0800, INNER_L3), "geneve_critical_option",
        what="geneve class 0x0108 type 0x80 (critical)")
    row(raw_geneve(1, struct.pack("!HBB", 0xFFFF, 0xFF, 0), 0x0800, INNER_L3), "geneve_critical_option",
        what="geneve class 0xffff type 0xff")
    row(raw_geneve(1, struct.pack("!HBB", 0xFFFF, 0x7F, 0xE0), 0x0800, INNER_L3), "none", eth_l3(0x0800) + INNER_L3,
        what="geneve option reserved bits set")
    v6 = OUT / IPv6(src="fd00::1", dst="fd00::2")
    row(bytes(OUT / IPv6(src="fd00::1", dst="fd00::2", plen=0xFFFF) / vx() / INNER), "ip_bad_length", what="IPv6 payload length 0xffff")
    row(bytes(OUT / IPv6(src="fd00::1", dst="fd00::2", hlim=0, fl=0xFFFFF, tc=0xFF) / vx() / INNER), "none", INNER_B,
        what="IPv6 hop limit 0, flow label and traffic class maximal")
    row(patch(bytes(v6 / vx() / INNER), ETH, b"\x46"), "ip_bad_header", what="IPv4 version in the IPv6 EtherType")
    row(v6 / UDP(sport=50000, dport=4789, chksum=0) / VXLAN(flags=0x08, vni=9) / INNER, "none", INNER_B,
        what="IPv6 with a zero UDP checksum (accepted: RFC 6935, checksums not verified)")


def nesting():
    # Only the mirroring layers come off (README.md, decap): the outer VXLAN, or GWLB Geneve and
    # the Traffic Mirroring VXLAN inside it. Whatever the delivered frame carries stays.
    f = INNER
    for depth in range(1, 11):
        f = Ether(src="02:33:00:00:00:%02x" % depth, dst="02:33:00:00:01:00") / IP(src="10.1.1.%d" % depth, dst="10.1.1.200") / \
            UDP(sport=40000 + depth, dport=4789, chksum=0) / VXLAN(flags=0x08, vni=depth) / f
        if depth in (1, 2, 5, 10):
            row(v4() / vx(vni=1000 + depth) / f, "none", bytes(f), what="vxlan carrying %d more vxlan layers" % depth)
    gvg = Ether(src="02:44:00:00:00:01", dst="02:44:00:00:00:02") / IP(src="10.2.2.1", dst="10.2.2.2") / \
        UDP(sport=40000, dport=6081, chksum=0) / GENEVE(proto=0x6558, vni=5) / \
        Ether(src="02:44:00:00:00:03", dst="02:44:00:00:00:04") / IP(src="10.2.2.3", dst="10.2.2.4") / \
        UDP(sport=40001, dport=4789, chksum=0) / VXLAN(flags=0x08, vni=6) / INNER
    row(v4() / vx(vni=4) / gvg, "none", bytes(gvg), what="vxlan in geneve in vxlan: the outer vxlan only")
    tm_deep = IP(src="172.31.0.238", dst="10.0.8.64") / UDP(sport=65400, dport=4789, chksum=0) / VXLAN(flags=0x08, vni=123) / gvg
    row(gwlb(tm_deep), "none", bytes(gvg), what="gwlb / vxlan / geneve / vxlan: the two mirroring layers only")
    g_in_g = IP(src="10.3.3.1", dst="10.3.3.2") / UDP(sport=40000, dport=6081, chksum=0) / GENEVE(proto=0x0800, optionlen=0) / INNER[IP]
    row(gwlb(g_in_g), "none", eth_l3(0x0800) + bytes(g_in_g), what="geneve in gwlb geneve: not a mirroring layer, L3 payload")
    tm6 = IPv6(src="fd01::1", dst="fd01::2") / IPv6ExtHdrHopByHop() / UDP(sport=65401, dport=4789, chksum=0) / VXLAN(flags=0x08, vni=124) / INNER
    row(gwlb(tm6), "none", INNER_B, what="gwlb / IPv6 hop-by-hop / vxlan: both layers off")
    frag = IP(src="172.31.0.238", dst="10.0.8.64", flags="MF") / UDP(sport=65400, dport=4789, chksum=0) / VXLAN(flags=0x08, vni=123) / INNER
    row(gwlb(frag), "none", eth_l3(0x0800) + bytes(frag), what="gwlb / IPv4 first fragment of vxlan: not a whole datagram, L3 payload")
    bad = IP(src="172.31.0.238", dst="10.0.8.64") / UDP(sport=65400, dport=4789, chksum=0) / VXLAN(flags=0x00, vni=123) / INNER
    row(gwlb(bad), "vxlan_no_vni_flag", what="gwlb / vxlan without the I flag")
    short = IP(src="172.31.0.238", dst="10.0.8.64") / UDP(sport=65400, dport=4789, chksum=0) / VXLAN(flags=0x08, vni=123) / Raw(INNER_B[:13])
    row(gwlb(short), "inner_runt", what="gwlb / vxlan / 13-byte inner frame")


def ip_options_and_extensions():
    row(v4(options=[b"\x01\x01\x01\x00"]) / vx() / INNER, "none", INNER_B, what="IPv4 IHL 6: NOP NOP NOP EOL")
    rr = b"\x07\x27\x04" + b"\x00" * 36 + b"\x00"  # record route, 39 bytes, then EOL: IHL 15
    row(v4(options=[rr]) / vx() / INNER, "none", INNER_B, what="IPv4 IHL 15: record route")
    row(v4(options=[b"\x94\x04\x00\x00"]) / gen(proto=0x6558) / INNER, "none", INNER_B, what="IPv4 router alert, geneve")
    row(v4(options=[b"\x44\xff\x05\x00"]) / vx() / INNER, "none", INNER_B,
        what="IPv4 option claiming 255 bytes (option contents are no receiver's business)")
    full = bytes(v4(options=[rr]) / vx() / INNER)
    row(set_ipv4_length(full, ETH, 59), "ip_bad_length", what="IPv4 IHL 15, total length 59")
    row(full[:ETH + 40], "headers_truncated", what="IPv4 IHL 15, frame ends inside the options")
    tm = IP(src="172.31.0.238", dst="10.0.8.64", options=[b"\x01\x01\x01\x00"] * 3) / UDP(sport=65400, dport=4789, chksum=0) / \
        VXLAN(flags=0x08, vni=123) / INNER
    row(gwlb(tm), "none", INNER_B, what="gwlb / IPv4 with options / vxlan: both layers off")

    v6 = OUT / IPv6(src="fd00::1", dst="fd00::2")
    kinds = [IPv6ExtHdrHopByHop, IPv6ExtHdrDestOpt, IPv6ExtHdrRouting]
    for n in (1, 2, 3, 5, 7, MAX_IPV6_EXT_HEADERS, MAX_IPV6_EXT_HEADERS + 1, 12, 30):
        chain = IPv6ExtHdrHopByHop()
        for i in range(1, n):
            chain = chain / kinds[1 + i % 2]()
        reason = "none" if n <= MAX_IPV6_EXT_HEADERS else "ip_bad_header"
        row(v6 / chain / vx() / INNER, reason, INNER_B if reason == "none" else None,
            what="IPv6, %d extension headers before UDP" % n)
    big = IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00" * 254)] * 7)  # 7 PadN of 256 bytes
    row(v6 / big / vx() / INNER, "none", INNER_B, what="IPv6 destination options of %d bytes" % len(bytes(big)))
    b = bytes(v6 / IPv6ExtHdrDestOpt() / vx() / INNER)
    row(patch(b, ETH + V6 + 1, b"\xff"), "ip_bad_header", what="IPv6 extension header longer than the payload (2048 bytes)")
    row(v6 / IPv6ExtHdrHopByHop() / IPv6ExtHdrFragment(offset=0, m=1) / vx() / INNER, "ip_fragment",
        what="IPv6 fragment header after hop-by-hop")
    row(v6 / IPv6ExtHdrDestOpt() / TCP(sport=1, dport=4789), "not_udp", what="IPv6 destination options then TCP")
    row(v6 / IPv6ExtHdrDestOpt(nh=59) / Raw(b"\x00" * 16), "not_udp", what="IPv6 destination options then no next header")
    cut = bytes(v6 / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / vx() / INNER)
    row(cut[:ETH + V6 + 9], "ip_bad_length", what="IPv6 chain, frame ends inside the second extension header")
    row(patch(cut[:ETH + V6 + 9], ETH + 4, struct.pack("!H", 9)), "headers_truncated",
        what="IPv6 chain, payload length agrees with a cut inside the second extension header")


def vlans():
    ip = IP(src="192.168.50.1", dst="192.168.50.2")
    for name, tags in (("802.1Q VLAN 0", Dot1Q(vlan=0)), ("802.1Q VLAN 4095 PCP 7 DEI", Dot1Q(vlan=4095, prio=7, id=1)),
                       ("QinQ 0x88a8 + 0x8100", Dot1AD(vlan=1) / Dot1Q(vlan=2)),
                       ("two 0x8100 tags", Dot1Q(vlan=1) / Dot1Q(vlan=2))):
        row(OUT / tags / ip / vx() / INNER, "none", INNER_B, what=name)
    row(OUT / Dot1Q(vlan=1) / IPv6(src="fd00::1", dst="fd00::2") / vx() / INNER, "none", INNER_B, what="802.1Q then IPv6")
    b = bytes(Ether(src="02:aa:00:00:00:01", dst="02:bb:00:00:00:02", type=0x9100) / Dot1Q(vlan=3) / ip / vx() / INNER)
    row(b, "none", INNER_B, what="0x9100 outer tag then 0x8100")
    for n in (3, 4, 8):
        tags = Dot1Q(vlan=1)
        for i in range(1, n):
            tags = tags / Dot1Q(vlan=1 + i)
        row(OUT / tags / ip / vx() / INNER, "not_ip", what="%d VLAN tags (two are walked)" % n)
    row(OUT / Dot1Q(vlan=1, type=0x0806) / Raw(b"\x00" * 28), "not_ip", what="802.1Q then ARP")
    qq = bytes(OUT / Dot1AD(vlan=1) / Dot1Q(vlan=2) / ip / vx() / INNER)
    for k in (ETH + 1, ETH + 3, ETH + 4, ETH + 7):
        row(qq[:k], "headers_truncated", what="QinQ frame cut at %d" % k)


def main():
    outdir = sys.argv[1]
    rng = random.Random(15)
    truncations()
    length_fields()
    extremes()
    nesting()
    ip_options_and_extensions()
    vlans()
    bad = list(ROWS)
    good = good_packets()
    # Good packets spread through the bad ones at fixed random places.
    ROWS.clear()
    slots = sorted(rng.sample(range(len(bad) + len(good)), len(good)))
    gi = bi = 0
    for i in range(len(bad) + len(good)):
        if gi < len(good) and slots[gi] == i:
            frame, inner, what = good[gi]
            ROWS.append((frame, "none", inner.hex(), what))
            gi += 1
        else:
            ROWS.append(bad[bi])
            bi += 1
    # Classic pcap written here: frames of any length, down to none, exactly as built.
    with open(os.path.join(outdir, "hostile.pcap"), "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, (frame, *_rest) in enumerate(ROWS):
            f.write(struct.pack("<IIII", 1700000200 + i, 0, len(frame), len(frame)) + frame)
    with open(os.path.join(outdir, "hostile.tsv"), "w") as f:
        f.write("# index\treason\texpected_inner_hex\twhat\n")
        for i, (_frame, reason, inner, what) in enumerate(ROWS):
            f.write("%d\t%s\t%s\t%s\n" % (i, reason, inner, what))
    print("%d rows (%d good tunnel packets) written to %s" % (len(ROWS), len(good), outdir))


if __name__ == "__main__":
    main()
