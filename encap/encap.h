// The per-packet encapsulation writer.
//
// Invariants (hot path): no allocation, no exceptions, no logging; reads the frame's headers
// only through the FrameMeta that parse_frame() filled; writes only into the headroom in front
// of the payload and never touches the payload bytes (PacketLength truncation shortens the
// packet, it does not rewrite it; inner checksums stay as they were, as AWS does).
#pragma once

#include <cstring>

#include "encap/drop_reason.h"
#include "encap/flow.h"
#include "encap/packet_ref.h"
#include "encap/tunnel.h"
#include "encap/wire/checksum.h"
#include "encap/wire/ipv4.h"
#include "encap/wire/ipv6.h"
#include "encap/wire/l4.h"

namespace mirrorpipe {

// The outer IPv4 header's total length, and its checksum unless the NIC computes it: RFC 1624,
// the template's folded sum plus the one word that changed (taken from the value, not read
// back from the packet); two 16-bit values need one more fold.
[[gnu::always_inline]] inline void set_ipv4_length(const OuterTemplate& t, wire::Ipv4Header* ip,
                                                   uint16_t total_length) noexcept {
  ip->total_length.set(total_length);
  if (t.ip_checksum_offload) return;
  uint32_t sum = t.ip_checksum_base + wire::Be16::to_raw(total_length);
  sum = (sum & 0xffffu) + (sum >> 16);
  ip->checksum.set_raw(static_cast<uint16_t>(~sum));
}

// The plain VXLAN-over-IPv4 header (t.plain_vxlan4_header) at `out`, for a frame of
// `ip_length` - 36 bytes (already cut to fit, within IPv4's length field): the template and four
// fields.
[[gnu::always_inline]] inline void write_plain_vxlan4(const OuterTemplate& t, uint32_t flow_hash, uint8_t* out,
                                                      uint32_t ip_length) noexcept {
  using namespace wire;
  std::memcpy(out, t.bytes.data(), kPlainVxlan4HeaderBytes);
  auto* ip = reinterpret_cast<Ipv4Header*>(out + kEthernetHeaderBytes);
  auto* udp = reinterpret_cast<UdpHeader*>(out + kEthernetHeaderBytes + kIpv4MinHeaderBytes);
  set_ipv4_length(t, ip, static_cast<uint16_t>(ip_length));
  udp->src_port.set(hash_to_port_span(flow_hash, t.sport_lo, t.sport_span));
  udp->length.set(static_cast<uint16_t>(ip_length - kIpv4MinHeaderBytes));
}

// The common case, written with as little as it needs: VXLAN over IPv4 without a UDP checksum
// or PacketLength (AWS's own mirror encapsulation), a frame that fits the output's MTU and the
// IP length field, and room in the headroom. Five stores after the template copy and no
// branch on the configuration beyond the one flag. Returns false, having written nothing,
// for anything else; encapsulate() then takes the general path.
[[gnu::always_inline]] inline bool encapsulate_plain_vxlan4(const OuterTemplate& t, const FrameMeta& meta,
                                                            PacketRef& pkt) noexcept {
  using namespace wire;
  constexpr uint32_t kIpOverhead = kPlainVxlan4HeaderBytes - kEthernetHeaderBytes;
  const uint32_t ip_length = pkt.wire_len + kIpOverhead;
  // max_ip_length 0 (no MTU) wraps to the largest value: one compare for both cases.
  if (!t.plain_vxlan4 || ip_length > kIpv4MaxTotalLengthBytes || ip_length - 1 > t.max_ip_length - 1u ||
      pkt.headroom < kPlainVxlan4HeaderBytes) {
    return false;
  }
  pkt.prepend(kPlainVxlan4HeaderBytes);
  write_plain_vxlan4(t, meta.flow_hash, pkt.data, ip_length);
  return true;
}

// What GWLB carries of a frame: its L3 packet exactly, without the Ethernet header, VLAN tags
// and Ethernet padding. `len` and `wire_len` (the packet's, in) become the L3 packet's bytes
// present and its length on the wire; returns the bytes skipped. For a frame with IP only
// (meta.ip_version != 0).
[[gnu::always_inline]] inline uint32_t gwlb_payload(const FrameMeta& meta, uint32_t& len, uint32_t& wire_len) noexcept {
  const uint32_t skip = meta.l3_offset;
  wire_len -= skip;
  len -= skip;
  if (meta.l3_length != 0 && meta.l3_length < wire_len) wire_len = meta.l3_length;
  if (len > wire_len) len = wire_len;
  return skip;
}

// GWLB's per-packet Geneve words in the header at `out`: the protocol type of the L3 packet it
// carries, and the flow cookie, which is the symmetric flow hash (both directions of a flow
// share it). Returns the sum of the words as written, for the UDP checksum.
[[gnu::always_inline]] inline uint64_t write_gwlb_words(uint8_t* out, uint32_t tunnel_offset, uint32_t cookie_offset,
                                                        const FrameMeta& meta) noexcept {
  using namespace wire;
  const uint16_t protocol_raw = Be16::to_raw(meta.ip_version == 4 ? ethertype::kIpv4 : ethertype::kIpv6);
  reinterpret_cast<GeneveHeader*>(out + tunnel_offset)->protocol_type.set_raw(protocol_raw);
  const uint32_t cookie_raw = Be32::to_raw(meta.flow_hash);
  reinterpret_cast<Be32*>(out + cookie_offset)->set_raw(cookie_raw);
  return uint64_t{protocol_raw} + cookie_raw;
}

// The UDP checksum of a datagram with `t`'s header whose per-packet words were just written:
// the source port, the length and the tunnel's words (`tunnel_words`, their sum), each as
// written (not the metadata option's: a header that carries them is summed from its bytes);
// `payload`: the `payload_len` bytes present after the header. With the NIC's offload, the
// pseudo-header sum it completes.
[[gnu::always_inline]] inline void write_udp_checksum(const OuterTemplate& t, wire::UdpHeader* udp, uint16_t sport_raw,
                                                      uint16_t length_raw, uint64_t tunnel_words,
                                                      const uint8_t* payload, uint32_t payload_len) noexcept {
  using namespace wire;
  if (t.udp_checksum_offload) {
    // Two 16-bit values: one fold, where checksum_fold's four took 9 instructions a packet more
    // (scripts/callgrind-stages --systems gwlb-offload, the writer: 91 -> 82).
    const uint32_t s = uint32_t{t.pseudo_header_sum} + length_raw;
    udp->checksum.set_raw(static_cast<uint16_t>((s & 0xffffu) + (s >> 16)));
    return;
  }
  // Pseudo-header (addresses, protocol, UDP length) + UDP header + tunnel header + payload.
  // The headers from the template's fixed words and the per-packet words as written, not read
  // back: loads over the narrow stores just made could not take their bytes from them and
  // would wait (GWLB's header was summed that way, a stall of every packet). A capture cut
  // short cannot give the bytes it lacks: the sum covers the bytes present.
  uint64_t sum = t.pseudo_header_sum + 2 * uint64_t{length_raw} + sport_raw + tunnel_words + t.udp_header_sum;
  sum = checksum_partial(payload, payload_len, sum);
  const uint16_t c = checksum_finish(sum);
  udp->checksum.set_raw(c == 0 ? 0xffff : c);  // RFC 768: 0 means "no checksum"
}

// GWLB over IPv4 in GWLB's own layout (t.plain_gwlb4): an IP packet that fits the output's MTU
// and the IP length field, with room in the headroom. The header's offsets are constants here,
// and nothing is cut. Returns false, having written nothing, for anything else; encapsulate()
// then takes the general path (which also drops what GWLB cannot carry).
[[gnu::always_inline]] inline bool encapsulate_plain_gwlb4(const OuterTemplate& t, const FrameMeta& meta,
                                                           PacketRef& pkt) noexcept {
  using namespace wire;
  constexpr uint32_t kUdpOffset = kEthernetHeaderBytes + kIpv4MinHeaderBytes;
  constexpr uint32_t kTunnelOffset = kUdpOffset + kUdpHeaderBytes;
  constexpr uint32_t kIpOverhead = kPlainGwlb4HeaderBytes - kEthernetHeaderBytes;
  if (!t.plain_gwlb4) return false;
  uint32_t len = pkt.len;
  uint32_t wire_len = pkt.wire_len;
  const uint32_t skip = gwlb_payload(meta, len, wire_len);  // values unused when not IP
  const uint32_t ip_length = wire_len + kIpOverhead;
  // max_ip_length 0 (no MTU) wraps to the largest value: one compare for both cases.
  if (meta.ip_version == 0 || ip_length > kIpv4MaxTotalLengthBytes || ip_length - 1 > t.max_ip_length - 1u ||
      pkt.headroom + skip < kPlainGwlb4HeaderBytes) {
    return false;
  }
  pkt.data += skip;
  pkt.headroom += skip;
  pkt.len = len;
  pkt.wire_len = wire_len;
  pkt.prepend(kPlainGwlb4HeaderBytes);
  uint8_t* out = pkt.data;
  std::memcpy(out, t.bytes.data(), kPlainGwlb4HeaderBytes);
  set_ipv4_length(t, reinterpret_cast<Ipv4Header*>(out + kEthernetHeaderBytes), static_cast<uint16_t>(ip_length));
  auto* udp = reinterpret_cast<UdpHeader*>(out + kUdpOffset);
  const uint16_t sport_raw = Be16::to_raw(hash_to_port_span(meta.flow_hash, t.sport_lo, t.sport_span));
  const uint16_t length_raw = Be16::to_raw(static_cast<uint16_t>(ip_length - kIpv4MinHeaderBytes));
  udp->src_port.set_raw(sport_raw);
  udp->length.set_raw(length_raw);
  const uint64_t tunnel_words = write_gwlb_words(out, kTunnelOffset, kPlainGwlb4CookieOffset, meta);
  if (t.udp_checksum) write_udp_checksum(t, udp, sport_raw, length_raw, tunnel_words, out + kPlainGwlb4HeaderBytes, len);
  return true;
}

// What of a payload of `wire_len` bytes (`len` of them present) goes behind `t`'s headers:
// AWS PacketLength, then the output's MTU. False, with nothing changed, when it cannot go at
// all (over the MTU without truncate_to_mtu). `flags` gains what was cut (PacketRef).
[[gnu::always_inline]] inline bool cut_to_fit(const OuterTemplate& t, uint32_t& len, uint32_t& wire_len,
                                              uint32_t& flags) noexcept {
  uint32_t w = wire_len;
  uint32_t f = 0;
  // AWS PacketLength: keep the first N bytes of what follows the tunnel header.
  if (t.packet_length != 0 && w > t.packet_length) {
    w = t.packet_length;
    f |= PacketRef::kTruncatedPacketLength;
  }
  // The outer packet is never fragmented (RFC 7348 section 4.3): over the output's IP MTU it is
  // truncated to fit, as AWS does toward instance targets, or dropped.
  const uint32_t ip_overhead = t.length_bytes - t.ip_offset;  // outer IP header .. tunnel header
  // An MTU that cannot hold even the outer headers leaves nothing to truncate to: dropped too.
  if (t.max_ip_length != 0 && ip_overhead + w > t.max_ip_length) {
    if (!t.truncate_to_mtu || t.max_ip_length <= ip_overhead) return false;
    w = t.max_ip_length - ip_overhead;
    f |= PacketRef::kTruncatedMtu;
  }
  wire_len = w;
  if (len > w) len = w;
  flags |= f;
  return true;
}

// What the metadata option carries for one packet (wire::MirrorMetaOption).
struct MirrorMetadata {
  uint32_t sequence;
  uint16_t worker;
  uint64_t capture_ns;
  uint32_t original_length;
};

// Wraps `pkt` (an Ethernet frame) in the target's outer headers. Forced inline into the worker's
// loop for the same measured gain as parse_frame's. On success `pkt` describes the
// outer frame; on a drop it is unchanged and the reason is returned.
// `md`: the metadata option's fields, for a template that has the option (meta_offset).
[[gnu::always_inline]] inline DropReason encapsulate(const OuterTemplate& t, const FrameMeta& meta,
                              PacketRef& pkt, const MirrorMetadata* md = nullptr) noexcept {
  using namespace wire;
  if (encapsulate_plain_vxlan4(t, meta, pkt)) return DropReason::kNone;
  if (encapsulate_plain_gwlb4(t, meta, pkt)) return DropReason::kNone;
  // What follows the tunnel header: the whole frame, or (gwlb) its L3 packet exactly, without
  // the Ethernet header, VLAN tags and Ethernet padding.
  uint32_t skip = 0;
  uint32_t wire_len = pkt.wire_len;
  uint32_t len = pkt.len;
  if (t.kind == TunnelKind::kGwlb) {
    if (meta.ip_version == 0) return DropReason::gwlb_not_ip;
    skip = gwlb_payload(meta, len, wire_len);
  }
  uint32_t flags = 0;
  if (!cut_to_fit(t, len, wire_len, flags)) return DropReason::over_mtu;

  const uint32_t ip_payload = t.length_bytes - t.udp_offset + wire_len;
  const uint32_t ip_length = t.ipv6 ? ip_payload : ip_payload + kIpv4MinHeaderBytes;
  if (ip_length > kIpv4MaxTotalLengthBytes) return DropReason::too_big;  // IPv6: payload length
  if (pkt.headroom + skip < t.length_bytes) return DropReason::no_headroom;

  // Commit: from here on the packet is rewritten.
  pkt.data += skip;
  pkt.headroom += skip;
  pkt.len = len;
  pkt.wire_len = wire_len;
  pkt.flags |= flags;
  pkt.prepend(t.length_bytes);
  uint8_t* out = pkt.data;
  // Constant sizes for the common headers let the compiler copy with a few vector moves
  // instead of calling memcpy: VXLAN over IPv4 (50 bytes; here with a UDP checksum, or cut)
  // and GWLB (82 bytes; here when cut: the rest took encapsulate_plain_gwlb4).
  if (t.length_bytes == 50) {
    std::memcpy(out, t.bytes.data(), 50);
  } else if (t.length_bytes == 82) {
    std::memcpy(out, t.bytes.data(), 82);
  } else {
    std::memcpy(out, t.bytes.data(), t.length_bytes);
  }

  if (t.meta_offset && md) {
    auto* o = reinterpret_cast<MirrorMetaOption*>(out + t.meta_offset);
    o->sequence.set(md->sequence);
    o->worker.set(md->worker);
    o->capture_ns.set(md->capture_ns);
    o->original_length.set(md->original_length);
  }
  // The per-packet words, kept as written (raw) for the UDP checksum below.
  auto* udp = reinterpret_cast<UdpHeader*>(out + t.udp_offset);
  const uint16_t sport_raw = Be16::to_raw(hash_to_port_span(meta.flow_hash, t.sport_lo, t.sport_span));
  const uint16_t length_raw = Be16::to_raw(static_cast<uint16_t>(ip_payload));
  udp->src_port.set_raw(sport_raw);
  udp->length.set_raw(length_raw);
  uint64_t tunnel_words = 0;

  if (t.kind == TunnelKind::kGwlb) tunnel_words = write_gwlb_words(out, t.tunnel_offset, t.cookie_offset, meta);

  if (t.ipv6) {
    reinterpret_cast<Ipv6Header*>(out + t.ip_offset)->payload_length.set(static_cast<uint16_t>(ip_payload));
  } else {
    set_ipv4_length(t, reinterpret_cast<Ipv4Header*>(out + t.ip_offset), static_cast<uint16_t>(ip_length));
  }

  if (t.udp_checksum) {
    if (t.meta_offset && md && !t.udp_checksum_offload) {
      // The metadata option's words are summed from the bytes written, with the whole datagram.
      uint64_t sum = t.pseudo_header_sum + udp->length.raw();
      sum = checksum_partial(out + t.udp_offset, pkt.len - t.udp_offset, sum);
      const uint16_t c = checksum_finish(sum);
      udp->checksum.set_raw(c == 0 ? 0xffff : c);  // RFC 768: 0 means "no checksum"
    } else {
      write_udp_checksum(t, udp, sport_raw, length_raw, tunnel_words, out + t.length_bytes, pkt.len - t.length_bytes);
    }
  }
  return DropReason::kNone;
}

}  // namespace mirrorpipe
