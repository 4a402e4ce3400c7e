#include "decap/appliance.h"

#include <cstring>

#include "encap/flow.h"
#include "encap/wire/checksum.h"
#include "encap/wire/geneve.h"
#include "encap/wire/ipv4.h"
#include "encap/wire/ipv6.h"
#include "encap/wire/l4.h"

namespace mirrorpipe {

using namespace wire;

namespace {

void set_ipv4_checksum(Ipv4Header& ip) noexcept {
  ip.checksum.set_raw(0);
  const auto* p = reinterpret_cast<const uint8_t*>(&ip);
  // The common 20-byte header summed with a constant length: five unrolled adds.
  const uint64_t sum = ip.ihl_bytes() == kIpv4MinHeaderBytes ? checksum_partial(p, kIpv4MinHeaderBytes)
                                                             : checksum_partial(p, ip.ihl_bytes());
  ip.checksum.set_raw(checksum_finish(sum));
}

// Big-endian 128-bit comparison of two addresses: <0, 0, >0 as memcmp.
int compare_addresses(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b) noexcept {
  for (size_t i = 0; i < 16; i += 8) {
    uint64_t x, y;
    std::memcpy(&x, a.data() + i, 8);
    std::memcpy(&y, b.data() + i, 8);
    if (x != y) return __builtin_bswap64(x) < __builtin_bswap64(y) ? -1 : 1;
  }
  return 0;
}

}  // namespace

DropReason appliance_return(PacketRef& pkt, const ApplianceConfig& cfg, DecapResult& parsed) noexcept {
  const DropReason r = decap_parse(Bytes(pkt.data, pkt.len), pkt.wire_len, cfg.decap, parsed);
  if (r != DropReason::kNone) return r;
  const TunnelLayer& outer = parsed.layers[0];
  // What GWLB sends: outer IPv4, Geneve VNI 0, an IP payload, and all three class-0x0108
  // options (endpoint ID, attachment ID, flow cookie). Anything else is not returned.
  if (outer.type != TunnelType::kGeneve || outer.ipv6 || outer.vni != 0 ||
      (outer.geneve_protocol != ethertype::kIpv4 && outer.geneve_protocol != ethertype::kIpv6) ||
      outer.gwlb_options != kGwlbAllOptions) {
    return DropReason::not_gwlb;
  }
  // GWLB sends from its own unicast address and MAC. A packet claiming a group, loopback or
  // unspecified source would be returned toward every host of a group, or nowhere real: a
  // spoofed packet, never returned (no reflection, no amplification).
  const Ipv4Address& from = reinterpret_cast<const Ipv4Header*>(pkt.data + parsed.outer_l3_offset)->src;
  if (group_or_loopback(from) || (parsed.outer_src_mac[0] & 1) != 0) {
    return DropReason::gwlb_source_bad;
  }
  // decap_parse checked that the Ethernet and IPv4 headers are present in full.
  auto* eth = reinterpret_cast<EthernetHeader*>(pkt.data);
  eth->dst = parsed.outer_src_mac;
  eth->src = cfg.mac;
  auto* ip = reinterpret_cast<Ipv4Header*>(pkt.data + parsed.outer_l3_offset);
  const Ipv4Address src = ip->src;
  ip->src = ip->dst;
  ip->dst = src;
  ip->ttl = cfg.ttl;
  set_ipv4_checksum(*ip);
  return DropReason::kNone;
}

bool inner_flow_key_general(const uint8_t* l3, uint32_t len, uint16_t ethertype, uint64_t endpoint_id,
                            InnerFlowKey& out) noexcept {
  const Bytes b(l3, len);
  std::array<uint8_t, 16> src{}, dst{};
  bool ipv6 = false;
  uint32_t l4 = 0;
  uint8_t proto = 0;
  bool ports = false;
  if (ethertype == ethertype::kIpv4) {
    const auto* ip = header_at<Ipv4Header>(b, 0);
    if (!ip || ip->version() != 4 || ip->ihl_bytes() < kIpv4MinHeaderBytes) return false;
    std::memcpy(src.data(), ip->src.data(), 4);
    std::memcpy(dst.data(), ip->dst.data(), 4);
    proto = ip->protocol;
    l4 = ip->ihl_bytes();
    // Only a first fragment (or an unfragmented packet) carries the ports.
    ports = (ip->flags_fragment.value() & Ipv4Header::kFragmentOffsetMask) == 0;
  } else if (ethertype == ethertype::kIpv6) {
    const auto* ip = header_at<Ipv6Header>(b, 0);
    if (!ip || ip->version() != 6) return false;
    src = ip->src;
    dst = ip->dst;
    ipv6 = true;
    proto = ip->next_header;
    l4 = kIpv6HeaderBytes;
    ports = true;
    for (int guard = 0; guard < 8; ++guard) {
      if (proto != ipproto::kHopByHop && proto != ipproto::kRouting && proto != ipproto::kDestOpts) break;
      const auto* ext = header_at<Ipv6ExtHeader>(b, l4);
      if (!ext) break;
      proto = ext->next_header;
      l4 += ext->length_bytes();
    }
    if (proto == ipproto::kFragment) ports = false;
  } else {
    return false;
  }
  uint16_t sport = 0, dport = 0;
  if (ports && (proto == ipproto::kTcp || proto == ipproto::kUdp || proto == ipproto::kSctp)) {
    if (const auto* p = header_at<L4Ports>(b, l4)) {
      sport = p->src_port.value();
      dport = p->dst_port.value();
    }
  }
  out = make_flow_key(endpoint_id, proto, ipv6, src, sport, dst, dport);
  return true;
}

InnerFlowKey make_flow_key(uint64_t endpoint_id, uint8_t protocol, bool ipv6, const std::array<uint8_t, 16>& src,
                           uint16_t src_port, const std::array<uint8_t, 16>& dst, uint16_t dst_port) noexcept {
  InnerFlowKey k;
  k.endpoint_id = endpoint_id;
  k.protocol = protocol;
  k.ipv6 = ipv6;
  const int order = compare_addresses(src, dst);
  const bool swap = order > 0 || (order == 0 && src_port > dst_port);
  k.addr_lo = swap ? dst : src;
  k.addr_hi = swap ? src : dst;
  k.port_lo = swap ? dst_port : src_port;
  k.port_hi = swap ? src_port : dst_port;
  return k;
}

DropReason gwlb_wrap(PacketRef& pkt, const uint8_t* header, uint32_t header_len,
                     uint32_t l3_offset) noexcept {
  if (pkt.headroom < header_len) return DropReason::no_headroom;
  const uint32_t ip_total = header_len - l3_offset + pkt.wire_len;
  if (ip_total > kIpv4MaxTotalLengthBytes) return DropReason::too_big;
  pkt.prepend(header_len);
  std::memcpy(pkt.data, header, header_len);
  auto* ip = reinterpret_cast<Ipv4Header*>(pkt.data + l3_offset);
  ip->total_length.set(static_cast<uint16_t>(ip_total));
  set_ipv4_checksum(*ip);
  const uint32_t udp_off = l3_offset + ip->ihl_bytes();
  auto* udp = reinterpret_cast<UdpHeader*>(pkt.data + udp_off);
  const uint32_t udp_len = ip_total - ip->ihl_bytes();
  udp->length.set(static_cast<uint16_t>(udp_len));
  if (udp->checksum.raw() != 0) {
    udp->checksum.set_raw(0);
    const uint64_t sum = udp_pseudo_header_partial(ip->src.data(), 8) + udp->length.raw();
    uint16_t c = checksum_finish(checksum_partial(pkt.data + udp_off, pkt.len - udp_off, sum));
    if (c == 0) c = 0xffff;  // RFC 768: a computed zero is sent as all ones
    udp->checksum.set_raw(c);
  }
  return DropReason::kNone;
}

}  // namespace mirrorpipe
