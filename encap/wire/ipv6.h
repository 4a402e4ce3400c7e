// IPv6 header (RFC 8200) and the extension headers mirrorpipe walks to find L4.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |Version| Traffic Class |           Flow Label                  |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |         Payload Length        |  Next Header  |   Hop Limit   |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                  Source Address (16 bytes)                    |
//  |               Destination Address (16 bytes)                  |
#pragma once

#include <array>
#include <cstdint>

#include "encap/wire/endian.h"

namespace mirrorpipe::wire {

using Ipv6Address = std::array<uint8_t, 16>;

struct Ipv6Header {
  Be32 ver_tc_flow;
  Be16 payload_length;
  uint8_t next_header;
  uint8_t hop_limit;
  Ipv6Address src;
  Ipv6Address dst;

  uint8_t version() const noexcept { return ver_tc_flow.bytes[0] >> 4; }
  uint32_t payload_length_bytes() const noexcept { return payload_length.value(); }
};
static_assert(sizeof(Ipv6Header) == 40);

// Hop-by-Hop, Routing and Destination Options share this layout (RFC 8200 section 4):
// Hdr Ext Len counts 8-byte units beyond the first 8 bytes.
struct Ipv6ExtHeader {
  uint8_t next_header;
  uint8_t hdr_ext_len;
  uint32_t length_bytes() const noexcept { return (hdr_ext_len + 1u) * 8u; }
};
static_assert(sizeof(Ipv6ExtHeader) == 2);

// Authentication Header (RFC 4302): Payload Len counts 4-byte units minus 2.
struct Ipv6AuthHeader {
  uint8_t next_header;
  uint8_t payload_len;
  uint32_t length_bytes() const noexcept { return (payload_len + 2u) * 4u; }
};
static_assert(sizeof(Ipv6AuthHeader) == 2);

// Fragment header (RFC 8200 section 4.5), 8 bytes.
struct Ipv6FragmentHeader {
  uint8_t next_header;
  uint8_t reserved;
  Be16 offset_flags;  // Fragment Offset(13) Res(2) M(1)
  Be32 identification;
};
static_assert(sizeof(Ipv6FragmentHeader) == 8);

inline constexpr uint32_t kIpv6HeaderBytes = sizeof(Ipv6Header);

}  // namespace mirrorpipe::wire
