"""mirrorpipe's symmetric flow hash, written again from its specification (encap/flow.h).

An independent implementation: the golden generator uses it to predict the outer UDP source
port and the GWLB flow cookie, so that the expected bytes never come from mirrorpipe itself.

Specification:
  IPv4  valid when version 4, IHL >= 5 and total length 0 or >= IHL; otherwise non-IP.
  key   TCP/UDP/SCTP: addresses, protocol, ports; ICMP/ICMPv6 echo: addresses, protocol, echo
        identifier (as both ports); other IP, fragments, unwalked IPv6 extensions: addresses,
        protocol (ports 0); non-IP: the two MACs and the innermost EtherType.
  order the endpoint with the smaller (address bytes, port) comes first (symmetry).
  words IPv4: (le32(a) << 32) | le32(b); IPv6: le64(a[0:8]), le64(a[8:16]), le64(b[0:8]),
        le64(b[8:16]); then (addr_len << 48) | (proto << 32) | (port_a << 16) | port_b.
        Non-IP: le64(mac_a + 00 00), le64(mac_b + 00 00), 0xffff0000 | ethertype.
  hash  CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) of the words' bytes, each word
        as 8 bytes little-endian, the register starting at 0xFFFFFFFF and taken as it ends (no
        final inversion). The CRC here is the bitwise definition; crc32c_standard() checks it
        against RFC 3720's test vectors on import.
  port  lo + ((hash * (hi - lo + 1)) >> 32).
"""
import struct

VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)


def _crc32c(crc, data):
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc


def crc32c_standard(data: bytes) -> int:
    """CRC-32C as RFC 3720 defines it (initial and final inversion)."""
    return _crc32c(0xFFFFFFFF, data) ^ 0xFFFFFFFF


# RFC 3720, appendix B.4: 32 bytes of zeros, of ones, ascending, descending.
assert crc32c_standard(bytes(32)) == 0x8A9136AA
assert crc32c_standard(b"\xff" * 32) == 0x62A8AB43
assert crc32c_standard(bytes(range(32))) == 0x46DD794E
assert crc32c_standard(bytes(range(31, -1, -1))) == 0x113FDB5C


def _mix(words):
    return _crc32c(0xFFFFFFFF, b"".join(w.to_bytes(8, "little") for w in words))


def _le(b):
    return int.from_bytes(b, "little")


def _ip_hash(a, b, proto, pa, pb):
    if (a, pa) > (b, pb):
        a, b, pa, pb = b, a, pb, pa
    if len(a) == 4:
        words = [(_le(a) << 32) | _le(b)]
    else:
        words = [_le(a[0:8]), _le(a[8:16]), _le(b[0:8]), _le(b[8:16])]
    words.append((len(a) << 48) | (proto << 32) | (pa << 16) | pb)
    return _mix(words)


def _l4(frame, off, proto):
    if proto in (6, 17, 132) and len(frame) >= off + 4:
        return struct.unpack_from("!HH", frame, off)
    if proto in (1, 58) and len(frame) >= off + 8:
        t = frame[off]
        echo = (0, 8) if proto == 1 else (128, 129)
        if t in echo:
            ident = struct.unpack_from("!H", frame, off + 4)[0]
            return ident, ident
    return 0, 0


def flow_hash(frame: bytes) -> int:
    """The hash of one Ethernet frame (bytes as captured)."""
    etype = struct.unpack_from("!H", frame, 12)[0]
    off = 14
    tags = 0
    while etype in VLAN_TPIDS and tags < 8 and len(frame) >= off + 4:
        etype = struct.unpack_from("!H", frame, off + 2)[0]
        off += 4
        tags += 1
    total = struct.unpack_from("!H", frame, off + 2)[0] if len(frame) >= off + 4 else 0
    if (etype == 0x0800 and len(frame) >= off + 20 and frame[off] >> 4 == 4 and (frame[off] & 15) >= 5
            and (total == 0 or total >= (frame[off] & 15) * 4)):
        ihl = (frame[off] & 15) * 4
        proto = frame[off + 9]
        frag = struct.unpack_from("!H", frame, off + 6)[0] & 0x3FFF
        src, dst = frame[off + 12:off + 16], frame[off + 16:off + 20]
        pa, pb = (0, 0) if frag else _l4(frame, off + ihl, proto)
        return _ip_hash(src, dst, proto, pa, pb)
    if etype == 0x86DD and len(frame) >= off + 40 and frame[off] >> 4 == 6:
        src, dst = frame[off + 8:off + 24], frame[off + 24:off + 40]
        nh = frame[off + 6]
        at = off + 40
        for _ in range(16):
            if nh in (0, 43, 60) and len(frame) >= at + 2:
                nh, at = frame[at], at + (frame[at + 1] + 1) * 8
            elif nh == 51 and len(frame) >= at + 2:
                nh, at = frame[at], at + (frame[at + 1] + 2) * 4
            elif nh == 44 and len(frame) >= at + 8:
                return _ip_hash(src, dst, frame[at], 0, 0)
            else:
                break
        pa, pb = _l4(frame, at, nh)
        return _ip_hash(src, dst, nh, pa, pb)
    dst_mac, src_mac = frame[0:6], frame[6:12]
    a, b = (src_mac, dst_mac) if src_mac <= dst_mac else (dst_mac, src_mac)
    return _mix([_le(a + b"\0\0"), _le(b + b"\0\0"), 0xFFFF0000 | etype])


def hash_to_port(h: int, lo: int, hi: int) -> int:
    return lo + ((h * (hi - lo + 1)) >> 32)
