// Reusing the NIC's RSS hash as the flow hash.
//
// The key: DPDK's own software Toeplitz (rte_softrss, the reference the PMDs' hardware is
// tested against) over every IPv4 TCP/UDP flow of the sample, with the engine's key, gives
// both directions the same hash; a key without the repeating pattern (the one in Microsoft's
// RSS specification) does not, so the check can fail.
// The path: with a given hash, the encapsulated packet equals the parsed path's except for the
// UDP source port (and the GWLB cookie), which follow the given hash.
// The choice: what each port offers and accepted decides, as the start-up log says.
#include <catch2/catch.hpp>
#include <rte_thash.h>

#include <set>
#include <tuple>

#include "engine/pipeline/pipeline.h"
#include "engine/pipeline/rss.h"
#include "pcap_file.h"

using namespace mirrorpipe;

namespace {

struct Tuple {
  uint32_t src, dst;
  uint16_t sport, dport;
};

uint32_t toeplitz(const uint8_t* key, const Tuple& t) {
  rte_ipv4_tuple tuple{};
  tuple.src_addr = t.src;
  tuple.dst_addr = t.dst;
  tuple.sport = t.sport;
  tuple.dport = t.dport;
  return rte_softrss(reinterpret_cast<uint32_t*>(&tuple), RTE_THASH_V4_L4_LEN, key);
}

// IPv4 TCP/UDP frames of the sample (untagged, not fragments), as host-order tuples.
std::vector<Tuple> sample_tuples() {
  std::vector<Tuple> out;
  for (const auto& r : test::read_pcap(test::source_path("pcaps/sample-mix.pcap"))) {
    const auto& b = r.bytes;
    if (b.size() < 38 || b[12] != 0x08 || b[13] != 0x00 || (b[14] >> 4) != 4) continue;
    if (b[23] != 6 && b[23] != 17) continue;
    if (((b[20] & 0x3f) | b[21]) != 0) continue;  // a fragment
    const size_t l4 = 14 + (b[14] & 0x0f) * 4u;
    auto be32 = [&](size_t i) { return uint32_t{b[i]} << 24 | uint32_t{b[i + 1]} << 16 | uint32_t{b[i + 2]} << 8 | b[i + 3]; };
    auto be16 = [&](size_t i) { return static_cast<uint16_t>(b[i] << 8 | b[i + 1]); };
    out.push_back({be32(26), be32(30), be16(l4), be16(l4 + 2)});
  }
  return out;
}

}  // namespace

TEST_CASE("nic hash: the engine's RSS key hashes both directions of each sample flow alike") {
  const auto tuples = sample_tuples();
  REQUIRE(tuples.size() >= 10);
  uint8_t key[40];
  fill_symmetric_rss_key(key, sizeof key);
  // Microsoft's RSS specification's sample key: a plain Toeplitz key, not symmetric.
  const uint8_t ms_key[40] = {0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3,
                              0x8f, 0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3,
                              0x80, 0x30, 0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa};
  int asymmetric_with_ms_key = 0;
  std::set<uint32_t> hashes;
  std::set<std::tuple<uint32_t, uint32_t, uint16_t, uint16_t>> flows;  // both directions as one
  for (const Tuple& t : tuples) {
    const Tuple back{t.dst, t.src, t.dport, t.sport};
    CHECK(toeplitz(key, t) == toeplitz(key, back));
    asymmetric_with_ms_key += toeplitz(ms_key, t) != toeplitz(ms_key, back);
    hashes.insert(toeplitz(key, t));
    flows.insert(t.src < t.dst ? std::tuple{t.src, t.dst, t.sport, t.dport} : std::tuple{t.dst, t.src, t.dport, t.sport});
  }
  CHECK(asymmetric_with_ms_key > 0);
  // Symmetric, not constant: the sample's flows (three, untagged and unfragmented) apart.
  CHECK(flows.size() == 3);
  CHECK(hashes.size() == flows.size());
}

TEST_CASE("nic hash: a given hash replaces only what the flow hash decides") {
  const auto input = test::read_pcap(test::source_path("pcaps/sample-mix.pcap"));
  for (TunnelKind kind : {TunnelKind::kVxlan, TunnelKind::kGeneve, TunnelKind::kGwlb}) {
    TunnelConfig c;
    c.kind = kind;
    c.src_ip = parse_ip("172.31.0.238");
    c.dst_ip = parse_ip("172.31.17.188");
    c.vni = kind == TunnelKind::kGwlb ? 0 : 7;
    PipelineConfig cfg;
    cfg.outer = build_outer_template(c);
    const uint32_t hash = 0x9e3779b9;
    for (const auto& r : input) {
      test::Buffer parsed(r), given(r);
      const DropReason a = process_packet(cfg, parsed.ref);
      const DropReason b = encap_with_flow_hash(cfg, given.ref, hash);
      REQUIRE(a == b);
      if (a != DropReason::kNone) continue;
      auto x = parsed.bytes(), y = given.bytes();
      REQUIRE(x.size() == y.size());
      const size_t sport = cfg.outer.udp_offset;
      CHECK((y[sport] << 8 | y[sport + 1]) == hash_to_port(hash, c.sport_lo, c.sport_hi));
      x[sport] = y[sport];
      x[sport + 1] = y[sport + 1];
      if (kind == TunnelKind::kGwlb) {
        const size_t k = cfg.outer.cookie_offset;
        CHECK((uint32_t{y[k]} << 24 | uint32_t{y[k + 1]} << 16 | uint32_t{y[k + 2]} << 8 | y[k + 3]) == hash);
        std::copy(y.begin() + k, y.begin() + k + 4, x.begin() + k);
        // The UDP checksum covers the port and the cookie: recomputed, it is checked by the
        // golden tests; here it may differ.
        const size_t ck = cfg.outer.udp_offset + 6;
        x[ck] = y[ck];
        x[ck + 1] = y[ck + 1];
      }
      CHECK(x == y);
    }
  }
}

TEST_CASE("nic hash: chosen from what the port offers and accepted") {
  using S = FlowHashSource;
  CHECK(choose_flow_hash(S::kAuto, true, true).nic);
  CHECK(!choose_flow_hash(S::kAuto, true, false).nic);   // refused the symmetric key
  CHECK(choose_flow_hash(S::kAuto, true, false).ok);
  CHECK(!choose_flow_hash(S::kAuto, false, true).nic);   // no hash with the packets
  CHECK(!choose_flow_hash(S::kSoftware, true, true).nic);
  CHECK(choose_flow_hash(S::kNic, true, true).nic);
  CHECK(!choose_flow_hash(S::kNic, false, false).ok);    // asked for, not there: no start
  CHECK(!choose_flow_hash(S::kNic, true, false).ok);
}
