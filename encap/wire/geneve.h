// Geneve base header and option TLV (RFC 8926 sections 3.4 and 3.5).
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |Ver|  Opt Len  |O|C|    Rsvd.  |          Protocol Type        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |        Virtual Network Identifier (VNI)       |    Reserved   |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Variable-Length Options                    |
//
// Option:
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |          Option Class         |      Type     |R|R|R| Length  |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                 Variable-Length Option Data                   |
//
// Opt Len and option Length count 4-byte words, excluding the 8-byte base header and the 4-byte
// option header respectively. The high bit of Type marks a critical option.
#pragma once

#include <cstdint>

#include "encap/wire/endian.h"

namespace mirrorpipe::wire {

struct GeneveHeader {
  uint8_t ver_opt_len;
  uint8_t flags;  // O(1) C(1) Rsvd(6)
  Be16 protocol_type;
  Be32 vni_reserved;  // VNI(24) Reserved(8)

  static constexpr uint8_t kFlagOam = 0x80;
  static constexpr uint8_t kFlagCritical = 0x40;

  uint8_t version() const noexcept { return ver_opt_len >> 6; }
  uint32_t opt_len_words() const noexcept { return ver_opt_len & 0x3fu; }
  uint32_t opt_len_bytes() const noexcept { return opt_len_words() * 4u; }
  bool oam() const noexcept { return (flags & kFlagOam) != 0; }
  bool critical() const noexcept { return (flags & kFlagCritical) != 0; }
  uint32_t vni() const noexcept { return vni_reserved.value() >> 8; }
};
static_assert(sizeof(GeneveHeader) == 8);

struct GeneveOptionHeader {
  Be16 option_class;
  uint8_t type;
  uint8_t rsvd_length;  // R(3) Length(5)

  static constexpr uint8_t kTypeCritical = 0x80;

  bool critical() const noexcept { return (type & kTypeCritical) != 0; }
  uint32_t data_length_words() const noexcept { return rsvd_length & 0x1fu; }
  uint32_t data_length_bytes() const noexcept { return data_length_words() * 4u; }
  uint32_t total_length_bytes() const noexcept { return 4u + data_length_bytes(); }
};
static_assert(sizeof(GeneveOptionHeader) == 4);

inline constexpr uint32_t kGeneveHeaderBytes = sizeof(GeneveHeader);
inline constexpr uint32_t kGeneveMaxOptionsBytes = 63 * 4;     // 6-bit Opt Len
inline constexpr uint32_t kGeneveMaxOptionDataBytes = 31 * 4;  // 5-bit Length
inline constexpr uint16_t kGeneveDefaultPort = 6081;

// AWS Gateway Load Balancer options: class 0x0108, critical bit clear.
namespace gwlb {
inline constexpr uint16_t kOptionClass = 0x0108;
inline constexpr uint8_t kTypeEndpointId = 1;    // 8 bytes: GWLB endpoint ENI ID
inline constexpr uint8_t kTypeAttachmentId = 2;  // 8 bytes: attachment ID
inline constexpr uint8_t kTypeFlowCookie = 3;    // 4 bytes: flow cookie
// 8 (base) + 12 + 12 + 8 (options) = 40 bytes.
inline constexpr uint32_t kGeneveHeaderBytes = 40;
}  // namespace gwlb

// mirrorpipe's metadata option, for loss detection end to end (a Geneve target with
// `metadata_option = true`). Class 0xFF00 is in the range RFC 8926 section 8 leaves for
// experimental use (0xFF00-0xFFFF); type 0x01 has the critical bit clear, so a receiver that
// does not know it skips it. Length 5 (20 bytes of data):
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |      Option Class = 0xFF00    |  Type = 0x01  |R|R|R| Len = 5 |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                        Sequence Number                        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |         Sender Worker         |        Reserved (zero)        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                                                               |
//  +     Capture Time (ns since the Unix epoch, 64 bits)           +
//  |                                                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                 Original Frame Length (bytes)                 |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// The sequence counts the packets of one (target, sender worker) stream from 1; the original
// length is the mirrored frame's before any truncation (PacketLength, MTU).
namespace mirror_meta {
inline constexpr uint16_t kOptionClass = 0xFF00;
inline constexpr uint8_t kType = 0x01;
inline constexpr uint32_t kDataBytes = 20;
}  // namespace mirror_meta

struct MirrorMetaOption {
  Be32 sequence;
  Be16 worker;
  Be16 reserved;
  Be64 capture_ns;
  Be32 original_length;
};
static_assert(sizeof(MirrorMetaOption) == mirror_meta::kDataBytes);

}  // namespace mirrorpipe::wire
