// Internet checksum (RFC 1071) and its incremental update (RFC 1624).
//
// The sums work on 16-bit words in network byte order, read as host integers (RFC 1071 section 2,
// "byte order independence"); a 64-bit partial sum folded at the end.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace mirrorpipe::wire {

namespace detail {

// The end of checksum_partial from a 64-bit sum `lo` and its carries out of 64 bits, with the
// last 0 to 7 bytes at `data`.
inline uint64_t checksum_tail(const uint8_t* data, size_t len, uint64_t lo, uint64_t carries) noexcept {
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

}  // namespace detail

// checksum_partial's portable form: 8 bytes at a time, the carries out of 64 bits counted apart
// (an add, and its carry added to a count, a word): 8 instructions for every 16 bytes. Byte
// order and word size: summing network-order words read as host integers and swapping once at
// the end gives the same result (RFC 1071 section 2, "byte order independence"), and 2^16 = 1
// modulo 0xffff, so wider words fold to the same 16-bit sum.
inline uint64_t checksum_partial_scalar(const uint8_t* data, size_t len, uint64_t sum = 0) noexcept {
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
  return detail::checksum_tail(data, len, lo, carries);
}

#if defined(__SSE4_1__)
// checksum_partial with SSE4.1 (encap/checksum.cpp), for buffers of kChecksumVectorMinBytes
// and more: four 16-bit words widened to four 32-bit lanes by one instruction (pmovzxwd from
// memory) and one add for the four. Not many fewer instructions than the portable form, but
// no chain of carries: each add waits only for the one before it in its lanes.
uint64_t checksum_partial_sse41(const uint8_t* data, size_t len, uint64_t sum = 0) noexcept;
#endif

// The length from which checksum_partial calls the SSE4.1 form. Below it the portable form,
// inlined, costs no more than the call and the lanes' sum at the end; a 64-byte frame's GWLB
// checksum (50 bytes) takes it, one compare more than before (`scripts/callgrind-stages
// --systems gwlb`: 410.8 -> 413.4-414.1 instructions a packet). Longer ones gain: `mirrorpipe
// bench --tunnel gwlb` under callgrind, 636.6 -> 607.9 at 512 B, 1205.9 -> 1050.6 at 1500 B,
// and more by rate (no chain of carries): 9.8 -> 12.1-12.7 Mpps at 1500 B.
inline constexpr size_t kChecksumVectorMinBytes = 64;

// One's-complement sum of `len` bytes added to `sum`, not folded, not inverted. An odd final
// byte is padded with zero as RFC 1071 says. Returns a partial sum below 2^34 (for a `sum`
// below 2^63), which callers may add further words to before folding.
inline uint64_t checksum_partial(const uint8_t* data, size_t len, uint64_t sum = 0) noexcept {
#if defined(__SSE4_1__)
  if (len >= kChecksumVectorMinBytes) return checksum_partial_sse41(data, len, sum);
#endif
  return checksum_partial_scalar(data, len, sum);
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
