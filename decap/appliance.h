// The inline appliance behind an AWS Gateway Load Balancer (GWLB): what it sends back for a
// packet GWLB sent it, what it wraps around a packet of a known flow that it did not receive as
// such, and the key of the inner flow.
//
// GWLB's rules (shared docs, wire-formats.md "AWS Gateway Load Balancer"): the returned packet
// carries the Geneve header and options byte for byte as they arrived (so its flow cookie is the
// one GWLB gave this very packet), the outer IPv4 source and destination swapped, both UDP ports
// kept (destination 6081), correct checksums and a fresh TTL. GWLB accepts only flows it sent.
//
// Invariants (hot path): no allocation, no exceptions, no logging, no DPDK.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "decap/decap.h"
#include "encap/flow.h"
#include "encap/drop_reason.h"
#include "encap/packet_ref.h"
#include "encap/wire/checksum.h"
#include "encap/wire/ethernet.h"
#include "encap/wire/geneve.h"
#include "encap/wire/ipv4.h"
#include "encap/wire/l4.h"

namespace mirrorpipe {

inline constexpr uint8_t kApplianceReturnTtl = 64;

struct ApplianceConfig {
  DecapConfig decap;          // which UDP ports are Geneve (6081) and VXLAN
  wire::MacAddress mac{};     // the appliance port's own: the source MAC of what it returns
  uint8_t ttl = kApplianceReturnTtl;
};

// Parses `pkt` as GWLB Geneve (outer IPv4, Geneve carrying the GWLB options) and rewrites it in
// place into the packet to send back: MACs (destination = whoever sent it, source = ours), IPv4
// addresses swapped, TTL reset, IPv4 checksum recomputed. The UDP checksum stays valid as it
// is: swapping the addresses leaves the pseudo-header sum unchanged. `parsed` keeps what the
// parse found (inner offset, GWLB ids and cookie). Nothing is written unless the result is kNone.
DropReason appliance_return(PacketRef& pkt, const ApplianceConfig& cfg, DecapResult& parsed) noexcept;

// The inner flow, as GWLB keys its stickiness: per GWLB endpoint, on the 5-tuple for TCP, UDP
// and SCTP, on the 3-tuple otherwise (GRE, ICMP, non-first fragments). Canonical: both
// directions of a flow give the same key.
struct InnerFlowKey {
  // The tuple: 40 bytes, padding explicit and zero, so that it compares as five 64-bit words.
  std::array<uint8_t, 16> addr_lo{};  // the smaller (address, port) end; IPv4 in 4 bytes
  std::array<uint8_t, 16> addr_hi{};
  uint16_t port_lo = 0;
  uint16_t port_hi = 0;
  uint8_t protocol = 0;
  uint8_t ipv6 = 0;
  uint8_t zero[2] = {0, 0};
  uint64_t endpoint_id = 0;

