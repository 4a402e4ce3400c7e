// The appliance's flow table: for each GWLB flow, the return header of its latest packet.
//
// A returned packet carries the header it arrived with, so its flow cookie is current by
// construction; the table is for the packets the appliance emits that it did not receive as
// such (from a local inspection engine through a TAP): they get the header of the latest packet
// of their flow. Keyed per GWLB endpoint on the inner 5-tuple (TCP/UDP/SCTP) or 3-tuple, both
// directions alike (decap/appliance.h); refreshed by every received packet, so a 5-tuple reused
// with a new cookie takes the new cookie at its first packet. Entries idle longer than GWLB's
// timeouts (TCP 350 s, others 120 s) are dead; the table is bounded: a full bucket evicts its
// least recently seen entry, counted.
//
// Threads: one writer (the worker that owns it), any number of readers (workers emitting on a
// TAP's behalf) through a sequence lock per entry: a reader retries while the entry is being
// written and never blocks the writer. Time is a parameter (ns, any monotonic clock), so tests
// drive expiry without waiting.
//
// Invariants (hot path): no allocation after construction, no exceptions, no locks.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>

#include "decap/appliance.h"
#include "engine/pipeline/counters.h"

namespace mirrorpipe {

struct FlowTimeouts {
  uint64_t tcp_ns = 350'000'000'000ull;
  uint64_t other_ns = 120'000'000'000ull;
  uint64_t for_protocol(uint8_t proto) const noexcept { return proto == 6 ? tcp_ns : other_ns; }
};

inline constexpr uint32_t kFlowHeaderMax = 128;  // Ethernet + IPv4 + UDP + Geneve + options

// What a lookup copies out.
struct FlowRecord {
  uint64_t last_seen_ns = 0;
  uint32_t cookie = 0;
  uint8_t header_len = 0;
  uint8_t l3_offset = 0;
  uint8_t header[kFlowHeaderMax];
};

class FlowTable {
 public:
  static constexpr uint32_t kWays = 4;

  // `capacity` entries, rounded up to a power of two (at least kWays).
  FlowTable(uint32_t capacity, FlowTimeouts timeouts)
      : timeouts_(timeouts) {
    uint32_t n = kWays;
    while (n < capacity) n <<= 1;
    buckets_ = n / kWays;
    entries_ = std::make_unique<Entry[]>(n);
  }

  uint32_t capacity() const noexcept { return buckets_ * kWays; }
  const FlowTableCounters& counters() const noexcept { return counters_; }

  // Records the latest packet of flow `key`: its return header and cookie. Writer only.
  void refresh(const InnerFlowKey& key, const uint8_t* header, uint32_t header_len, uint32_t l3_offset,
               uint32_t cookie, uint64_t now_ns) noexcept {
    refresh(key, key.tuple_hash(), header, header_len, l3_offset, cookie, now_ns);
  }

