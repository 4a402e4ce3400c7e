// Maglev consistent hashing: which member of an analyzer pool takes a flow (control path builds
// the table, the per-packet path only indexes it). No DPDK.
//
// Why Maglev (Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load Balancer",
// NSDI 2016, section 3.4): a lookup is one array read, members share the table almost exactly
// evenly, and when a member leaves or returns only about its own share of flows changes member,
// so the analyzers behind a pool keep seeing whole flows while the pool changes. A plain
// `hash % N` would move about (N-1)/N of all flows on any change; a hash ring needs a search
// per lookup and many virtual nodes to be even.
//
// The table (section 3.4, "Pseudocode 1: Populate Maglev hashing lookup table"):
//   M        the table size, prime, so that every skip in [1, M-1] is coprime with M and each
//            member's preference list below is a permutation of all M slots. Default 65537
//            (2^16 + 1, one of the sizes the paper evaluates); the paper picks M larger than
//            100 N so that members' shares differ by at most 1%.
//   offset   = h1(name) mod M
//   skip     = h2(name) mod (M - 1) + 1
//   prefer   member i's j-th preferred slot is (offset_i + j * skip_i) mod M.
//   populate repeat rounds over the included members in increasing index order; in a round
//            each member takes its next preferred slot that is still empty, until all M slots
//            are full.
// Seeding by the member's NAME (not its index) is what makes removal cheap: every other
// member keeps its preference list whatever the membership, so only the slots the removed
// member held, plus the few that the changed fill order disturbs, change hands.
//
// The name hash (fully specified, so test/golden/maglev.py can reproduce every table):
//   f  = 64-bit FNV-1a over the name's bytes: f = 0xcbf29ce484222325; for each byte b:
//        f ^= b; f *= 0x100000001b3 (mod 2^64).
//   h1, h2 = the first two outputs of SplitMix64 seeded with f, i.e. for k = 1, 2:
//        z = f + k * 0x9e3779b97f4a7c15 (mod 2^64);
//        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9; z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
//        h_k = z ^ (z >> 31).
//   FNV-1a alone avalanches weakly (the FNV-1a values of "analyzer-1" and "analyzer-2" differ
//   in 10 of 64 bits); the SplitMix64 finaliser spreads every input bit over the whole word,
//   and its two outputs give offset and skip unrelated values.
//
// Invariants of a built table (tested in test/unit/test_maglev.cpp):
//   - entries.size() == M, and every entry is the index in member_names of an included member
//     (indices of the others stay put when a member is excluded);
//   - two included members' entry counts differ by at most one (one slot per member per round);
//   - the table is a pure function of (the included names in index order, M): excluding a
//     member via `included` or removing its name from the list gives the same member for every
//     slot, and including it again gives back the original table exactly.
//
// Cost of a build: O(M) memory (the table, plus O(N) state: each member's preference list is
// walked by addition, never stored) and at most N * M slot probes (each member walks its list
// at most once); in practice under M ln M (maglev.py counts 8.1 M probes for 16 members). The
// worst case, N close to M, is quadratic, which the paper's M >> N avoids. Measured: 65537
// entries for 16 members, 1.0-1.1 ms median over 200 builds (2-core AMD EPYC VM), both in the
// project's RelWithDebInfo build (`./build/test/mirrorpipe_unit_tests '[maglev-bench]'`, a
// hidden test that prints it) and with this file alone at -O3 (Release flags).
// Build on the control thread and publish the result; never build on a worker.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace mirrorpipe {

inline constexpr uint32_t kMaglevDefaultTableSize = 65537;
// Entry values are member indices; 0xffff marks an empty slot while the table is filled, so a
// pool has at most 65535 members.
inline constexpr size_t kMaglevMaxMembers = 65535;

// Exact primality of a 32-bit number (trial division; at most 65536 divisions).
bool is_prime(uint32_t n) noexcept;

struct MaglevTable {
  std::vector<uint16_t> entries;  // slot -> index into the member_names the table was built from

  // The member for a flow. Precondition: built by build_maglev (entries not empty). Per packet:
  // no allocation, no exception. The flow hash is the symmetric one (encap/flow.h), so both
  // directions of a flow reach the same member.
  uint16_t lookup(uint32_t flow_hash) const noexcept { return entries[flow_hash % entries.size()]; }
};

// The table for the included members (included[i] says whether member_names[i] takes flows).
// Throws std::invalid_argument when table_size is not prime, when there are no members or more
// than kMaglevMaxMembers, when included.size() differs from member_names.size(), when two
// members share a name (they would share a preference list), or when no member is included:
// what to do with a pool that has no live member (fail open or drop) is the caller's choice.
MaglevTable build_maglev(std::span<const std::string> member_names, std::span<const bool> included,
                         uint32_t table_size = kMaglevDefaultTableSize);

// h1 and h2 of a name as defined above (exposed for the tests and for diagnostics).
struct MaglevNameHash {
  uint64_t h1;
  uint64_t h2;
};
MaglevNameHash maglev_name_hash(std::string_view name) noexcept;

}  // namespace mirrorpipe
