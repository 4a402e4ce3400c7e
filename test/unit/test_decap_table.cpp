// Decapsulation against the table scapy built (test/golden/make_malformed.py): each frame's
// expected drop reason, with and without --verify-checksums, and the inner frame delivered.
#include <catch2/catch.hpp>

#include "decap/decap.h"
#include "pcap_file.h"

using namespace mirrorpipe;
using namespace mirrorpipe::test;

TEST_CASE("decap table: every row ends as the table says") {
  const auto frames = read_pcap(source_path("test/golden/decap-table.pcap"));
  const auto rows = read_tsv(source_path("test/golden/decap-table.tsv"));
  REQUIRE(frames.size() == rows.size());
  for (bool verify : {false, true}) {
    DecapConfig cfg;
    cfg.verify_checksums = verify;
    for (size_t i = 0; i < rows.size(); ++i) {
      const auto& row = rows[i];
      INFO("row " << row[0] << " (" << row[4] << "), verify=" << verify);
      Buffer buf(frames[i]);
      DecapResult result;
      const DropReason r = decapsulate(buf.ref, cfg, result);
      CHECK(std::string(drop_reason_name(r)) == (verify ? row[2] : row[1]));
      if (r == DropReason::kNone && row[3] != "-") {
        CHECK(to_hex(buf.ref.data, buf.ref.len) == row[3]);
      }
    }
  }
}

TEST_CASE("decap: VXLAN inside GWLB Geneve keeps both layers' metadata") {
  const auto frames = read_pcap(source_path("test/golden/decap-table.pcap"));
  const auto rows = read_tsv(source_path("test/golden/decap-table.tsv"));
  size_t idx = rows.size();
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i][4] == "VXLAN inside GWLB Geneve") idx = i;
  }
  REQUIRE(idx < rows.size());
  Buffer buf(frames[idx]);
  DecapResult r;
  REQUIRE(decapsulate(buf.ref, DecapConfig{}, r) == DropReason::kNone);
  REQUIRE(r.layer_count == 2);
  CHECK(r.layers[0].type == TunnelType::kGeneve);
  CHECK(r.layers[0].gwlb_options == kGwlbAllOptions);
  CHECK(r.layers[0].gwlb_endpoint_id == 0x0001020304050607ull);
  CHECK(r.layers[0].gwlb_flow_cookie == 0x01020304u);
  CHECK(r.layers[0].dst_port == 6081);
  CHECK(r.layers[1].type == TunnelType::kVxlan);
  CHECK(r.layers[1].vni == 123);
  CHECK(r.layers[1].src_port == 65400);
  CHECK(r.layers[1].src_ip[0] == 172);
}

TEST_CASE("decap: a configurable port set") {
  const auto frames = read_pcap(source_path("pcaps/third-party/tcpdump-vxlan_port_8472.pcap"));
  REQUIRE(!frames.empty());
  DecapConfig cfg;
  Buffer a(frames[0]);
  DecapResult r;
  CHECK(decapsulate(a.ref, cfg, r) == DropReason::not_tunnel_port);
  cfg.vxlan_ports = {4789, 8472};
  cfg.vxlan_port_count = 2;
  Buffer b(frames[0]);
  CHECK(decapsulate(b.ref, cfg, r) == DropReason::kNone);
  CHECK(r.layers[0].vni == 100);
}

TEST_CASE("decap: no read past the end for any prefix of any table frame") {
  // Every prefix of every frame, with the wire length claiming the full frame: a sanitizer
  // build turns any overread into a failure.
  const auto frames = read_pcap(source_path("test/golden/decap-table.pcap"));
  for (const auto& f : frames) {
    for (size_t n = 0; n <= f.bytes.size(); ++n) {
      std::vector<uint8_t> prefix(f.bytes.begin(), f.bytes.begin() + n);
      DecapResult r;
      (void)decap_parse(wire::Bytes(prefix.data(), prefix.size()), f.wire_len, DecapConfig{}, r);
    }
  }
  SUCCEED();
}

