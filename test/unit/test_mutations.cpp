// Robustness: decap_parse, decapsulate and parse_frame over many mutated real frames (bytes
// flipped, lengths cut, wire lengths lied about). Deterministic seed. Run under the sanitizer
// build (MIRRORPIPE_SANITIZE=1 scripts/test) any read or write out of bounds fails the test.
#include <catch2/catch.hpp>
#include <filesystem>
#include <random>

#include "decap/decap.h"
#include "encap/encap.h"
#include "encap/flow.h"
#include "pcap_file.h"

using namespace mirrorpipe;
using namespace mirrorpipe::test;

TEST_CASE("mutated frames never crash or overrun the parsers") {
  std::vector<Record> seeds = read_pcap(source_path("test/golden/decap-table.pcap"));
  for (const char* f : {"suricata-bug-6402-geneve-aws-gwlb-opts.pcap", "zeek-geneve-vxlan-dns-truncated.pcap",
                        "zeek-geneve-many-options.pcap", "tcpdump-geneve.pcap", "zeek-vxlan-triple-v2.pcap"}) {
    auto more = read_pcap(source_path(std::string("pcaps/third-party/") + f));
    seeds.insert(seeds.end(), more.begin(), more.end());
  }
  REQUIRE(seeds.size() > 60);
  std::mt19937 rng(20261126);
  DecapConfig cfg;
  cfg.verify_checksums = true;
  TunnelConfig tc;
  tc.kind = TunnelKind::kGwlb;
  tc.src_ip = parse_ip("10.0.0.1");
  tc.dst_ip = parse_ip("10.0.0.2");
  const OuterTemplate gwlb = build_outer_template(tc);
  size_t delivered = 0;
  for (int iter = 0; iter < 100000; ++iter) {
    const Record& seed = seeds[rng() % seeds.size()];
    std::vector<uint8_t> bytes = seed.bytes;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips && !bytes.empty(); ++k) {
      // Bias towards the header bytes, where the parsers make their decisions.
      const size_t at = rng() % std::min<size_t>(bytes.size(), 160);
      bytes[at] = static_cast<uint8_t>(rng());
    }
    if (rng() % 4 == 0 && !bytes.empty()) bytes.resize(rng() % bytes.size());
    uint32_t wire = static_cast<uint32_t>(bytes.size());
    if (rng() % 4 == 0) wire += rng() % 3000;
    Record r{bytes, wire};
    Buffer buf(r, 128);
    DecapResult res;
    if (decapsulate(buf.ref, cfg, res) == DropReason::kNone) {
      ++delivered;
      REQUIRE(buf.ref.len <= buf.ref.wire_len);
      REQUIRE(buf.ref.data + buf.ref.len <= buf.mem.data() + buf.mem.size());
      // The inner frame goes on through the mirror path.
      const FrameMeta m = parse_frame(wire::Bytes(buf.ref.data, buf.ref.len));
      (void)encapsulate(gwlb, m, buf.ref);
    }
    const FrameMeta m = parse_frame(wire::Bytes(bytes.data(), bytes.size()));
    REQUIRE(m.l3_offset <= std::max<size_t>(bytes.size(), 14 + 4 * kMaxVlanTags));
  }
  INFO("delivered " << delivered << " of 100000 mutated frames");
  CHECK(delivered > 1000);  // the mutations still reach the inner paths
}
