// A packet as encap/ and decap/ see it: contiguous bytes with headroom in front.
//
// The engine's mbuf adapter fills one from an rte_mbuf and applies the result back; tests and
// benches fill one from a plain array. Stages move `data` backwards (encapsulation prepends
// into the headroom) or forwards (decapsulation strips headers) and never copy the payload.
#pragma once

#include <cstdint>

namespace mirrorpipe {

struct PacketRef {
  uint8_t* data;          // first byte of the frame
  uint32_t len;           // bytes present (a capture may hold fewer than the wire had)
  uint32_t wire_len;      // bytes the frame had on the wire; >= len
  uint32_t headroom;      // writable bytes before `data`
  uint32_t flags = 0;     // what a stage did that later ones (and the counters) must know

  static constexpr uint32_t kTruncatedPacketLength = 1u << 0;  // AWS PacketLength cut it
  static constexpr uint32_t kTruncatedMtu = 1u << 1;           // cut to the output's IP MTU

  void prepend(uint32_t n) noexcept {
    data -= n;
    len += n;
    wire_len += n;
    headroom -= n;
  }
  void adjust(uint32_t n) noexcept {
    data += n;
    len -= n;
    wire_len -= n;
    headroom += n;
  }
};

}  // namespace mirrorpipe