  bool same_tuple(const InnerFlowKey& o) const noexcept {
    uint64_t a[kTupleBytes / 8], b[kTupleBytes / 8];
    std::memcpy(a, this, kTupleBytes);
    std::memcpy(b, &o, kTupleBytes);
    // Written out: the loop was not unrolled, and it runs for every way of a bucket.
    return ((a[0] ^ b[0]) | (a[1] ^ b[1]) | (a[2] ^ b[2]) | (a[3] ^ b[3]) | (a[4] ^ b[4])) == 0;
  }
  bool operator==(const InnerFlowKey& o) const noexcept {
    return endpoint_id == o.endpoint_id && same_tuple(o);
  }
  static constexpr size_t kTupleBytes = 40;
  // A hash of the tuple without the endpoint, so that one flow seen through any endpoint lands
  // in the same bucket (a lookup may ask for "whichever endpoint saw it last").
  // Three words, not five: the first 8 bytes of both addresses folded into one word, their
  // last 8 bytes into another (an IPv4 key's two addresses sit side by side in the first).
  uint32_t tuple_hash() const noexcept {
    uint64_t w[kTupleBytes / 8];
    std::memcpy(w, this, kTupleBytes);
    return tuple_hash_of(w[0], w[1], w[2], w[3], w[4]);
  }
  // The same from the tuple's five 64-bit words (as the key holds them, read little-endian).
  [[gnu::always_inline]] static uint32_t tuple_hash_of(uint64_t w0, uint64_t w1, uint64_t w2, uint64_t w3, uint64_t w4) noexcept {
    FlowHashState s;  // the flow hash's mixer (encap/flow.h)
    s.add(w0 ^ std::rotl(w2, 32));
    s.add(w1 ^ std::rotl(w3, 32));
    s.add(w4);
    return s.finish();
  }
};
static_assert(offsetof(InnerFlowKey, endpoint_id) == InnerFlowKey::kTupleBytes && sizeof(InnerFlowKey) == 48);

// The key of a flow given by its fields (IPv4 in the first 4 bytes of an address), in canonical
// order: what inner_flow_key() gives for a packet of that flow in either direction.
InnerFlowKey make_flow_key(uint64_t endpoint_id, uint8_t protocol, bool ipv6, const std::array<uint8_t, 16>& src,
                           uint16_t src_port, const std::array<uint8_t, 16>& dst, uint16_t dst_port) noexcept;

// Reads the key of the L3 packet at `l3` (`len` captured bytes, IPv4 or IPv6 by `ethertype`).
// False when it is neither or too short to hold its header. Every case; inner_flow_key() below
// takes the common one inline and the rest here.
bool inner_flow_key_general(const uint8_t* l3, uint32_t len, uint16_t ethertype, uint64_t endpoint_id,
                            InnerFlowKey& out) noexcept;

// inner_flow_key_general() with its common case inline: IPv4 with a 20-byte header whose
// ports (if it has them) are captured. The same key, byte for byte (test_flow_table compares
// the two on every frame of the test captures), and its tuple_hash() in `hash`. The inline case
// writes the key a whole word at a time and hashes the words from registers: built field by
// field and read back at once for the hash, the key's stores could not be forwarded to the
// loads, a stall of the appliance's every packet.
[[gnu::always_inline]] inline bool inner_flow_key(const uint8_t* l3, uint32_t len, uint16_t ethertype,
                                                  uint64_t endpoint_id, InnerFlowKey& out, uint32_t& hash) noexcept {
  static_assert(std::endian::native == std::endian::little, "the key's words are read little-endian");
  if (ethertype != wire::ethertype::kIpv4 || len < wire::kIpv4MinHeaderBytes + 4 || l3[0] != 0x45) {
    if (!inner_flow_key_general(l3, len, ethertype, endpoint_id, out)) return false;
    hash = out.tuple_hash();
    return true;
  }
  uint32_t src, dst;
  std::memcpy(&src, l3 + 12, 4);
  std::memcpy(&dst, l3 + 16, 4);
  const uint8_t proto = l3[9];
  // Only a first fragment (or an unfragmented packet) carries the ports.
  const bool ports = ((l3[6] & 0x1f) | l3[7]) == 0 &&
                     (proto == wire::ipproto::kTcp || proto == wire::ipproto::kUdp || proto == wire::ipproto::kSctp);
  // Both ports in one 32-bit word, masked to zero without them: kept in a register (as two
  // 16-bit values chosen by a condition, they were spilled 2 bytes wide and read back 4 bytes
  // wide, a store the load could not be forwarded from).
  uint32_t port_word;
  std::memcpy(&port_word, l3 + 20, 4);
  port_word = __builtin_bswap32(port_word) & (0u - static_cast<uint32_t>(ports));
  const uint32_t sport = port_word >> 16;
  const uint32_t dport = port_word & 0xffffu;
  // make_flow_key()'s order: (address, port) compared as big-endian numbers. Which end comes
  // first is a rotation, not a branch (either way is as likely: a branch would be mispredicted
  // about every other packet).
  const uint64_t ka = (uint64_t{__builtin_bswap32(src)} << 16) | sport;
  const uint64_t kb = (uint64_t{__builtin_bswap32(dst)} << 16) | dport;
  const unsigned swap = ka > kb;
  const uint64_t addresses = std::rotl((uint64_t{dst} << 32) | src, static_cast<int>(32 * swap));  // hi, lo
  const uint32_t port_pair = std::rotl((dport << 16) | sport, static_cast<int>(16 * swap));  // hi, lo
  // The words of the key: addr_lo (IPv4 in its first 4 bytes), addr_hi, then port_lo, port_hi,
  // protocol and ipv6 = 0 with the zero padding, then the endpoint; each stored on its own.
  const uint64_t w0 = static_cast<uint32_t>(addresses);
  const uint64_t w2 = addresses >> 32;
  const uint64_t w4 = port_pair | (uint64_t{proto} << 32);
  const uint64_t zero = 0;
  static_assert(offsetof(InnerFlowKey, addr_hi) == 16 && offsetof(InnerFlowKey, port_lo) == 32 &&
                offsetof(InnerFlowKey, port_hi) == 34 && offsetof(InnerFlowKey, protocol) == 36 &&
                offsetof(InnerFlowKey, endpoint_id) == 40);
  auto* k = reinterpret_cast<uint8_t*>(&out);
  std::memcpy(k, &w0, 8);
  std::memcpy(k + 8, &zero, 8);
  std::memcpy(k + 16, &w2, 8);
  std::memcpy(k + 24, &zero, 8);
  std::memcpy(k + 32, &w4, 8);
  std::memcpy(k + 40, &endpoint_id, 8);
  hash = InnerFlowKey::tuple_hash_of(w0, 0, w2, 0, w4);
  return true;
}

[[gnu::always_inline]] inline bool inner_flow_key(const uint8_t* l3, uint32_t len, uint16_t ethertype,
                                                  uint64_t endpoint_id, InnerFlowKey& out) noexcept {
  uint32_t hash;
  return inner_flow_key(l3, len, ethertype, endpoint_id, out, hash);
}

// Where return_plain_gwlb4() finds the outer IPv4 header and the inner packet, always.
inline constexpr uint32_t kPlainGwlb4Outer = wire::kEthernetHeaderBytes;
inline constexpr uint32_t kPlainGwlb4Inner = kPlainGwlb4Outer + wire::kIpv4MinHeaderBytes + wire::kUdpHeaderBytes +
                                             wire::gwlb::kGeneveHeaderBytes;  // 82

// The common case of appliance_return(), read with as little as it needs: GWLB Geneve over
// untagged IPv4 without IP options, the three GWLB options in the order GWLB sends them (32
// bytes, so the inner packet starts at byte 82), VNI 0, an IPv4 payload with a 20-byte header
// that is not a VXLAN tunnel (an inner UDP packet's destination port is captured and is not a
// VXLAN port), checksums not verified, from a unicast source. True, with the packet rewritten
// and `out` filled exactly as appliance_return() leaves them, when the packet is such a one;
// false, with nothing changed, for anything else, which appliance_return() then takes (and
// returns or drops). test_flow_table and fuzz/fuzz_appliance.cpp check the two agree.
[[gnu::always_inline]] inline bool return_plain_gwlb4(PacketRef& pkt, const ApplianceConfig& cfg,
                                                      DecapResult& out) noexcept {
  using namespace wire;
  constexpr uint32_t kIp = kPlainGwlb4Outer;
  constexpr uint32_t kUdp = kIp + kIpv4MinHeaderBytes;
  constexpr uint32_t kGeneve = kUdp + kUdpHeaderBytes;
  constexpr uint32_t kOptions = kGeneve + kGeneveHeaderBytes;
  constexpr uint32_t kInner = kPlainGwlb4Inner;
  static_assert(kInner == kOptions + 32);
  if (cfg.decap.verify_checksums || cfg.decap.geneve_port_count == 0 || pkt.len < kInner + kIpv4MinHeaderBytes) {
    return false;
  }
  uint8_t* p = pkt.data;
  auto* eth = reinterpret_cast<EthernetHeader*>(p);
  auto* ip = reinterpret_cast<Ipv4Header*>(p + kIp);
  const auto* udp = reinterpret_cast<const UdpHeader*>(p + kUdp);
  const uint8_t* in = p + kInner;
  const uint32_t wire_len = pkt.wire_len > pkt.len ? pkt.wire_len : pkt.len;
  const uint32_t total = ip->total_length_bytes();
  const uint32_t udp_len = udp->length_bytes();
  const uint16_t dport = udp->dst_port.value();
  // Version 4 and a 20-byte header in one byte; the IP packet within the frame, the datagram
  // within the IP packet, and room in it for the inner IPv4 header; Geneve version 0 with 32
  // bytes of options, not OAM, carrying IPv4 in VNI 0; GWLB's three option headers.
  if (eth->ether_type.raw() != Be16::to_raw(ethertype::kIpv4) || p[kIp] != 0x45 || ip->is_fragment() ||
      ip->protocol != ipproto::kUdp || total > wire_len - kIp || dport != cfg.decap.geneve_ports[0] ||
      udp_len + kIpv4MinHeaderBytes > total || udp_len < kInner - kUdp + kIpv4MinHeaderBytes ||
      p[kGeneve] != 0x08 || (p[kGeneve + 1] & GeneveHeader::kFlagOam) != 0 ||
      reinterpret_cast<const GeneveHeader*>(p + kGeneve)->protocol_type.raw() != Be16::to_raw(ethertype::kIpv4) ||
      (p[kGeneve + 4] | p[kGeneve + 5] | p[kGeneve + 6]) != 0 || in[0] != 0x45) {
    return false;
  }
  constexpr uint8_t kEndpoint[4] = {0x01, 0x08, gwlb::kTypeEndpointId, 2};
  constexpr uint8_t kAttachment[4] = {0x01, 0x08, gwlb::kTypeAttachmentId, 2};
  constexpr uint8_t kCookie[4] = {0x01, 0x08, gwlb::kTypeFlowCookie, 1};
  static_assert(gwlb::kOptionClass == 0x0108);
  const uint8_t* o = p + kOptions;
  if (std::memcmp(o, kEndpoint, 4) != 0 || std::memcmp(o + 12, kAttachment, 4) != 0 ||
      std::memcmp(o + 24, kCookie, 4) != 0) {
    return false;
  }
  for (uint8_t i = 0; i < cfg.decap.vxlan_port_count; ++i) {
    if (cfg.decap.vxlan_ports[i] == dport) return false;
  }
  // An inner UDP packet to a VXLAN port may be a nested tunnel: appliance_return() decides.
  if (in[9] == ipproto::kUdp) {
    if (pkt.len < kInner + kIpv4MinHeaderBytes + kUdpHeaderBytes) return false;
    const uint16_t inner_dport = static_cast<uint16_t>((in[22] << 8) | in[23]);
    for (uint8_t i = 0; i < cfg.decap.vxlan_port_count; ++i) {
      if (cfg.decap.vxlan_ports[i] == inner_dport) return false;
    }
  }
  if (group_or_loopback(ip->src) || (eth->src[0] & 1) != 0) return false;

  // Every field set one by one (assigning a value-initialized layer first costs more than all
  // of them together).
  TunnelLayer& g = out.layers[0];
  g.type = TunnelType::kGeneve;
  g.ipv6 = false;
  g.gwlb_options = kGwlbAllOptions;
  g.src_port = udp->src_port.value();
  g.dst_port = dport;
  g.geneve_protocol = ethertype::kIpv4;
  g.vni = 0;
  g.src_ip = {};
  g.dst_ip = {};
  std::memcpy(g.src_ip.data(), ip->src.data(), 4);
  std::memcpy(g.dst_ip.data(), ip->dst.data(), 4);
  Be64 id;
  std::memcpy(id.bytes, o + 4, 8);
  g.gwlb_endpoint_id = id.value();
  std::memcpy(id.bytes, o + 16, 8);
  g.gwlb_attachment_id = id.value();
  Be32 cookie;
  std::memcpy(cookie.bytes, o + 28, 4);
  g.gwlb_flow_cookie = cookie.value();
  out.layer_count = 1;
  out.l3_protocol = ethertype::kIpv4;
  out.has_meta = false;
  out.outer_l3_offset = kIp;
  out.outer_dst_mac = eth->dst;
  out.outer_src_mac = eth->src;
  const uint32_t end = kUdp + udp_len;  // where the datagram ends, on the wire
  out.inner_offset = kInner;
  out.inner_wire_len = end - kInner;
  out.inner_len = (end < pkt.len ? end : pkt.len) - kInner;

  // The return: as appliance_return() writes it. The new header's sum comes from the header
  // as it arrived, read before any write (read back after the narrow writes below, it could not
  // be forwarded from them: a stall of every packet): swapping the addresses leaves the sum as
  // it is; the word of TTL, protocol and checksum gets the new TTL and a zero checksum.
  uint32_t h[5];
  std::memcpy(h, p + kIp, sizeof h);
  static_assert(std::endian::native == std::endian::little, "the TTL is the low byte of the third word");
  const uint64_t sum = uint64_t{h[0]} + h[1] + ((h[2] & 0xff00u) | cfg.ttl) + h[3] + h[4];
  eth->dst = out.outer_src_mac;
  eth->src = cfg.mac;
  const Ipv4Address src = ip->src;
  ip->src = ip->dst;
  ip->dst = src;
  ip->ttl = cfg.ttl;
  ip->checksum.set_raw(checksum_finish(sum));
  return true;
}

// Wraps the L3 packet `pkt` (data at its first byte) in a stored return header: `header` is
// the first `header_len` bytes of a packet appliance_return() produced for the same flow (its
// Ethernet, IPv4, UDP, Geneve and options), `l3_offset` where its IPv4 header starts. The
// lengths are set for the new payload, the IPv4 checksum recomputed, and the UDP checksum
// computed when the stored one was not zero. Drops with no_headroom or too_big.
DropReason gwlb_wrap(PacketRef& pkt, const uint8_t* header, uint32_t header_len,
                     uint32_t l3_offset) noexcept;

}  // namespace mirrorpipe
