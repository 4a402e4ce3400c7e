// TCP header (RFC 9293 section 3.1), for the few segments mirrorpipe writes and reads itself
// (the health checks of engine/control/health_check.h). The data path reads only the ports
// (encap/wire/l4.h).
//
//   0                   1                   2                   3
//   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |          Source Port          |       Destination Port        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                        Sequence Number                        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Acknowledgment Number                      |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |  Data |       |C|E|U|A|P|R|S|F|                               |
//  | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//  |       |       |R|E|G|K|H|T|N|N|                               |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |           Checksum            |         Urgent Pointer        |
//  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//  |                    Options (Data Offset > 5)                  |
//
// The checksum covers the pseudo-header (source and destination address, zero, protocol 6,
// TCP length), the header and the data (RFC 9293 section 3.1, "Checksum").
#pragma once

#include <cstddef>
#include <cstdint>

#include "encap/wire/checksum.h"
#include "encap/wire/endian.h"

namespace mirrorpipe::wire {

namespace tcpflag {
inline constexpr uint8_t kFin = 0x01;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kRst = 0x04;
inline constexpr uint8_t kPsh = 0x08;
inline constexpr uint8_t kAck = 0x10;
inline constexpr uint8_t kUrg = 0x20;
inline constexpr uint8_t kEce = 0x40;
inline constexpr uint8_t kCwr = 0x80;
}  // namespace tcpflag

// Option kinds (RFC 9293 section 3.2).
namespace tcpopt {
inline constexpr uint8_t kEnd = 0;
inline constexpr uint8_t kNop = 1;
inline constexpr uint8_t kMss = 2;  // kind, length 4, 16-bit maximum segment size
inline constexpr uint8_t kMssLength = 4;
}  // namespace tcpopt

struct TcpHeader {
  Be16 src_port;
  Be16 dst_port;
  Be32 seq;
  Be32 ack;
  uint8_t data_offset_reserved;  // data offset in 32-bit words (high nibble), reserved
  uint8_t flags;                 // tcpflag::*
  Be16 window;
  Be16 checksum;
  Be16 urgent_pointer;

  uint32_t data_offset_bytes() const noexcept { return (data_offset_reserved >> 4) * 4u; }
  void set_data_offset_bytes(uint32_t bytes) noexcept {
    data_offset_reserved = static_cast<uint8_t>((bytes / 4u) << 4);
  }
};
static_assert(sizeof(TcpHeader) == 20);

inline constexpr uint32_t kTcpMinHeaderBytes = sizeof(TcpHeader);
inline constexpr uint32_t kTcpMaxHeaderBytes = 60;

// The IPv4 pseudo-header's sum, not folded: `addresses` points at the source address followed
// by the destination address (as in the IPv4 header), `tcp_length_bytes` is the header plus
// the data. Add the segment with checksum_partial; checksum_finish gives the field's raw value,
// checksum_valid checks a received segment.
inline uint64_t tcp_ipv4_pseudo_header_partial(const uint8_t* addresses, uint16_t tcp_length_bytes) noexcept {
  const uint8_t tail[4] = {0, 6, static_cast<uint8_t>(tcp_length_bytes >> 8),
                           static_cast<uint8_t>(tcp_length_bytes & 0xff)};  // zero, IPPROTO_TCP, length
  return checksum_partial(tail, 4, checksum_partial(addresses, 8));
}

}  // namespace mirrorpipe::wire
