// The mirror-session stage alone: the fields the rules read (through VLAN tags, IPv6 extension
// headers, fragments), and AWS's rule semantics, one case a row. Frames are built here byte by
// byte; the expectations follow AWS's Traffic Mirroring documentation (README, "Mirror
// sessions"), not the code.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "engine/config/config.h"
#include "engine/pipeline/mirror_session.h"
#include "pcap_file.h"

using namespace mirrorpipe;

namespace {

struct Frame {
  std::vector<uint8_t> b;
  void u8(uint8_t v) { b.push_back(v); }
  void u16(uint16_t v) { b.push_back(static_cast<uint8_t>(v >> 8)), b.push_back(static_cast<uint8_t>(v)); }
  void bytes(std::initializer_list<uint8_t> v) { b.insert(b.end(), v); }
};

// Ethernet (+ tags), then IPv4 with `proto`, then 4 bytes of ports.
std::vector<uint8_t> ipv4(std::array<uint8_t, 4> src, std::array<uint8_t, 4> dst, uint8_t proto, uint16_t sport,
                          uint16_t dport, uint16_t frag_offset_units = 0, int vlan_tags = 0) {
  Frame f;
  for (int i = 0; i < 12; ++i) f.u8(0x02);
  for (int t = 0; t < vlan_tags; ++t) {
    f.u16(t == 0 && vlan_tags == 2 ? 0x88a8 : 0x8100);
    f.u16(100 + t);
  }
  f.u16(0x0800);
  f.bytes({0x45, 0, 0, 28, 0, 1});
  f.u16(frag_offset_units);
  f.bytes({64, proto, 0, 0});
  f.bytes({src[0], src[1], src[2], src[3], dst[0], dst[1], dst[2], dst[3]});
  f.u16(sport);
  f.u16(dport);
  f.u16(8);
  f.u16(0);
  return f.b;
}

// IPv6 with a hop-by-hop header and (optionally) a fragment header before `proto`.
std::vector<uint8_t> ipv6(uint8_t last_src, uint8_t last_dst, uint8_t proto, uint16_t sport, uint16_t dport,
                          bool fragment = false, uint16_t frag_offset_units = 0) {
  Frame f;
  for (int i = 0; i < 12; ++i) f.u8(0x02);
  f.u16(0x86dd);
  f.bytes({0x60, 0, 0, 0});
  f.u16(fragment ? 28 : 20);
  f.bytes({0 /* hop-by-hop */, 64});
  const std::array<uint8_t, 16> s{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last_src};
  const std::array<uint8_t, 16> d{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, last_dst};
  f.b.insert(f.b.end(), s.begin(), s.end());
  f.b.insert(f.b.end(), d.begin(), d.end());
  f.bytes({static_cast<uint8_t>(fragment ? 44 : proto), 0, 1, 4, 0, 0, 0, 0});  // hop-by-hop: PadN
  if (fragment) {
    f.bytes({proto, 0});
    f.u16(static_cast<uint16_t>(frag_offset_units << 3));
    f.bytes({0, 0, 0, 9});
  }
  f.u16(sport);
  f.u16(dport);
  f.u16(8);
  f.u16(0);
  return f.b;
}

MirrorSessionPolicy session_from(const std::string& filter_rules, const std::string& session_extra,
                                 const std::string& filter_extra = "") {
  const std::string text = "[[ports]]\nname = \"in\"\nrole = \"mirror-input\"\ndevargs = \"net_null0\"\n"
                           "[[ports]]\nname = \"out\"\nrole = \"output\"\ndevargs = \"net_null1\"\n"
                           "[[filters]]\nname = \"f\"\n" + filter_extra + "rules = [\n" + filter_rules + "]\n"
                           "[[sessions]]\nname = \"s\"\ninput = \"in\"\nnumber = 1\nfilter = \"f\"\nsinks = [\"out\"]\n" +
                           session_extra;
  const EngineConfig cfg = load_config_text(text, "unit.toml");
  MirrorSessionPolicy p;
  p.has_filter = true;
  p.filter = cfg.filters[0].filter;
  p.monitored = cfg.sessions[0].monitored;
  p.egress_default = cfg.sessions[0].egress;
  return p;
}

FilterReason verdict(const MirrorSessionPolicy& p, const std::vector<uint8_t>& frame) {
  return evaluate_session(p, read_filter_fields(frame.data(), static_cast<uint32_t>(frame.size()))).filtered;
}

const std::string kAcceptAll4 = R"({ direction = "ingress", number = 100, action = "accept", protocol = "all", source = "0.0.0.0/0", destination = "0.0.0.0/0" },
{ direction = "egress", number = 100, action = "accept", protocol = "all", source = "0.0.0.0/0", destination = "0.0.0.0/0" },
)";

}  // namespace

