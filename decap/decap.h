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

}  // namespace mirrorpipe
