// CRC-32C (Castagnoli: polynomial 0x1EDC6F41, reflected 0x82F63B78), the step the flow hash is
// built from: one 64-bit word into a running CRC register, as x86's SSE4.2 `crc32` instruction
// and ARMv8's `crc32cx` do it (no initial or final inversion here: the caller chooses them).
// The instruction where the build has it (DPDK's baseline, -march=corei7, does), else a table.
//
// Standard CRC-32C of a byte string = ~(each little-endian 64-bit word through crc32c_u64,
// starting from 0xFFFFFFFF); the unit tests check both versions against RFC 3720's vectors.
#pragma once

#include <array>
#include <cstdint>

#if defined(__SSE4_2__)
#include <nmmintrin.h>
#elif defined(__ARM_FEATURE_CRC32)
#include <arm_acle.h>
#endif

namespace mirrorpipe {

namespace crc32c_detail {
constexpr std::array<uint32_t, 256> make_table() noexcept {
  std::array<uint32_t, 256> t{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
    t[i] = c;
  }
  return t;
}
inline constexpr std::array<uint32_t, 256> kTable = make_table();
}  // namespace crc32c_detail

// The table version, on every build (the tests compare it with the instruction).
constexpr uint32_t crc32c_u64_portable(uint32_t crc, uint64_t word) noexcept {
  for (int i = 0; i < 8; ++i) {
    crc = (crc >> 8) ^ crc32c_detail::kTable[(crc ^ static_cast<uint32_t>(word >> (8 * i))) & 0xffu];
  }
  return crc;
}

// `word` as its 8 bytes in little-endian order, into the register `crc`.
[[gnu::always_inline]] inline uint32_t crc32c_u64(uint32_t crc, uint64_t word) noexcept {
#if defined(__SSE4_2__)
  return static_cast<uint32_t>(_mm_crc32_u64(crc, word));
#elif defined(__ARM_FEATURE_CRC32)
  return __crc32cd(crc, word);
#else
  return crc32c_u64_portable(crc, word);
#endif
}

}  // namespace mirrorpipe
