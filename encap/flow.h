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

#include <array>
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
// dependent latency. A CRC is linear, which costs nothing here: the hash only spreads flows
// (source ports, pool members, GWLB cookies, bucket indices), and the test suite measures its
// collision rate against the birthday bound of an ideal 32-bit hash and its spread over a port
// range. The words and their order are the hash's specification (test/golden/flowhash.py
// implements it again).
struct FlowHashState {
  uint32_t h = 0xffffffffu;
  [[gnu::always_inline]] void add(uint64_t w) noexcept { h = crc32c_u64(h, w); }
  [[gnu::always_inline]] uint32_t finish() const noexcept { return h; }
};

namespace flow_detail {
// What a native load of these bytes reads: constants to compare loaded header words with.
constexpr uint32_t raw32(uint8_t b0, uint8_t b1, uint8_t b2, uint8_t b3) noexcept {
  return std::bit_cast<uint32_t>(std::array<uint8_t, 4>{b0, b1, b2, b3});
}
constexpr uint16_t raw16(uint8_t b0, uint8_t b1) noexcept {
  return std::bit_cast<uint16_t>(std::array<uint8_t, 2>{b0, b1});
}
// The IP protocols whose header starts with a source and a destination port: TCP, UDP, SCTP.
inline constexpr std::array<bool, 256> kPortsProtocol = [] {
  std::array<bool, 256> t{};
  t[6] = t[17] = t[132] = true;
  return t;
}();
}  // namespace flow_detail

// The common case, which the fast path below takes: an untagged IPv4 packet with a 20-byte
// header whose total length is 0 or at least 20, carrying TCP, UDP or SCTP, not a fragment.
// A few word loads and compares, each branch taken the same way for nearly every packet.
[[gnu::always_inline]] inline bool is_plain_ipv4_ports(const uint8_t* p, size_t size) noexcept {
  using flow_detail::raw16;
  using flow_detail::raw32;
  if (size < 14 + 20 + 4) return false;
  uint32_t head;  // EtherType, version and IHL, DSCP
  std::memcpy(&head, p + 12, 4);
  uint16_t fragment;  // flags and fragment offset
  std::memcpy(&fragment, p + 20, 2);
  const uint32_t total = (uint32_t{p[16]} << 8) | p[17];
  return (head & raw32(0xff, 0xff, 0xff, 0)) == raw32(0x08, 0x00, 0x45, 0) &&
         (fragment & raw16(0x3f, 0xff)) == 0 && total - 1 >= 19 && flow_detail::kPortsProtocol[p[23]];
}

// The flow hash of a packet is_plain_ipv4_ports() accepted.
[[gnu::always_inline]] inline uint32_t ipv4_ports_hash(const uint8_t* p) noexcept {
  static_assert(std::endian::native == std::endian::little, "the hash's words are little-endian reads");
  uint64_t addresses;  // source in the low half, destination in the high
  std::memcpy(&addresses, p + 26, 8);
  uint32_t ports_raw;
  std::memcpy(&ports_raw, p + 34, 4);
  // Both directions alike: the endpoint with the smaller (address, port) first, addresses
  // compared as big-endian numbers (as memcmp orders them): keys (address << 16) | port.
  const uint64_t be = __builtin_bswap64(addresses);    // source << 32 | destination
  const uint32_t ports = __builtin_bswap32(ports_raw);  // source port << 16 | destination port
  const uint64_t ka = ((be >> 32) << 16) | (ports >> 16);
  const uint64_t kb = ((be & 0xffffffffu) << 16) | (ports & 0xffffu);
  // The order is a choice between two rotations, not a branch: which way a packet goes is as
  // good as random, and a branch on it is mispredicted about every other packet.
  const bool swap = ka > kb;
  const uint64_t word0 = swap ? addresses : std::rotl(addresses, 32);  // le32(a) << 32 | le32(b)
  const uint32_t pair = swap ? std::rotl(ports, 16) : ports;           // pa << 16 | pb
  FlowHashState s;
  s.add(word0);
  s.add((uint64_t{4} << 48) | (uint64_t{p[23]} << 32) | pair);
  return s.finish();
}

// parse_frame() of a packet is_plain_ipv4_ports() accepted.
[[gnu::always_inline]] inline FrameMeta parse_ipv4_ports(const uint8_t* p) noexcept {
  FrameMeta m{};
  m.flow_hash = ipv4_ports_hash(p);
  m.l3_offset = 14;
  m.l3_ethertype = 0x0800;
  m.l3_length = (uint32_t{p[16]} << 8) | p[17];
  m.ip_version = 4;
  m.l4_proto = p[23];
  m.l4_found = true;
  return m;
}

// The common case inline (is_plain_ipv4_ports()), anything else through parse_frame_general().
// Both compute the same for such a packet: the unit tests compare them on every frame of the
// test captures. Forced inline: `mirrorpipe bench --tunnel vxlan` went from about 27 to 28 Mpps
// with it (one worker, 64-byte frames).
[[gnu::always_inline]] inline FrameMeta parse_frame(wire::Bytes frame) noexcept {
  if (is_plain_ipv4_ports(frame.data(), frame.size())) return parse_ipv4_ports(frame.data());
  return parse_frame_general(frame);
}

// parse_frame(frame).flow_hash, for a stage that needs nothing else of the frame (VXLAN and
// Geneve encapsulation): the fast path writes no FrameMeta.
[[gnu::always_inline]] inline uint32_t flow_hash_of(wire::Bytes frame) noexcept {
  if (is_plain_ipv4_ports(frame.data(), frame.size())) return ipv4_ports_hash(frame.data());
  return parse_frame_general(frame).flow_hash;
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
