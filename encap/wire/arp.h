// ARP (RFC 826) for IPv4 over Ethernet: the 28 bytes after the Ethernet header.
//
//   0                   1                   2                   3
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |   Hardware type (1)           |   Protocol type (0x0800)      |
//  | HW len (6)    | Proto len (4) |   Operation (1 req, 2 reply)  |
//  |   Sender MAC (6) ... Sender IPv4 (4) ... Target MAC (6) ... Target IPv4 (4)
#pragma once

#include "encap/wire/endian.h"
#include "encap/wire/ethernet.h"
#include "encap/wire/ipv4.h"

namespace mirrorpipe::wire {

struct ArpIpv4 {
  Be16 htype;
  Be16 ptype;
  uint8_t hlen;
  uint8_t plen;
  Be16 oper;
  MacAddress sha;
  Ipv4Address spa;
  MacAddress tha;
  Ipv4Address tpa;

  static constexpr uint16_t kRequest = 1;
  static constexpr uint16_t kReply = 2;

  bool is_ethernet_ipv4() const noexcept {
    return htype.value() == 1 && ptype.value() == ethertype::kIpv4 && hlen == 6 && plen == 4;
  }
};
static_assert(sizeof(ArpIpv4) == 28);

}  // namespace mirrorpipe::wire