TEST_CASE("mirror session: fields through tags, extension headers and fragments") {
  auto f = read_filter_fields(ipv4({10, 0, 0, 1}, {10, 0, 0, 2}, 6, 1234, 80).data(), 38);
  CHECK(f.ip);
  CHECK(f.protocol == 6);
  CHECK(f.has_ports);
  CHECK(f.src_port == 1234);
  CHECK(f.dst_port == 80);
  const auto tagged = ipv4({10, 0, 0, 1}, {10, 0, 0, 2}, 17, 53, 5353, 0, 2);
  f = read_filter_fields(tagged.data(), static_cast<uint32_t>(tagged.size()));
  CHECK(f.protocol == 17);
  CHECK(f.dst_port == 5353);
  const auto later = ipv4({10, 0, 0, 1}, {10, 0, 0, 2}, 6, 1234, 80, 185);
  CHECK_FALSE(read_filter_fields(later.data(), static_cast<uint32_t>(later.size())).has_ports);
  const auto first = ipv4({10, 0, 0, 1}, {10, 0, 0, 2}, 6, 1234, 80, 0x2000);  // MF, offset 0
  CHECK(read_filter_fields(first.data(), static_cast<uint32_t>(first.size())).has_ports);
  const auto v6 = ipv6(1, 2, 6, 40000, 443);
  f = read_filter_fields(v6.data(), static_cast<uint32_t>(v6.size()));
  CHECK(f.v6);
  CHECK(f.protocol == 6);  // the upper-layer protocol, after the hop-by-hop header
  CHECK(f.dst_port == 443);
  const auto v6_later = ipv6(1, 2, 17, 1, 2, true, 100);
  f = read_filter_fields(v6_later.data(), static_cast<uint32_t>(v6_later.size()));
  CHECK(f.protocol == 17);
  CHECK_FALSE(f.has_ports);
  // Cut anywhere: never reads past the end, never claims ports it could not read.
  for (uint32_t n = 0; n < v6.size(); ++n) {
    const auto g = read_filter_fields(v6.data(), n);
    CHECK((!g.has_ports || n >= v6.size() - 4));
  }
}

