// The RSS key the engine gives every device that takes one.
//
// Toeplitz hashing with a key that repeats a 16-bit pattern gives the same hash when the
// source and destination (addresses, and ports) are swapped: both directions of a flow land on
// one RX queue, one worker, and, where the NIC's hash is reused as the flow hash, one analyzer
// and one VXLAN source port. 0x6d5a repeated is the pattern published for this (Woo and Park,
// "Scalable TCP Session Monitoring with Symmetric Receive-side Scaling", 2012).
#pragma once

#include <cstddef>
#include <cstdint>

namespace mirrorpipe {

inline constexpr uint8_t kSymmetricRssKeyPattern[2] = {0x6d, 0x5a};

// Fills `key` (any length, as the device asks) with the pattern.
constexpr void fill_symmetric_rss_key(uint8_t* key, size_t len) noexcept {
  for (size_t i = 0; i < len; ++i) key[i] = kSymmetricRssKeyPattern[i % 2];
}

}  // namespace mirrorpipe
