// Loss detection's stream accounting (engine/pipeline/sequence.h) against a model written from
// its definition: lost = numbers up to the highest seen that never arrived, reordered = arrivals
// below the highest seen at the time, duplicated = arrivals of a number already seen.
#include <catch2/catch.hpp>

#include <algorithm>
#include <random>
#include <set>
#include <vector>

#include "engine/pipeline/sequence.h"

using namespace mirrorpipe;

namespace {

struct Counts {
  uint64_t meta_packets = 0, meta_lost = 0, meta_reordered = 0, meta_duplicated = 0, meta_untracked = 0;
};

Counts model(const std::vector<uint32_t>& arrivals, uint32_t first) {
  Counts c;
  std::set<uint64_t> seen;  // numbers relative to `first`, without wrap-around
  uint64_t high = 0;
  bool started = false;
  for (uint32_t a : arrivals) {
    ++c.meta_packets;
    const uint64_t r = static_cast<uint32_t>(a - first);
    if (seen.count(r)) {
      ++c.meta_duplicated;
      continue;
    }
    if (started && r < high) ++c.meta_reordered;
    seen.insert(r);
    high = started ? std::max(high, r) : r;
    started = true;
  }
  c.meta_lost = high + 1 - seen.size();
  return c;
}

Counts run(const std::vector<uint32_t>& arrivals) {
  SequenceTracker t(64);
  Counts c;
  const std::array<uint8_t, 16> src{10, 0, 0, 1};
  for (uint32_t a : arrivals) t.on_packet(src, 7, 0, a, c);
  return c;
}

void same(const Counts& a, const Counts& b) {
  CHECK(a.meta_packets == b.meta_packets);
  CHECK(a.meta_lost == b.meta_lost);
  CHECK(a.meta_reordered == b.meta_reordered);
  CHECK(a.meta_duplicated == b.meta_duplicated);
  CHECK(a.meta_untracked == 0);
}

}  // namespace

TEST_CASE("sequence: deletions, swaps and duplicates within the window count as the model says") {
  const uint32_t first = GENERATE(1u, 0xfffffff0u);  // the second crosses 2^32
  std::mt19937 rng(first);
  for (int round = 0; round < 200; ++round) {
    std::vector<uint32_t> s;
    for (uint32_t i = 0; i < 2000; ++i) s.push_back(first + i);
    std::vector<uint32_t> out{s[0]};  // the first stays first: numbers before it are not known
    for (size_t i = 1; i < s.size(); ++i) {
      const unsigned r = rng() % 100;
      if (r < 3) continue;                                   // lost
      out.push_back(s[i]);
      if (r < 5) out.push_back(s[i]);                         // duplicated at once
    }
    for (int k = 0; k < 30; ++k) {                            // moved back by up to 200 places
      const size_t i = 1 + rng() % (out.size() - 1);
      const size_t j = i + rng() % 200;
      if (j < out.size()) std::rotate(out.begin() + static_cast<long>(i), out.begin() + static_cast<long>(i) + 1,
                                      out.begin() + static_cast<long>(j) + 1);
    }
    INFO("round " << round);
    same(run(out), model(out, first));
  }
}

TEST_CASE("sequence: a gap wider than the window, and a packet older than it") {
  // 1, 2, then 1000 (997 lost), then 3 (older than the window: reordered, no longer lost).
  const Counts c = run({1, 2, 1000, 3});
  CHECK(c.meta_lost == 996);
  CHECK(c.meta_reordered == 1);
  CHECK(c.meta_duplicated == 0);
}

TEST_CASE("sequence: streams are apart by source, VNI and worker; a full table counts untracked") {
  SequenceTracker t(4);
  Counts c;
  const std::array<uint8_t, 16> a{10, 0, 0, 1}, b{10, 0, 0, 2};
  t.on_packet(a, 1, 0, 1, c);
  t.on_packet(b, 1, 0, 5, c);  // another stream: its own first number
  t.on_packet(a, 1, 1, 9, c);  // another worker
  t.on_packet(a, 2, 0, 3, c);  // another VNI
  t.on_packet(a, 1, 0, 2, c);
  CHECK(c.meta_lost == 0);
  CHECK(c.meta_untracked == 0);
  t.on_packet(b, 9, 9, 1, c);  // a fifth stream in a table of four
  CHECK(c.meta_untracked == 1);
}
