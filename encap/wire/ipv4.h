// IPv4 header (RFC 791).
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |Version|  IHL  |Type of Service|          Total Length         |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |         Identification        |Flags|      Fragment Offset    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Time to Live |    Protocol   |         Header Checksum       |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                       Source Address                          |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Destination Address                        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Options (IHL > 5)                          |
#pragma once

#include <array>
#include <cstdint>

#include "encap/wire/endian.h"

namespace mirrorpipe::wire {

namespace ipproto {
inline constexpr uint8_t kHopByHop = 0;
inline constexpr uint8_t kIcmp = 1;
inline constexpr uint8_t kTcp = 6;
inline constexpr uint8_t kUdp = 17;
inline constexpr uint8_t kRouting = 43;
inline constexpr uint8_t kFragment = 44;
inline constexpr uint8_t kGre = 47;
inline constexpr uint8_t kEsp = 50;
inline constexpr uint8_t kAh = 51;
inline constexpr uint8_t kIcmpv6 = 58;
inline constexpr uint8_t kNoNext = 59;
inline constexpr uint8_t kDestOpts = 60;
inline constexpr uint8_t kSctp = 132;
}  // namespace ipproto

using Ipv4Address = std::array<uint8_t, 4>;

// An address that names no single remote host: 0/8 (this network), 127/8 (loopback), 224/4
// (multicast), 240/4 and 255.255.255.255. Nothing is ever sent back to a packet claiming one as
// its source (no reflection toward a group, no amplification).
inline bool group_or_loopback(const Ipv4Address& a) noexcept { return a[0] == 0 || a[0] == 127 || a[0] >= 224; }

struct Ipv4Header {
  uint8_t version_ihl;
  uint8_t tos;
  Be16 total_length;
  Be16 identification;
  Be16 flags_fragment;
  uint8_t ttl;
  uint8_t protocol;
  Be16 checksum;
  Ipv4Address src;
  Ipv4Address dst;

  static constexpr uint16_t kFlagDf = 0x4000;
  static constexpr uint16_t kFlagMf = 0x2000;
  static constexpr uint16_t kFragmentOffsetMask = 0x1fff;

  uint8_t version() const noexcept { return version_ihl >> 4; }
  uint32_t ihl_bytes() const noexcept { return (version_ihl & 0x0fu) * 4u; }
  uint32_t total_length_bytes() const noexcept { return total_length.value(); }
  // True for every fragment of a fragmented datagram, the first one included.
  bool is_fragment() const noexcept {
    return (flags_fragment.value() & (kFlagMf | kFragmentOffsetMask)) != 0;
  }
};
static_assert(sizeof(Ipv4Header) == 20);

inline constexpr uint32_t kIpv4MinHeaderBytes = 20;
inline constexpr uint32_t kIpv4MaxTotalLengthBytes = 65535;

}  // namespace mirrorpipe::wire
