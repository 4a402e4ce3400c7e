// Mirror sessions on a mirror input: which session, if any, mirrors a frame, as AWS VPC Traffic
// Mirroring decides it (so that a session moved from AWS to mirrorpipe selects the same
// packets). The AWS rules this follows, from the Traffic Mirroring documentation
// (../shared/docs/wire-formats.md, "AWS VPC Traffic Mirroring"):
//
// - Sessions of one input are tried in ascending number; the first whose filter accepts the
//   packet mirrors it, and no other session of that input sees it. A packet no session takes is
//   filtered once, under the reason of the last session that tried it.
// - Direction: with `monitored`, a packet whose source is in it is egress, else one whose
//   destination is in it is ingress, else the session does not take it (not_monitored).
//   Without it, every packet is the session's direction (ingress unless it says egress).
// - A filter's rules of that direction are evaluated in ascending number; the first that
//   matches decides (accept, or reject); none matches: not mirrored. A rule's protocol is the
//   upper-layer one (after IPv6 extension headers); its CIDRs are of one family and never
//   match the other; its port ranges (TCP and UDP only) never match a later fragment, which
//   has no ports.
// - What AWS never mirrors is never mirrored by a session with a filter: non-IP frames, DHCP,
//   the instance metadata service, Amazon Time Sync, Windows activation, and Amazon DNS unless
//   the filter asks for it; each under its own reason; `aws_exclusions = false` turns them off.
//
// Invariants (hot path): no allocation, no exceptions; the configuration is read, never changed.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "encap/drop_reason.h"
#include "encap/wire/bytes.h"
#include "encap/wire/ethernet.h"
#include "encap/wire/ipv4.h"
#include "encap/wire/ipv6.h"
#include "encap/wire/l4.h"
#include "engine/pipeline/receive.h"

