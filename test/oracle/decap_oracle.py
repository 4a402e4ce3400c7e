"""An independent reading of tunnelled captures: what mirrorpipe decap must deliver.

Written from RFC 7348, RFC 8926 and docs (wire-formats.md), not from mirrorpipe's code: the
outer Ethernet/VLAN/IP/UDP layers are read with scapy, the VXLAN and Geneve headers by hand
from the bytes. expected(frame, wire_len) returns (reason, inner, layers, inner_wire) where reason is
"none" or the name of the drop reason, inner the delivered frame's bytes (what the capture holds),
layers a list of (kind, vni) outermost first, and inner_wire the delivered frame's length on the
wire (the UDP datagram ends it; more than len(inner) when the capture was cut by its snaplen).
"""
import struct

from scapy.all import IP, UDP, Dot1AD, Dot1Q, Ether, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting

VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)


def _ip_udp(buf, off, end_wire, v6):
    """Reads IP + UDP at off. Returns (reason, udp_off, udp_end)."""
    if not v6:
        if len(buf) < off + 20:
            return "headers_truncated", 0, 0
        ver, ihl = buf[off] >> 4, (buf[off] & 15) * 4
        if ver != 4 or ihl < 20:
            return "ip_bad_header", 0, 0
        if len(buf) < off + ihl:
            return "headers_truncated", 0, 0
        total = struct.unpack_from("!H", buf, off + 2)[0]
        if total < ihl or total > end_wire - off:
            return "ip_bad_length", 0, 0
        if struct.unpack_from("!H", buf, off + 6)[0] & 0x3FFF:
            return "ip_fragment", 0, 0
        proto, l4, ip_end = buf[off + 9], off + ihl, off + total
    else:
        if len(buf) < off + 40:
            return "headers_truncated", 0, 0
        if buf[off] >> 4 != 6:
            return "ip_bad_header", 0, 0
        plen = struct.unpack_from("!H", buf, off + 4)[0]
        if plen == 0 or 40 + plen > end_wire - off:
            return "ip_bad_length", 0, 0
        ip_end = off + 40 + plen
        nh, l4 = buf[off + 6], off + 40
        while nh in (0, 43, 60, 44):
            if nh == 44:
                return "ip_fragment", 0, 0
            if len(buf) < l4 + 2:
                return "headers_truncated", 0, 0
            nh, l4 = buf[l4], l4 + (buf[l4 + 1] + 1) * 8
        proto = nh
    if proto != 17:
        return "not_udp", 0, 0
    if len(buf) < l4 + 8:
        return "headers_truncated", 0, 0
    ulen = struct.unpack_from("!H", buf, l4 + 4)[0]
    if ulen < 8 or ulen > ip_end - l4:
        return "udp_bad_length", 0, 0
    return "none", l4, l4 + ulen


def _vxlan(buf, udp_off, udp_end):
    h = udp_off + 8
    if udp_end - h < 8:
        return "udp_bad_length", None, None
    if len(buf) < h + 8:
        return "headers_truncated", None, None
    if not buf[h] & 0x08:
        return "vxlan_no_vni_flag", None, None
    vni = int.from_bytes(buf[h + 4:h + 7], "big")
    if udp_end - (h + 8) < 14:
        return "inner_runt", None, None
    return "none", buf[h + 8:min(udp_end, len(buf))], (vni, udp_end - (h + 8))


def expected(buf, wire_len, vxlan_ports=(4789,), geneve_ports=(6081,)):
    buf = bytes(buf)
    wire_len = max(wire_len, len(buf))
    if len(buf) < 14:
        return "headers_truncated", None, [], 0
    etype, off = struct.unpack_from("!H", buf, 12)[0], 14
    for _ in range(2):
        if etype not in VLAN_TPIDS:
            break
        if len(buf) < off + 4:
            return "headers_truncated", None, [], 0
        etype, off = struct.unpack_from("!H", buf, off + 2)[0], off + 4
    if etype not in (0x0800, 0x86DD):
        return "not_ip", None, [], 0
    r, uo, ue = _ip_udp(buf, off, wire_len, etype == 0x86DD)
    if r != "none":
        return r, None, [], 0
    dport = struct.unpack_from("!H", buf, uo + 2)[0]
    if dport in vxlan_ports:
        r, inner, info = _vxlan(buf, uo, ue)
        return (r, inner, [("vxlan", info[0])], info[1]) if r == "none" else (r, None, [], 0)
    if dport not in geneve_ports:
        return "not_tunnel_port", None, [], 0
    g = uo + 8
    if ue - g < 8:
        return "udp_bad_length", None, [], 0
    if len(buf) < g + 8:
        return "headers_truncated", None, [], 0
    if buf[g] >> 6 != 0:
        return "geneve_bad_version", None, [], 0
    optlen = (buf[g] & 0x3F) * 4
    if optlen > ue - g - 8:
        return "geneve_options_overrun", None, [], 0
    if len(buf) < g + 8 + optlen:
        return "headers_truncated", None, [], 0
    at, end = g + 8, g + 8 + optlen
    while at < end:
        if end - at < 4:
            return "geneve_options_overrun", None, [], 0
        olen = 4 + (buf[at + 3] & 0x1F) * 4
        if olen > end - at:
            return "geneve_options_overrun", None, [], 0
        if buf[at + 2] & 0x80:
            return "geneve_critical_option", None, [], 0
        at += olen
    if buf[g + 1] & 0x80:
        return "geneve_oam", None, [], 0
    proto = struct.unpack_from("!H", buf, g + 2)[0]
    vni = int.from_bytes(buf[g + 4:g + 7], "big")
    payload = g + 8 + optlen
    if proto == 0x6558:
        if ue - payload < 14:
            return "inner_runt", None, [], 0
        return "none", buf[payload:min(ue, len(buf))], [("geneve", vni)], ue - payload
    if ue == payload:
        return "inner_runt", None, [], 0
    if proto in (0x0800, 0x86DD):
        r, nuo, nue = _ip_udp(buf, payload, ue, proto == 0x86DD)
        if r == "none" and struct.unpack_from("!H", buf, nuo + 2)[0] in vxlan_ports:
            r, inner, info = _vxlan(buf, nuo, nue)
            return (r, inner, [("geneve", vni), ("vxlan", info[0])], info[1]) if r == "none" else (r, None, [], 0)
    eth = buf[0:6] + buf[6:12] + struct.pack("!H", proto)
    return "none", eth + buf[payload:min(ue, len(buf))], [("geneve", vni)], 14 + ue - payload
