// Decapsulation: VXLAN (RFC 7348), Geneve (RFC 8926), and Geneve wrapping VXLAN (how a
// Gateway Load Balancer delivers a Traffic Mirroring session whose target is a GWLB endpoint).
//
// Invariants (hot path): no allocation, no exceptions, no logging, no DPDK. Every header read
// is bounds-checked (header_at, the Geneve option walker); nothing reads past the captured
// bytes whatever the input. Validation order per layer: lengths, version and flags, options
// against the buffer, lengths again. Only the mirroring layers are removed: the frame found
// inside VXLAN is delivered as it is, even when it carries a tunnel itself.
#pragma once

#include <array>
#include <cstdint>

#include "encap/drop_reason.h"
#include "encap/packet_ref.h"
#include "encap/wire/bytes.h"
#include "encap/wire/ethernet.h"
#include "encap/wire/ipv4.h"
#include "encap/wire/l4.h"
#include "encap/wire/vxlan.h"

namespace mirrorpipe {

inline constexpr size_t kMaxTunnelPorts = 8;

// IPv6 extension headers (Hop-by-Hop, Routing, Destination Options) walked before the outer UDP
// header; a longer chain is dropped as ip_bad_header. RFC 8200 sets no limit; a tunnel sender
// uses none or one, and the bound keeps the walk's cost per packet fixed.
inline constexpr uint32_t kMaxIpv6ExtHeaders = 8;

struct DecapConfig {
  std::array<uint16_t, kMaxTunnelPorts> vxlan_ports{4789};
  uint8_t vxlan_port_count = 1;
  std::array<uint16_t, kMaxTunnelPorts> geneve_ports{6081};
  uint8_t geneve_port_count = 1;
  bool verify_checksums = false;  // outer IPv4 header and non-zero UDP checksums
};

enum class TunnelType : uint8_t { kVxlan, kGeneve };

// What one tunnel layer said about the packet: kept for the sinks (pcapng metadata, sessions).
struct TunnelLayer {
  TunnelType type;
  bool ipv6;
  uint8_t gwlb_options;  // the AWS GWLB options found: bit (1 << type) for types 1, 2, 3
  uint16_t src_port;
  uint16_t dst_port;
  uint16_t geneve_protocol;
  uint32_t vni;
  std::array<uint8_t, 16> src_ip;  // IPv4 in the first 4 bytes
  std::array<uint8_t, 16> dst_ip;
  uint64_t gwlb_endpoint_id;
  uint64_t gwlb_attachment_id;
  uint32_t gwlb_flow_cookie;
};

// mirrorpipe's metadata option (wire::MirrorMetaOption), as the outer Geneve layer carried it.
struct MirrorMetaFields {
  uint16_t worker;
  uint32_t sequence;
  uint64_t capture_ns;
  uint32_t original_length;
};

// All three GWLB options: endpoint ID, attachment ID, flow cookie.
inline constexpr uint8_t kGwlbAllOptions = (1u << 1) | (1u << 2) | (1u << 3);

struct DecapResult {
  uint32_t inner_offset;     // first byte of the inner payload in the packet
  uint32_t inner_len;        // captured bytes of the inner payload
  uint32_t inner_wire_len;   // bytes it had on the wire (the UDP datagram ends it)
  uint16_t l3_protocol;      // Geneve protocol type when the payload is L3, else 0
  uint8_t layer_count;       // 1, or 2 for VXLAN inside Geneve
  uint16_t outer_l3_offset;  // the outer IP header (after the outer Ethernet and VLAN tags)
  std::array<TunnelLayer, 2> layers;
  wire::MacAddress outer_dst_mac;
  wire::MacAddress outer_src_mac;
  bool has_meta;          // layers[0] (Geneve) carried mirrorpipe's metadata option: `meta`
  MirrorMetaFields meta;  // set only when has_meta
};

// Parses the tunnel headers of `pkt` (captured bytes) whose wire length is `wire_len`.
DropReason decap_parse(wire::Bytes pkt, uint32_t wire_len, const DecapConfig& config,
                       DecapResult& out) noexcept;

// Parses and strips: on success `pkt` is the inner Ethernet frame. An L3 payload gets a 14-byte
// Ethernet header written in front of it (the outer frame's MACs, EtherType = the Geneve
// protocol) so that one Ethernet capture holds both kinds.
DropReason decapsulate(PacketRef& pkt, const DecapConfig& config, DecapResult& out) noexcept;

// The common case of a decap route, read with as little as it needs: VXLAN over untagged IPv4
// without options to the first VXLAN port, checksums not verified (what AWS Traffic Mirroring
// sends). True, with `pkt` now the inner frame exactly as decapsulate() leaves it, when the
// packet is such a one and decapsulate() would accept it; false, with nothing changed, for
// anything else, which decapsulate() then takes (and accepts or drops). For callers that need
// only the inner frame: it fills no DecapResult. fuzz/fuzz_decap.cpp checks the two agree.
[[gnu::always_inline]] inline bool strip_plain_vxlan4(PacketRef& pkt, const DecapConfig& cfg) noexcept {
  using namespace wire;
  constexpr uint32_t kIp = kEthernetHeaderBytes;
  constexpr uint32_t kUdp = kIp + kIpv4MinHeaderBytes;
  constexpr uint32_t kInner = kUdp + kUdpHeaderBytes + kVxlanHeaderBytes;  // 50
  if (cfg.verify_checksums || cfg.vxlan_port_count == 0 || pkt.len < kInner) return false;
  const uint8_t* p = pkt.data;
  const auto* eth = reinterpret_cast<const EthernetHeader*>(p);
  const auto* ip = reinterpret_cast<const Ipv4Header*>(p + kIp);
  const auto* udp = reinterpret_cast<const UdpHeader*>(p + kUdp);
  const auto* vxlan = reinterpret_cast<const VxlanHeader*>(p + kUdp + kUdpHeaderBytes);
  const uint32_t wire_len = pkt.wire_len > pkt.len ? pkt.wire_len : pkt.len;
  const uint32_t total = ip->total_length_bytes();
  const uint32_t udp_len = udp->length_bytes();
  // Version 4 and a 20-byte header in one byte; the IP packet within the frame, the datagram
  // within the IP packet, and room in it for VXLAN and an inner Ethernet header.
  if (eth->ether_type.raw() != Be16::to_raw(ethertype::kIpv4) || p[kIp] != 0x45 || ip->is_fragment() ||
      ip->protocol != ipproto::kUdp || total > wire_len - kIp || udp->dst_port.value() != cfg.vxlan_ports[0] ||
      udp_len + kIpv4MinHeaderBytes > total || udp_len < kUdpHeaderBytes + kVxlanHeaderBytes + kEthernetHeaderBytes ||
      !vxlan->has_vni()) {
    return false;
  }
  const uint32_t end = kUdp + udp_len;  // where the datagram ends, on the wire
  const uint32_t captured_end = end < pkt.len ? end : pkt.len;
  pkt.data += kInner;
  pkt.headroom += kInner;
  pkt.len = captured_end - kInner;
  pkt.wire_len = end - kInner;
  return true;
}

}  // namespace mirrorpipe
