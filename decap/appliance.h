// The inline appliance behind an AWS Gateway Load Balancer (GWLB): what it sends back for a
// packet GWLB sent it, what it wraps around a packet of a known flow that it did not receive as
// such, and the key of the inner flow.
//
// GWLB's rules (shared docs, wire-formats.md "AWS Gateway Load Balancer"): the returned packet
// carries the Geneve header and options byte for byte as they arrived (so its flow cookie is the
// one GWLB gave this very packet), the outer IPv4 source and destination swapped, both UDP ports
// kept (destination 6081), correct checksums and a fresh TTL. GWLB accepts only flows it sent.
//
// Invariants (hot path): no allocation, no exceptions, no logging, no DPDK.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "decap/decap.h"
#include "encap/drop_reason.h"
#include "encap/packet_ref.h"
#include "encap/wire/ethernet.h"

namespace mirrorpipe {

inline constexpr uint8_t kApplianceReturnTtl = 64;

struct ApplianceConfig {
  DecapConfig decap;          // which UDP ports are Geneve (6081) and VXLAN
  wire::MacAddress mac{};     // the appliance port's own: the source MAC of what it returns
  uint8_t ttl = kApplianceReturnTtl;
};

// Parses `pkt` as GWLB Geneve (outer IPv4, Geneve carrying the GWLB options) and rewrites it in
// place into the packet to send back: MACs (destination = whoever sent it, source = ours), IPv4
// addresses swapped, TTL reset, IPv4 checksum recomputed. The UDP checksum stays valid as it
// is: swapping the addresses leaves the pseudo-header sum unchanged. `parsed` keeps what the
// parse found (inner offset, GWLB ids and cookie). Nothing is written unless the result is kNone.
DropReason appliance_return(PacketRef& pkt, const ApplianceConfig& cfg, DecapResult& parsed) noexcept;

// The inner flow, as GWLB keys its stickiness: per GWLB endpoint, on the 5-tuple for TCP, UDP
// and SCTP, on the 3-tuple otherwise (GRE, ICMP, non-first fragments). Canonical: both
// directions of a flow give the same key.
struct InnerFlowKey {
  // The tuple: 40 bytes, padding explicit and zero, so that it compares as five 64-bit words.
  std::array<uint8_t, 16> addr_lo{};  // the smaller (address, port) end; IPv4 in 4 bytes
  std::array<uint8_t, 16> addr_hi{};
  uint16_t port_lo = 0;
  uint16_t port_hi = 0;
  uint8_t protocol = 0;
  uint8_t ipv6 = 0;
  uint8_t zero[2] = {0, 0};
  uint64_t endpoint_id = 0;

  bool same_tuple(const InnerFlowKey& o) const noexcept {
    uint64_t diff = 0;
    for (size_t i = 0; i < kTupleBytes; i += 8) {
      uint64_t a, b;
      std::memcpy(&a, reinterpret_cast<const uint8_t*>(this) + i, 8);
      std::memcpy(&b, reinterpret_cast<const uint8_t*>(&o) + i, 8);
      diff |= a ^ b;
    }
    return diff == 0;
  }
  bool operator==(const InnerFlowKey& o) const noexcept {
    return endpoint_id == o.endpoint_id && same_tuple(o);
  }
  static constexpr size_t kTupleBytes = 40;
  // A hash of the tuple without the endpoint, so that one flow seen through any endpoint lands
  // in the same bucket (a lookup may ask for "whichever endpoint saw it last").
  uint32_t tuple_hash() const noexcept;
};
static_assert(offsetof(InnerFlowKey, endpoint_id) == InnerFlowKey::kTupleBytes && sizeof(InnerFlowKey) == 48);

// The key of a flow given by its fields (IPv4 in the first 4 bytes of an address), in canonical
// order: what inner_flow_key() gives for a packet of that flow in either direction.
InnerFlowKey make_flow_key(uint64_t endpoint_id, uint8_t protocol, bool ipv6, const std::array<uint8_t, 16>& src,
                           uint16_t src_port, const std::array<uint8_t, 16>& dst, uint16_t dst_port) noexcept;

// Reads the key of the L3 packet at `l3` (`len` captured bytes, IPv4 or IPv6 by `ethertype`).
// False when it is neither or too short to hold its header.
bool inner_flow_key(const uint8_t* l3, uint32_t len, uint16_t ethertype, uint64_t endpoint_id,
                    InnerFlowKey& out) noexcept;

// Wraps the L3 packet `pkt` (data at its first byte) in a stored return header: `header` is
// the first `header_len` bytes of a packet appliance_return() produced for the same flow (its
// Ethernet, IPv4, UDP, Geneve and options), `l3_offset` where its IPv4 header starts. The
// lengths are set for the new payload, the IPv4 checksum recomputed, and the UDP checksum
// computed when the stored one was not zero. Drops with no_headroom or too_big.
DropReason gwlb_wrap(PacketRef& pkt, const uint8_t* header, uint32_t header_len,
                     uint32_t l3_offset) noexcept;

}  // namespace mirrorpipe
