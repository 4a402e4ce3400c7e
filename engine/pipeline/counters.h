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
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "encap/drop_reason.h"

namespace mirrorpipe {

// The engine's inputs and outputs (a worker's counter arrays are this long), and the DPDK ports
// it may open (DPDK 22.11 as Debian builds it: RTE_MAX_ETHPORTS 32, asserted in the runtime).
// engine/config refuses a configuration that would derive more.
inline constexpr size_t kMaxPorts = 32;
inline constexpr size_t kMaxDpdkPorts = 32;

// Each counter struct's fields are declared once, in a list below; the members, the sum, the
// JSON (--stats-json), the telemetry dictionaries and the final table all come from it
// (engine/cli/stats.cpp, engine/runtime/telemetry.cpp). A field is added in its list only.
//
// X(member, name, table label, table) -- name: the JSON key ("a.b" nests b in object a; the
// telemetry key is the name with '.' as '_'); table: 0 not in the table, 1 always, 2 when not 0.
#define MIRRORPIPE_INPUT_COUNTERS(X)                                                            \
  X(rx, "packets_in", "packets in", 1)                                                          \
  X(sent, "packets_out", "packets out", 1)                                                      \
  X(rx_bytes, "bytes_in", "bytes in", 0)                                                        \
  X(sent_bytes, "bytes_out", "bytes out", 0) /* as sent: outer frames */                        \
  /* Sent, but shortened (not ends of their own: a truncated packet is also sent). */           \
  X(truncated_packet_length, "truncated.packet_length", "(truncated: PacketLength)", 2)          \
  X(truncated_mtu, "truncated.mtu", "(truncated: output MTU)", 2)                               \
  X(truncated_slice, "truncated.slice", "(truncated: slice)", 2)                                \
  /* Sent, but not on the data path: the port's own traffic (engine/pipeline/host.h). */        \
  X(host_replies, "host.replies", "(ARP/ICMP answered)", 2)                                     \
  X(to_host, "host.to_tap", "(to the exception TAP)", 2)                                        \
  /* Received with mirrorpipe's metadata option (engine/pipeline/sequence.h): what the */       \
  /* sender's numbering says about the way here, and the delay from capture to arrival. */      \
  X(meta_packets, "metadata.packets", "metadata: packets with the option", 2)                    \
  X(meta_lost, "metadata.lost", "metadata: lost on the way", 2)                                  \
  X(meta_reordered, "metadata.reordered", "metadata: reordered", 2)                              \
  X(meta_duplicated, "metadata.duplicated", "metadata: duplicated", 2)                           \
  X(meta_untracked, "metadata.untracked", "metadata: streams over the table's size", 2)          \
  X(meta_latency_ns_sum, "metadata.latency_ns_sum", "metadata: capture-to-arrival ns, sum", 0)    \
  X(meta_latency_count, "metadata.latency_count", "metadata: packets timed", 0)                   \
  X(meta_clock_behind, "metadata.clock_behind", "metadata: arrived before captured (clocks apart)", 2)

// An output's own ends, for each copy a worker gave it (a received packet copied to several
// sinks has one copy per sink; the input counts the packet once, as sent when one copy left).
#define MIRRORPIPE_OUTPUT_COUNTERS(X) \
  X(tx, "packets", "packets", 1)      \
  X(tx_bytes, "bytes", "bytes", 1)

// What the appliance's flow table (engine/pipeline/flow_table.h) counts itself.
#define MIRRORPIPE_FLOW_TABLE_COUNTERS(X)                                                  \
  X(inserted, "inserted", "flows inserted", 1)                                             \
  X(refreshed, "refreshed", "packets of a known flow", 1)                                  \
  X(expired, "expired", "idle flows replaced", 1)                                          \
  X(evicted, "evicted", "live flows pushed out by a full bucket", 1)                       \
  X(cookie_changes, "cookie_changes", "a known 5-tuple back with another cookie", 1)

// What the control loop counts per DPDK port, off the data path: it reads each port's link
// about once a second (engine/runtime/control_loop.cpp) and counts every change it sees.
#define MIRRORPIPE_PORT_COUNTERS(X)                                                         \
  X(link_changes, "link_changes", "link changes (down or up)", 1)                           \
  /* An output's next_hop_ip (engine/control/next_hop.h), while the engine runs. */        \
  X(arp_requests, "arp.requests", "ARP requests to next hop", 2)                            \
  X(arp_replies, "arp.replies", "ARP replies of next hop", 2)                               \
  X(arp_unanswered, "arp.unanswered", "ARP requests unanswered", 2)

#define MIRRORPIPE_COUNTER_MEMBER(member, name, label, table) uint64_t member = 0;
#define MIRRORPIPE_COUNTER_ADD(member, name, label, table) member += o.member;
#define MIRRORPIPE_COUNTER_VISIT(member, name, label, table) f(name, label, table, member);

// f(name, label, table, value) for every field of `c`, in declaration order.
#define MIRRORPIPE_COUNTER_VISITOR(LIST)          \
  template <class F>                              \
  void for_each_field(F&& f) const {              \
    LIST(MIRRORPIPE_COUNTER_VISIT)                \
  }

struct InputCounters {
  MIRRORPIPE_INPUT_COUNTERS(MIRRORPIPE_COUNTER_MEMBER)
  std::array<uint64_t, kDropReasonCount + 1> dropped{};  // index 0 (kNone) stays 0
  std::array<uint64_t, kFilterReasonCount + 1> filtered_by{};  // index 0 (kNone) stays 0

