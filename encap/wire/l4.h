// Transport headers: the parts mirrorpipe reads (ports, ICMP type and echo identifier).
//
// UDP (RFC 768):        | Source Port | Destination Port | Length | Checksum |   (8 bytes)
// TCP (RFC 9293):       | Source Port | Destination Port | Sequence ...         (ports first)
// SCTP (RFC 9260):      | Source Port | Destination Port | Verification Tag ... (ports first)
// ICMP (RFC 792) and ICMPv6 (RFC 4443) echo:
//                       | Type | Code | Checksum | Identifier | Sequence |      (8 bytes)
#pragma once

#include <cstdint>

#include "encap/wire/checksum.h"
#include "encap/wire/endian.h"

namespace mirrorpipe::wire {

struct UdpHeader {
  Be16 src_port;
  Be16 dst_port;
  Be16 length;
  Be16 checksum;
  uint32_t length_bytes() const noexcept { return length.value(); }
};
static_assert(sizeof(UdpHeader) == 8);

// The fixed part of UDP's pseudo-header sum (RFC 768; RFC 8200 section 8.1): the source and
// destination addresses, `address_bytes` from `src` (8 for IPv4, 32 for IPv6: they follow each
// other in both headers), and the protocol word. Not folded (OuterTemplate keeps it folded); the
// caller adds the UDP length field (raw), which changes per packet, and then the datagram.
inline uint64_t udp_pseudo_header_partial(const uint8_t* src, size_t address_bytes) noexcept {
  constexpr uint8_t kProtocolWord[2] = {0, 17};  // IPPROTO_UDP
  return checksum_partial(kProtocolWord, 2, checksum_partial(src, address_bytes));
}

// The leading source and destination ports that TCP, UDP and SCTP share.
struct L4Ports {
  Be16 src_port;
  Be16 dst_port;
};
static_assert(sizeof(L4Ports) == 4);

struct IcmpEcho {
  uint8_t type;
  uint8_t code;
  Be16 checksum;
  Be16 identifier;
  Be16 sequence;
};
static_assert(sizeof(IcmpEcho) == 8);

namespace icmp {
inline constexpr uint8_t kV4EchoReply = 0;
inline constexpr uint8_t kV4EchoRequest = 8;
inline constexpr uint8_t kV6EchoRequest = 128;
inline constexpr uint8_t kV6EchoReply = 129;
}  // namespace icmp

inline constexpr uint32_t kUdpHeaderBytes = sizeof(UdpHeader);

}  // namespace mirrorpipe::wire