namespace mirrorpipe {

// What the rules look at, read once per frame.
struct FilterFields {
  bool ip = false;
  bool v6 = false;
  std::array<uint8_t, 16> src{};  // IPv4 in the first 4 bytes
  std::array<uint8_t, 16> dst{};
  uint8_t protocol = 0;           // upper-layer protocol
  bool has_ports = false;         // TCP/UDP/SCTP ports read (not a later fragment)
  uint16_t src_port = 0;
  uint16_t dst_port = 0;
};

// Where a frame's headers are, walked once: through up to four VLAN tags, then IPv4 (its
// options) or IPv6 (hop-by-hop, routing, destination options, fragment and AH headers). Never
// reads past `len`; `cut` says a header was cut short by the end of the frame.
struct L3Walk {
  uint32_t l3 = 0;            // first byte after the Ethernet header and tags
  const wire::Ipv4Header* ip4 = nullptr;
  const wire::Ipv6Header* ip6 = nullptr;
  uint8_t protocol = 0;       // the upper-layer protocol (where the walk stopped)
  uint32_t l4 = 0;            // first byte after the IP headers
  bool later_fragment = false;
  bool cut = false;
  bool ip() const noexcept { return ip4 || ip6; }
};

inline L3Walk walk_l3(const uint8_t* frame, uint32_t len) noexcept {
  using namespace wire;
  L3Walk w;
  const Bytes b(frame, len);
  const auto* eth = header_at<EthernetHeader>(b, 0);
  if (!eth) {
    w.cut = true;
    return w;
  }
  uint16_t type = eth->ether_type.value();
  uint32_t off = kEthernetHeaderBytes;
  for (int tags = 0; tags < 4 && ethertype::is_vlan_tpid(type); ++tags) {
    const auto* tag = header_at<VlanTag>(b, off);
    if (!tag) {
      w.cut = true;
      return w;
    }
    type = tag->ether_type.value();
    off += sizeof(VlanTag);
  }
  w.l3 = off;
  if (type == ethertype::kIpv4) {
    const auto* ip = header_at<Ipv4Header>(b, off);
    if (!ip || ip->version() != 4 || ip->ihl_bytes() < kIpv4MinHeaderBytes) return w;
    w.ip4 = ip;
    w.protocol = ip->protocol;
    w.later_fragment = (ip->flags_fragment.value() & Ipv4Header::kFragmentOffsetMask) != 0;
    w.l4 = off + ip->ihl_bytes();
  } else if (type == ethertype::kIpv6) {
    const auto* ip = header_at<Ipv6Header>(b, off);
    if (!ip || ip->version() != 6) return w;
    w.ip6 = ip;
    uint8_t next = ip->next_header;
    uint32_t l4 = off + kIpv6HeaderBytes;
    for (int guard = 0; guard < 8; ++guard) {
      if (next == ipproto::kFragment) {
        const auto* fr = header_at<Ipv6FragmentHeader>(b, l4);
        if (!fr) {
          w.cut = true;
          break;
        }
        w.later_fragment = (fr->offset_flags.value() & 0xfff8u) != 0;  // Fragment Offset, 8-byte units
        next = fr->next_header;
        l4 += sizeof(Ipv6FragmentHeader);
      } else if (next == ipproto::kAh) {
        const auto* ah = header_at<Ipv6AuthHeader>(b, l4);
        if (!ah) {
          w.cut = true;
          break;
        }
        next = ah->next_header;
        l4 += ah->length_bytes();
      } else if (next == ipproto::kHopByHop || next == ipproto::kRouting || next == ipproto::kDestOpts) {
        const auto* ext = header_at<Ipv6ExtHeader>(b, l4);
        if (!ext) {
          w.cut = true;
          break;
        }
        next = ext->next_header;
        l4 += ext->length_bytes();
      } else {
        break;
      }
    }
    w.protocol = next;
    w.l4 = l4;
  }
  return w;
}

// Reads the fields the rules look at (the general walk; read_filter_fields below inlines the
// common case).
inline FilterFields read_filter_fields_general(const uint8_t* frame, uint32_t len) noexcept {
  using namespace wire;
  FilterFields f;
  const L3Walk w = walk_l3(frame, len);
  if (w.ip4) {
    std::memcpy(f.src.data(), w.ip4->src.data(), 4);
    std::memcpy(f.dst.data(), w.ip4->dst.data(), 4);
  } else if (w.ip6) {
    f.v6 = true;
    f.src = w.ip6->src;
    f.dst = w.ip6->dst;
  } else {
    return f;
  }
  f.ip = true;
  f.protocol = w.protocol;
  if (!w.later_fragment && (f.protocol == ipproto::kTcp || f.protocol == ipproto::kUdp || f.protocol == ipproto::kSctp)) {
    if (const auto* p = header_at<L4Ports>(Bytes(frame, len), w.l4)) {
      f.has_ports = true;
      f.src_port = p->src_port.value();
      f.dst_port = p->dst_port.value();
    }
  }
  return f;
}

// The common case inline: an untagged IPv4 packet with a 20-byte header carrying TCP or UDP, not
// a fragment; anything else takes the general walk above (the unit tests compare the two).
inline bool inline_filter_fields(const uint8_t* p, uint32_t len) noexcept {
  return len >= 14 + 20 + 4 && p[12] == 0x08 && p[13] == 0x00 && p[14] == 0x45 && ((p[20] & 0x3f) | p[21]) == 0 &&
         (p[23] == 6 || p[23] == 17);
}

inline FilterFields read_filter_fields(const uint8_t* p, uint32_t len) noexcept {
  if (inline_filter_fields(p, len)) {
    FilterFields f;
    f.ip = true;
    std::memcpy(f.src.data(), p + 26, 4);
    std::memcpy(f.dst.data(), p + 30, 4);
    f.protocol = p[23];
    f.has_ports = true;
    f.src_port = static_cast<uint16_t>((p[34] << 8) | p[35]);
    f.dst_port = static_cast<uint16_t>((p[36] << 8) | p[37]);
    return f;
  }
  return read_filter_fields_general(p, len);
}

struct MirrorFilterRule {
  uint16_t number = 0;
  bool accept = false;
  int16_t protocol = -1;  // -1: all
  IpPrefix source;
  IpPrefix destination;
  bool has_source_ports = false;
  uint16_t source_lo = 0, source_hi = 65535;
  bool has_destination_ports = false;
  uint16_t destination_lo = 0, destination_hi = 65535;

