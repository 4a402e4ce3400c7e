#!/usr/bin/python3
"""The decapsulation table: frames built with scapy (some deliberately broken) and, for each,
the reason mirrorpipe must drop it under, or "none" with the inner frame it must deliver.

Writes <outdir>/decap-table.pcap and <outdir>/decap-table.tsv with columns:
index, expected reason (default), expected reason with --verify-checksums, expected inner frame
(hex, "-" when dropped), what the frame is. Each expectation follows from RFC 7348 / RFC 8926
and the rules in wire-formats.md, not from mirrorpipe's output.

    /usr/bin/python3 test/golden/make_malformed.py test/golden
"""
import os
import struct
import sys

from scapy.all import (ARP, ICMP, IP, TCP, UDP, Dot1AD, Dot1Q, Ether, IPv6, IPv6ExtHdrFragment,
                       IPv6ExtHdrHopByHop, Raw, wrpcap)
from scapy.contrib.geneve import GENEVE, GeneveOptions
from scapy.layers.vxlan import VXLAN

OUT = Ether(src="02:aa:00:00:00:01", dst="02:bb:00:00:00:02")
INNER = Ether(src="02:11:11:11:11:11", dst="02:22:22:22:22:22") / IP(src="10.9.0.1", dst="10.9.0.2") / TCP(sport=1111, dport=80, flags="S")
INNER_B = bytes(INNER)
INNER_L3 = bytes(INNER[IP])


def v4(**kw):
    return OUT / IP(src="192.168.50.1", dst="192.168.50.2", **kw)


def vx(flags=0x08, vni=4242):
    # Zero UDP checksum, so that the rows that patch bytes afterwards stay valid.
    return UDP(sport=50000, dport=4789, chksum=0) / VXLAN(flags=flags, vni=vni)


def gen(**kw):
    return UDP(sport=50001, dport=6081, chksum=0) / GENEVE(**kw)


def raw(pkt):
    return bytes(pkt)


def patch(b, offset, value_bytes):
    b = bytearray(b)
    b[offset:offset + len(value_bytes)] = value_bytes
    return bytes(b)


def eth_l3(proto):
    """What a decapsulated L3 payload looks like: the outer MACs, then the payload."""
    return bytes(Ether(src="02:aa:00:00:00:01", dst="02:bb:00:00:00:02", type=proto))


ROWS = []


def row(frame, reason, inner=None, verify=None, what="", wirelen=None):
    ROWS.append((frame, reason, verify or reason, inner.hex() if inner is not None else "-", what, wirelen))


