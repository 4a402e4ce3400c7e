#include "encap/tunnel.h"

#include <arpa/inet.h>

#include <cstring>
#include <stdexcept>

#include "encap/wire/checksum.h"
#include "encap/wire/ipv4.h"
#include "encap/wire/ipv6.h"
#include "encap/wire/l4.h"

namespace mirrorpipe {

using namespace wire;

IpAddress parse_ip(const std::string& text) {
  IpAddress a;
  if (inet_pton(AF_INET, text.c_str(), a.bytes.data()) == 1) return a;
  if (inet_pton(AF_INET6, text.c_str(), a.bytes.data()) == 1) {
    a.v6 = true;
    return a;
  }
  throw std::invalid_argument("'" + text + "' is not an IPv4 or IPv6 address");
}

MacAddress parse_mac(const std::string& text) {
  MacAddress m{};
  unsigned v[6];
  char tail;
  if (std::sscanf(text.c_str(), "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                  &tail) != 6) {
    throw std::invalid_argument("'" + text + "' is not a MAC address (expected aa:bb:cc:dd:ee:ff)");
  }
  for (int i = 0; i < 6; ++i) {
    if (v[i] > 0xff) throw std::invalid_argument("'" + text + "' is not a MAC address");
    m[i] = static_cast<uint8_t>(v[i]);
  }
  return m;
}

namespace {

uint64_t parse_number(const std::string& text, uint64_t max, const char* what) {
  size_t used = 0;
  uint64_t v = 0;
  try {
    v = std::stoull(text, &used, 0);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size() || text[0] == '-') {
    throw std::invalid_argument(std::string(what) + " '" + text + "' is not a number");
  }
  if (v > max) {
    throw std::invalid_argument(std::string(what) + " '" + text + "' is larger than " +
                                std::to_string(max));
  }
  return v;
}

}  // namespace

GeneveOption parse_geneve_option(const std::string& text) {
  const auto c1 = text.find(':');
  const auto c2 = c1 == std::string::npos ? c1 : text.find(':', c1 + 1);
  if (c2 == std::string::npos) {
    throw std::invalid_argument("Geneve option '" + text + "' is not CLASS:TYPE:HEXDATA");
  }
  GeneveOption o;
  o.option_class = static_cast<uint16_t>(parse_number(text.substr(0, c1), 0xffff, "option class"));
  o.type = static_cast<uint8_t>(parse_number(text.substr(c1 + 1, c2 - c1 - 1), 0xff, "option type"));
  const std::string hex = text.substr(c2 + 1);
  if (hex.size() % 2 != 0) throw std::invalid_argument("option data '" + hex + "' has an odd number of hex digits");
  for (size_t i = 0; i < hex.size(); i += 2) {
    const std::string byte = hex.substr(i, 2);
    if (!std::isxdigit(static_cast<unsigned char>(byte[0])) ||
        !std::isxdigit(static_cast<unsigned char>(byte[1]))) {
      throw std::invalid_argument("option data '" + hex + "' is not hexadecimal");
    }
    o.data.push_back(static_cast<uint8_t>(std::stoul(byte, nullptr, 16)));
  }
  if (o.data.size() % 4 != 0 || o.data.size() > kGeneveMaxOptionDataBytes) {
    throw std::invalid_argument("option data must be a multiple of 4 bytes, at most 124 (RFC 8926 section 3.5); got " +
                                std::to_string(o.data.size()));
  }
  return o;
}

const char* tunnel_kind_name(TunnelKind kind) noexcept {
  switch (kind) {
    case TunnelKind::kVxlan: return "vxlan";
    case TunnelKind::kGwlb: return "gwlb";
    case TunnelKind::kGeneve: return "geneve";
  }
  return "?";
}

namespace {

void put_option(std::vector<uint8_t>& out, uint16_t cls, uint8_t type, const uint8_t* data,
                size_t len) {
  const size_t at = out.size();
  out.resize(at + 4 + len);
  auto* h = reinterpret_cast<GeneveOptionHeader*>(out.data() + at);
  h->option_class.set(cls);
  h->type = type;
  h->rsvd_length = static_cast<uint8_t>(len / 4);
  if (len) std::memcpy(out.data() + at + 4, data, len);
}

void put_be64(uint8_t* p, uint64_t v) {
  Be64 b;
  b.set(v);
  std::memcpy(p, b.bytes, 8);
}

}  // namespace

OuterTemplate build_outer_template(const TunnelConfig& c) {
  if (c.src_ip.v6 != c.dst_ip.v6) {
    throw std::invalid_argument("source and destination addresses must both be IPv4 or both IPv6");
  }
  if (c.kind == TunnelKind::kGwlb && c.src_ip.v6) {
    throw std::invalid_argument("gwlb: a Gateway Load Balancer's outer header is always IPv4");
  }
  if (c.vni > kVniMax) throw std::invalid_argument("VNI must be at most 16777215 (24 bits)");
  if (c.kind == TunnelKind::kGwlb && c.vni != 0) {
    throw std::invalid_argument("gwlb: the VNI is always 0");
  }
  if (c.dscp > 63) throw std::invalid_argument("DSCP must be 0-63");
  if (c.sport_lo > c.sport_hi) throw std::invalid_argument("source port range is empty");
  if (c.packet_length > 65535) throw std::invalid_argument("packet length must be at most 65535");
  if (c.kind != TunnelKind::kGeneve && !c.geneve_options.empty()) {
    throw std::invalid_argument("--geneve-option applies to the geneve tunnel only");
  }
  if (c.kind != TunnelKind::kGeneve && c.metadata_option) {
    throw std::invalid_argument("the metadata option applies to the geneve tunnel only");
  }

  // Tunnel header and options.
  std::vector<uint8_t> tun;
  uint16_t cookie_in_tunnel = 0;
  uint16_t meta_in_tunnel = 0;
  if (c.kind == TunnelKind::kVxlan) {
    tun.resize(kVxlanHeaderBytes);
    auto* v = reinterpret_cast<VxlanHeader*>(tun.data());
    v->flags = VxlanHeader::kFlagI;
    v->vni_reserved.set(c.vni << 8);
  } else {
    tun.resize(kGeneveHeaderBytes);
    if (c.kind == TunnelKind::kGwlb) {
      uint8_t id[8];
      put_be64(id, c.gwlb_endpoint_id);
      put_option(tun, gwlb::kOptionClass, gwlb::kTypeEndpointId, id, 8);
      put_be64(id, c.gwlb_attachment_id);
      put_option(tun, gwlb::kOptionClass, gwlb::kTypeAttachmentId, id, 8);
      const uint8_t zero[4] = {};
      cookie_in_tunnel = static_cast<uint16_t>(tun.size() + 4);
      put_option(tun, gwlb::kOptionClass, gwlb::kTypeFlowCookie, zero, 4);
    } else {
      for (const auto& o : c.geneve_options) {
        put_option(tun, o.option_class, o.type, o.data.data(), o.data.size());
      }
      if (c.metadata_option) {
        const uint8_t zero[mirror_meta::kDataBytes] = {};
        meta_in_tunnel = static_cast<uint16_t>(tun.size() + 4);
        put_option(tun, mirror_meta::kOptionClass, mirror_meta::kType, zero, sizeof zero);
      }
    }
    const size_t opt_bytes = tun.size() - kGeneveHeaderBytes;
    if (opt_bytes > kGeneveMaxOptionsBytes) {
      throw std::invalid_argument("Geneve options total " + std::to_string(opt_bytes) +
                                  " bytes; at most 252 fit in opt_len (RFC 8926 section 3.4)");
    }
    auto* g = reinterpret_cast<GeneveHeader*>(tun.data());
    g->ver_opt_len = static_cast<uint8_t>(opt_bytes / 4);  // version 0
    // RFC 8926 section 3.4: C is set whenever any option is critical, so that a receiver that
    // reads only the base header still refuses what it does not understand.
    g->flags = 0;
    for (const auto& o : c.geneve_options) {
      if (o.type & GeneveOptionHeader::kTypeCritical) g->flags |= GeneveHeader::kFlagCritical;
    }
    // gwlb: the writer patches 0x0800/0x86DD per packet; geneve carries Ethernet.
    g->protocol_type.set(c.kind == TunnelKind::kGwlb ? ethertype::kIpv4 : ethertype::kTransEther);
    g->vni_reserved.set(c.vni << 8);
  }

  OuterTemplate t;
  t.kind = c.kind;
  t.ipv6 = c.src_ip.v6;
  t.sport_lo = c.sport_lo;
  t.sport_span = static_cast<uint32_t>(c.sport_hi - c.sport_lo + 1);
  t.packet_length = c.packet_length;
  t.udp_checksum = c.udp_checksum == UdpChecksumMode::kOn ||
                   (c.udp_checksum == UdpChecksumMode::kAuto &&
                    (t.ipv6 || c.kind == TunnelKind::kGwlb));
  const uint16_t dst_port =
      c.dst_port ? c.dst_port
                 : (c.kind == TunnelKind::kVxlan ? kVxlanDefaultPort : kGeneveDefaultPort);

  uint8_t* b = t.bytes.data();
  auto* eth = reinterpret_cast<EthernetHeader*>(b);
  eth->dst = c.dst_mac;
  eth->src = c.src_mac;
  eth->ether_type.set(t.ipv6 ? ethertype::kIpv6 : ethertype::kIpv4);
  t.ip_offset = kEthernetHeaderBytes;
  if (t.ipv6) {
    auto* ip = reinterpret_cast<Ipv6Header*>(b + t.ip_offset);
    ip->ver_tc_flow.set((6u << 28) | (static_cast<uint32_t>(c.dscp) << 22));
    ip->next_header = ipproto::kUdp;
    ip->hop_limit = c.ttl;
    std::memcpy(ip->src.data(), c.src_ip.bytes.data(), 16);
    std::memcpy(ip->dst.data(), c.dst_ip.bytes.data(), 16);
    t.udp_offset = static_cast<uint16_t>(t.ip_offset + kIpv6HeaderBytes);
    t.pseudo_header_sum = checksum_fold(udp_pseudo_header_partial(ip->src.data(), 32));
  } else {
    auto* ip = reinterpret_cast<Ipv4Header*>(b + t.ip_offset);
    ip->version_ihl = 0x45;
    ip->tos = static_cast<uint8_t>(c.dscp << 2);
    ip->identification.set(0);  // AWS sends IP ID 0; DF or not, we never fragment
    ip->flags_fragment.set(c.df ? Ipv4Header::kFlagDf : 0);
    ip->ttl = c.ttl;
    ip->protocol = ipproto::kUdp;
    std::memcpy(ip->src.data(), c.src_ip.bytes.data(), 4);
    std::memcpy(ip->dst.data(), c.dst_ip.bytes.data(), 4);
    t.ip_checksum_base = checksum_fold(checksum_partial(b + t.ip_offset, kIpv4MinHeaderBytes));
    t.udp_offset = static_cast<uint16_t>(t.ip_offset + kIpv4MinHeaderBytes);
    t.pseudo_header_sum = checksum_fold(udp_pseudo_header_partial(ip->src.data(), 8));
  }

  auto* udp = reinterpret_cast<UdpHeader*>(b + t.udp_offset);
  udp->dst_port.set(dst_port);
  t.tunnel_offset = static_cast<uint16_t>(t.udp_offset + kUdpHeaderBytes);
  std::memcpy(b + t.tunnel_offset, tun.data(), tun.size());
  t.length_bytes = static_cast<uint16_t>(t.tunnel_offset + tun.size());
  t.cookie_offset = cookie_in_tunnel ? static_cast<uint16_t>(t.tunnel_offset + cookie_in_tunnel) : 0;
  t.meta_offset = meta_in_tunnel ? static_cast<uint16_t>(t.tunnel_offset + meta_in_tunnel) : 0;
  {
    // The header's fixed words, once; every offset of a per-packet word is even (UDP at an even
    // offset, tunnel headers in 4-byte words), so their sums add up word for word.
    std::array<uint8_t, sizeof t.bytes> h;
    std::memcpy(h.data(), b, t.length_bytes);
    auto zero = [&](uint32_t off, uint32_t n) { std::memset(h.data() + off, 0, n); };
    zero(t.udp_offset, 2);      // source port
    zero(t.udp_offset + 4, 4);  // length, checksum
    if (t.kind == TunnelKind::kGwlb) zero(t.tunnel_offset + 2, 2);  // protocol type
    if (t.cookie_offset) zero(t.cookie_offset, 4);
    t.udp_header_sum = checksum_partial(h.data() + t.udp_offset, t.length_bytes - t.udp_offset);
  }
  t.plain_vxlan4_header = t.kind == TunnelKind::kVxlan && !t.ipv6 && !t.udp_checksum &&
                          t.length_bytes == kPlainVxlan4HeaderBytes;
  t.plain_vxlan4 = t.plain_vxlan4_header && t.packet_length == 0;
  t.plain_gwlb4 = t.kind == TunnelKind::kGwlb && !t.ipv6 && t.length_bytes == kPlainGwlb4HeaderBytes &&
                  t.cookie_offset == kPlainGwlb4CookieOffset && t.meta_offset == 0 && t.packet_length == 0;
  return t;
}

}  // namespace mirrorpipe
