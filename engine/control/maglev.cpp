// Maglev lookup table (engine/control/maglev.h has the specification and the invariants).
// Control path: allocates and throws; the workers only call MaglevTable::lookup.
#include "engine/control/maglev.h"

#include <algorithm>
#include <stdexcept>
#include <string_view>

namespace mirrorpipe {

namespace {

constexpr uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ull;
constexpr uint64_t kFnvPrime = 0x100000001b3ull;
constexpr uint64_t kSplitMixGamma = 0x9e3779b97f4a7c15ull;
constexpr uint16_t kEmpty = 0xffff;

uint64_t splitmix64_output(uint64_t seed, uint64_t k) noexcept {
  uint64_t z = seed + k * kSplitMixGamma;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

bool is_prime(uint32_t n) noexcept {
  if (n < 2) return false;
  if (n % 2 == 0) return n == 2;
  for (uint64_t d = 3; d * d <= n; d += 2) {
    if (n % d == 0) return false;
  }
  return true;
}

MaglevNameHash maglev_name_hash(std::string_view name) noexcept {
  uint64_t f = kFnvOffsetBasis;
  for (char c : name) {
    f ^= static_cast<uint8_t>(c);
    f *= kFnvPrime;
  }
  return {splitmix64_output(f, 1), splitmix64_output(f, 2)};
}

MaglevTable build_maglev(std::span<const std::string> member_names, std::span<const bool> included,
                         uint32_t table_size) {
  if (!is_prime(table_size)) {
    throw std::invalid_argument("maglev: table size " + std::to_string(table_size) + " is not prime");
  }
  if (member_names.empty()) throw std::invalid_argument("maglev: no members");
  if (member_names.size() > kMaglevMaxMembers) {
    throw std::invalid_argument("maglev: " + std::to_string(member_names.size()) + " members, at most " +
                                std::to_string(kMaglevMaxMembers));
  }
  if (included.size() != member_names.size()) {
    throw std::invalid_argument("maglev: " + std::to_string(included.size()) + " inclusion flags for " +
                                std::to_string(member_names.size()) + " members");
  }
  std::vector<std::string_view> sorted(member_names.begin(), member_names.end());
  std::sort(sorted.begin(), sorted.end());
  if (auto dup = std::adjacent_find(sorted.begin(), sorted.end()); dup != sorted.end()) {
    throw std::invalid_argument("maglev: member name '" + std::string(*dup) + "' appears twice");
  }

  // Each included member's walk over its preference list: the current slot (offset + next *
  // skip) mod M, advanced by adding skip, so the lists are never stored. slot and skip are
  // below M, so one subtraction reduces the sum (a division per probe doubled the build time).
  struct Walker {
    uint16_t member;
    uint64_t slot;
    uint64_t skip;
    void advance(uint64_t m) noexcept {
      slot += skip;
      if (slot >= m) slot -= m;
    }
  };
  const uint64_t m = table_size;
  std::vector<Walker> walkers;
  for (size_t i = 0; i < member_names.size(); ++i) {
    if (!included[i]) continue;
    const MaglevNameHash h = maglev_name_hash(member_names[i]);
    // M = 2 leaves one possible skip: (h2 mod 1) + 1 = 1.
    walkers.push_back({static_cast<uint16_t>(i), h.h1 % m, h.h2 % (m - 1) + 1});
  }
  if (walkers.empty()) throw std::invalid_argument("maglev: no member is included");

  MaglevTable table;
  table.entries.assign(table_size, kEmpty);
  uint64_t filled = 0;
  // Pseudocode 1 of the paper: rounds over the members; each takes its next preferred empty
  // slot. A member's list is a permutation of all M slots (M prime), so while a slot is empty
  // its walk reaches it: the inner loop ends within M steps.
  for (;;) {
    for (Walker& w : walkers) {
      while (table.entries[w.slot] != kEmpty) w.advance(m);
      table.entries[w.slot] = w.member;
      w.advance(m);
      if (++filled == m) return table;
    }
  }
}

}  // namespace mirrorpipe
