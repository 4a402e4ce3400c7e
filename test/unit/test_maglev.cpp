// The Maglev table of an analyzer pool (engine/control/maglev.h): equal to the independent
// Python implementation's tables (test/golden/maglev.py -> test/golden/maglev-cases.tsv), even
// over members and flows, little disruption when a member leaves, both directions of a flow to
// one member, and the configuration errors.
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "encap/flow.h"
#include "engine/control/maglev.h"
#include "pcap_file.h"

using namespace mirrorpipe;

namespace {

// A pool's names and inclusion flags. (std::vector<bool> does not convert to std::span<const
// bool>: its bits are packed.)
struct Pool {
  std::vector<std::string> names;
  std::array<bool, 64> in{};

  explicit Pool(std::vector<std::string> n) : names(std::move(n)) {
    REQUIRE(names.size() <= in.size());
    std::fill(in.begin(), in.begin() + static_cast<long>(names.size()), true);
  }
  std::span<const bool> included() const { return {in.data(), names.size()}; }
  MaglevTable build(uint32_t m = kMaglevDefaultTableSize) const { return build_maglev(names, included(), m); }
};

Pool numbered(size_t n, const std::string& prefix = "analyzer-") {
  std::vector<std::string> names;
  for (size_t i = 0; i < n; ++i) names.push_back(prefix + std::to_string(i));
  return Pool(names);
}

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) out.push_back(item);
  return out;
}

// The data file's checksum: 64-bit FNV-1a over the entries as little-endian 16-bit words.
uint64_t checksum(const std::vector<uint16_t>& entries) {
  uint64_t f = 0xcbf29ce484222325ull;
  for (uint16_t e : entries) {
    for (uint8_t b : {static_cast<uint8_t>(e), static_cast<uint8_t>(e >> 8)}) {
      f ^= b;
      f *= 0x100000001b3ull;
    }
  }
  return f;
}

std::vector<size_t> entry_counts(const MaglevTable& t, size_t members) {
  std::vector<size_t> counts(members, 0);
  size_t out_of_range = 0;
  for (uint16_t e : t.entries) {
    if (e < members) ++counts[e];
    else ++out_of_range;
  }
  CHECK(out_of_range == 0);
  return counts;
}

std::vector<uint32_t> random_flow_hashes(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint32_t> out(n);
  for (uint32_t& h : out) h = static_cast<uint32_t>(rng());
  return out;
}

// Ethernet + a 20-byte IPv4 header + the first 8 bytes of TCP, as in test_flow.cpp (and as
// maglev.py's tcp_frame builds it for the oracle's flow hash).
using Frame = std::vector<uint8_t>;
Frame build_tcp(std::array<uint8_t, 4> src, std::array<uint8_t, 4> dst, uint16_t sport, uint16_t dport) {
  Frame f(14 + 20 + 8, 0);
  const uint8_t macs[12] = {2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1};
  std::copy(macs, macs + 12, f.begin());
  f[12] = 0x08;
  f[14] = 0x45;
  f[17] = 28;
  f[22] = 64;
  f[23] = 6;
  std::copy(src.begin(), src.end(), f.begin() + 26);
  std::copy(dst.begin(), dst.end(), f.begin() + 30);
  f[34] = static_cast<uint8_t>(sport >> 8);
  f[35] = static_cast<uint8_t>(sport);
  f[36] = static_cast<uint8_t>(dport >> 8);
  f[37] = static_cast<uint8_t>(dport);
  return f;
}

uint32_t hash_of(const Frame& f) { return parse_frame(wire::Bytes(f.data(), f.size())).flow_hash; }

std::array<uint8_t, 4> ipv4(const std::string& dotted) {
  const auto parts = split(dotted, '.');
  REQUIRE(parts.size() == 4);
  std::array<uint8_t, 4> a{};
  for (size_t i = 0; i < 4; ++i) a[i] = static_cast<uint8_t>(std::stoul(parts[i]));
  return a;
}

std::vector<std::vector<std::string>> golden_rows(const std::string& kind) {
  std::vector<std::vector<std::string>> out;
  for (auto& row : test::read_tsv(test::source_path("test/golden/maglev-cases.tsv"))) {
    if (!row.empty() && row[0] == kind) out.push_back(row);
  }
  return out;
}

}  // namespace

TEST_CASE("maglev: is_prime", "[maglev]") {
  for (uint32_t p : {2u, 3u, 13u, 251u, 65521u, 65537u, 655373u, 4294967291u}) {
    INFO(p);
    CHECK(is_prime(p));
  }
  for (uint32_t n : {0u, 1u, 4u, 9u, 25u, 65535u, 65536u, 65539u * 65521u, 4294967295u}) {
    INFO(n);
    CHECK_FALSE(is_prime(n));
  }
}