  void drop(DropReason r) noexcept { ++dropped[static_cast<size_t>(r)]; }
  void filter(FilterReason r) noexcept { ++filtered_by[static_cast<size_t>(r)]; }
  uint64_t filtered() const noexcept {
    uint64_t n = 0;
    for (uint64_t f : filtered_by) n += f;
    return n;
  }
  uint64_t dropped_total() const noexcept {
    uint64_t n = 0;
    for (uint64_t d : dropped) n += d;
    return n;
  }
  InputCounters& operator+=(const InputCounters& o) noexcept {
    MIRRORPIPE_INPUT_COUNTERS(MIRRORPIPE_COUNTER_ADD)
    for (size_t i = 0; i < dropped.size(); ++i) dropped[i] += o.dropped[i];
    for (size_t i = 0; i < filtered_by.size(); ++i) filtered_by[i] += o.filtered_by[i];
    return *this;
  }
  MIRRORPIPE_COUNTER_VISITOR(MIRRORPIPE_INPUT_COUNTERS)
};

struct OutputCounters {
  MIRRORPIPE_OUTPUT_COUNTERS(MIRRORPIPE_COUNTER_MEMBER)
  std::array<uint64_t, kDropReasonCount + 1> dropped{};  // copies meant for it that did not go

  void drop(DropReason r) noexcept { ++dropped[static_cast<size_t>(r)]; }
  uint64_t dropped_total() const noexcept {
    uint64_t n = 0;
    for (uint64_t d : dropped) n += d;
    return n;
  }
  OutputCounters& operator+=(const OutputCounters& o) noexcept {
    MIRRORPIPE_OUTPUT_COUNTERS(MIRRORPIPE_COUNTER_ADD)
    for (size_t i = 0; i < dropped.size(); ++i) dropped[i] += o.dropped[i];
    return *this;
  }
  MIRRORPIPE_COUNTER_VISITOR(MIRRORPIPE_OUTPUT_COUNTERS)
};

struct FlowTableCounters {
  MIRRORPIPE_FLOW_TABLE_COUNTERS(MIRRORPIPE_COUNTER_MEMBER)
  FlowTableCounters& operator+=(const FlowTableCounters& o) noexcept {
    MIRRORPIPE_FLOW_TABLE_COUNTERS(MIRRORPIPE_COUNTER_ADD)
    return *this;
  }
  MIRRORPIPE_COUNTER_VISITOR(MIRRORPIPE_FLOW_TABLE_COUNTERS)
};

struct PortCounters {
  MIRRORPIPE_PORT_COUNTERS(MIRRORPIPE_COUNTER_MEMBER)
  MIRRORPIPE_COUNTER_VISITOR(MIRRORPIPE_PORT_COUNTERS)
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

// A mirror session's own counts (engine/pipeline/mirror_session.h), by configuration index.
inline constexpr size_t kMaxSessions = 64;
// Targets with the metadata option (a sequence counter each, per worker).
inline constexpr size_t kMaxMetaStreams = 64;
inline constexpr size_t kMaxRulesPerDirection = 32;  // AWS allows 10
inline constexpr size_t kMaxSessionSinks = 16;  // a session's `sinks`

#define MIRRORPIPE_SESSION_COUNTERS(X)                                         \
  X(tried, "tried", "tried", 1) /* packets it looked at */                       \
  X(matched, "matched", "matched", 1) /* its filter took them */      \
  X(mirrored, "mirrored", "mirrored", 1) /* a copy was queued for a sink */ \
  X(bytes, "bytes", "bytes", 1) /* of the packets it took */

struct SessionCounters {
  MIRRORPIPE_SESSION_COUNTERS(MIRRORPIPE_COUNTER_MEMBER)
  // Hits of the rule that decided: ingress rule i at i, egress rule i at kMaxRulesPerDirection + i.
  std::array<uint64_t, 2 * kMaxRulesPerDirection> rule_hits{};
  SessionCounters& operator+=(const SessionCounters& o) noexcept {
    MIRRORPIPE_SESSION_COUNTERS(MIRRORPIPE_COUNTER_ADD)
    for (size_t i = 0; i < rule_hits.size(); ++i) rule_hits[i] += o.rule_hits[i];
    return *this;
  }
  MIRRORPIPE_COUNTER_VISITOR(MIRRORPIPE_SESSION_COUNTERS)
};

// A pool's (engine/pipeline/route.h, PoolSinks): copies sent to each member, and those sent
// while every member was unhealthy (the pool failing open, as GWLB does).
inline constexpr size_t kMaxPools = 8;
inline constexpr size_t kMaxPoolMembers = 32;

struct PoolCounters {
  uint64_t fail_open = 0;  // copies chosen while no member was healthy
  std::array<uint64_t, kMaxPoolMembers> member_copies{};
  PoolCounters& operator+=(const PoolCounters& o) noexcept {
    fail_open += o.fail_open;
    for (size_t i = 0; i < member_copies.size(); ++i) member_copies[i] += o.member_copies[i];
    return *this;
  }
};

struct alignas(64) WorkerStats {
  std::array<InputCounters, kMaxPorts> inputs{};
  std::array<OutputCounters, kMaxPorts> outputs{};
  std::array<SessionCounters, kMaxSessions> sessions{};
  std::array<PoolCounters, kMaxPools> pools{};
  FlowCounters flows{};
  uint64_t polls = 0;       // RX polls made
  uint64_t busy_polls = 0;  // polls that returned packets
};

// Counter structs are whole uint64_t words, each written by one thread and read by others: they
// are copied word by word with relaxed atomics, so that a reader never sees a torn value.
template <class T>
concept CounterWords = sizeof(T) % sizeof(uint64_t) == 0 && std::is_trivially_copyable_v<T>;

// Copies `from` into the shared `to` with relaxed atomic stores (by the owner of `from` only).
template <CounterWords T>
void store_words(const T& from, T& to) noexcept {
  const auto* src = reinterpret_cast<const uint64_t*>(&from);
  auto* dst = reinterpret_cast<uint64_t*>(&to);
  for (size_t i = 0; i < sizeof(T) / sizeof(uint64_t); ++i) {
    std::atomic_ref<uint64_t>(dst[i]).store(src[i], std::memory_order_relaxed);
  }
}

// Reads the shared `from` into `to` with relaxed atomic loads.
template <CounterWords T>
void load_words(const T& from, T& to) noexcept {
  auto* src = const_cast<uint64_t*>(reinterpret_cast<const uint64_t*>(&from));
  auto* dst = reinterpret_cast<uint64_t*>(&to);
  for (size_t i = 0; i < sizeof(T) / sizeof(uint64_t); ++i) {
    dst[i] = std::atomic_ref<uint64_t>(src[i]).load(std::memory_order_relaxed);
  }
}

// A worker's counters (WorkerStats is large: copied in place, never returned).
inline void publish_stats(const WorkerStats& from, WorkerStats& to) noexcept { store_words(from, to); }
inline void load_stats(const WorkerStats& from, WorkerStats& to) noexcept { load_words(from, to); }

}  // namespace mirrorpipe
