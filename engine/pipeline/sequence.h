// Loss detection end to end: the receiving side of mirrorpipe's metadata option
// (encap/wire/geneve.h, MirrorMetaOption). Each sender stream -- the outer source address, the
// VNI and the sender's worker -- numbers its packets 1, 2, 3...; the receiver counts:
//
//   lost        numbers never seen (a gap counts as lost until its packets arrive),
//   reordered   packets that arrived after a higher number (a late one is not also lost),
//   duplicated  numbers seen twice (counted, not dropped).
//
// A stream keeps the highest number seen and a window of the 256 numbers below it. A packet
// older than the window is counted reordered and no longer lost (it cannot be told from a
// duplicate that old). A table per worker, of fixed size, allocated at start (no allocation on
// the data path); a stream that finds it full is counted untracked.
//
// One receiving worker sees a stream whole only when the sender's packets of that stream all
// reach it: a file job (decap, run with file inputs), a single worker, or RSS that keeps them
// together. With several receiving workers and RSS on the outer header, a stream is split and
// each worker counts the others' share as lost (docs).
//
// Hot path: no allocation, no exceptions.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

namespace mirrorpipe {

class SequenceTracker {
 public:
  static constexpr uint32_t kWindow = 256;

  explicit SequenceTracker(uint32_t slots = 4096) : streams_(slots) {}

  // One packet of a stream. `source` is the outer source address (IPv4 in the first 4 bytes).
  // `C` has the counters meta_packets, meta_lost, meta_reordered, meta_duplicated and
  // meta_untracked (InputCounters, engine/pipeline/counters.h).
  template <class C>
  void on_packet(const std::array<uint8_t, 16>& source, uint32_t vni, uint16_t worker, uint32_t seq, C& c) noexcept {
    ++c.meta_packets;
    Stream* s = find(source, vni, worker);
    if (!s) {
      ++c.meta_untracked;
      return;
    }
    if (!s->started) {
      s->started = true;
      s->high = seq;
      s->window.fill(0);
      s->window[0] = 1;
      return;
    }
    const int32_t d = static_cast<int32_t>(seq - s->high);  // serial-number arithmetic
    if (d > 0) {
      c.meta_lost += static_cast<uint32_t>(d) - 1;
      shift(*s, static_cast<uint32_t>(d));
      s->high = seq;
      s->window[0] |= 1;
      return;
    }
    const uint32_t age = static_cast<uint32_t>(-static_cast<int64_t>(d));
    if (age >= kWindow) {
      ++c.meta_reordered;
      if (c.meta_lost) --c.meta_lost;
      return;
    }
    uint64_t& word = s->window[age / 64];
    const uint64_t bit = uint64_t{1} << (age % 64);
    if (word & bit) {
      ++c.meta_duplicated;
    } else {
      word |= bit;
      ++c.meta_reordered;
      if (c.meta_lost) --c.meta_lost;
    }
  }

 private:
  struct Stream {
    bool used = false;
    bool started = false;
    uint16_t worker = 0;
    uint32_t vni = 0;
    std::array<uint8_t, 16> source{};
    uint32_t high = 0;
    std::array<uint64_t, kWindow / 64> window{};  // bit i: number high - i was seen
  };

  Stream* find(const std::array<uint8_t, 16>& source, uint32_t vni, uint16_t worker) noexcept {
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (uint64_t{vni} << 16) ^ worker;
    for (size_t i = 0; i < 16; i += 8) {
      uint64_t w;
      std::memcpy(&w, source.data() + i, 8);
      h = (h ^ w) * 0xff51afd7ed558ccdull;
      h ^= h >> 33;
    }
    const size_t n = streams_.size();
    for (size_t probe = 0, i = h % n; probe < 16; ++probe, i = (i + 1) % n) {
      Stream& s = streams_[i];
      if (!s.used) {
        s.used = true;
        s.source = source;
        s.vni = vni;
        s.worker = worker;
        return &s;
      }
      if (s.vni == vni && s.worker == worker && s.source == source) return &s;
    }
    return nullptr;
  }

  // The window slides up by `d`: bit i moves to bit i + d.
  static void shift(Stream& s, uint32_t d) noexcept {
    if (d >= kWindow) {
      s.window.fill(0);
      return;
    }
    const uint32_t words = d / 64, bits = d % 64;
    for (size_t i = s.window.size(); i-- > 0;) {
      uint64_t v = i >= words ? s.window[i - words] << bits : 0;
      if (bits && i >= words + 1) v |= s.window[i - words - 1] >> (64 - bits);
      s.window[i] = v;
    }
  }

  std::vector<Stream> streams_;
};

}  // namespace mirrorpipe
