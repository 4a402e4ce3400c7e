// One parse of a mirrored frame's headers, and the symmetric flow hash.
//
// parse_frame() walks Ethernet, any number of VLAN tags (up to kMaxVlanTags), IPv4 or IPv6
// (with extension headers) and the first L4 header once, and records what every later stage
// needs: the L3 offset and length, the L4 protocol and the flow hash. Nothing after it reads
// those headers again.
//
// The flow hash is symmetric: both directions of a conversation hash alike, so they get the
// same outer UDP source port (one analyzer behind an NLB) and the same GWLB flow cookie. Key:
//   TCP, UDP, SCTP         addresses, protocol, ports
//   ICMP/ICMPv6 echo       addresses, protocol, echo identifier
//   other IP, fragments,
//   unwalked IPv6 ext hdr  addresses, protocol
//   non-IP                 MAC addresses, innermost EtherType
// Hot path: no allocation, no exceptions; reads only through header_at().
#pragma once

#include <cstdint>

#include "encap/wire/bytes.h"

namespace mirrorpipe {

inline constexpr uint32_t kMaxVlanTags = 8;

struct FrameMeta {
  uint32_t flow_hash;
  uint16_t l3_offset;      // first byte after the Ethernet header and VLAN tags
  uint16_t l3_ethertype;   // innermost EtherType
  uint32_t l3_length;      // IP length from the header (0 when unknown, e.g. BIG TCP, non-IP)
  uint8_t ip_version;      // 4 or 6 when the IP header is valid, else 0
  uint8_t l4_proto;        // IP protocol of the L4 header found (or where the walk stopped)
  bool fragment;           // any fragment of a fragmented datagram
  bool l4_found;           // ports/ICMP identifier were read
};

FrameMeta parse_frame(wire::Bytes frame) noexcept;

// Maps a 32-bit hash onto [lo, hi] without a division (multiply-shift).
constexpr uint16_t hash_to_port(uint32_t hash, uint16_t lo, uint16_t hi) noexcept {
  const uint64_t span = static_cast<uint64_t>(hi) - lo + 1;
  return static_cast<uint16_t>(lo + ((hash * span) >> 32));
}

}  // namespace mirrorpipe
