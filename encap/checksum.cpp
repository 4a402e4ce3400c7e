// The SSE4.1 form of checksum_partial (encap/wire/checksum.h), out of line: buffers of 64 bytes
// and more, where a call costs little beside the sum. Built with SSE4.1 on every x86-64 build
// (encap/CMakeLists.txt), whatever the rest of the build's -march: a file that has SSE4.1 calls
// it, one that has not takes the portable form.
#include "encap/wire/checksum.h"

#if defined(__SSE4_1__)
#include <smmintrin.h>

namespace mirrorpipe::wire {

uint64_t checksum_partial_sse41(const uint8_t* data, size_t len, uint64_t sum) noexcept {
  // A pass covers at most kPassBytes: each of the four lanes then adds at most 2^14 words
  // (below 2^30) and their sum stays below 2^32. A buffer longer than a pass (more than a
  // packet holds) takes several, the sum folded to 33 bits between them.
  constexpr size_t kPassBytes = size_t{1} << 17;
  for (;;) {
    const size_t pass = (len < kPassBytes ? len : kPassBytes) & ~size_t{7};
    const uint8_t* const end = data + pass;
    len -= pass;
    // Four 16-bit words widened to four 32-bit lanes straight from memory (pmovzxwd), added.
    __m128i lanes = _mm_setzero_si128();
#pragma GCC unroll 4
    for (; data != end; data += 8) {
      lanes = _mm_add_epi32(lanes, _mm_cvtepu16_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(data))));
    }
    lanes = _mm_add_epi32(lanes, _mm_shuffle_epi32(lanes, _MM_SHUFFLE(1, 0, 3, 2)));
    lanes = _mm_add_epi32(lanes, _mm_shuffle_epi32(lanes, _MM_SHUFFLE(2, 3, 0, 1)));
    // `sum` below 2^63 (the contract, or folded below) and the pass's below 2^32: no carry.
    sum += static_cast<uint32_t>(_mm_cvtsi128_si32(lanes));
    if (len < 8) break;
    sum = (sum & 0xffffffffu) + (sum >> 32);
  }
  return detail::checksum_tail(data, len, sum, 0);
}

}  // namespace mirrorpipe::wire
#endif