TEST_CASE("mirror session: AWS rule semantics, a case a row") {
  const auto web = session_from(R"(
{ direction = "ingress", number = 100, action = "reject", protocol = "tcp", source = "0.0.0.0/0", destination = "0.0.0.0/0", destination_ports = "22" },
{ direction = "ingress", number = 200, action = "accept", protocol = "all", source = "0.0.0.0/0", destination = "10.0.0.0/16" },
{ direction = "egress", number = 100, action = "accept", protocol = 17, source = "10.0.0.0/16", destination = "0.0.0.0/0", source_ports = "1024-65535" },
)", "monitored = [\"10.0.0.0/16\"]\n");
  using R = FilterReason;
  // Ingress (destination monitored): reject before accept, by number.
  CHECK(verdict(web, ipv4({192, 0, 2, 1}, {10, 0, 1, 1}, 6, 5000, 22)) == R::rule_rejected);
  CHECK(verdict(web, ipv4({192, 0, 2, 1}, {10, 0, 1, 1}, 6, 5000, 23)) == R::kNone);
  CHECK(verdict(web, ipv4({192, 0, 2, 1}, {10, 0, 1, 1}, 47, 0, 0)) == R::kNone);  // GRE: "all"
  // Egress (source monitored wins, even when the destination is monitored too): UDP 1024+ only.
  CHECK(verdict(web, ipv4({10, 0, 1, 1}, {10, 0, 2, 2}, 17, 1024, 53)) == R::kNone);
  CHECK(verdict(web, ipv4({10, 0, 1, 1}, {10, 0, 2, 2}, 17, 1023, 53)) == R::no_rule_matched);
  CHECK(verdict(web, ipv4({10, 0, 1, 1}, {10, 0, 2, 2}, 17, 65535, 53)) == R::kNone);
  CHECK(verdict(web, ipv4({10, 0, 1, 1}, {192, 0, 2, 9}, 6, 2000, 80)) == R::no_rule_matched);
  // Neither end monitored.
  CHECK(verdict(web, ipv4({192, 0, 2, 1}, {192, 0, 2, 2}, 6, 1, 2)) == R::not_monitored);
  // A later fragment has no ports: the UDP port rule cannot match it.
  CHECK(verdict(web, ipv4({10, 0, 1, 1}, {10, 0, 2, 2}, 17, 2000, 53, 185)) == R::no_rule_matched);
  // An IPv4 rule never matches IPv6.
  CHECK(verdict(session_from(kAcceptAll4, ""), ipv6(1, 2, 6, 1, 2)) == R::no_rule_matched);
  // Never mirrored, each its own reason; amazon-dns on request; aws_exclusions = false.
  const auto all = session_from(kAcceptAll4, "");
  CHECK(verdict(all, ipv4({10, 0, 0, 5}, {169, 254, 169, 254}, 6, 40000, 80)) == R::never_mirrored_metadata);
  CHECK(verdict(all, ipv4({169, 254, 169, 123}, {10, 0, 0, 5}, 17, 123, 123)) == R::never_mirrored_time_sync);
  CHECK(verdict(all, ipv4({10, 0, 0, 5}, {169, 254, 169, 250}, 6, 40000, 1688)) == R::never_mirrored_windows_activation);
  CHECK(verdict(all, ipv4({10, 0, 0, 5}, {169, 254, 169, 253}, 17, 40000, 53)) == R::never_mirrored_amazon_dns);
  CHECK(verdict(all, ipv4({10, 0, 0, 5}, {10, 0, 0, 1}, 17, 68, 67)) == R::never_mirrored_dhcp);
  CHECK(verdict(all, ipv4({10, 0, 0, 5}, {10, 0, 0, 1}, 17, 6800, 6700)) == R::kNone);
  // The IPv6 services spell the same digits in hex: fd00:ec2::254 ends 0x02 0x54.
  auto v6_to = [](uint8_t hi, uint8_t lo) {
    auto f = ipv6(1, 2, 6, 40000, 80);
    const uint8_t ec2[16] = {0xfd, 0x00, 0x0e, 0xc2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, hi, lo};
    std::copy(ec2, ec2 + 16, f.begin() + 38);
    return f;
  };
  const auto all6 = session_from(R"({ direction = "ingress", number = 1, action = "accept", protocol = "all", source = "::/0", destination = "::/0" },
)", "");
  CHECK(verdict(all6, v6_to(0x02, 0x54)) == R::never_mirrored_metadata);
  CHECK(verdict(all6, v6_to(0x01, 0x23)) == R::never_mirrored_time_sync);
  CHECK(verdict(all6, v6_to(0x02, 0x53)) == R::never_mirrored_amazon_dns);
  CHECK(verdict(all6, v6_to(0x00, 0xfe)) == R::kNone);  // fd00:ec2::fe is no service
  const std::vector<uint8_t> arp(42, 0x08);
  CHECK(verdict(all, arp) == R::never_mirrored_non_ip);
  const auto dns = session_from(kAcceptAll4, "", "network_services = [\"amazon-dns\"]\n");
  CHECK(verdict(dns, ipv4({10, 0, 0, 5}, {169, 254, 169, 253}, 17, 40000, 53)) == R::kNone);
  CHECK(verdict(dns, ipv4({10, 0, 0, 5}, {169, 254, 169, 254}, 6, 40000, 80)) == R::never_mirrored_metadata);
  const auto off = session_from(kAcceptAll4, "", "aws_exclusions = false\n");
  CHECK(verdict(off, ipv4({10, 0, 0, 5}, {169, 254, 169, 254}, 6, 40000, 80)) == R::kNone);
  CHECK(verdict(off, ipv4({10, 0, 0, 5}, {10, 0, 0, 1}, 17, 68, 67)) == R::kNone);
  // Without monitored: the session's direction; an empty direction mirrors nothing.
  const auto in_only = session_from(R"({ direction = "ingress", number = 1, action = "accept", protocol = "all", source = "0.0.0.0/0", destination = "0.0.0.0/0" },
)", "direction = \"egress\"\n");
  CHECK(verdict(in_only, ipv4({10, 0, 0, 5}, {10, 0, 0, 6}, 6, 1, 2)) == R::no_rule_matched);
  // A session without a filter takes everything, non-IP included.
  MirrorSessionPolicy none;
  CHECK(verdict(none, arp) == R::kNone);
}

