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

#include <bit>
#include <cstdint>
#include <cstring>

#include "encap/crc32c.h"
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

// The general parse: any tags, IPv6 extension headers, ICMP, fragments, non-IP.
FrameMeta parse_frame_general(wire::Bytes frame) noexcept;

// Accumulates 64-bit words into a hash: CRC-32C steps from 0xFFFFFFFF, the register as it ends
// (encap/crc32c.h): an IPv4 packet's two words are two instructions of 3 cycles' latency each,
// where the multiply-and-rotate mixer this replaced took 16 instructions and about 24 cycles of
// dependent latency. A CRC is linear, which costs nothing here: the
// hash only spreads flows (source ports, pool members, GWLB cookies, bucket indices), and the
// test suite measures its collision rate against the birthday bound of an ideal 32-bit hash and
// its spread over a port range. The words and their order are the hash's specification
// (test/golden/flowhash.py implements it again).
struct FlowHashState {
  uint32_t h = 0xffffffffu;
  [[gnu::always_inline]] void add(uint64_t w) noexcept { h = crc32c_u64(h, w); }
  [[gnu::always_inline]] uint32_t finish() const noexcept { return h; }
};

// The flow of an untagged IPv4 packet with a 20-byte header whose total length (`total`) is 0
// or at least 20, carrying `proto` (TCP, UDP or SCTP), not a fragment: the caller has checked.
[[gnu::always_inline]] inline FrameMeta parse_ipv4_ports(const uint8_t* p, uint32_t total, uint8_t proto) noexcept {
  uint32_t src, dst;
  std::memcpy(&src, p + 26, 4);
  std::memcpy(&dst, p + 30, 4);
  const uint16_t sport = static_cast<uint16_t>((p[34] << 8) | p[35]);
  const uint16_t dport = static_cast<uint16_t>((p[36] << 8) | p[37]);
  // Both directions alike: the endpoint with the smaller (address, port) first. Addresses
  // compare as big-endian numbers, which is how memcmp orders them.
  // The order is a rotation of the packed words, not a branch: which way a packet goes is as
  // good as random, and a branch on it is mispredicted about every other packet.
  const uint64_t ka = (uint64_t{__builtin_bswap32(src)} << 16) | sport;
  const uint64_t kb = (uint64_t{__builtin_bswap32(dst)} << 16) | dport;
  const unsigned swap = ka > kb;
  const uint64_t addresses = std::rotl((uint64_t{src} << 32) | dst, static_cast<int>(32 * swap));   // a, b
  const uint32_t ports = std::rotl((uint32_t{sport} << 16) | dport, static_cast<int>(16 * swap));  // pa, pb
  FlowHashState s;
  s.add(addresses);
  s.add((uint64_t{4} << 48) | (uint64_t{proto} << 32) | ports);
  FrameMeta m{};
  m.flow_hash = s.finish();
  m.l3_offset = 14;
  m.l3_ethertype = 0x0800;
  m.l3_length = total;
  m.ip_version = 4;
  m.l4_proto = proto;
  m.l4_found = true;
  return m;
}

// The common case inline and without branches on the flow key: an untagged IPv4 packet with a
// 20-byte header carrying TCP, UDP or SCTP, not a fragment. It computes exactly what the
// general parse computes for such a packet (the unit tests compare the two on every frame of
// the test captures); anything else goes to parse_frame_general(). Forced inline: `mirrorpipe
// bench --tunnel vxlan` went from about 27 to 28 Mpps with it (one worker, 64-byte frames).
[[gnu::always_inline]] inline FrameMeta parse_frame(wire::Bytes frame) noexcept {
  const uint8_t* p = frame.data();
  if (frame.size() >= 14 + 20 + 4 && p[12] == 0x08 && p[13] == 0x00 && p[14] == 0x45) {
    const uint32_t total = (uint32_t{p[16]} << 8) | p[17];
    const bool fragment = ((p[20] & 0x3f) | p[21]) != 0;
    const uint8_t proto = p[23];
    if ((total == 0 || total >= 20) && !fragment && (proto == 6 || proto == 17 || proto == 132)) {
      return parse_ipv4_ports(p, total, proto);
    }
  }
  return parse_frame_general(frame);
}

// Maps a 32-bit hash onto [lo, hi] without a division (multiply-shift).
// `span` is hi - lo + 1 (at most 65536), for callers that keep it precomputed.
constexpr uint16_t hash_to_port_span(uint32_t hash, uint16_t lo, uint32_t span) noexcept {
  return static_cast<uint16_t>(lo + ((uint64_t{hash} * span) >> 32));
}

constexpr uint16_t hash_to_port(uint32_t hash, uint16_t lo, uint16_t hi) noexcept {
  return hash_to_port_span(hash, lo, static_cast<uint32_t>(hi) - lo + 1);
}

}  // namespace mirrorpipe
