// ARP (RFC 826) for IPv4 over Ethernet: the 28 bytes after the Ethernet header.
//
//   0                   1                   2                   3
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |   Hardware type (1)           |   Protocol type (0x0800)      |
//  | HW len (6)    | Proto len (4) |   Operation (1 req, 2 reply)  |
//  |   Sender MAC (6) ... Sender IPv4 (4) ... Target MAC (6) ... Target IPv4 (4)
#pragma once

#include <cstring>
#include <optional>

#include "encap/wire/bytes.h"
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

inline constexpr uint32_t kArpFrameBytes = 60;  // Ethernet minimum: 14 + 28, zero padded

// Writes into `frame` (kArpFrameBytes) a broadcast request from `mac`/`ip` asking for `target`.
inline void write_arp_request(uint8_t* frame, const MacAddress& mac, const Ipv4Address& ip,
                              const Ipv4Address& target) noexcept {
  std::memset(frame, 0, kArpFrameBytes);
  auto* eth = reinterpret_cast<EthernetHeader*>(frame);
  eth->dst.fill(0xff);
  eth->src = mac;
  eth->ether_type.set(ethertype::kArp);
  auto* arp = reinterpret_cast<ArpIpv4*>(frame + kEthernetHeaderBytes);
  arp->htype.set(1);
  arp->ptype.set(ethertype::kIpv4);
  arp->hlen = 6;
  arp->plen = 4;
  arp->oper.set(ArpIpv4::kRequest);
  arp->sha = mac;
  arp->spa = ip;
  arp->tpa = target;
}

// The MAC of `target` when `frame` is its ARP reply to `ip`.
inline std::optional<MacAddress> arp_reply_from(Bytes frame, const Ipv4Address& target,
                                                const Ipv4Address& ip) noexcept {
  const auto* eth = header_at<EthernetHeader>(frame, 0);
  const auto* arp = header_at<ArpIpv4>(frame, kEthernetHeaderBytes);
  if (eth && arp && eth->ether_type.value() == ethertype::kArp && arp->is_ethernet_ipv4() &&
      arp->oper.value() == ArpIpv4::kReply && arp->spa == target && arp->tpa == ip) {
    return arp->sha;
  }
  return std::nullopt;
}

}  // namespace mirrorpipe::wire