TEST_CASE("mirror session: the deciding rule's index, for its hit counter") {
  const auto p = session_from(R"(
{ direction = "egress", number = 300, action = "accept", protocol = "icmp", source = "0.0.0.0/0", destination = "0.0.0.0/0" },
{ direction = "egress", number = 20, action = "reject", protocol = "icmp", source = "10.0.0.9/32", destination = "0.0.0.0/0" },
)", "direction = \"egress\"\n");
  const auto a = ipv4({10, 0, 0, 9}, {10, 0, 0, 1}, 1, 0x0800, 0);
  const auto b = ipv4({10, 0, 0, 8}, {10, 0, 0, 1}, 1, 0x0800, 0);
  const auto va = evaluate_session(p, read_filter_fields(a.data(), static_cast<uint32_t>(a.size())));
  const auto vb = evaluate_session(p, read_filter_fields(b.data(), static_cast<uint32_t>(b.size())));
  CHECK(va.filtered == FilterReason::rule_rejected);
  CHECK(va.rule == kRuleEgressBase + 0);  // rule 20, sorted first
  CHECK(vb.filtered == FilterReason::kNone);
  CHECK(vb.rule == kRuleEgressBase + 1);  // rule 300
}

TEST_CASE("mirror session: the inline fields equal the general walk on every frame of the captures") {
  size_t frames = 0;
  for (const char* cap : {"pcaps/sample-mix.pcap", "pcaps/third-party/zeek-plain-wikipedia.pcap",
                          "pcaps/third-party/zeek-plain-ipv4-fragmented-3.pcap",
                          "pcaps/third-party/tcpdump-plain-802.1ad_QinQ.pcap"}) {
    for (const auto& r : test::read_pcap(test::source_path(cap))) {
      const auto n = static_cast<uint32_t>(r.bytes.size());
      const FilterFields a = read_filter_fields(r.bytes.data(), n);
      const FilterFields b = read_filter_fields_general(r.bytes.data(), n);
      CHECK(a.ip == b.ip);
      CHECK(a.v6 == b.v6);
      CHECK(a.src == b.src);
      CHECK(a.dst == b.dst);
      CHECK(a.protocol == b.protocol);
      CHECK(a.has_ports == b.has_ports);
      CHECK(a.src_port == b.src_port);
      CHECK(a.dst_port == b.dst_port);
      ++frames;
    }
  }
  CHECK(frames > 100);
}
