// The port's own traffic: what a DPDK-owned port must do for the host it replaced.
//
// A port with an address answers ARP requests for it and ICMP echo requests to it itself, by
// rewriting the request into the reply in place; every other packet addressed to it (SSH, load
// balancer health checks, the kernel's own ARP traffic) goes to the exception TAP when one is
// configured, so the kernel's services keep working on a single-NIC instance. Tunnel packets to
// the address stay on the data path.
// Hot path: no allocation, no exceptions; reads only through header_at().
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>

#include "encap/packet_ref.h"
#include "encap/wire/arp.h"
#include "encap/wire/bytes.h"
#include "encap/wire/checksum.h"
#include "encap/wire/ethernet.h"
#include "encap/wire/ipv4.h"
#include "encap/wire/l4.h"
#include "decap/decap.h"

namespace mirrorpipe {

struct HostConfig {
  bool enabled = false;            // the port has an IPv4 address
  bool has_tap = false;            // an exception TAP takes the host's other traffic
  wire::Ipv4Address ip{};
  wire::MacAddress mac{};
  // UDP ports that stay on the data path: every VXLAN and Geneve port of the decap settings.
  std::array<uint16_t, 2 * kMaxTunnelPorts> tunnel_ports{};
  uint8_t tunnel_port_count = 0;
  // A port that is an output too, with its next hop resolved by ARP: the next hop's replies to
  // us arrive here, and their sender MAC is left in this slot for the resolver (null: none).
  wire::Ipv4Address next_hop_ip{};
  std::atomic<uint64_t>* next_hop_seen = nullptr;
};

// A MAC in one word for the next-hop slot; 0 means "nothing new".
inline uint64_t pack_learned_mac(const wire::MacAddress& m) noexcept {
  uint64_t v = 1ull << 48;
  for (int i = 0; i < 6; ++i) v |= static_cast<uint64_t>(m[i]) << (8 * (5 - i));
  return v;
}
inline wire::MacAddress unpack_learned_mac(uint64_t v) noexcept {
  wire::MacAddress m{};
  for (int i = 0; i < 6; ++i) m[i] = static_cast<uint8_t>(v >> (8 * (5 - i)));
  return m;
}

enum class HostVerdict : uint8_t {
  kDataPath,  // not the host's: the route's pipeline handles it
  kReply,     // rewritten into a reply: send it back out of the port it came from
  kToHost,    // the host's: hand it to the exception TAP
};

inline uint16_t host_word(const void* p) noexcept {
  uint16_t w;
  std::memcpy(&w, p, 2);
  return w;
}

// Whether an echo request may be answered: from a unicast MAC and a unicast IPv4 address that is
// not ours, so that a reply never goes to a group of hosts or back to us (RFC 1122 3.2.2.6:
// no reply to a request sent from a broadcast or multicast address).
using wire::group_or_loopback;

inline bool unicast_source(const wire::EthernetHeader& eth, const wire::Ipv4Header& ip, const HostConfig& h) noexcept {
  return (eth.src[0] & 1) == 0 && !group_or_loopback(ip.src) && ip.src != h.ip;
}

// Whether an ARP request may be answered: from unicast MACs (Ethernet source and sender), and
// a sender address that is unicast and not ours, or 0.0.0.0: an address probe (RFC 5227 2.1.1),
// which a host answers to defend its address. The reply goes to the sender's MAC and names the
// sender's address, so a request that claims a group, loopback or our own address is dropped
// rather than answered toward a host that does not exist.
inline bool arp_answerable(const wire::EthernetHeader& eth, const wire::ArpIpv4& arp, const HostConfig& h) noexcept {
  const bool probe = arp.spa == wire::Ipv4Address{0, 0, 0, 0};
  return (eth.src[0] & 1) == 0 && (arp.sha[0] & 1) == 0 && (probe || (!group_or_loopback(arp.spa) && arp.spa != h.ip));
}

inline HostVerdict host_classify(const HostConfig& h, PacketRef& pkt) noexcept {
  using namespace wire;
  const MutableBytes frame(pkt.data, pkt.len);
  auto* eth = header_at<EthernetHeader>(frame, 0);
  if (!eth) return HostVerdict::kDataPath;
  const uint16_t type = eth->ether_type.value();
  if (type == ethertype::kArp) {
    auto* arp = header_at<ArpIpv4>(frame, kEthernetHeaderBytes);
    if (!arp || !arp->is_ethernet_ipv4()) {
      return h.has_tap ? HostVerdict::kToHost : HostVerdict::kDataPath;
    }
    if (h.next_hop_seen && arp->oper.value() == ArpIpv4::kReply && arp->tpa == h.ip &&
        arp->spa == h.next_hop_ip) {
      h.next_hop_seen->store(pack_learned_mac(arp->sha), std::memory_order_relaxed);
    }
    // A request from a group address (broadcast, multicast) is not answered: the reply would
    // go to every host on the segment (no reflection, no amplification); see arp_answerable.
    if (arp->oper.value() == ArpIpv4::kRequest && arp->tpa == h.ip && arp_answerable(*eth, *arp, h)) {
      // Who has our address? Us: the request becomes the reply.
      eth->dst = arp->sha;
      eth->src = h.mac;
      arp->oper.set(ArpIpv4::kReply);
      arp->tha = arp->sha;
      arp->tpa = arp->spa;
      arp->sha = h.mac;
      arp->spa = h.ip;
      return HostVerdict::kReply;
    }
    // Replies to the kernel's own requests, and requests for others on a shared segment.
    return h.has_tap && (arp->tpa == h.ip) ? HostVerdict::kToHost : HostVerdict::kDataPath;
  }
  if (type != ethertype::kIpv4) return HostVerdict::kDataPath;
  auto* ip = header_at<Ipv4Header>(frame, kEthernetHeaderBytes);
  if (!ip || ip->version() != 4 || ip->ihl_bytes() < kIpv4MinHeaderBytes || ip->dst != h.ip) {
    return HostVerdict::kDataPath;
  }
  const uint32_t l4 = kEthernetHeaderBytes + ip->ihl_bytes();
  if (ip->protocol == ipproto::kUdp && !ip->is_fragment()) {
    if (const auto* udp = header_at<UdpHeader>(frame, l4)) {
      for (uint8_t i = 0; i < h.tunnel_port_count; ++i) {
        if (udp->dst_port.value() == h.tunnel_ports[i]) return HostVerdict::kDataPath;
      }
    }
  }
  if (ip->protocol == ipproto::kIcmp && !ip->is_fragment() && unicast_source(*eth, *ip, h)) {
    auto* icmp = header_at<IcmpEcho>(frame, l4);
    const uint32_t ip_len = ip->total_length_bytes();
    if (icmp && icmp->type == icmp::kV4EchoRequest && icmp->code == 0 && ip_len >= ip->ihl_bytes() + 8 &&
        kEthernetHeaderBytes + ip_len <= pkt.len) {
      // Echo request to us: the same packet back, addresses swapped, type 0 (RFC 792). The
      // ICMP checksum changes by the type word only (RFC 1624); the IPv4 one not at all.
      std::swap(eth->dst, eth->src);
      eth->src = h.mac;
      std::swap(ip->src, ip->dst);
      const uint16_t old_word = host_word(&icmp->type);
      icmp->type = icmp::kV4EchoReply;
      const uint16_t new_word = host_word(&icmp->type);
      icmp->checksum.set_raw(checksum_update16(icmp->checksum.raw(), old_word, new_word));
      // The reply leaves with a fresh TTL; the header checksum follows the change.
      const uint16_t old_ttl = host_word(&ip->ttl);
      ip->ttl = 64;
      const uint16_t new_ttl = host_word(&ip->ttl);
      ip->checksum.set_raw(checksum_update16(ip->checksum.raw(), old_ttl, new_ttl));
      pkt.len = kEthernetHeaderBytes + ip_len;  // no Ethernet padding echoed back
      pkt.wire_len = pkt.len;
      return HostVerdict::kReply;
    }
  }
  return h.has_tap ? HostVerdict::kToHost : HostVerdict::kDataPath;
}

}  // namespace mirrorpipe
