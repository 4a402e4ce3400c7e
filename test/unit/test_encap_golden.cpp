// Golden bytes: the writers against frames scapy built (test/golden/make_golden.py), on the
// bundled sample. The configurations here repeat that script's cases.
#include <catch2/catch.hpp>

#include "encap/encap.h"
#include "engine/pipeline/pipeline.h"
#include "pcap_file.h"

using namespace mirrorpipe;
using namespace mirrorpipe::test;

namespace {

void check_golden_template(const std::string& name, const OuterTemplate& t) {
  const auto input = read_pcap(source_path("pcaps/sample-mix.pcap"));
  const auto expected = read_pcap(source_path("test/golden/encap-" + name + ".pcap"));
  PipelineConfig cfg;
  cfg.outer = t;
  size_t e = 0;
  for (size_t i = 0; i < input.size(); ++i) {
    Buffer buf(input[i]);
    const DropReason r = process_packet(cfg, buf.ref);
    if (r != DropReason::kNone) continue;
    INFO(name << ": input frame " << i + 1);
    REQUIRE(e < expected.size());
    CHECK(to_hex(buf.ref.data, buf.ref.len) ==
          to_hex(expected[e].bytes.data(), expected[e].bytes.size()));
    CHECK(buf.ref.wire_len == expected[e].wire_len);
    ++e;
  }
  CHECK(e == expected.size());
}

void check_golden(const std::string& name, const TunnelConfig& tc) {
  check_golden_template(name, build_outer_template(tc));
}

TunnelConfig base(TunnelKind kind, const char* src, const char* dst) {
  TunnelConfig c;
  c.kind = kind;
  c.src_ip = parse_ip(src);
  c.dst_ip = parse_ip(dst);
  return c;
}

}  // namespace

TEST_CASE("golden: VXLAN as AWS Traffic Mirroring sends it") {
  auto c = base(TunnelKind::kVxlan, "172.31.0.238", "172.31.17.188");
  c.vni = 5569041;
  check_golden("vxlan-aws", c);
}

TEST_CASE("golden: VXLAN with every option changed") {
  auto c = base(TunnelKind::kVxlan, "10.0.0.1", "10.0.0.2");
  c.vni = 0xffffff;
  c.dst_port = 8472;
  c.sport_lo = 1000;
  c.sport_hi = 1999;
  c.ttl = 64;
  c.dscp = 46;
  c.df = true;
  c.udp_checksum = UdpChecksumMode::kOn;
  c.src_mac = parse_mac("0a:1b:2c:3d:4e:5f");
  c.dst_mac = parse_mac("06:05:04:03:02:01");
  check_golden("vxlan-custom", c);
}

TEST_CASE("golden: VXLAN over IPv6, UDP checksum computed by default") {
  auto c = base(TunnelKind::kVxlan, "2600:1f18::1", "2600:1f18::2");
  c.vni = 7;
  c.dscp = 10;
  check_golden("vxlan-ipv6", c);
}

TEST_CASE("golden: VXLAN over IPv6 with the zero checksum asked for") {
  auto c = base(TunnelKind::kVxlan, "fd00::1", "fd00::2");
  c.vni = 8;
  c.udp_checksum = UdpChecksumMode::kOff;
  check_golden("vxlan-ipv6-nocsum", c);
}

TEST_CASE("golden: VXLAN with PacketLength truncation") {
  auto c = base(TunnelKind::kVxlan, "172.31.0.238", "172.31.17.188");
  c.vni = 1;
  c.packet_length = 96;
  check_golden("vxlan-truncate", c);
}

TEST_CASE("golden: VXLAN truncated to the output MTU, and dropped over it") {
  auto c = base(TunnelKind::kVxlan, "172.31.0.238", "172.31.17.188");
  c.vni = 3;
  auto t = build_outer_template(c);
  t.max_ip_length = 1500;
  check_golden_template("vxlan-mtu-truncate", t);
  t.truncate_to_mtu = false;
  check_golden_template("vxlan-mtu-drop", t);
}

TEST_CASE("golden: GWLB truncated to a 576-byte MTU") {
  auto c = base(TunnelKind::kGwlb, "10.0.10.74", "10.0.8.64");
  c.gwlb_endpoint_id = 9;
  c.gwlb_attachment_id = 9;
  auto t = build_outer_template(c);
  t.max_ip_length = 576;
  check_golden_template("gwlb-mtu-truncate", t);
}

