// Fuzz target: the encapsulation writer (encap/encap.h encapsulate) with outer-header
// templates built once from a few TunnelConfig variants (VXLAN, Geneve with options, GWLB;
// IPv4 and IPv6; PacketLength; the output's MTU, truncating or dropping; checksum offloads).
//
// Input: two selector bytes, then the frame. Byte 0: bits 0-2 the tunnel, bits 3-4 the
// output's IP MTU (none, 1500, 9001, 120), bit 5 truncate to it (else drop), bits 6-7 the
// IPv4 / UDP checksum offloads. Byte 1: bits 0-1 how much longer the frame was on the wire
// than captured (0, 1, 100, 70000 bytes), bit 2 a short headroom.
//
// Checks, read back through the wire header structs: on success the outer IPv4 total length
// (IPv6 payload length + 40) equals the bytes after the outer Ethernet header, the UDP length
// the bytes from the UDP header on, both on the wire; the IPv4 header checksum is right, and
// so is the UDP checksum when computed over a whole capture; the MTU and PacketLength hold;
// the bytes after the tunnel header are the frame's (from its L3 header for GWLB), unchanged;
// captured never exceeds wire. On a drop the packet is unchanged.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "encap/encap.h"
#include "encap/wire/checksum.h"
#include "encap/wire/ipv4.h"
#include "encap/wire/ipv6.h"
#include "encap/wire/l4.h"
#include "fuzz/fuzz_check.h"

using namespace mirrorpipe;

