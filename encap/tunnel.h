// Tunnel targets: what a user configures, and the outer-header template built from it once.
//
// Control path (this file and tunnel.cpp): may allocate and throw std::invalid_argument with a
// message for the user. The per-packet writer is encap.h.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "encap/wire/ethernet.h"
#include "encap/wire/geneve.h"
#include "encap/wire/vxlan.h"

namespace mirrorpipe {

enum class TunnelKind : uint8_t {
  kVxlan,   // AWS VPC Traffic Mirroring: VXLAN, inner Ethernet frame
  kGwlb,    // AWS Gateway Load Balancer: Geneve, VNI 0, inner L3, class 0x0108 options
  kGeneve,  // generic Geneve, Ethernet payload (0x6558), configurable VNI and options
};

enum class UdpChecksumMode : uint8_t {
  // vxlan and geneve over IPv4: zero (RFC 7348 section 5; what AWS Traffic Mirroring sends).
  // gwlb: computed, as in the GWLB capture (suricata-bug-6402). IPv6: computed (RFC 6935/6936).
  kAuto,
  kOn,
  kOff,   // also over IPv6: the user takes the RFC 6936 conditions on themselves
};

struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // IPv4 in the first 4 bytes
};

// Parses dotted IPv4 or IPv6 text; throws std::invalid_argument.
IpAddress parse_ip(const std::string& text);
wire::MacAddress parse_mac(const std::string& text);

struct GeneveOption {
  uint16_t option_class = 0;
  uint8_t type = 0;
  std::vector<uint8_t> data;  // a multiple of 4 bytes, at most 124
};

// Parses CLASS:TYPE:HEXDATA, e.g. "0x0108:3:0a0b0c0d"; throws std::invalid_argument.
GeneveOption parse_geneve_option(const std::string& text);

struct TunnelConfig {
  TunnelKind kind = TunnelKind::kVxlan;
  wire::MacAddress src_mac{0x02, 0x00, 0x00, 0x00, 0x00, 0x01};
  wire::MacAddress dst_mac{0x02, 0x00, 0x00, 0x00, 0x00, 0x02};
  IpAddress src_ip;
  IpAddress dst_ip;
  uint8_t ttl = 255;  // AWS Traffic Mirroring and GWLB both send TTL 255
  uint8_t dscp = 0;
  bool df = false;    // AWS sends DF clear
  uint16_t dst_port = 0;  // 0: the kind's default (4789, or 6081 for Geneve)
  uint16_t sport_lo = 49152;  // RFC 7348 section 5 recommends 49152-65535
  uint16_t sport_hi = 65535;
  UdpChecksumMode udp_checksum = UdpChecksumMode::kAuto;
  uint32_t vni = 0;                 // vxlan, geneve; gwlb is always 0
  uint64_t gwlb_endpoint_id = 0;    // gwlb option type 1
  uint64_t gwlb_attachment_id = 0;  // gwlb option type 2
  std::vector<GeneveOption> geneve_options;  // geneve only
  uint32_t packet_length = 0;       // AWS PacketLength: bytes kept after the tunnel header; 0 = all
  bool metadata_option = false;     // geneve: mirrorpipe's metadata option (wire::MirrorMetaOption)
};

// VXLAN over untagged IPv4: Ethernet 14 + IPv4 20 + UDP 8 + VXLAN 8.
inline constexpr uint32_t kPlainVxlan4HeaderBytes = 14 + 20 + 8 + 8;

// GWLB over IPv4 as Gateway Load Balancer sends it: Ethernet 14 + IPv4 20 + UDP 8 + Geneve 8 +
// its three options (endpoint ID 12, attachment ID 12, flow cookie 8), the cookie's data last.
inline constexpr uint32_t kPlainGwlb4HeaderBytes = 14 + 20 + 8 + 8 + 12 + 12 + 8;
inline constexpr uint32_t kPlainGwlb4CookieOffset = kPlainGwlb4HeaderBytes - 4;

// Largest outer header: Ethernet 14 + IPv6 40 + UDP 8 + Geneve 8 + 252 bytes of options.
inline constexpr uint32_t kMaxOuterHeaderBytes = 14 + 40 + 8 + 8 + wire::kGeneveMaxOptionsBytes;

