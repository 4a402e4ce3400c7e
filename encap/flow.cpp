#include "encap/flow.h"

#include <algorithm>
#include <cstring>

#include "encap/wire/ethernet.h"
#include "encap/wire/ipv4.h"
#include "encap/wire/ipv6.h"
#include "encap/wire/l4.h"

namespace mirrorpipe {
namespace {

using namespace wire;

using HashState = FlowHashState;

uint64_t load64(const uint8_t* p) noexcept {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}
uint32_t load32(const uint8_t* p) noexcept {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Orders the two endpoints so that both directions produce the same key: the endpoint with the
// smaller (address, port) comes first.
template <size_t N>
bool endpoints_swapped(const std::array<uint8_t, N>& a, uint16_t pa, const std::array<uint8_t, N>& b,
                       uint16_t pb) noexcept {
  const int c = std::memcmp(a.data(), b.data(), N);
  return c > 0 || (c == 0 && pa > pb);
}

struct L4Key {
  uint16_t src = 0;  // ports, or the echo identifier in both
  uint16_t dst = 0;
  bool found = false;
};

// Reads the ports (TCP, UDP, SCTP) or the echo identifier (ICMP/ICMPv6 echo) at `offset`.
L4Key read_l4(Bytes frame, uint32_t offset, uint8_t proto) noexcept {
  L4Key k;
  switch (proto) {
    case ipproto::kTcp:
    case ipproto::kUdp:
    case ipproto::kSctp:
      if (const auto* p = header_at<L4Ports>(frame, offset)) {
        k.src = p->src_port.value();
        k.dst = p->dst_port.value();
        k.found = true;
      }
      break;
    case ipproto::kIcmp:
    case ipproto::kIcmpv6:
      if (const auto* e = header_at<IcmpEcho>(frame, offset)) {
        const bool echo = proto == ipproto::kIcmp
                              ? (e->type == icmp::kV4EchoRequest || e->type == icmp::kV4EchoReply)
                              : (e->type == icmp::kV6EchoRequest || e->type == icmp::kV6EchoReply);
        if (echo) {
          // The identifier is the same in the request and the reply: use it on both sides.
          k.src = k.dst = e->identifier.value();
          k.found = true;
        }
      }
      break;
    default:
      break;
  }
  return k;
}

template <size_t N>
uint32_t hash_ip(const std::array<uint8_t, N>& src, const std::array<uint8_t, N>& dst,
                 uint8_t proto, const L4Key& l4) noexcept {
  const bool swap = endpoints_swapped(src, l4.src, dst, l4.dst);
  const auto& a = swap ? dst : src;
  const auto& b = swap ? src : dst;
  const uint16_t pa = swap ? l4.dst : l4.src;
  const uint16_t pb = swap ? l4.src : l4.dst;
  HashState s;
  if constexpr (N == 4) {
    s.add((static_cast<uint64_t>(load32(a.data())) << 32) | load32(b.data()));
  } else {
    s.add(load64(a.data()));
    s.add(load64(a.data() + 8));
    s.add(load64(b.data()));
    s.add(load64(b.data() + 8));
  }
  s.add((static_cast<uint64_t>(N) << 48) | (static_cast<uint64_t>(proto) << 32) |
        (static_cast<uint64_t>(pa) << 16) | pb);
  return s.finish();
}

uint32_t hash_non_ip(const EthernetHeader& eth, uint16_t ether_type) noexcept {
  const bool swap = std::memcmp(eth.src.data(), eth.dst.data(), 6) > 0;
  const auto& a = swap ? eth.dst : eth.src;
  const auto& b = swap ? eth.src : eth.dst;
  uint64_t wa = 0, wb = 0;
  std::memcpy(&wa, a.data(), 6);
  std::memcpy(&wb, b.data(), 6);
  HashState s;
  s.add(wa);
  s.add(wb);
  s.add(0xffff0000ull | ether_type);
  return s.finish();
}

// IPv6: walks Hop-by-Hop, Routing, Destination Options, AH and Fragment headers. Stops at the
// first other header, which is the L4 protocol (or an extension we do not walk).
void parse_ipv6(Bytes frame, FrameMeta& m, const Ipv6Header& ip) noexcept {
  uint8_t next = ip.next_header;
  uint32_t off = m.l3_offset + kIpv6HeaderBytes;
  for (int guard = 0; guard < 16; ++guard) {
    if (next == ipproto::kHopByHop || next == ipproto::kRouting || next == ipproto::kDestOpts) {
      const auto* ext = header_at<Ipv6ExtHeader>(frame, off);
      if (!ext) break;
      next = ext->next_header;
      off += ext->length_bytes();
    } else if (next == ipproto::kAh) {
      const auto* ah = header_at<Ipv6AuthHeader>(frame, off);
      if (!ah) break;
      next = ah->next_header;
      off += ah->length_bytes();
    } else if (next == ipproto::kFragment) {
      const auto* fh = header_at<Ipv6FragmentHeader>(frame, off);
      if (!fh) break;
      // Every fragment carries the same Next Header here, so all fragments of one datagram
      // get the same key (addresses and this protocol), the first one included.
      m.fragment = true;
      m.l4_proto = fh->next_header;
      return;
    } else {
      break;
    }
  }
  m.l4_proto = next;
  const L4Key l4 = read_l4(frame, off, next);
  m.l4_found = l4.found;
  m.flow_hash = hash_ip(ip.src, ip.dst, next, l4);
}

}  // namespace

FrameMeta parse_frame_general(Bytes frame) noexcept {
  FrameMeta m{};
  const auto* eth = header_at<EthernetHeader>(frame, 0);
  if (!eth) {
    // Shorter than an Ethernet header: hash what there is so that the port is still stable.
    HashState s;
    uint64_t w = 0;
    // An empty span may have a null data(): memcpy with a null source is undefined even for
    // 0 bytes (C11 7.24.1), so it is not called.
    if (!frame.empty()) std::memcpy(&w, frame.data(), std::min<size_t>(frame.size(), 8));
    s.add(w);
    m.flow_hash = s.finish();
    return m;
  }
  uint16_t type = eth->ether_type.value();
  uint32_t off = kEthernetHeaderBytes;
  for (uint32_t tags = 0; ethertype::is_vlan_tpid(type) && tags < kMaxVlanTags; ++tags) {
    const auto* tag = header_at<VlanTag>(frame, off);
    if (!tag) break;
    type = tag->ether_type.value();
    off += sizeof(VlanTag);
  }
  m.l3_offset = static_cast<uint16_t>(off);
  m.l3_ethertype = type;

  if (type == ethertype::kIpv4) {
    const auto* ip = header_at<Ipv4Header>(frame, off);
    // A total length below the header length is not an IPv4 packet (0 is: TSO and BIG TCP
    // captures leave it 0, and the packet then runs to the end of the frame).
    if (ip && ip->version() == 4 && ip->ihl_bytes() >= kIpv4MinHeaderBytes &&
        (ip->total_length_bytes() == 0 || ip->total_length_bytes() >= ip->ihl_bytes())) {
      m.ip_version = 4;
      m.l3_length = ip->total_length_bytes();
      m.l4_proto = ip->protocol;
      m.fragment = ip->is_fragment();
      L4Key l4;
      if (!m.fragment) {
        l4 = read_l4(frame, off + ip->ihl_bytes(), ip->protocol);
        m.l4_found = l4.found;
      }
      m.flow_hash = hash_ip(ip->src, ip->dst, ip->protocol, l4);
      return m;
    }
  } else if (type == ethertype::kIpv6) {
    const auto* ip = header_at<Ipv6Header>(frame, off);
    if (ip && ip->version() == 6) {
      m.ip_version = 6;
      const uint32_t payload = ip->payload_length_bytes();
      m.l3_length = payload ? kIpv6HeaderBytes + payload : 0;  // 0: jumbogram or BIG TCP
      parse_ipv6(frame, m, *ip);
      if (m.fragment) {
        m.flow_hash = hash_ip(ip->src, ip->dst, m.l4_proto, L4Key{});
      }
      return m;
    }
  }
  m.flow_hash = hash_non_ip(*eth, type);
  return m;
}

}  // namespace mirrorpipe
