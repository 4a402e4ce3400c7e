// VXLAN header (RFC 7348 section 5), 8 bytes after the outer UDP header.
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |R|R|R|R|I|R|R|R|            Reserved                           |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                VXLAN Network Identifier (VNI) |   Reserved    |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// Transmit: flags 0x08 (I) and every reserved bit zero. Receive: the I flag must be set; the
// reserved bits are ignored (section 5: "MUST be ignored on receipt").
#pragma once

#include <cstdint>

#include "encap/wire/endian.h"

namespace mirrorpipe::wire {

struct VxlanHeader {
  uint8_t flags;
  uint8_t reserved1[3];
  Be32 vni_reserved;  // VNI(24) Reserved(8)

  static constexpr uint8_t kFlagI = 0x08;

  uint32_t vni() const noexcept { return vni_reserved.value() >> 8; }
  bool has_vni() const noexcept { return (flags & kFlagI) != 0; }
};
static_assert(sizeof(VxlanHeader) == 8);

inline constexpr uint32_t kVxlanHeaderBytes = sizeof(VxlanHeader);
inline constexpr uint16_t kVxlanDefaultPort = 4789;
inline constexpr uint32_t kVniMax = 0xffffff;

}  // namespace mirrorpipe::wire
