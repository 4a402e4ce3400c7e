// Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//
// The sums work on 16-bit words in network byte order; a 32-bit accumulator folded at the end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace mirrorpipe::wire {

// One's-complement sum of `len` bytes added to `sum`, not folded, not inverted. An odd final
// byte is padded with zero as RFC 1071 says. Returns a partial sum below 2^34 (for a `sum`
// below 2^63), which callers may add further words to before folding.
inline uint64_t checksum_partial(const uint8_t* data, size_t len, uint64_t sum = 0) noexcept {
  // 8 bytes at a time, the carries out of 64 bits counted apart (an add and an add-with-carry
  // a word), where 4 bytes at a time took four instructions for every 4 (a GWLB target's
  // software UDP checksum over 100 bytes was a quarter of its packet's instructions). Byte order
  // and word size: summing network-order words read as host integers and swapping once at the
  // end gives the same result (RFC 1071 section 2, "byte order independence"), and 2^16 = 1
  // modulo 0xffff, so wider words fold to the same 16-bit sum.
  uint64_t lo = sum, carries = 0;
  while (len >= 16) {
    uint64_t a, b;
    std::memcpy(&a, data, 8);
    std::memcpy(&b, data + 8, 8);
    lo += a;
    carries += lo < a;
    lo += b;
    carries += lo < b;
    data += 16;
    len -= 16;
  }
  if (len >= 8) {
    uint64_t a;
    std::memcpy(&a, data, 8);
    lo += a;
    carries += lo < a;
    data += 8;
    len -= 8;
  }
  // Each carry is worth 2^64 = 1 modulo 0xffff (the end-around carry), then 64 bits to 33.
  uint64_t s = lo + carries;
  s += s < carries;
  s = (s & 0xffffffffu) + (s >> 32);
  if (len >= 4) {
    uint32_t w;
    std::memcpy(&w, data, 4);
    s += w;
    data += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t w;
    std::memcpy(&w, data, 2);
    s += w;
    data += 2;
    len -= 2;
  }
  if (len) {
    uint8_t pad[2] = {*data, 0};
    uint16_t w;
    std::memcpy(&w, pad, 2);
    s += w;
  }
  return s;
}

// Folds a partial sum to 16 bits (still in the host's reading of network-order words).
[[gnu::always_inline]] inline uint16_t checksum_fold(uint64_t sum) noexcept {
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffu) + (sum >> 16);
  sum = (sum & 0xffffu) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// The checksum field value, as raw bytes to store with Be16::set_raw(). Forced inline: GCC
// left it a call in the appliance's burst (bench --tunnel appliance: 14 instructions a packet
// in it, besides the call).
[[gnu::always_inline]] inline uint16_t checksum_finish(uint64_t sum) noexcept {
  return static_cast<uint16_t>(~checksum_fold(sum));
}

// RFC 1624 equation 3: HC' = ~(~HC + ~m + m'), all in raw (network-order) 16-bit words.
inline uint16_t checksum_update16(uint16_t old_checksum, uint16_t old_word,
                                  uint16_t new_word) noexcept {
  uint64_t sum = static_cast<uint16_t>(~old_checksum);
  sum += static_cast<uint16_t>(~old_word);
  sum += new_word;
  return static_cast<uint16_t>(~checksum_fold(sum));
}

// True when the 16-bit words of `data` (a header whose checksum field is included) sum to
// 0xffff, i.e. the stored checksum is right.
inline bool checksum_valid(const uint8_t* data, size_t len, uint64_t sum = 0) noexcept {
  return checksum_fold(checksum_partial(data, len, sum)) == 0xffff;
}

}  // namespace mirrorpipe::wire