namespace {

TunnelConfig base(TunnelKind kind, bool v6) {
  TunnelConfig c;
  c.kind = kind;
  c.src_ip = parse_ip(v6 ? "2001:db8::1" : "10.0.0.1");
  c.dst_ip = parse_ip(v6 ? "2001:db8::2" : "10.0.0.2");
  return c;
}

std::array<OuterTemplate, 8> make_templates() {
  std::array<TunnelConfig, 8> c;
  c[0] = base(TunnelKind::kVxlan, false);  // AWS Traffic Mirroring: the fast path
  c[0].vni = 123;
  c[1] = base(TunnelKind::kVxlan, false);
  c[1].packet_length = 64;
  c[1].udp_checksum = UdpChecksumMode::kOn;
  c[2] = base(TunnelKind::kVxlan, true);
  c[2].sport_lo = c[2].sport_hi = 4789;
  c[3] = base(TunnelKind::kGeneve, false);
  c[3].geneve_options = {parse_geneve_option("0x0108:3:0a0b0c0d"), parse_geneve_option("0xffff:0x7f:00000000000000000000000000000000")};
  c[3].udp_checksum = UdpChecksumMode::kOn;
  c[4] = base(TunnelKind::kGeneve, true);
  c[4].geneve_options = {parse_geneve_option("0x0001:1:01020304")};
  c[4].udp_checksum = UdpChecksumMode::kOff;
  c[5] = base(TunnelKind::kGwlb, false);
  c[5].gwlb_endpoint_id = 0x1122334455667788ull;
  c[5].gwlb_attachment_id = 42;
  c[6] = base(TunnelKind::kGwlb, false);
  c[6].packet_length = 100;
  c[6].df = true;
  c[6].dscp = 46;
  c[7] = base(TunnelKind::kVxlan, false);
  c[7].udp_checksum = UdpChecksumMode::kOff;
  c[7].sport_lo = 1;
  c[7].sport_hi = 2;
  std::array<OuterTemplate, 8> t;
  for (size_t i = 0; i < t.size(); ++i) t[i] = build_outer_template(c[i]);
  return t;
}

constexpr uint32_t kMtus[4] = {0, 1500, 9001, 120};
constexpr uint32_t kWireExtra[4] = {0, 1, 100, 70000};

uint64_t udp_pseudo_sum(const uint8_t* ip, bool v6, uint16_t udp_length) {
  const uint8_t tail[4] = {0, 17, static_cast<uint8_t>(udp_length >> 8), static_cast<uint8_t>(udp_length)};
  const uint64_t addresses = v6 ? wire::checksum_partial(ip + 8, 32) : wire::checksum_partial(ip + 12, 8);
  return wire::checksum_partial(tail, 4, addresses);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::array<OuterTemplate, 8> templates = make_templates();
  const uint8_t s0 = fuzz::take_byte(data, size);
  const uint8_t s1 = fuzz::take_byte(data, size);
  if (size > 65535) return 0;
  OuterTemplate t = templates[s0 & 7];
  t.max_ip_length = kMtus[(s0 >> 3) & 3];
  t.truncate_to_mtu = (s0 & 0x20) != 0;
  t.ip_checksum_offload = (s0 & 0x40) != 0;
  t.udp_checksum_offload = t.udp_checksum && (s0 & 0x80) != 0;
  const uint32_t headroom = (s1 & 4) ? 40 : kMaxOuterHeaderBytes;

  std::vector<uint8_t> buf(headroom + size);
  std::copy(data, data + size, buf.begin() + headroom);
  uint8_t* const frame = buf.data() + headroom;
  const FrameMeta meta = parse_frame(wire::Bytes(frame, size));
  PacketRef pkt{frame, static_cast<uint32_t>(size), static_cast<uint32_t>(size) + kWireExtra[s1 & 3], headroom};
  const PacketRef before = pkt;
  const DropReason r = encapsulate(t, meta, pkt);
  if (r != DropReason::kNone) {
    MIRRORPIPE_FUZZ_CHECK(pkt.data == before.data && pkt.len == before.len && pkt.wire_len == before.wire_len &&
                          pkt.headroom == before.headroom && pkt.flags == 0);
    MIRRORPIPE_FUZZ_CHECK(std::equal(data, data + size, frame));
    return 0;
  }

  const bool gwlb = t.kind == TunnelKind::kGwlb;
  const uint32_t skip = gwlb ? meta.l3_offset : 0;
  MIRRORPIPE_FUZZ_CHECK(!gwlb || meta.ip_version != 0);
  MIRRORPIPE_FUZZ_CHECK(pkt.data + t.length_bytes == frame + skip);
  MIRRORPIPE_FUZZ_CHECK(pkt.data >= buf.data());
  MIRRORPIPE_FUZZ_CHECK(pkt.len <= pkt.wire_len);
  MIRRORPIPE_FUZZ_CHECK(pkt.data + pkt.len <= buf.data() + buf.size());
  MIRRORPIPE_FUZZ_CHECK(pkt.len >= t.length_bytes);
  const uint32_t wire_len = pkt.wire_len;

  const uint8_t* ipb = pkt.data + t.ip_offset;
  if (t.ipv6) {
    const auto* ip = reinterpret_cast<const wire::Ipv6Header*>(ipb);
    MIRRORPIPE_FUZZ_CHECK(ip->payload_length_bytes() + wire::kIpv6HeaderBytes == wire_len - t.ip_offset);
  } else {
    const auto* ip = reinterpret_cast<const wire::Ipv4Header*>(ipb);
    MIRRORPIPE_FUZZ_CHECK(ip->total_length_bytes() == wire_len - t.ip_offset);
    if (!t.ip_checksum_offload) MIRRORPIPE_FUZZ_CHECK(wire::checksum_valid(ipb, ip->ihl_bytes()));
  }
  const auto* udp = reinterpret_cast<const wire::UdpHeader*>(pkt.data + t.udp_offset);
  MIRRORPIPE_FUZZ_CHECK(udp->length_bytes() == wire_len - t.udp_offset);
  MIRRORPIPE_FUZZ_CHECK(udp->src_port.value() >= t.sport_lo && uint32_t{udp->src_port.value()} - t.sport_lo < t.sport_span);
  if (t.udp_checksum && !t.udp_checksum_offload && pkt.len == wire_len) {
    MIRRORPIPE_FUZZ_CHECK(udp->checksum.raw() != 0);
    MIRRORPIPE_FUZZ_CHECK(wire::checksum_valid(pkt.data + t.udp_offset, pkt.len - t.udp_offset,
                                               udp_pseudo_sum(ipb, t.ipv6, udp->length.value())));
  }
  if (!t.udp_checksum) MIRRORPIPE_FUZZ_CHECK(udp->checksum.raw() == 0);
  if (t.max_ip_length != 0) MIRRORPIPE_FUZZ_CHECK(wire_len - t.ip_offset <= t.max_ip_length);
  if (t.packet_length != 0) MIRRORPIPE_FUZZ_CHECK(wire_len - t.length_bytes <= t.packet_length);
  if (!(pkt.flags & (PacketRef::kTruncatedMtu | PacketRef::kTruncatedPacketLength)) && !gwlb) {
    MIRRORPIPE_FUZZ_CHECK(wire_len == before.wire_len + t.length_bytes);
  }
  // The payload: the frame's bytes (from its L3 header for GWLB), never rewritten.
  MIRRORPIPE_FUZZ_CHECK(std::equal(pkt.data + t.length_bytes, pkt.data + pkt.len, data + skip));
  return 0;
}
