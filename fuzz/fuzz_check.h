// What the fuzz targets share: a check that aborts with a message (libFuzzer and the replay
// driver both report an abort as a crash and keep the input), and a reader of the input's
// leading bytes that chooses a target's variant.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#define MIRRORPIPE_FUZZ_CHECK(cond)                                                       \
  do {                                                                                    \
    if (!(cond)) {                                                                        \
      std::fprintf(stderr, "fuzz check failed: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                       \
    }                                                                                     \
  } while (0)

namespace mirrorpipe::fuzz {

// Takes the input's first byte (0 when empty) and advances past it.
inline uint8_t take_byte(const uint8_t*& data, size_t& size) noexcept {
  if (size == 0) return 0;
  const uint8_t b = data[0];
  ++data;
  --size;
  return b;
}

}  // namespace mirrorpipe::fuzz
