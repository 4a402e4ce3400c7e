// Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//
// The sums work on 16-bit words in network byte order; a 32-bit accumulator folded at the end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace mirrorpipe::wire {

// One's-complement sum of `len` bytes added to `sum`, not folded, not inverted. An odd final
// byte is padded with zero as RFC 1071 says. Returns a 64-bit partial sum.
inline uint64_t checksum_partial(const uint8_t* data, size_t len, uint64_t sum = 0) noexcept {
  // 4 bytes at a time into a 64-bit accumulator: no carries are lost for any length under
  // 16 GiB. Byte order: summing network-order words read as host integers and swapping once
  // at the end gives the same result (RFC 1071 section 2, "byte order independence").
  while (len >= 4) {
    uint32_t w;
    std::memcpy(&w, data, 4);
    sum += w;
    data += 4;
    len -= 4;
  }
  if (len >= 2) {
    uint16_t w;
    std::memcpy(&w, data, 2);
    sum += w;
    data += 2;
    len -= 2;
  }
  if (len) {
    uint8_t pad[2] = {*data, 0};
    uint16_t w;
    std::memcpy(&w, pad, 2);
    sum += w;
  }
  return sum;
}

// Folds a partial sum to 16 bits (still in the host's reading of network-order words).
[[gnu::always_inline]] inline uint16_t checksum_fold(uint64_t sum) noexcept {
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffffffu) + (sum >> 32);
  sum = (sum & 0xffffu) + (sum >> 16);
  sum = (sum & 0xffffu) + (sum >> 16);
  return static_cast<uint16_t>(sum);
}

// The checksum field value, as raw bytes to store with Be16::set_raw().
inline uint16_t checksum_finish(uint64_t sum) noexcept {
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
