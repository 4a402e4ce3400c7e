// Deduplication of mirrored packets (a session's `dedup_us`): when both ends of a conversation
// are mirrored, each packet is seen twice, once on each side, with a TTL one or more hops lower,
// another IPv4 header checksum and perhaps another DSCP/ECN, under other MACs and VLAN tags.
//
// A packet's signature is a 64-bit hash of its IP packet (from the IP header through the length
// the IP header gives, so Ethernet padding is left out) with the TTL or hop limit, the IPv4
// header checksum and the DSCP/ECN (traffic class) bits zeroed; L2 and VLAN tags are not part of
// it. Two packets with the same signature within the window are taken as the same packet: with
// 64 bits, two different packets collide with probability 2^-64 per pair, far below any loss a
// network has. Non-IP frames have no signature and are never deduplicated.
//
// What it cannot catch (docs): a copy changed in any other byte on the way (NAT, a rewritten
// TCP MSS option, IPv4 options added or removed, IPv6 extension headers edited, a truncated
// mirror copy of a packet the other side mirrored whole), copies further apart than the window,
// and copies handled by different workers (a symmetric flow hash puts both on one worker; a NIC
// whose RSS is not symmetric may not).
//
// The table is per worker, of fixed size (set-associative, four ways a bucket, the oldest way
// replaced), allocated before the worker starts: no allocation on the data path. A full table
// forgets the oldest signatures of a bucket first; a duplicate it forgot passes as new.
//
// Hot path: no allocation, no exceptions; reads only within the frame.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <memory>

#include "encap/wire/bytes.h"
#include "encap/wire/ethernet.h"

namespace mirrorpipe {

namespace dedup_detail {

inline uint64_t mix(uint64_t h, uint64_t w) noexcept {
  h ^= w;
  h *= 0x9fb21c651e98df25ull;
  return (h << 29) | (h >> 35);
}

inline uint64_t hash_bytes(uint64_t h, const uint8_t* p, uint32_t n) noexcept {
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t w;
    std::memcpy(&w, p, 8);
    h = mix(h, w);
  }
  uint64_t tail = 0;
  std::memcpy(&tail, p, n);
  return mix(h, tail ^ (uint64_t{n} << 56));
}

inline uint64_t finish(uint64_t h) noexcept {
  h ^= h >> 31;
  h *= 0xbf58476d1ce4e5b9ull;
  h ^= h >> 29;
  h *= 0x94d049bb133111ebull;
  return h ^ (h >> 32);
}

}  // namespace dedup_detail

// The packet's signature, or 0 when it has none (not IP, or its IP header cut short).
inline uint64_t dedup_signature(const uint8_t* frame, uint32_t len) noexcept {
  using namespace wire;
  if (len < kEthernetHeaderBytes) return 0;
  uint32_t off = 12;
  uint16_t type = static_cast<uint16_t>((frame[off] << 8) | frame[off + 1]);
  off += 2;
  for (uint32_t tags = 0; ethertype::is_vlan_tpid(type) && tags < 8; ++tags) {
    if (len < off + 4) return 0;
    type = static_cast<uint16_t>((frame[off + 2] << 8) | frame[off + 3]);
    off += 4;
  }
  std::array<uint8_t, 60> header;  // the IP header, with what changes on the way zeroed
  uint32_t header_len, ip_len;
  if (type == ethertype::kIpv4) {
    if (len < off + 20) return 0;
    header_len = (frame[off] & 0x0f) * 4u;
    ip_len = static_cast<uint32_t>((frame[off + 2] << 8) | frame[off + 3]);
    if ((frame[off] >> 4) != 4 || header_len < 20 || len < off + header_len) return 0;
    std::memcpy(header.data(), frame + off, header_len);
    header[1] = 0;                // DSCP and ECN
    header[8] = 0;                // TTL
    header[10] = header[11] = 0;  // header checksum
  } else if (type == ethertype::kIpv6) {
    if (len < off + 40 || (frame[off] >> 4) != 6) return 0;
    header_len = 40;
    ip_len = 40u + static_cast<uint32_t>((frame[off + 4] << 8) | frame[off + 5]);
    std::memcpy(header.data(), frame + off, 40);
    header[0] &= 0xf0;            // traffic class (DSCP, ECN), high half
    header[1] &= 0x0f;            // ... low half
    header[7] = 0;                // hop limit
  } else {
    return 0;
  }
  // What the IP header says the packet holds, within what was captured (a zero IPv4 total
  // length, as TSO captures have, means: to the end).
  uint32_t end = ip_len >= header_len ? off + ip_len : len;
  if (end > len) end = len;
  uint64_t h = dedup_detail::hash_bytes(0x243f6a8885a308d3ull, header.data(), header_len);
  h = dedup_detail::hash_bytes(h, frame + off + header_len, end - off - header_len);
  h = dedup_detail::finish(h ^ (end - off));
  return h ? h : 1;
}

// Recently seen signatures and when, per worker.
class DedupTable {
 public:
  // 2^bucket_bits buckets of four ways (16 bytes a way).
  explicit DedupTable(uint32_t bucket_bits = 14)
      : mask_((uint64_t{1} << bucket_bits) - 1), buckets_(new Bucket[mask_ + 1]()) {}

  // True when `sig` was seen within `window_ns` before `now_ns` (a duplicate; its time is left
  // as it was, so a stream of copies cannot keep itself alive); else records it.
  bool seen(uint64_t sig, uint64_t now_ns, uint64_t window_ns) noexcept {
    Bucket& b = buckets_[sig & mask_];
    unsigned oldest = 0;
    for (unsigned w = 0; w < kWays; ++w) {
      if (b.sig[w] == sig && now_ns >= b.time_ns[w] && now_ns - b.time_ns[w] <= window_ns) return true;
      if (b.time_ns[w] < b.time_ns[oldest]) oldest = w;
    }
    b.sig[oldest] = sig;
    b.time_ns[oldest] = now_ns;
    return false;
  }

 private:
  static constexpr unsigned kWays = 4;
  struct alignas(64) Bucket {
    uint64_t sig[kWays];
    uint64_t time_ns[kWays];
  };
  uint64_t mask_;
  std::unique_ptr<Bucket[]> buckets_;
};

}  // namespace mirrorpipe