// GWLB's own layout (the three class-0x0108 options in the order GWLB sends them) is read by a
// shortcut; any other layout of the same options takes the general walk. Both must agree.
TEST_CASE("decap: GWLB options read the same in GWLB's order, another order, or with reserved bits") {
  const auto frames = read_pcap(source_path("test/golden/decap-table.pcap"));
  const auto rows = read_tsv(source_path("test/golden/decap-table.tsv"));
  size_t idx = rows.size();
  for (size_t i = 0; i < rows.size(); ++i) {
    if (rows[i][4] == "GWLB Geneve with class 0x0108 options") idx = i;
  }
  REQUIRE(idx < rows.size());
  const Record base = frames[idx];
  constexpr size_t kOpts = 14 + 20 + 8 + 8;  // Ethernet, IPv4, UDP, Geneve base header
  REQUIRE(base.bytes.size() > kOpts + 32);
  REQUIRE(base.bytes[kOpts + 2] == 1);   // endpoint ID first, as make_malformed.py writes it
  REQUIRE(base.bytes[kOpts + 26] == 3);  // flow cookie last

  auto decap = [](const Record& frame, DecapResult& r) {
    Buffer buf(frame);
    return decapsulate(buf.ref, DecapConfig{}, r);
  };
  auto check_fields = [](const DecapResult& r) {
    CHECK(r.layers[0].gwlb_options == kGwlbAllOptions);
    CHECK(r.layers[0].gwlb_endpoint_id == 0x0001020304050607ull);  // scapy: bytes(range(8))
    CHECK(r.layers[0].gwlb_attachment_id == 0);                     // scapy: bytes(8)
    CHECK(r.layers[0].gwlb_flow_cookie == 0x01020304u);
  };
  SECTION("GWLB's order") {
    DecapResult r;
    REQUIRE(decap(base, r) == DropReason::kNone);
    check_fields(r);
  }
  SECTION("a reserved bit set in an option's length byte (ignored, RFC 8926 section 3.5)") {
    auto f = base;
    f.bytes[kOpts + 3] |= 0x20;
    DecapResult r;
    REQUIRE(decap(f, r) == DropReason::kNone);
    check_fields(r);
  }
  SECTION("the flow cookie first") {
    auto f = base;
    std::copy(base.bytes.begin() + kOpts + 24, base.bytes.begin() + kOpts + 32, f.bytes.begin() + kOpts);
    std::copy(base.bytes.begin() + kOpts, base.bytes.begin() + kOpts + 24, f.bytes.begin() + kOpts + 8);
    DecapResult r;
    REQUIRE(decap(f, r) == DropReason::kNone);
    check_fields(r);
  }
  SECTION("a critical type in GWLB's class is not understood") {
    auto f = base;
    f.bytes[kOpts + 12 + 2] |= 0x80;
    DecapResult r;
    CHECK(decap(f, r) == DropReason::geneve_critical_option);
  }
}

TEST_CASE("hostile corpus: every row ends as its generator says") {
  // test/golden/make_hostile.py: "dropped" stands for any drop reason (a header read from
  // bytes that are not one); a frame is all the wire had (no snaplen cut).
  const auto frames = read_pcap(source_path("test/golden/hostile.pcap"));
  const auto rows = read_tsv(source_path("test/golden/hostile.tsv"));
  REQUIRE(frames.size() == rows.size());
  REQUIRE(rows.size() > 500);
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    INFO("row " << row[0] << " (" << row[3] << ")");
    Buffer buf(frames[i]);
    DecapResult result;
    const DropReason r = decapsulate(buf.ref, DecapConfig{}, result);
    if (row[1] == "dropped") {
      CHECK(r != DropReason::kNone);
    } else {
      CHECK(std::string(drop_reason_name(r)) == row[1]);
    }
    if (r == DropReason::kNone && row[2] != "-") {
      CHECK(to_hex(buf.ref.data, buf.ref.len) == row[2]);
    }
  }
}