TEST_CASE("encap: truncation is flagged, by PacketLength or by MTU") {
  const auto input = read_pcap(source_path("pcaps/sample-mix.pcap"));
  const Record& jumbo = input.back();  // the 9000-byte frame
  REQUIRE(jumbo.bytes.size() == 9000);
  auto c = base(TunnelKind::kVxlan, "10.0.0.1", "10.0.0.2");
  c.packet_length = 8000;
  auto t = build_outer_template(c);
  t.max_ip_length = 1500;
  PipelineConfig cfg;
  cfg.outer = t;
  Buffer b(jumbo);
  REQUIRE(process_packet(cfg, b.ref) == DropReason::kNone);
  CHECK(b.ref.flags == (PacketRef::kTruncatedPacketLength | PacketRef::kTruncatedMtu));
  CHECK(b.ref.len == 14 + 1500);
  Buffer small(input[0]);
  REQUIRE(process_packet(cfg, small.ref) == DropReason::kNone);
  CHECK(small.ref.flags == 0);
  // An MTU below the outer headers (20 + 8 + 8 bytes) leaves nothing to truncate to.
  cfg.outer.max_ip_length = 36;
  Buffer none(input[0]);
  CHECK(process_packet(cfg, none.ref) == DropReason::over_mtu);
}

TEST_CASE("golden: GWLB Geneve") {
  auto c = base(TunnelKind::kGwlb, "10.0.10.74", "10.0.8.64");
  c.gwlb_endpoint_id = 0x31e129cdc0cd8633;
  c.gwlb_attachment_id = 0x0102030405060708;
  check_golden("gwlb", c);
  // The general writer must give the same bytes for the same frames (which of them GWLB's own
  // writer takes, and that the two agree at the edges: the next test).
  auto t = build_outer_template(c);
  REQUIRE(t.plain_gwlb4);
  t.plain_gwlb4 = false;
  check_golden_template("gwlb", t);
}

TEST_CASE("encap: GWLB's own writer takes what it should and agrees with the general writer") {
  const auto input = read_pcap(source_path("pcaps/sample-mix.pcap"));
  auto c = base(TunnelKind::kGwlb, "10.0.10.74", "10.0.8.64");
  c.gwlb_endpoint_id = 0x31e129cdc0cd8633;
  c.gwlb_attachment_id = 7;
  const OuterTemplate plain = build_outer_template(c);
  REQUIRE(plain.plain_gwlb4);
  size_t taken = 0;
  for (size_t i = 0; i < input.size(); ++i) {
    const Record& rec = input[i];
    const FrameMeta meta = parse_frame(wire::Bytes(rec.bytes.data(), rec.bytes.size()));
    // GWLB carries the L3 packet: from its first byte, no longer than its IP length says.
    uint32_t carried = rec.wire_len - meta.l3_offset;
    if (meta.l3_length != 0 && meta.l3_length < carried) carried = meta.l3_length;
    const uint32_t ip_length = carried + 20 + 8 + 8 + 12 + 12 + 8;
    const uint32_t tight = meta.ip_version ? 82 - meta.l3_offset : 512;  // headroom it needs
    for (const bool offload : {false, true}) {
      for (const uint32_t mtu : {0u, ip_length, ip_length - 1}) {
        for (const uint32_t headroom : {512u, tight, tight - 1}) {
          INFO("frame " << i + 1 << ", offload " << offload << ", MTU " << mtu << ", headroom " << headroom);
          OuterTemplate t = plain;
          t.ip_checksum_offload = t.udp_checksum_offload = offload;
          t.max_ip_length = mtu;
          OuterTemplate general = t;
          general.plain_gwlb4 = false;
          Buffer fast(rec, headroom);
          Buffer slow(rec, headroom);
          const PacketRef before = fast.ref;
          const std::vector<uint8_t> mem_before = fast.mem;
          const bool took = encapsulate_plain_gwlb4(t, meta, fast.ref);
          const bool should = meta.ip_version != 0 && ip_length <= 65535 && (mtu == 0 || ip_length <= mtu) &&
                              headroom + meta.l3_offset >= 82;
          CHECK(took == should);
          const DropReason r = encapsulate(general, meta, slow.ref);
          if (!took) {  // nothing written, nothing moved
            CHECK(fast.mem == mem_before);
            CHECK(fast.ref.data == before.data);
            CHECK(fast.ref.len == before.len);
            CHECK(fast.ref.wire_len == before.wire_len);
            CHECK(fast.ref.headroom == before.headroom);
            continue;
          }
          ++taken;
          REQUIRE(r == DropReason::kNone);
          CHECK(fast.ref.data - fast.mem.data() == slow.ref.data - slow.mem.data());
          CHECK(fast.ref.headroom == slow.ref.headroom);
          CHECK(fast.ref.len == slow.ref.len);
          CHECK(fast.ref.wire_len == slow.ref.wire_len);
          CHECK(fast.ref.flags == slow.ref.flags);
          CHECK(to_hex(fast.ref.data, fast.ref.len) == to_hex(slow.ref.data, slow.ref.len));
        }
      }
    }
  }
  CHECK(taken > 0);
}