TEST_CASE("maglev: tables equal the independent Python implementation's", "[maglev]") {
  const auto rows = golden_rows("table");
  REQUIRE(rows.size() == 11);
  for (const auto& row : rows) {
    REQUIRE(row.size() == 7);
    const uint32_t m = static_cast<uint32_t>(std::stoul(row[1]));
    Pool pool(split(row[2], ','));
    const auto flags = split(row[3], ',');
    REQUIRE(flags.size() == pool.names.size());
    for (size_t i = 0; i < flags.size(); ++i) pool.in[i] = flags[i] == "1";
    INFO("M " << m << ", members " << row[2] << ", included " << row[3]);

    const MaglevTable t = pool.build(m);
    REQUIRE(t.entries.size() == m);
    const auto prefix = split(row[4], ',');
    REQUIRE(prefix.size() == std::min<size_t>(m, 64));  // whole tables for the small sizes
    std::vector<uint16_t> expected;
    for (const auto& e : prefix) expected.push_back(static_cast<uint16_t>(std::stoul(e)));
    CHECK(std::vector<uint16_t>(t.entries.begin(), t.entries.begin() + static_cast<long>(expected.size())) ==
          expected);
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016llx", static_cast<unsigned long long>(checksum(t.entries)));
    CHECK(std::string(hex) == row[5]);
    const auto counts = split(row[6], ',');
    const auto ours = entry_counts(t, pool.names.size());
    for (size_t i = 0; i < counts.size(); ++i) CHECK(ours[i] == std::stoul(counts[i]));
  }
}

TEST_CASE("maglev: both directions of a flow reach the member the oracle predicts", "[maglev]") {
  // Frames through parse_frame (the engine's symmetric flow hash); the expected hash comes from
  // test/golden/flowhash.py and the expected member from maglev.py.
  const auto rows = golden_rows("flow");
  REQUIRE(rows.size() == 12);
  for (const auto& row : rows) {
    REQUIRE(row.size() == 10);
    INFO("pool " << row[2] << ": " << row[3] << ":" << row[6] << " -> " << row[4] << ":" << row[7]);
    const Pool pool(split(row[2], ','));
    const MaglevTable t = pool.build(static_cast<uint32_t>(std::stoul(row[1])));
    REQUIRE(row[5] == "6");
    const auto sport = static_cast<uint16_t>(std::stoul(row[6]));
    const auto dport = static_cast<uint16_t>(std::stoul(row[7]));
    const uint32_t forward = hash_of(build_tcp(ipv4(row[3]), ipv4(row[4]), sport, dport));
    const uint32_t reverse = hash_of(build_tcp(ipv4(row[4]), ipv4(row[3]), dport, sport));
    CHECK(forward == std::stoul(row[8]));
    CHECK(t.lookup(forward) == std::stoul(row[9]));
    CHECK(t.lookup(reverse) == t.lookup(forward));
  }
}

TEST_CASE("maglev: members share the table and the flows evenly", "[maglev]") {
  const size_t n = GENERATE(2, 3, 7, 16);
  INFO(n << " members");
  const Pool pool = numbered(n);
  const MaglevTable t = pool.build();
  const double fair = double(kMaglevDefaultTableSize) / double(n);

  // The table: one slot per member per round, so the counts differ by at most one.
  const auto counts = entry_counts(t, n);
  const auto [lo, hi] = std::minmax_element(counts.begin(), counts.end());
  CHECK(*hi - *lo <= 1);
  for (size_t c : counts) CHECK(std::abs(double(c) - fair) <= 0.01 * fair);

  // 100k flows, each member's share within 5% (relative) of 1/N: random 32-bit hashes ...
  constexpr size_t kFlows = 100'000;
  const double fair_flows = double(kFlows) / double(n);
  std::vector<size_t> share(n, 0);
  for (uint32_t h : random_flow_hashes(kFlows, 2016)) ++share[t.lookup(h)];
  for (size_t i = 0; i < n; ++i) {
    INFO("member " << i << ": " << share[i] << " flows of " << kFlows);
    CHECK(std::abs(double(share[i]) - fair_flows) <= 0.05 * fair_flows);
  }

  // ... and the engine's flow hash of random TCP frames.
  std::mt19937 rng(34);
  std::fill(share.begin(), share.end(), 0);
  for (size_t f = 0; f < kFlows; ++f) {
    const uint32_t a = static_cast<uint32_t>(rng()), b = static_cast<uint32_t>(rng()), p = static_cast<uint32_t>(rng());
    const Frame frame = build_tcp({10, uint8_t(a >> 16), uint8_t(a >> 8), uint8_t(a)},
                                  {172, 16, uint8_t(b >> 8), uint8_t(b)}, uint16_t(p >> 16), uint16_t(p));
    ++share[t.lookup(hash_of(frame))];
  }
  for (size_t i = 0; i < n; ++i) {
    INFO("member " << i << ": " << share[i] << " TCP flows of " << kFlows);
    CHECK(std::abs(double(share[i]) - fair_flows) <= 0.05 * fair_flows);
  }
}

