// Packet accounting.
//
// Every packet a worker receives on an input ends under exactly one of: sent, filtered, or one
// drop reason. Each end is counted where it happens, against the input the packet came from;
// nothing is computed as a remainder, so rx == sent + filtered + sum(dropped) holds per input by
// construction, and the tests assert it. Output ports count what they transmitted.
//
// A worker counts into its own plain counters on the hot path and publishes a copy now and then
// (relaxed atomic stores, field by field); the control thread reads the published copies.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>

#include "encap/drop_reason.h"

namespace mirrorpipe {

// The engine's inputs and outputs (a worker's counter arrays are this long), and the DPDK ports
// it may open (DPDK 22.11 as Debian builds it: RTE_MAX_ETHPORTS 32, asserted in the runtime).
// engine/config refuses a configuration that would derive more.
inline constexpr size_t kMaxPorts = 32;
inline constexpr size_t kMaxDpdkPorts = 32;

struct InputCounters {
  uint64_t rx = 0;
  uint64_t rx_bytes = 0;
  uint64_t sent = 0;
  uint64_t sent_bytes = 0;  // bytes of what was sent, as sent (outer frames)
  uint64_t filtered = 0;
  std::array<uint64_t, kDropReasonCount + 1> dropped{};  // index 0 (kNone) stays 0
  // Sent, but shortened (these are not ends of their own: a truncated packet is also sent).
  uint64_t truncated_packet_length = 0;
  uint64_t truncated_mtu = 0;
  // Sent, but not on the data path: the port's own traffic (engine/pipeline/host.h).
  uint64_t host_replies = 0;  // ARP and ICMP echo answered by the engine
  uint64_t to_host = 0;       // handed to the exception TAP

  void drop(DropReason r) noexcept { ++dropped[static_cast<size_t>(r)]; }
  uint64_t dropped_total() const noexcept {
    uint64_t n = 0;
    for (uint64_t d : dropped) n += d;
    return n;
  }
  InputCounters& operator+=(const InputCounters& o) noexcept {
    rx += o.rx;
    rx_bytes += o.rx_bytes;
    sent += o.sent;
    sent_bytes += o.sent_bytes;
    filtered += o.filtered;
    for (size_t i = 0; i < dropped.size(); ++i) dropped[i] += o.dropped[i];
    truncated_packet_length += o.truncated_packet_length;
    truncated_mtu += o.truncated_mtu;
    host_replies += o.host_replies;
    to_host += o.to_host;
    return *this;
  }
};


// An output's own ends, for each copy a worker gave it (a received packet copied to several
// sinks has one copy per sink; the input counts the packet once, as sent when one copy left).
struct OutputCounters {
  uint64_t tx = 0;
  uint64_t tx_bytes = 0;
  std::array<uint64_t, kDropReasonCount + 1> dropped{};  // copies meant for it that did not go

  void drop(DropReason r) noexcept { ++dropped[static_cast<size_t>(r)]; }
  uint64_t dropped_total() const noexcept {
    uint64_t n = 0;
    for (uint64_t d : dropped) n += d;
    return n;
  }
  OutputCounters& operator+=(const OutputCounters& o) noexcept {
    tx += o.tx;
    tx_bytes += o.tx_bytes;
    for (size_t i = 0; i < dropped.size(); ++i) dropped[i] += o.dropped[i];
    return *this;
  }
};

// What the appliance's flow table (engine/pipeline/flow_table.h) counts itself.
struct FlowTableCounters {
  uint64_t inserted = 0;        // new flows
  uint64_t refreshed = 0;       // packets of a known flow
  uint64_t expired = 0;         // idle entries found dead and replaced
  uint64_t evicted = 0;         // live entries pushed out by a full bucket
  uint64_t cookie_changes = 0;  // a known 5-tuple came back with a different cookie
  FlowTableCounters& operator+=(const FlowTableCounters& o) noexcept {
    inserted += o.inserted;
    refreshed += o.refreshed;
    expired += o.expired;
    evicted += o.evicted;
    cookie_changes += o.cookie_changes;
    return *this;
  }
};

// A worker's view: its table's counters as last copied, and its lookups for injected packets.
struct FlowCounters {
  FlowTableCounters table;
  uint64_t lookups = 0;  // packets from an inspection engine looked up
  uint64_t misses = 0;   // ... that found no live flow (dropped as no_flow)
  FlowCounters& operator+=(const FlowCounters& o) noexcept {
    table += o.table;
    lookups += o.lookups;
    misses += o.misses;
    return *this;
  }
};

struct alignas(64) WorkerStats {
  std::array<InputCounters, kMaxPorts> inputs{};
  std::array<OutputCounters, kMaxPorts> outputs{};
  FlowCounters flows{};
  uint64_t polls = 0;       // RX polls made
  uint64_t busy_polls = 0;  // polls that returned packets
};

// Copies `from` into `to` with relaxed atomic stores, so that a reader using load_stats() never
// sees a torn 64-bit value. Called by the owning worker only.
inline void publish_stats(const WorkerStats& from, WorkerStats& to) noexcept {
  const auto* src = reinterpret_cast<const uint64_t*>(&from);
  auto* dst = reinterpret_cast<uint64_t*>(&to);
  static_assert(sizeof(WorkerStats) % sizeof(uint64_t) == 0);
  for (size_t i = 0; i < sizeof(WorkerStats) / sizeof(uint64_t); ++i) {
    std::atomic_ref<uint64_t>(dst[i]).store(src[i], std::memory_order_relaxed);
  }
}

inline void load_stats(const WorkerStats& from, WorkerStats& to) noexcept {
  auto* src = const_cast<uint64_t*>(reinterpret_cast<const uint64_t*>(&from));
  auto* dst = reinterpret_cast<uint64_t*>(&to);
  for (size_t i = 0; i < sizeof(WorkerStats) / sizeof(uint64_t); ++i) {
    dst[i] = std::atomic_ref<uint64_t>(src[i]).load(std::memory_order_relaxed);
  }
}

}  // namespace mirrorpipe
