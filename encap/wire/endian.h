// Big-endian field types for wire-format structs.
//
// Packet memory is never byte-swapped in place: a header struct holds Be16/Be32/Be64 members
// whose storage is the network byte order, and value()/set() convert at the access. Each type
// has alignment 1 so that a header may sit at any offset of a packet.
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <type_traits>

namespace mirrorpipe::wire {

template <typename T>
struct BigEndian {
  static_assert(std::is_unsigned_v<T>);
  uint8_t bytes[sizeof(T)];

  T value() const noexcept { return swap(raw()); }
  void set(T v) noexcept { set_raw(swap(v)); }

  // The stored bytes as a host integer without conversion, for checksum arithmetic that works
  // on network-order 16-bit words.
  T raw() const noexcept {
    T v;
    std::memcpy(&v, bytes, sizeof(T));
    return v;
  }
  void set_raw(T v) noexcept { std::memcpy(bytes, &v, sizeof(T)); }

  // What raw() would return after set(v), without the memory round trip.
  static T to_raw(T v) noexcept { return swap(v); }

 private:
  static T swap(T v) noexcept {
    if constexpr (std::endian::native == std::endian::big) {
      return v;
    } else if constexpr (sizeof(T) == 2) {
      return __builtin_bswap16(v);
    } else if constexpr (sizeof(T) == 4) {
      return __builtin_bswap32(v);
    } else {
      return __builtin_bswap64(v);
    }
  }
};

using Be16 = BigEndian<uint16_t>;
using Be32 = BigEndian<uint32_t>;
using Be64 = BigEndian<uint64_t>;
static_assert(sizeof(Be16) == 2 && alignof(Be16) == 1);
static_assert(sizeof(Be32) == 4 && alignof(Be32) == 1);
static_assert(sizeof(Be64) == 8 && alignof(Be64) == 1);

}  // namespace mirrorpipe::wire