  // The same with the key's tuple_hash() already known (inner_flow_key() gives it).
  void refresh(const InnerFlowKey& key, uint32_t hash, const uint8_t* header, uint32_t header_len,
               uint32_t l3_offset, uint32_t cookie, uint64_t now_ns) noexcept {
    if (header_len > kFlowHeaderMax) return;
    Entry* bucket = bucket_of(hash);
    Entry* slot = nullptr;
    Entry* oldest = &bucket[0];
    for (uint32_t w = 0; w < kWays; ++w) {
      Entry& e = bucket[w];
      if (e.used && e.key == key) {
        slot = &e;
        break;
      }
      if (!e.used) {
        if (!slot) slot = &e;
      } else if (e.record.last_seen_ns < oldest->record.last_seen_ns || !oldest->used) {
        oldest = &e;
      }
    }
    bool known = slot && slot->used;
    if (known && now_ns - slot->record.last_seen_ns > timeouts_.for_protocol(key.protocol)) {
      ++counters_.expired;  // the same flow back after its idle timeout: a new flow to GWLB
      known = false;
    }
    if (!slot) {
      // A full bucket: a dead entry goes first, else the least recently seen live one.
      slot = oldest;
      if (now_ns - oldest->record.last_seen_ns > timeouts_.for_protocol(oldest->key.protocol)) {
        ++counters_.expired;
      } else {
        ++counters_.evicted;
      }
    }
    if (known) {
      ++counters_.refreshed;
      if (slot->record.cookie != cookie) ++counters_.cookie_changes;
    } else {
      ++counters_.inserted;
    }
    const uint32_t s = slot->seq.load(std::memory_order_relaxed);
    slot->seq.store(s + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    slot->used = true;
    slot->key = key;
    slot->record.last_seen_ns = now_ns;
    slot->record.cookie = cookie;
    slot->record.header_len = static_cast<uint8_t>(header_len);
    slot->record.l3_offset = static_cast<uint8_t>(l3_offset);
    copy_header(slot->record.header, header, header_len);
    slot->seq.store(s + 2, std::memory_order_release);
  }

  // Brings the first lines of the bucket of `hash` in, for a refresh() a little later.
  void prefetch(uint32_t hash) const noexcept {
    const Entry* bucket = bucket_of(hash);
    __builtin_prefetch(bucket, 1, 3);
    __builtin_prefetch(reinterpret_cast<const uint8_t*>(bucket) + 64, 1, 3);
  }

  // The live entry of `key`'s tuple, from endpoint `key.endpoint_id`, or from whichever
  // endpoint saw it last when `any_endpoint`. Any thread.
  bool lookup(const InnerFlowKey& key, bool any_endpoint, uint64_t now_ns, FlowRecord& out) const noexcept {
    const Entry* bucket = bucket_of(key.tuple_hash());
    bool found = false;
    for (uint32_t w = 0; w < kWays; ++w) {
      const Entry& e = bucket[w];
      for (int attempt = 0; attempt < 64; ++attempt) {
        const uint32_t s = e.seq.load(std::memory_order_acquire);
        if (s & 1) continue;
        const bool used = e.used;
        const InnerFlowKey k = e.key;
        FlowRecord r;
        r.last_seen_ns = e.record.last_seen_ns;
        r.cookie = e.record.cookie;
        r.header_len = e.record.header_len;
        r.l3_offset = e.record.l3_offset;
        std::memcpy(r.header, e.record.header, sizeof r.header);
        std::atomic_thread_fence(std::memory_order_acquire);
        if (e.seq.load(std::memory_order_relaxed) != s) continue;
        const bool match = used && (any_endpoint ? k.same_tuple(key) : k == key);
        const bool alive = now_ns - r.last_seen_ns <= timeouts_.for_protocol(k.protocol);
        if (match && alive && (!found || r.last_seen_ns > out.last_seen_ns)) {
          out = r;
          found = true;
        }
        break;
      }
    }
    return found;
  }

 private:
  struct Entry {
    std::atomic<uint32_t> seq{0};  // odd while the writer changes the entry
    bool used = false;
    InnerFlowKey key;
    FlowRecord record;
  };

  // memcpy for a header of 16 bytes or more, 16 bytes at a time, the last 16 overlapping: for
  // GWLB's 82 bytes, memcpy's variable length took `rep movsq`, whose start-up cost every
  // packet paid.
  static void copy_header(uint8_t* to, const uint8_t* from, uint32_t len) noexcept {
    if (len < 16) {
      std::memcpy(to, from, len);
      return;
    }
    for (uint32_t i = 0; i + 16 <= len; i += 16) std::memcpy(to + i, from + i, 16);
    std::memcpy(to + len - 16, from + len - 16, 16);
  }

  Entry* bucket_of(uint32_t hash) const noexcept {
    return &entries_[static_cast<size_t>(hash & (buckets_ - 1)) * kWays];
  }

  FlowTimeouts timeouts_;
  uint32_t buckets_ = 0;
  std::unique_ptr<Entry[]> entries_;
  FlowTableCounters counters_;
};

}  // namespace mirrorpipe
