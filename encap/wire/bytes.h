// Bounds-checked views of packet memory. Every header read in encap/ and decap/ goes through
// header_at(): it returns null when the header does not fit, so no parser can read past the end
// of a buffer whatever the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace mirrorpipe::wire {

using Bytes = std::span<const uint8_t>;
using MutableBytes = std::span<uint8_t>;

template <typename T>
const T* header_at(Bytes buf, size_t offset_bytes) noexcept {
  static_assert(alignof(T) == 1, "wire headers must be byte-aligned");
  if (offset_bytes > buf.size() || buf.size() - offset_bytes < sizeof(T)) return nullptr;
  return reinterpret_cast<const T*>(buf.data() + offset_bytes);
}

template <typename T>
T* header_at(MutableBytes buf, size_t offset_bytes) noexcept {
  static_assert(alignof(T) == 1, "wire headers must be byte-aligned");
  if (offset_bytes > buf.size() || buf.size() - offset_bytes < sizeof(T)) return nullptr;
  return reinterpret_cast<T*>(buf.data() + offset_bytes);
}

}  // namespace mirrorpipe::wire
