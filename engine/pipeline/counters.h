// Per-worker packet accounting.
//
// Every packet a worker receives ends under exactly one of: sent, filtered, or one drop reason.
// Each end is counted where it happens; nothing is computed as a remainder, so
// rx == sent + filtered + sum(dropped) holds by construction and the tests assert it.
// One worker writes its own counters (alignas(64): no false sharing); the control thread sums.
#pragma once

#include <array>
#include <cstdint>

#include "encap/drop_reason.h"

namespace mirrorpipe {

struct alignas(64) WorkerCounters {
  uint64_t rx = 0;
  uint64_t rx_bytes = 0;
  uint64_t sent = 0;
  uint64_t sent_bytes = 0;
  uint64_t filtered = 0;
  std::array<uint64_t, kDropReasonCount + 1> dropped{};  // index 0 (kNone) stays 0

  void drop(DropReason r) noexcept { ++dropped[static_cast<size_t>(r)]; }
  uint64_t dropped_total() const noexcept {
    uint64_t n = 0;
    for (uint64_t d : dropped) n += d;
    return n;
  }
  WorkerCounters& operator+=(const WorkerCounters& o) noexcept {
    rx += o.rx;
    rx_bytes += o.rx_bytes;
    sent += o.sent;
    sent_bytes += o.sent_bytes;
    filtered += o.filtered;
    for (size_t i = 0; i < dropped.size(); ++i) dropped[i] += o.dropped[i];
    return *this;
  }
};

}  // namespace mirrorpipe
