// The SSE4.1 form of checksum_partial (encap/wire/checksum.h), out of line: buffers of 64 bytes
// and more, where a call costs little beside the sum.
#include "encap/wire/checksum.h"

#if defined(__SSE4_1__)
#include <smmintrin.h>

namespace mirrorpipe::wire {

namespace {

// A pass covers at most this many bytes: a lane then holds at most 2^14 words (below 2^30) and
// the four lanes' sum stays below 2^32.
constexpr size_t kPassBytes = size_t{1} << 17;

// The 16-bit words of the first `len` bytes rounded down to 8, for `len` up to kPassBytes; `data`
// and `len` are left at the 0 to 7 bytes that remain.
[[gnu::always_inline]] inline uint32_t vector_pass(const uint8_t*& data, size_t& len) noexcept {
  const auto words = [](const uint8_t* p) {
    return _mm_cvtepu16_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
  };
  __m128i a = _mm_setzero_si128();
  for (; len >= 32; len -= 32, data += 32) {
    a = _mm_add_epi32(a, words(data));
    a = _mm_add_epi32(a, words(data + 8));
    a = _mm_add_epi32(a, words(data + 16));
    a = _mm_add_epi32(a, words(data + 24));
  }
  if (len >= 16) {
    a = _mm_add_epi32(a, words(data));
    a = _mm_add_epi32(a, words(data + 8));
    data += 16;
    len -= 16;
  }
  if (len >= 8) {
    a = _mm_add_epi32(a, words(data));
    data += 8;
    len -= 8;
  }
  a = _mm_add_epi32(a, _mm_shuffle_epi32(a, _MM_SHUFFLE(1, 0, 3, 2)));
  a = _mm_add_epi32(a, _mm_shuffle_epi32(a, _MM_SHUFFLE(2, 3, 0, 1)));
  return static_cast<uint32_t>(_mm_cvtsi128_si32(a));
}

}  // namespace

uint64_t checksum_partial_sse41(const uint8_t* data, size_t len, uint64_t sum) noexcept {
  // A buffer longer than a pass (more than a packet holds): the sum folded to 33 bits before
  // each pass, so that adding a pass's 32 bits cannot carry out of 64.
  while (len > kPassBytes) [[unlikely]] {
    size_t n = kPassBytes;
    const uint32_t v = vector_pass(data, n);
    sum = (sum & 0xffffffffu) + (sum >> 32) + v;
    len -= kPassBytes;
  }
  // `sum` below 2^63 and the pass's below 2^32: no carry out of 64 bits.
  const uint32_t v = vector_pass(data, len);
  return detail::checksum_tail(data, len, sum + v, 0);
}

}  // namespace mirrorpipe::wire
#endif
