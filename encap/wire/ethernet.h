// Ethernet II and IEEE 802.1Q / 802.1ad tags.
//
//   0                   1                   2                   3
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                  Destination MAC (6 bytes)                    |
//  +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                               |                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+     Source MAC (6 bytes)      +
//  |                                                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |        EtherType / TPID       |   (802.1Q: PCP DEI VID, then the next EtherType)
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
#pragma once

#include <array>
#include <cstdint>

#include "encap/wire/endian.h"

namespace mirrorpipe::wire {

using MacAddress = std::array<uint8_t, 6>;

namespace ethertype {
inline constexpr uint16_t kIpv4 = 0x0800;
inline constexpr uint16_t kArp = 0x0806;
inline constexpr uint16_t kVlan = 0x8100;      // IEEE 802.1Q C-tag
inline constexpr uint16_t kQinQ = 0x88a8;      // IEEE 802.1ad S-tag
inline constexpr uint16_t kQinQOld = 0x9100;   // pre-standard S-tag still seen in the wild
inline constexpr uint16_t kIpv6 = 0x86dd;
inline constexpr uint16_t kTransEther = 0x6558;  // Transparent Ethernet Bridging (Geneve)

constexpr bool is_vlan_tpid(uint16_t t) noexcept { return t == kVlan || t == kQinQ || t == kQinQOld; }
}  // namespace ethertype

struct EthernetHeader {
  MacAddress dst;
  MacAddress src;
  Be16 ether_type;
};
static_assert(sizeof(EthernetHeader) == 14);

// The 4 bytes that follow a TPID: the tag control information and the next EtherType.
struct VlanTag {
  Be16 tci;  // PCP(3) DEI(1) VID(12)
  Be16 ether_type;
  uint16_t vid() const noexcept { return tci.value() & 0x0fff; }
};
static_assert(sizeof(VlanTag) == 4);

inline constexpr uint32_t kEthernetHeaderBytes = sizeof(EthernetHeader);

}  // namespace mirrorpipe::wire
