#include "decap/decap.h"

#include <cstring>

#include "encap/wire/checksum.h"
#include "encap/wire/geneve.h"
#include "encap/wire/ipv4.h"
#include "encap/wire/ipv6.h"
#include "encap/wire/l4.h"
#include "encap/wire/vxlan.h"

namespace mirrorpipe {
namespace {

using namespace wire;

bool port_in(uint16_t port, const std::array<uint16_t, kMaxTunnelPorts>& ports,
             uint8_t count) noexcept {
  for (uint8_t i = 0; i < count; ++i) {
    if (ports[i] == port) return true;
  }
  return false;
}

// Where a UDP datagram was found: [udp_offset, udp_end) in wire terms.
struct UdpSpan {
  uint32_t udp_offset;
  uint32_t udp_end;
};

// Parses IPv4 or IPv6 at `off` up to the UDP header. `end_wire` is where the enclosing
// packet ends on the wire. Fills the layer's addresses.
DropReason parse_ip_udp(Bytes pkt, uint32_t off, uint32_t end_wire, bool ipv6, bool verify,
                        TunnelLayer& layer, UdpSpan& span) noexcept {
  uint32_t l4_off = 0;
  uint32_t ip_end = 0;
  uint8_t proto = 0;
  const uint8_t* addresses = nullptr;  // source then destination, for the pseudo-header
  if (!ipv6) {
    const auto* ip = header_at<Ipv4Header>(pkt, off);
    if (!ip) return DropReason::headers_truncated;
    if (ip->version() != 4 || ip->ihl_bytes() < kIpv4MinHeaderBytes) return DropReason::ip_bad_header;
    if (pkt.size() - off < ip->ihl_bytes()) return DropReason::headers_truncated;
    const uint32_t total = ip->total_length_bytes();
    if (total < ip->ihl_bytes() || total > end_wire - off) return DropReason::ip_bad_length;
    if (ip->is_fragment()) return DropReason::ip_fragment;
    if (verify && !checksum_valid(pkt.data() + off, ip->ihl_bytes())) return DropReason::ip_bad_checksum;
    proto = ip->protocol;
    l4_off = off + ip->ihl_bytes();
    ip_end = off + total;
    layer.ipv6 = false;
    layer.src_ip = {};
    layer.dst_ip = {};
    std::memcpy(layer.src_ip.data(), ip->src.data(), 4);
    std::memcpy(layer.dst_ip.data(), ip->dst.data(), 4);
    addresses = ip->src.data();
  } else {
    const auto* ip = header_at<Ipv6Header>(pkt, off);
    if (!ip) return DropReason::headers_truncated;
    if (ip->version() != 6) return DropReason::ip_bad_header;
    const uint32_t total = kIpv6HeaderBytes + ip->payload_length_bytes();
    // A payload length of 0 (jumbogram or BIG TCP) cannot hold a UDP datagram's length.
    if (ip->payload_length_bytes() == 0 || total > end_wire - off) return DropReason::ip_bad_length;
    ip_end = off + total;
    // Extension headers between IPv6 and UDP (RFC 8200 section 4), at most
    // kMaxIpv6ExtHeaders of them: the limit counts headers walked, not the header after them.
    uint8_t next = ip->next_header;
    uint32_t at = off + kIpv6HeaderBytes;
    for (uint32_t walked = 0;; ++walked) {
      if (next == ipproto::kHopByHop || next == ipproto::kRouting || next == ipproto::kDestOpts) {
        if (walked == kMaxIpv6ExtHeaders) return DropReason::ip_bad_header;
        const auto* ext = header_at<Ipv6ExtHeader>(pkt, at);
        if (!ext) return DropReason::headers_truncated;
        next = ext->next_header;
        at += ext->length_bytes();
      } else if (next == ipproto::kFragment) {
        return DropReason::ip_fragment;
      } else {
        break;
      }
      if (at > ip_end) return DropReason::ip_bad_header;
    }
    proto = next;
    l4_off = at;
    layer.ipv6 = true;
    layer.src_ip = ip->src;
    layer.dst_ip = ip->dst;
    addresses = ip->src.data();
  }
  if (proto != ipproto::kUdp) return DropReason::not_udp;
  const auto* udp = header_at<UdpHeader>(pkt, l4_off);
  if (!udp) return DropReason::headers_truncated;
  const uint32_t udp_len = udp->length_bytes();
  if (udp_len < kUdpHeaderBytes || udp_len > ip_end - l4_off) return DropReason::udp_bad_length;
  layer.src_port = udp->src_port.value();
  layer.dst_port = udp->dst_port.value();
  span = {l4_off, l4_off + udp_len};
  if (verify && udp->checksum.raw() != 0 && span.udp_end <= pkt.size()) {
    // A zero checksum is always accepted (RFC 7348 section 5, RFC 6935 for IPv6). A datagram
    // cut short by the capture cannot be verified and is let through.
    const uint64_t pseudo = udp_pseudo_header_partial(addresses, layer.ipv6 ? 32 : 8) + udp->length.raw();
    if (!checksum_valid(pkt.data() + l4_off, udp_len, pseudo)) return DropReason::udp_bad_checksum;
  }
  return DropReason::kNone;
}

uint64_t load_be64(const uint8_t* p) noexcept {
  Be64 v;
  std::memcpy(v.bytes, p, 8);
  return v.value();
}

// Walks the Geneve options in [off, off + len): each must fit; unknown critical options drop
// the packet (RFC 8926 section 3.5); AWS GWLB options (class 0x0108) are read.
DropReason walk_geneve_options(Bytes pkt, uint32_t off, uint32_t len, TunnelLayer& layer, DecapResult& out) noexcept {
  // What GWLB sends, in the order it sends them: the three class-0x0108 options, 32 bytes in
  // all. Recognised by their three option headers at once, without the walk's chain of dependent
  // loads (the appliance's hottest loop). Anything else, reserved bits set included, takes the
  // general walk below, which gives the same result for this layout.
  constexpr uint32_t kGwlbLayoutBytes = 3 * 4 + 8 + 8 + 4;
  if (len == kGwlbLayoutBytes && pkt.size() >= off + kGwlbLayoutBytes) {
    const uint8_t* p = pkt.data() + off;
    constexpr uint8_t kEndpoint[4] = {0x01, 0x08, gwlb::kTypeEndpointId, 2};
    constexpr uint8_t kAttachment[4] = {0x01, 0x08, gwlb::kTypeAttachmentId, 2};
    constexpr uint8_t kCookie[4] = {0x01, 0x08, gwlb::kTypeFlowCookie, 1};
    static_assert(gwlb::kOptionClass == 0x0108);
    if (std::memcmp(p, kEndpoint, 4) == 0 && std::memcmp(p + 12, kAttachment, 4) == 0 &&
        std::memcmp(p + 24, kCookie, 4) == 0) {
      layer.gwlb_endpoint_id = load_be64(p + 4);
      layer.gwlb_attachment_id = load_be64(p + 16);
      Be32 c;
      std::memcpy(c.bytes, p + 28, 4);
      layer.gwlb_flow_cookie = c.value();
      layer.gwlb_options = kGwlbAllOptions;
      return DropReason::kNone;
    }
  }
  const uint32_t end = off + len;
  while (off < end) {
    const auto* o = header_at<GeneveOptionHeader>(pkt, off);
    if (!o || end - off < 4) return DropReason::geneve_options_overrun;
    const uint32_t total = o->total_length_bytes();
    if (total > end - off) return DropReason::geneve_options_overrun;
    const uint8_t* data = pkt.data() + off + 4;
    if (o->option_class.value() == gwlb::kOptionClass) {
      const uint32_t n = o->data_length_bytes();
      if (o->type == gwlb::kTypeEndpointId && n == 8) {
        layer.gwlb_endpoint_id = load_be64(data);
        layer.gwlb_options |= 1u << gwlb::kTypeEndpointId;
      } else if (o->type == gwlb::kTypeAttachmentId && n == 8) {
        layer.gwlb_attachment_id = load_be64(data);
        layer.gwlb_options |= 1u << gwlb::kTypeAttachmentId;
      } else if (o->type == gwlb::kTypeFlowCookie && n == 4) {
        Be32 c;
        std::memcpy(c.bytes, data, 4);
        layer.gwlb_flow_cookie = c.value();
        layer.gwlb_options |= 1u << gwlb::kTypeFlowCookie;
      }
    }
    if (o->option_class.value() == mirror_meta::kOptionClass && o->type == mirror_meta::kType &&
        o->data_length_bytes() == mirror_meta::kDataBytes) {
      MirrorMetaOption mo;
      std::memcpy(&mo, data, sizeof mo);
      out.has_meta = true;
      out.meta = {mo.worker.value(), mo.sequence.value(), mo.capture_ns.value(), mo.original_length.value()};
    }
    // No critical option is understood here: every one drops the packet.
    if (o->critical()) return DropReason::geneve_critical_option;
    off += total;
  }
  return DropReason::kNone;
}

// Inner payload bounds: what the capture holds and what the wire had.
void set_inner(DecapResult& out, Bytes pkt, uint32_t inner_off, uint32_t udp_end) noexcept {
  out.inner_offset = inner_off;
  out.inner_wire_len = udp_end - inner_off;
  const uint32_t captured_end = udp_end < pkt.size() ? udp_end : static_cast<uint32_t>(pkt.size());
  out.inner_len = captured_end > inner_off ? captured_end - inner_off : 0;
}

DropReason parse_vxlan(Bytes pkt, const UdpSpan& span, TunnelLayer& layer,
                       DecapResult& out) noexcept {
  const uint32_t off = span.udp_offset + kUdpHeaderBytes;
  if (span.udp_end - off < kVxlanHeaderBytes) return DropReason::headers_truncated;  // by the datagram
  const auto* v = header_at<VxlanHeader>(pkt, off);
  if (!v) return DropReason::headers_truncated;
  if (!v->has_vni()) return DropReason::vxlan_no_vni_flag;
  layer.type = TunnelType::kVxlan;
  layer.vni = v->vni();
  const uint32_t inner = off + kVxlanHeaderBytes;
  if (span.udp_end - inner < kEthernetHeaderBytes) return DropReason::inner_runt;
  set_inner(out, pkt, inner, span.udp_end);
  out.l3_protocol = 0;
  return DropReason::kNone;
}

}  // namespace

DropReason decap_parse(Bytes pkt, uint32_t wire_len, const DecapConfig& cfg,
                       DecapResult& out) noexcept {
  out.layer_count = 0;
  out.l3_protocol = 0;
  out.has_meta = false;
  const auto* eth = header_at<EthernetHeader>(pkt, 0);
  if (!eth) return DropReason::headers_truncated;
  out.outer_dst_mac = eth->dst;
  out.outer_src_mac = eth->src;
  uint16_t type = eth->ether_type.value();
  uint32_t off = kEthernetHeaderBytes;
  for (int tags = 0; tags < 2 && ethertype::is_vlan_tpid(type); ++tags) {
    const auto* tag = header_at<VlanTag>(pkt, off);
    if (!tag) return DropReason::headers_truncated;
    type = tag->ether_type.value();
    off += sizeof(VlanTag);
  }
  if (type != ethertype::kIpv4 && type != ethertype::kIpv6) return DropReason::not_ip;
  out.outer_l3_offset = static_cast<uint16_t>(off);

  TunnelLayer& outer = out.layers[0];
  outer = TunnelLayer{};
  UdpSpan span{};
  if (wire_len < pkt.size()) wire_len = static_cast<uint32_t>(pkt.size());
  DropReason r = parse_ip_udp(pkt, off, wire_len, type == ethertype::kIpv6, cfg.verify_checksums,
                              outer, span);
  if (r != DropReason::kNone) return r;
  out.layer_count = 1;

  if (port_in(outer.dst_port, cfg.vxlan_ports, cfg.vxlan_port_count)) {
    return parse_vxlan(pkt, span, outer, out);
  }
  if (!port_in(outer.dst_port, cfg.geneve_ports, cfg.geneve_port_count)) {
    return DropReason::not_tunnel_port;
  }

  // Geneve: base header, then options within opt_len, then the payload.
  const uint32_t g_off = span.udp_offset + kUdpHeaderBytes;
  if (span.udp_end - g_off < kGeneveHeaderBytes) return DropReason::headers_truncated;  // by the datagram
  const auto* g = header_at<GeneveHeader>(pkt, g_off);
  if (!g) return DropReason::headers_truncated;
  if (g->version() != 0) return DropReason::geneve_bad_version;
  const uint32_t opt_bytes = g->opt_len_bytes();
  if (opt_bytes > span.udp_end - g_off - kGeneveHeaderBytes) return DropReason::geneve_options_overrun;
  if (pkt.size() < g_off + kGeneveHeaderBytes + opt_bytes) return DropReason::headers_truncated;
  outer.type = TunnelType::kGeneve;
  outer.vni = g->vni();
  outer.geneve_protocol = g->protocol_type.value();
  r = walk_geneve_options(pkt, g_off + kGeneveHeaderBytes, opt_bytes, outer, out);
  if (r != DropReason::kNone) return r;
  if (g->oam()) return DropReason::geneve_oam;
  const uint32_t inner = g_off + kGeneveHeaderBytes + opt_bytes;

  if (outer.geneve_protocol == ethertype::kTransEther) {
    if (span.udp_end - inner < kEthernetHeaderBytes) return DropReason::inner_runt;
    set_inner(out, pkt, inner, span.udp_end);
    return DropReason::kNone;
  }
  // Protocol Type is an EtherType (RFC 8926 section 3.4); below 0x0600 it is an 802.3 length,
  // no protocol (and 0 would read as "an Ethernet payload" to what follows).
  if (outer.geneve_protocol < 0x0600) return DropReason::geneve_bad_protocol;
  if (span.udp_end == inner) return DropReason::inner_runt;

  // An L3 payload. IPv4 or IPv6 carrying UDP to a VXLAN port is a Traffic Mirroring session
  // delivered through a GWLB endpoint: unwrap the VXLAN layer as well. Anything else is the
  // payload itself.
  // Most inline GWLB traffic is not UDP: an IPv4 payload whose protocol byte says otherwise is
  // not parsed twice (IPv6 may reach UDP through extension headers: always parsed).
  const auto* inner_v4 = outer.geneve_protocol == ethertype::kIpv4 ? header_at<Ipv4Header>(pkt, inner) : nullptr;
  const bool maybe_vxlan = outer.geneve_protocol == ethertype::kIpv6 ||
                           (inner_v4 && inner_v4->protocol == ipproto::kUdp);
  if (maybe_vxlan) {
    TunnelLayer nested{};
    UdpSpan nspan{};
    const DropReason nr =
        parse_ip_udp(pkt, inner, span.udp_end, outer.geneve_protocol == ethertype::kIpv6,
                     cfg.verify_checksums, nested, nspan);
    if (nr == DropReason::kNone && port_in(nested.dst_port, cfg.vxlan_ports, cfg.vxlan_port_count)) {
      out.layers[1] = nested;
      out.layer_count = 2;
      return parse_vxlan(pkt, nspan, out.layers[1], out);
    }
  }
  set_inner(out, pkt, inner, span.udp_end);
  out.l3_protocol = outer.geneve_protocol;
  return DropReason::kNone;
}

DropReason decapsulate(PacketRef& pkt, const DecapConfig& cfg, DecapResult& out) noexcept {
  const DropReason r = decap_parse(Bytes(pkt.data, pkt.len), pkt.wire_len, cfg, out);
  if (r != DropReason::kNone) return r;
  uint32_t start = out.inner_offset;
  if (out.l3_protocol != 0) {
    // The inner payload starts at least 50 bytes in, so these 14 bytes land on tunnel headers
    // already parsed, never on the outer MACs read above (copied into `out` before).
    start -= kEthernetHeaderBytes;
    auto* eth = reinterpret_cast<EthernetHeader*>(pkt.data + start);
    eth->dst = out.outer_dst_mac;
    eth->src = out.outer_src_mac;
    eth->ether_type.set(out.l3_protocol);
  }
  const uint32_t added = out.inner_offset - start;
  pkt.headroom += start;
  pkt.data += start;
  pkt.len = out.inner_len + added;
  pkt.wire_len = out.inner_wire_len + added;
  return DropReason::kNone;
}

}  // namespace mirrorpipe