TEST_CASE("golden: GWLB Geneve truncated, zero UDP checksum") {
  auto c = base(TunnelKind::kGwlb, "10.0.10.74", "10.0.8.64");
  c.gwlb_endpoint_id = 1;
  c.gwlb_attachment_id = 2;
  c.packet_length = 64;
  c.udp_checksum = UdpChecksumMode::kOff;
  check_golden("gwlb-truncate", c);
}

TEST_CASE("golden: generic Geneve with options") {
  auto c = base(TunnelKind::kGeneve, "192.0.2.1", "192.0.2.2");
  c.vni = 0xabcdef;
  c.geneve_options = {parse_geneve_option("0x0100:1:01020304"),
                      parse_geneve_option("0xff72:127:00112233445566778899aabb")};
  check_golden("geneve", c);
}

TEST_CASE("golden: generic Geneve over IPv6 on another port") {
  auto c = base(TunnelKind::kGeneve, "2001:db8::1", "2001:db8::2");
  c.vni = 5;
  c.dst_port = 7000;
  check_golden("geneve-ipv6", c);
}

TEST_CASE("encap: drops are named and leave the packet untouched") {
  const auto input = read_pcap(source_path("pcaps/sample-mix.pcap"));
  SECTION("gwlb refuses a frame without IP") {
    auto c = base(TunnelKind::kGwlb, "10.0.0.1", "10.0.0.2");
    PipelineConfig cfg;
    cfg.outer = build_outer_template(c);
    Record arp{input[18].bytes, input[18].wire_len};  // frame 19: ARP request
    Buffer buf(arp);
    const auto before = buf.bytes();
    CHECK(process_packet(cfg, buf.ref) == DropReason::gwlb_not_ip);
    CHECK(buf.bytes() == before);
  }
  SECTION("no headroom") {
    auto c = base(TunnelKind::kVxlan, "10.0.0.1", "10.0.0.2");
    PipelineConfig cfg;
    cfg.outer = build_outer_template(c);
    Buffer buf(input[0], 49);
    CHECK(process_packet(cfg, buf.ref) == DropReason::no_headroom);
    Buffer enough(input[0], 50);
    CHECK(process_packet(cfg, enough.ref) == DropReason::kNone);
  }
  SECTION("an outer packet over 65535 bytes is too big") {
    auto c = base(TunnelKind::kVxlan, "10.0.0.1", "10.0.0.2");
    PipelineConfig cfg;
    cfg.outer = build_outer_template(c);
    // VXLAN over IPv4 adds 36 bytes inside the IP length: 65499 fits, 65500 does not.
    Record big{std::vector<uint8_t>(65500, 0), 65500};
    big.bytes[12] = 0x08;
    big.bytes[13] = 0x06;
    Buffer b1(big);
    CHECK(process_packet(cfg, b1.ref) == DropReason::too_big);
    big.bytes.resize(65499);
    big.wire_len = 65499;
    Buffer b2(big);
    CHECK(process_packet(cfg, b2.ref) == DropReason::kNone);
    CHECK(b2.ref.len == 65499 + 50);
  }
}

namespace {
std::string error_of(const TunnelConfig& c) {
  try {
    (void)build_outer_template(c);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(accepted)";
}
}  // namespace

TEST_CASE("tunnel config: invalid settings are refused with a reason") {
  auto c = base(TunnelKind::kGwlb, "fd00::1", "fd00::2");
  CHECK_THAT(error_of(c), Catch::Contains("always IPv4"));
  c = base(TunnelKind::kVxlan, "10.0.0.1", "fd00::2");
  CHECK_THAT(error_of(c), Catch::Contains("must both be IPv4 or both IPv6"));
  c = base(TunnelKind::kVxlan, "10.0.0.1", "10.0.0.2");
  c.vni = 1u << 24;
  CHECK_THROWS(build_outer_template(c));
  CHECK_THROWS(parse_geneve_option("1:2:abc"));         // odd hex digits
  CHECK_THROWS(parse_geneve_option("1:2:abcdef"));      // not a multiple of 4 bytes
  CHECK_THROWS(parse_geneve_option("0x10000:2:abcd1234"));
  CHECK_THROWS(parse_ip("10.0.0.256"));
  CHECK_THROWS(parse_mac("02:00:00:00:00"));
  c = base(TunnelKind::kGeneve, "10.0.0.1", "10.0.0.2");
  for (int i = 0; i < 3; ++i) c.geneve_options.push_back(parse_geneve_option("1:1:" + std::string(248, 'a')));
  CHECK_THAT(error_of(c), Catch::Contains("at most 252"));
}