  bool matches(const FilterFields& f) const noexcept {
    if (protocol >= 0 && f.protocol != protocol) return false;
    if (!source.contains(f.v6, f.src) || !destination.contains(f.v6, f.dst)) return false;
    if (has_source_ports && (!f.has_ports || f.src_port < source_lo || f.src_port > source_hi)) return false;
    if (has_destination_ports && (!f.has_ports || f.dst_port < destination_lo || f.dst_port > destination_hi)) {
      return false;
    }
    return true;
  }
};

struct MirrorFilter {
  std::vector<MirrorFilterRule> ingress;  // ascending number
  std::vector<MirrorFilterRule> egress;
  bool aws_exclusions = true;
  bool amazon_dns = false;  // network_services = ["amazon-dns"]
};

struct MirrorSessionPolicy {
  bool has_filter = false;
  MirrorFilter filter;
  std::vector<IpPrefix> monitored;  // empty: every packet is `egress_default` ? egress : ingress
  bool egress_default = false;
};

inline constexpr int16_t kRuleEgressBase = 32;  // = kMaxRulesPerDirection (counters.h)

// Index of the rule that decided (for its hit counter), or -1.
struct SessionVerdict {
  FilterReason filtered = FilterReason::kNone;  // kNone: this session mirrors the packet
  int16_t rule = -1;  // index in ingress, or kRuleEgressBase + index in egress
};

namespace aws {
// The link-local services AWS never mirrors: IPv4 169.254.169.N and IPv6 fd00:ec2::N, where
// the IPv6 addresses spell the same digits in hexadecimal (fd00:ec2::254 is ...:0254).
inline FilterReason never_mirrored(const FilterFields& f, bool amazon_dns) noexcept {
  // Most packets are neither to nor from 169.254.169.0/24 or fd00::/8: one test for both ends.
  const uint8_t first = f.v6 ? 0xfd : 169;
  if (f.src[0] != first && f.dst[0] != first) return FilterReason::kNone;
  enum Service { kOther, kMetadata, kTimeSync, kWindowsActivation, kAmazonDns };
  auto service = [&](const std::array<uint8_t, 16>& a) -> Service {
    if (!f.v6) {
      if (a[0] != 169 || a[1] != 254 || a[2] != 169) return kOther;
      switch (a[3]) {
        case 254: return kMetadata;
        case 123: return kTimeSync;
        case 250:
        case 251: return kWindowsActivation;
        case 253: return kAmazonDns;
        default: return kOther;
      }
    }
    static constexpr uint8_t kEc2[14] = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    if (std::memcmp(a.data(), kEc2, 14) != 0) return kOther;
    switch ((a[14] << 8) | a[15]) {
      case 0x254: return kMetadata;
      case 0x123: return kTimeSync;
      case 0x253: return kAmazonDns;
      default: return kOther;
    }
  };
  for (const auto* a : {&f.src, &f.dst}) {
    switch (service(*a)) {
      case kMetadata: return FilterReason::never_mirrored_metadata;
      case kTimeSync: return FilterReason::never_mirrored_time_sync;
      case kWindowsActivation: return FilterReason::never_mirrored_windows_activation;
      case kAmazonDns:
        if (!amazon_dns) return FilterReason::never_mirrored_amazon_dns;
        break;
      case kOther: break;
    }
  }
  return FilterReason::kNone;
}
}  // namespace aws

// `slice`: how many bytes of a frame to keep so that every header through its L4 header stays,
// whatever the option sizes, plus `payload` bytes: Ethernet and up to four VLAN tags; IPv4 with
// its options or IPv6 with its extension headers; TCP with its options, UDP 8 bytes, SCTP's
// common header (12), ICMP and ICMPv6 8 bytes. A later fragment, or another protocol, keeps
// its IP headers; a non-IP frame its Ethernet header and tags. Never more than `len`.
inline uint32_t slice_length(const uint8_t* frame, uint32_t len, uint32_t payload) noexcept {
  using namespace wire;
  auto keep = [&](uint64_t headers) { return static_cast<uint32_t>(headers + payload < len ? headers + payload : len); };
  const L3Walk w = walk_l3(frame, len);
  if (w.cut) return len;
  if (!w.ip()) return keep(w.l3);  // not IP (or a broken IP header): the Ethernet header and tags
  if (w.later_fragment) return keep(w.l4);
  uint32_t l4 = 0;
  if (w.protocol == ipproto::kTcp) {
    if (uint64_t{w.l4} + 13 >= len) return len;
    l4 = (frame[w.l4 + 12] >> 4) * 4u;
    if (l4 < 20) l4 = 20;
  } else if (w.protocol == ipproto::kUdp || w.protocol == ipproto::kIcmp || w.protocol == ipproto::kIcmpv6) {
    l4 = 8;
  } else if (w.protocol == ipproto::kSctp) {
    l4 = 12;
  }
  return keep(uint64_t{w.l4} + l4);
}

inline SessionVerdict evaluate_session(const MirrorSessionPolicy& s, const FilterFields& f) noexcept {
  SessionVerdict v;
  if (!s.has_filter) return v;  // no filter: everything, as a route would
  const MirrorFilter& flt = s.filter;
  if (flt.aws_exclusions) {
    if (!f.ip) return {FilterReason::never_mirrored_non_ip, -1};
    if (f.protocol == wire::ipproto::kUdp && f.has_ports &&
        (f.src_port == 67 || f.src_port == 68 || f.dst_port == 67 || f.dst_port == 68)) {
      return {FilterReason::never_mirrored_dhcp, -1};
    }
    const FilterReason r = aws::never_mirrored(f, flt.amazon_dns);
    if (r != FilterReason::kNone) return {r, -1};
  } else if (!f.ip) {
    return {FilterReason::no_rule_matched, -1};  // rules match IP packets only
  }
  bool egress = s.egress_default;
  if (!s.monitored.empty()) {
    if (any_prefix_contains(s.monitored, f.v6, f.src)) egress = true;
    else if (any_prefix_contains(s.monitored, f.v6, f.dst)) egress = false;
    else return {FilterReason::not_monitored, -1};
  }
  const auto& rules = egress ? flt.egress : flt.ingress;
  for (size_t i = 0; i < rules.size(); ++i) {
    if (!rules[i].matches(f)) continue;
    const auto index = static_cast<int16_t>((egress ? kRuleEgressBase : 0) + i);
    return rules[i].accept ? SessionVerdict{FilterReason::kNone, index}
                           : SessionVerdict{FilterReason::rule_rejected, index};
  }
  return {FilterReason::no_rule_matched, -1};
}

}  // namespace mirrorpipe