def build():
    ok = raw(v4() / vx() / INNER)
    row(ok, "none", INNER_B, what="VXLAN, I flag, VNI 4242")
    row(raw(v4() / vx(flags=0x00) / INNER), "vxlan_no_vni_flag", what="VXLAN I flag clear")
    # Built as bytes: scapy lays VXLAN out as GPE/GBP when those flag bits are set.
    all_flags = bytes([0xFF, 0, 0, 0]) + struct.pack("!I", 4242 << 8)
    row(raw(v4() / UDP(sport=50000, dport=4789, chksum=0) / Raw(all_flags) / INNER), "none", INNER_B,
        what="VXLAN every flag bit set: reserved bits ignored")
    row(patch(ok, 14 + 20 + 8 + 1, b"\xff\xff\xff"), "none", INNER_B, what="VXLAN reserved bytes non-zero")
    row(patch(ok, 14 + 20 + 8 + 7, b"\x5a"), "none", INNER_B, what="VXLAN last reserved byte non-zero")
    row(ok[:10], "headers_truncated", what="10-byte runt")
    row(ok[:14 + 20 + 8 + 4], "headers_truncated", what="capture cut (snaplen) inside the VXLAN header",
        wirelen=len(ok))
    row(ok[:14 + 20 + 8 + 4], "ip_bad_length", what="frame ends inside the VXLAN header")
    row(ok[:14 + 20 + 8 + 8 + 20], "none", INNER_B[:20], what="capture cut (snaplen) inside the inner frame",
        wirelen=len(ok))
    row(raw(Ether(src="02:aa:00:00:00:01", dst="ff:ff:ff:ff:ff:ff") / ARP()), "not_ip", what="ARP")
    row(raw(OUT / Dot1Q(vlan=1) / Dot1Q(vlan=2) / Dot1Q(vlan=3) / IP(src="192.168.50.1", dst="192.168.50.2") / vx() / INNER),
        "not_ip", what="three VLAN tags (two are walked)")
    row(raw(OUT / Dot1AD(vlan=10) / Dot1Q(vlan=20) / IP(src="192.168.50.1", dst="192.168.50.2") / vx() / INNER),
        "none", INNER_B, what="QinQ outer, two tags walked")
    row(raw(OUT / Dot1Q(vlan=30) / IP(src="192.168.50.1", dst="192.168.50.2") / vx() / INNER),
        "none", INNER_B, what="one outer VLAN tag")
    row(raw(v4() / TCP(sport=1, dport=4789)), "not_udp", what="TCP to port 4789")
    row(raw(v4() / UDP(sport=53, dport=53) / Raw(b"x" * 20)), "not_tunnel_port", what="DNS")
    row(raw(v4(ihl=4) / vx() / INNER), "ip_bad_header", what="IPv4 IHL 4")
    row(patch(ok, 14, b"\x65"), "ip_bad_header", what="version 6 in an IPv4 EtherType")
    row(raw(v4(len=2000) / vx() / INNER), "ip_bad_length", what="IPv4 total length beyond the frame")
    row(raw(v4(len=16) / vx() / INNER), "ip_bad_length", what="IPv4 total length below IHL")
    row(raw(v4(len=0) / vx() / INNER), "ip_bad_length", what="IPv4 total length 0 (BIG TCP)")
    row(raw(v4(flags="MF") / vx() / INNER), "ip_fragment", what="IPv4 first fragment (MF)")
    row(raw(v4(frag=100) / vx() / INNER), "ip_fragment", what="IPv4 later fragment (offset)")
    row(raw(OUT / IPv6(src="fd00::1", dst="fd00::2") / IPv6ExtHdrFragment(m=1) / vx() / INNER),
        "ip_fragment", what="IPv6 fragment header")
    row(raw(OUT / IPv6(src="fd00::1", dst="fd00::2", plen=0) / vx() / INNER), "ip_bad_length",
        what="IPv6 payload length 0 without jumbogram")
    row(raw(OUT / IPv6(src="fd00::1", dst="fd00::2") / vx() / INNER), "none", INNER_B, what="IPv6 outer")
    row(raw(OUT / IPv6(src="fd00::1", dst="fd00::2") / IPv6ExtHdrHopByHop() / vx() / INNER), "none", INNER_B,
        what="IPv6 outer, Hop-by-Hop before UDP")
    row(raw(v4(options=[b"\x01\x01\x01\x00"]) / vx() / INNER), "none", INNER_B, what="IPv4 with options (IHL 6)")
    row(raw(v4() / UDP(sport=50000, dport=4789, len=4) / VXLAN(vni=1) / INNER), "udp_bad_length", what="UDP length 4")
    row(raw(v4() / UDP(sport=50000, dport=4789, len=1400) / VXLAN(vni=1) / INNER), "udp_bad_length",
        what="UDP length beyond the IP payload")
    # The UDP length agrees with the IP length; the datagram is just too short for the tunnel
    # header: the header is cut short (by the datagram), the UDP length itself is fine.
    row(raw(v4() / UDP(sport=50000, dport=4789) / Raw(b"\x08\x00\x00")), "headers_truncated",
        what="UDP payload shorter than a VXLAN header")
    row(raw(v4() / vx() / Raw(INNER_B[:13])), "inner_runt", what="inner frame of 13 bytes")
    # UDP length shorter than the IP payload: the inner frame ends where the datagram ends.
    b = raw(v4() / vx() / INNER / Raw(b"TRAILER!"))
    b = patch(b, 14 + 20 + 4, struct.pack("!H", 8 + 8 + len(INNER_B)))
    b = patch(b, 14 + 20 + 6, b"\x00\x00")
    row(b, "none", raw(INNER / Raw(b"TRAILER!"))[:len(INNER_B)],
        what="UDP datagram ends before the IP packet: trailer not delivered")
    row(raw(v4() / vx() / INNER) + b"\x00" * 6, "none", INNER_B, what="Ethernet padding after the IP packet")

    # Checksums: only --verify-checksums looks at them.
    bad_ip = patch(ok, 14 + 10, b"\xde\xad")
    row(bad_ip, "none", INNER_B, verify="ip_bad_checksum", what="wrong IPv4 header checksum")
    good_udp = raw(v4() / UDP(sport=50000, dport=4789) / VXLAN(vni=4242) / INNER)  # scapy fills the checksum
    row(good_udp, "none", INNER_B, what="correct non-zero UDP checksum")
    row(patch(good_udp, 14 + 20 + 6, b"\xbe\xef"), "none", INNER_B, verify="udp_bad_checksum",
        what="wrong non-zero UDP checksum")

    # Geneve.
    gok = raw(v4() / gen(vni=77, proto=0x6558) / INNER)
    row(gok, "none", INNER_B, what="Geneve, Ethernet payload")
    row(raw(v4() / gen(version=1, proto=0x6558) / INNER), "geneve_bad_version", what="Geneve version 1")
    row(raw(v4() / gen(oam=1, proto=0x6558) / INNER), "geneve_oam", what="Geneve O bit")
    # RFC 8926 section 3.4: Protocol Type is an EtherType; 0 (or any 802.3 length) is none.
    row(raw(v4() / gen(proto=0x0000) / Raw(b"x")), "geneve_bad_protocol", what="Geneve protocol type 0, one byte")
    row(raw(v4() / gen(proto=0x05DC) / INNER_L3), "geneve_bad_protocol", what="Geneve protocol type 0x05dc (a length)")
    row(raw(v4() / gen(proto=0x6558, options=[GeneveOptions(classid=0x0100, type=0x81, data=b"abcd")]) / INNER),
        "geneve_critical_option", what="Geneve unknown critical option")
    row(raw(v4() / gen(proto=0x6558, critical=1, options=[GeneveOptions(classid=0x0100, type=0x01, data=b"abcd")]) / INNER),
        "none", INNER_B, what="Geneve C bit set, no critical option present")
    row(raw(v4() / gen(proto=0x6558, optionlen=16, options=[GeneveOptions(classid=0xFF72, type=0x7F, length=15, data=b"x" * 60)]) / INNER),
        "none", INNER_B, what="Geneve 64-byte option")
    over = raw(v4() / gen(proto=0x6558, options=[GeneveOptions(classid=0x0100, type=1, data=b"abcd")]) / INNER)
    row(patch(over, 14 + 20 + 8 + 8 + 3, b"\x05"), "geneve_options_overrun",
        what="Geneve option length beyond opt_len")
    row(raw(v4() / UDP(sport=50001, dport=6081) / Raw(bytes([0x3F, 0, 0x65, 0x58, 0, 0, 0, 0]) + b"\0" * 8)),
        "geneve_options_overrun", what="Geneve opt_len beyond the datagram")
    row(raw(v4() / UDP(sport=50001, dport=6081) / Raw(bytes([0, 0, 0x65, 0x58, 0, 0]))), "headers_truncated",
        what="Geneve UDP payload of 6 bytes, UDP length equal to the IP payload")
    row(raw(v4() / gen(proto=0x6558) / Raw(INNER_B[:10])), "inner_runt", what="Geneve Ethernet payload of 10 bytes")
    row(raw(v4() / gen(proto=0x0800)), "inner_runt", what="Geneve L3 payload empty")
    row(raw(v4() / gen(proto=0x0800) / INNER[IP]), "none", eth_l3(0x0800) + INNER_L3, what="Geneve IPv4 payload (GWLB style)")
    gwlb_opts = [GeneveOptions(classid=0x0108, type=1, data=bytes(range(8))),
                 GeneveOptions(classid=0x0108, type=2, data=bytes(8)),
                 GeneveOptions(classid=0x0108, type=3, data=b"\x01\x02\x03\x04")]
    row(raw(v4() / gen(proto=0x0800, options=gwlb_opts) / INNER[IP]), "none", eth_l3(0x0800) + INNER_L3,
        what="GWLB Geneve with class 0x0108 options")
    # GWLB Geneve wrapping Traffic Mirroring VXLAN: both layers removed.
    tm = IP(src="172.31.0.238", dst="10.0.8.64") / UDP(sport=65400, dport=4789, chksum=0) / VXLAN(vni=123) / INNER
    row(raw(v4() / gen(proto=0x0800, options=gwlb_opts) / tm), "none", INNER_B, what="VXLAN inside GWLB Geneve")
    row(raw(v4() / gen(proto=0x0800) / tm), "none", INNER_B, what="VXLAN inside Geneve without options")
    tm_bad = IP(src="172.31.0.238", dst="10.0.8.64") / UDP(sport=65400, dport=4789, chksum=0) / VXLAN(flags=0, vni=123) / INNER
    row(raw(v4() / gen(proto=0x0800) / tm_bad), "vxlan_no_vni_flag", what="VXLAN inside Geneve, I flag clear")
    # The mirrored frame itself carries VXLAN: only the mirroring layer comes off.
    carried = Ether(src="02:33:00:00:00:01", dst="02:33:00:00:00:02") / IP(src="10.1.1.1", dst="10.1.1.2") / UDP(sport=1, dport=4789, chksum=0) / VXLAN(vni=5) / INNER
    row(raw(v4() / vx() / carried), "none", bytes(carried), what="mirrored frame that carries VXLAN itself")
    # A GWLB packet whose inner IP is UDP to a port that is not VXLAN: the L3 payload as is.
    dns = IP(src="10.9.0.1", dst="10.9.0.2") / UDP(sport=5353, dport=53) / Raw(b"q" * 12)
    row(raw(v4() / gen(proto=0x0800) / dns), "none", eth_l3(0x0800) + bytes(dns), what="Geneve IPv4/UDP (not VXLAN)")
    row(raw(v4() / gen(proto=0x86DD) / IPv6(src="fd00::5", dst="fd00::6") / ICMP()), "none",
        eth_l3(0x86DD) + bytes(IPv6(src="fd00::5", dst="fd00::6") / ICMP()), what="Geneve IPv6 payload")


def main():
    outdir = sys.argv[1]
    build()
    frames = []
    for i, (frame, *_rest, wirelen) in enumerate(ROWS):
        p = Ether(frame) if len(frame) >= 14 else Raw(frame)
        if wirelen:
            p.wirelen = wirelen
        p.time = 1700000100 + i
        frames.append(p)
    wrpcap(os.path.join(outdir, "decap-table.pcap"), frames, linktype=1)
    with open(os.path.join(outdir, "decap-table.tsv"), "w") as f:
        f.write("# index\treason\treason_with_verify\texpected_inner_hex\twhat\n")
        for i, (_frame, reason, verify, inner, what, _wirelen) in enumerate(ROWS):
            f.write("%d\t%s\t%s\t%s\t%s\n" % (i, reason, verify, inner, what))
    print("%d rows written to %s" % (len(ROWS), outdir))


if __name__ == "__main__":
    main()