TEST_CASE("decap: an IPv6 chain of kMaxIpv6ExtHeaders extension headers reaches UDP, one more does not") {
  // Outer IPv6 with N Destination Options headers (8 bytes each, PadN), then UDP to 4789,
  // VXLAN (I flag, VNI 7) and a 14-byte inner Ethernet header.
  auto frame = [](uint32_t n) {
    std::vector<uint8_t> f = {0x02, 0xbb, 0, 0, 0, 2, 0x02, 0xaa, 0, 0, 0, 1, 0x86, 0xdd};
    const uint32_t payload = n * 8 + 8 + 8 + 14;
    const uint8_t ip6[8] = {0x60, 0, 0, 0, static_cast<uint8_t>(payload >> 8), static_cast<uint8_t>(payload),
                            static_cast<uint8_t>(n ? 60 : 17), 64};
    f.insert(f.end(), ip6, ip6 + 8);
    for (int i = 0; i < 32; ++i) f.push_back(static_cast<uint8_t>(i));  // addresses
    for (uint32_t i = 0; i < n; ++i) {
      const uint8_t opt[8] = {static_cast<uint8_t>(i + 1 == n ? 17 : 60), 0, 1, 4, 0, 0, 0, 0};
      f.insert(f.end(), opt, opt + 8);
    }
    const uint8_t udp[8] = {0xc3, 0x50, 0x12, 0xb5, 0, 30, 0, 0};
    const uint8_t vxlan[8] = {0x08, 0, 0, 0, 0, 0, 7, 0};
    f.insert(f.end(), udp, udp + 8);
    f.insert(f.end(), vxlan, vxlan + 8);
    for (int i = 0; i < 14; ++i) f.push_back(0x5a);
    return f;
  };
  for (uint32_t n = 0; n <= kMaxIpv6ExtHeaders + 2; ++n) {
    INFO(n << " extension headers");
    const auto f = frame(n);
    DecapResult r;
    const DropReason got = decap_parse(wire::Bytes(f.data(), f.size()), static_cast<uint32_t>(f.size()), DecapConfig{}, r);
    if (n <= kMaxIpv6ExtHeaders) {
      CHECK(got == DropReason::kNone);
      CHECK(r.layers[0].vni == 7);
      CHECK(r.inner_len == 14);
    } else {
      CHECK(got == DropReason::ip_bad_header);
    }
  }
}

TEST_CASE("decap route's fast path: takes only what decapsulate accepts, and leaves the same frame") {
  // Every frame of both scapy-built tables, whole and as if the capture had cut it (wire longer
  // than captured), with and without checksum verification. Where strip_plain_vxlan4 takes a
  // frame, decapsulate accepts it and delivers the same inner frame (the table's own hex where
  // it gives one); elsewhere it changes nothing. It must take some: the tables hold plain
  // VXLAN over IPv4.
  size_t taken = 0;
  for (const char* table : {"test/golden/decap-table", "test/golden/hostile"}) {
    const auto frames = read_pcap(source_path(std::string(table) + ".pcap"));
    const auto rows = read_tsv(source_path(std::string(table) + ".tsv"));
    REQUIRE(frames.size() == rows.size());
    const size_t hex_column = std::string(table).find("hostile") != std::string::npos ? 2 : 3;
    for (bool verify : {false, true}) {
      for (uint32_t extra : {0u, 100u}) {
        DecapConfig cfg;
        cfg.verify_checksums = verify;
        for (size_t i = 0; i < frames.size(); ++i) {
          INFO(table << " row " << rows[i][0] << ", verify=" << verify << ", wire +" << extra);
          Record rec = frames[i];
          rec.wire_len += extra;
          Buffer fast(rec), full(rec);
          const PacketRef before = fast.ref;
          DecapResult result;
          const DropReason r = decapsulate(full.ref, cfg, result);
          if (!strip_plain_vxlan4(fast.ref, cfg)) {
            CHECK((fast.ref.data == before.data && fast.ref.len == before.len && fast.ref.wire_len == before.wire_len &&
                   fast.ref.headroom == before.headroom));
            continue;
          }
          ++taken;
          CHECK(!verify);
          REQUIRE(r == DropReason::kNone);
          CHECK(fast.ref.data - fast.mem.data() == full.ref.data - full.mem.data());
          CHECK((fast.ref.len == full.ref.len && fast.ref.wire_len == full.ref.wire_len &&
                 fast.ref.headroom == full.ref.headroom));
          if (extra == 0 && rows[i][hex_column] != "-") CHECK(to_hex(fast.ref.data, fast.ref.len) == rows[i][hex_column]);
        }
      }
    }
  }
  CHECK(taken >= 20);
}