// The outer headers of one target, built once; per packet the writer copies `bytes` and patches
// the lengths, the IPv4 checksum, the UDP source port and the kind's per-packet fields.
// The scalars fill the first cache line and the bytes start on the second, so that a VXLAN
// packet reads two lines of it (GWLB's 82 bytes: three).
struct alignas(64) OuterTemplate {
  uint16_t length_bytes = 0;      // Ethernet through the end of the tunnel header
  uint16_t ip_offset = 14;
  uint16_t udp_offset = 0;
  uint16_t tunnel_offset = 0;
  uint16_t cookie_offset = 0;     // gwlb: the flow cookie option data
  uint16_t sport_lo = 0;
  uint32_t sport_span = 0;         // ports in the source-port range (hi - lo + 1)
  uint32_t packet_length = 0;
  uint32_t max_ip_length = 0;      // the output's IP MTU (largest outer IP packet); 0: none
  bool truncate_to_mtu = true;     // over max_ip_length: truncate (AWS, toward instances) or drop
  uint32_t ip_checksum_base = 0;  // IPv4: header sum with total length and checksum zero, folded
                                  // to 16 bits (so one more fold after adding the length)
  // Addresses + protocol, for the UDP checksum: folded to 16 bits, so that with the UDP length
  // added (the pseudo-header sum an offloading NIC completes) one more fold is enough.
  uint16_t pseudo_header_sum = 0;
  // The UDP and tunnel headers' sum (checksum_partial) with the words written per packet zero:
  // source port, length, checksum, and GWLB's protocol type and cookie (not the metadata
  // option's words: a packet that carries them is summed from its bytes).
  uint64_t udp_header_sum = 0;
  TunnelKind kind = TunnelKind::kVxlan;
  bool ipv6 = false;
  bool udp_checksum = false;
  // Set by use_checksum_offload() when the output NIC computes the checksums: the IPv4 header
  // checksum is left 0, and the UDP checksum field holds the pseudo-header sum the NIC completes.
  bool ip_checksum_offload = false;
  bool udp_checksum_offload = false;
  // write_plain_vxlan4's test, set by build_outer_template: VXLAN over IPv4 in 50 bytes
  // (kPlainVxlan4HeaderBytes), no UDP checksum.
  bool plain_vxlan4_header = false;
  // encapsulate_plain_vxlan4's: the same, and no PacketLength.
  bool plain_vxlan4 = false;
  // encapsulate_plain_gwlb4's: GWLB in kPlainGwlb4HeaderBytes, no PacketLength.
  bool plain_gwlb4 = false;
  // geneve with metadata_option: where the option's data (wire::MirrorMetaOption) starts in
  // `bytes`; the writer fills it per packet. 0: no option.
  uint16_t meta_offset = 0;
  alignas(64) std::array<uint8_t, kMaxOuterHeaderBytes> bytes{};
};
static_assert(offsetof(OuterTemplate, bytes) == 64, "the scalars fit one cache line");

// What the writer reads of a frame besides its flow hash: VXLAN and Geneve carry the whole
// frame and need nothing else; GWLB carries the L3 packet alone and needs its offset, length
// and IP version (FrameMeta). The workers skip the parse where this is false.
[[nodiscard]] constexpr bool writer_needs_frame_meta(const OuterTemplate& t) noexcept {
  return t.kind == TunnelKind::kGwlb;
}

// Validates the configuration and builds the template; throws std::invalid_argument.
OuterTemplate build_outer_template(const TunnelConfig& config);

// Leaves to an output that offers them (`ip`: the IPv4 header checksum, `udp`: the UDP
// checksum) the outer checksums `t` has: IPv4's where the outer is IPv4, UDP's where the tunnel
// sends one.
constexpr void use_checksum_offload(OuterTemplate& t, bool ip, bool udp) noexcept {
  t.ip_checksum_offload = ip && !t.ipv6;
  t.udp_checksum_offload = udp && t.udp_checksum;
}

const char* tunnel_kind_name(TunnelKind kind) noexcept;

}  // namespace mirrorpipe