TEST_CASE("maglev: removing a member moves its flows and few others; returning it restores the table",
          "[maglev]") {
  // Measured with the default table (65537) and these flows: the flows of other members that
  // move are 0.03-0.06% of all flows for 3 members, 0.11-0.14% for 7 and 0.25-0.30% for 16
  // (about the same fraction of the table's slots). The bounds leave at least 3x room. Seeding
  // by index instead of name would pass the exclusion checks but not the removal from the list.
  const auto [n, bound] = GENERATE(table<size_t, double>({{3, 0.003}, {7, 0.005}, {16, 0.01}}));
  const Pool pool = numbered(n);
  const MaglevTable before = pool.build();
  const auto flows = random_flow_hashes(100'000, 1);

  for (size_t gone : {size_t{0}, n / 2, n - 1}) {
    INFO(n << " members, member " << gone << " removed");
    Pool without = pool;
    without.in[gone] = false;
    const MaglevTable after = without.build();
    CHECK(std::count(after.entries.begin(), after.entries.end(), gone) == 0);

    size_t moved_own = 0, moved_other = 0, on_gone = 0;
    for (uint32_t h : flows) {
      const uint16_t was = before.lookup(h), is = after.lookup(h);
      if (was == gone) {
        ++on_gone;
        moved_own += is != gone;
      } else {
        moved_other += is != was;
      }
    }
    const double other_fraction = double(moved_other) / double(flows.size());
    INFO("flows on the removed member " << on_gone << ", others moved " << moved_other << " ("
                                        << 100 * other_fraction << "% of all flows)");
    CHECK(moved_own == on_gone);
    CHECK(std::abs(double(on_gone) / double(flows.size()) - 1.0 / double(n)) <= 0.05 / double(n));
    CHECK(other_fraction < bound);
    size_t slots_other = 0;
    for (size_t s = 0; s < before.entries.size(); ++s) {
      slots_other += before.entries[s] != gone && before.entries[s] != after.entries[s];
    }
    CHECK(double(slots_other) / double(before.entries.size()) < bound);

    // The name gone from the list: the same member for every slot (the indices after it shift).
    std::vector<std::string> names = pool.names;
    names.erase(names.begin() + static_cast<long>(gone));
    const MaglevTable shorter = Pool(names).build();
    bool same = true;
    for (size_t s = 0; s < after.entries.size(); ++s) {
      const size_t i = shorter.entries[s];
      same = same && after.entries[s] == (i < gone ? i : i + 1);
    }
    CHECK(same);

    // Back again: the original table, entry for entry.
    CHECK(pool.build().entries == before.entries);
  }
}

TEST_CASE("maglev: bad pools and sizes are refused, not guessed", "[maglev]") {
  const Pool pool = numbered(3);
  CHECK_THROWS_WITH(pool.build(65536), Catch::Contains("65536 is not prime"));
  CHECK_THROWS_WITH(pool.build(1), Catch::Contains("not prime"));
  CHECK_THROWS_WITH(pool.build(0), Catch::Contains("not prime"));
  CHECK_THROWS_AS(pool.build(15), std::invalid_argument);

  CHECK_THROWS_WITH(build_maglev({}, {}, 13), Catch::Contains("no members"));

  Pool none = pool;
  none.in.fill(false);
  CHECK_THROWS_WITH(none.build(), Catch::Contains("no member is included"));

  CHECK_THROWS_WITH(build_maglev(pool.names, std::span<const bool>(pool.in.data(), 2), 13),
                    Catch::Contains("2 inclusion flags for 3 members"));

  Pool twice({"a", "b", "a"});
  CHECK_THROWS_WITH(twice.build(13), Catch::Contains("'a' appears twice"));

  std::vector<std::string> many(kMaglevMaxMembers + 1);
  for (size_t i = 0; i < many.size(); ++i) many[i] = std::to_string(i);
  auto flags = std::make_unique<bool[]>(many.size());
  CHECK_THROWS_WITH(build_maglev(many, std::span<const bool>(flags.get(), many.size()), 65537),
                    Catch::Contains("65536 members, at most 65535"));

  // Small but valid: a table smaller than the pool still fills (some members get no slot), and
  // M = 2 has a single skip.
  CHECK(numbered(5).build(2).entries.size() == 2);
  CHECK(numbered(1).build(2).entries == std::vector<uint16_t>{0, 0});
}

// The cost of a build, for maglev.h's comment: hidden (run it by its tag), as it times.
TEST_CASE("maglev: time to build 65537 entries for 16 members", "[.][maglev-bench]") {
  const Pool pool = numbered(16);
  std::vector<double> ms;
  for (int i = 0; i < 200; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    const MaglevTable t = pool.build();
    const auto t1 = std::chrono::steady_clock::now();
    REQUIRE(t.entries.size() == kMaglevDefaultTableSize);
    ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  std::printf("maglev build, 65537 entries, 16 members: median %.3f ms, min %.3f ms, max %.3f ms (200 builds)\n",
              ms[ms.size() / 2], ms.front(), ms.back());
}
