// The mirror target's stages after decapsulation: the input's allow-lists, the session a packet
// belongs to (by VNI and by outer source, the mirrored ENI), and the tunnel metadata that
// sinks keep (pcapng comments).
//
// Which layer speaks for the session: the innermost tunnel layer. For Traffic Mirroring VXLAN
// that is the VXLAN layer; through a GWLB endpoint (Geneve wrapping VXLAN) it is still the
// mirror session's VXLAN layer, while the GWLB ids and cookie come from the Geneve layer.
//
// Invariants (hot path): no allocation, no exceptions; the lists are read, never changed.
#pragma once

#include <array>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "decap/decap.h"
#include "encap/drop_reason.h"
#include "encap/wire/ethernet.h"
#include "encap/wire/ipv4.h"
#include "encap/wire/ipv6.h"

namespace mirrorpipe {

struct IpPrefix {
  bool v6 = false;
  std::array<uint8_t, 16> addr{};  // IPv4 in the first 4 bytes
  uint8_t length = 0;              // bits

  bool contains(bool ipv6, const std::array<uint8_t, 16>& a) const noexcept {
    if (ipv6 != v6) return false;
    uint32_t bits = length;
    for (size_t i = 0; bits > 0; ++i, bits = bits >= 8 ? bits - 8 : 0) {
      const uint8_t mask = bits >= 8 ? 0xff : static_cast<uint8_t>(0xff00u >> bits);
      if ((a[i] & mask) != (addr[i] & mask)) return false;
    }
    return true;
  }
};

inline bool any_prefix_contains(const std::vector<IpPrefix>& list, bool ipv6,
                                const std::array<uint8_t, 16>& a) noexcept {
  for (const auto& p : list) {
    if (p.contains(ipv6, a)) return true;
  }
  return false;
}

inline bool vni_in(const std::vector<uint32_t>& list, uint32_t vni) noexcept {
  for (uint32_t v : list) {
    if (v == vni) return true;
  }
  return false;
}

// What selects a session; an empty list matches anything.
struct SessionMatch {
  std::vector<uint32_t> vnis;
  std::vector<IpPrefix> sources;
};

struct ReceivePolicy {
  std::vector<uint32_t> allow_vnis;       // empty: every VNI
  std::vector<IpPrefix> allow_sources;    // empty: every source
  std::vector<SessionMatch> sessions;     // in configuration order; the first match wins
};

inline const TunnelLayer& session_layer(const DecapResult& r) noexcept {
  return r.layers[r.layer_count - 1];
}

// The allow-lists, then the sessions: kNone and the session's index, or why the packet is
// filtered (the user's policy, not a fault).
// `first`: the first session to try (the next one, after a session whose filter passed).
inline FilterReason classify_received(const ReceivePolicy& p, const DecapResult& r, uint16_t& session,
                                      uint16_t first = 0) noexcept {
  const TunnelLayer& l = session_layer(r);
  if (!p.allow_sources.empty() && !any_prefix_contains(p.allow_sources, l.ipv6, l.src_ip)) {
    return FilterReason::source_not_allowed;
  }
  if (!p.allow_vnis.empty() && !vni_in(p.allow_vnis, l.vni)) return FilterReason::vni_not_allowed;
  for (size_t i = first; i < p.sessions.size(); ++i) {
    const SessionMatch& s = p.sessions[i];
    if (!s.vnis.empty() && !vni_in(s.vnis, l.vni)) continue;
    if (!s.sources.empty() && !any_prefix_contains(s.sources, l.ipv6, l.src_ip)) continue;
    session = static_cast<uint16_t>(i);
    return FilterReason::kNone;
  }
  return FilterReason::no_session;
}

// The length an inner Ethernet frame had before AWS PacketLength (or any snaplen upstream) cut
// it, from its IP header's length field; 0 when it was not cut or carries no IP.
inline uint32_t inner_original_length(const uint8_t* frame, uint32_t len) noexcept {
  using namespace wire;
  const Bytes b(frame, len);
  const auto* eth = header_at<EthernetHeader>(b, 0);
  if (!eth) return 0;
  uint16_t type = eth->ether_type.value();
  uint32_t off = kEthernetHeaderBytes;
  for (int tags = 0; tags < 2 && ethertype::is_vlan_tpid(type); ++tags) {
    const auto* tag = header_at<VlanTag>(b, off);
    if (!tag) return 0;
    type = tag->ether_type.value();
    off += sizeof(VlanTag);
  }
  uint32_t ip_len = 0;
  if (type == ethertype::kIpv4) {
    const auto* ip = header_at<Ipv4Header>(b, off);
    if (!ip || ip->version() != 4) return 0;
    ip_len = ip->total_length_bytes();
  } else if (type == ethertype::kIpv6) {
    const auto* ip = header_at<Ipv6Header>(b, off);
    if (!ip || ip->version() != 6 || ip->payload_length_bytes() == 0) return 0;
    ip_len = kIpv6HeaderBytes + ip->payload_length_bytes();
  } else {
    return 0;
  }
  return off + ip_len > len ? off + ip_len : 0;
}

// What a sink keeps of a received packet's tunnels. Fixed size: it travels in the packet
// buffer's headroom to the sink (engine/runtime/mbuf.h).
struct SinkMeta {
  uint32_t vni;
  uint16_t src_port;
  uint16_t dst_port;
  std::array<uint8_t, 16> src_ip;
  std::array<uint8_t, 16> dst_ip;
  uint64_t gwlb_endpoint_id;
  uint64_t gwlb_attachment_id;
  uint32_t gwlb_flow_cookie;
  uint32_t inner_original_length;  // > the frame's length when PacketLength cut it; else 0
  uint16_t session;
  uint8_t ipv6;
  uint8_t layers;  // 1, or 2 (Geneve wrapping VXLAN)
  uint8_t has_gwlb;
  uint8_t tunnel;  // TunnelType of the session layer
  uint8_t has_meta;  // mirrorpipe's metadata option: the four fields below
  uint8_t pad;
  uint32_t meta_sequence;
  uint64_t meta_capture_ns;
  uint32_t meta_original_length;
  uint16_t meta_worker;
};
static_assert(sizeof(SinkMeta) <= 96);

inline SinkMeta make_sink_meta(const DecapResult& r, uint16_t session, uint32_t inner_original) noexcept {
  const TunnelLayer& l = session_layer(r);
  const TunnelLayer& g = r.layers[0];
  SinkMeta m{};
  m.vni = l.vni;
  m.src_port = l.src_port;
  m.dst_port = l.dst_port;
  m.src_ip = l.src_ip;
  m.dst_ip = l.dst_ip;
  m.ipv6 = l.ipv6;
  m.layers = r.layer_count;
  m.tunnel = static_cast<uint8_t>(l.type);
  m.has_gwlb = g.gwlb_options != 0;
  m.gwlb_endpoint_id = g.gwlb_endpoint_id;
  m.gwlb_attachment_id = g.gwlb_attachment_id;
  m.gwlb_flow_cookie = g.gwlb_flow_cookie;
  m.inner_original_length = inner_original;
  m.session = session;
  if (r.has_meta) {
    m.has_meta = 1;
    m.meta_sequence = r.meta.sequence;
    m.meta_capture_ns = r.meta.capture_ns;
    m.meta_original_length = r.meta.original_length;
    m.meta_worker = r.meta.worker;
  }
  return m;
}

// The pcapng comment for a packet: "key=value" pairs separated by spaces, one line; e.g.
//   mirrorpipe tunnel=vxlan vni=5569041 outer_src=10.0.1.5:51234 outer_dst=10.0.2.9:4789
//   gwlb_endpoint=0x... gwlb_attachment=0x... gwlb_cookie=0x... truncated original_length=1514
// Returns the length written (always NUL-terminated, cut to `cap`: cutting is intended, so
// GCC's truncation warning is off for this function).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-truncation"
inline size_t format_sink_meta(const SinkMeta& m, const char* session_name, char* out, size_t cap) noexcept {
  auto addr = [](const SinkMeta& s, const std::array<uint8_t, 16>& a, char* buf, size_t n) {
    if (!s.ipv6) {
      std::snprintf(buf, n, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
    } else {
      std::snprintf(buf, n, "[%x:%x:%x:%x:%x:%x:%x:%x]", a[0] << 8 | a[1], a[2] << 8 | a[3], a[4] << 8 | a[5],
                    a[6] << 8 | a[7], a[8] << 8 | a[9], a[10] << 8 | a[11], a[12] << 8 | a[13], a[14] << 8 | a[15]);
    }
  };
  char src[48], dst[48];
  addr(m, m.src_ip, src, sizeof src);
  addr(m, m.dst_ip, dst, sizeof dst);
  int n = std::snprintf(out, cap, "mirrorpipe session=%s tunnel=%s%s vni=%u outer_src=%s:%u outer_dst=%s:%u",
                        session_name, m.tunnel == static_cast<uint8_t>(TunnelType::kVxlan) ? "vxlan" : "geneve",
                        m.layers == 2 ? "-in-geneve" : "", m.vni, src, m.src_port, dst, m.dst_port);
  if (n < 0) return 0;
  size_t used = static_cast<size_t>(n) < cap ? static_cast<size_t>(n) : cap - 1;
  if (m.has_gwlb && used < cap) {
    n = std::snprintf(out + used, cap - used, " gwlb_endpoint=0x%016llx gwlb_attachment=0x%016llx gwlb_cookie=0x%08x",
                      static_cast<unsigned long long>(m.gwlb_endpoint_id),
                      static_cast<unsigned long long>(m.gwlb_attachment_id), m.gwlb_flow_cookie);
    if (n > 0) used += static_cast<size_t>(n) < cap - used ? static_cast<size_t>(n) : cap - used - 1;
  }
  if (m.inner_original_length && used < cap) {
    n = std::snprintf(out + used, cap - used, " truncated original_length=%u", m.inner_original_length);
    if (n > 0) used += static_cast<size_t>(n) < cap - used ? static_cast<size_t>(n) : cap - used - 1;
  }
  if (m.has_meta && used < cap) {
    n = std::snprintf(out + used, cap - used, " meta_sequence=%u meta_worker=%u meta_capture_ns=%llu meta_original_length=%u",
                      m.meta_sequence, m.meta_worker, static_cast<unsigned long long>(m.meta_capture_ns),
                      m.meta_original_length);
    if (n > 0) used += static_cast<size_t>(n) < cap - used ? static_cast<size_t>(n) : cap - used - 1;
  }
  return used;
}
#pragma GCC diagnostic pop

}  // namespace mirrorpipe
