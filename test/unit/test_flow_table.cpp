// The appliance's flow table and gwlb_wrap (engine/pipeline/flow_table.h) under an injected clock: GWLB's idle
// timeouts, cookie refresh when a 5-tuple is reused, per-endpoint keys, bounded size with
// evictions counted, a reader on another thread never seeing a torn entry; and the inner flow
// key (both directions alike, 3-tuple for GRE).
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <utility>
#include <vector>

#include "decap/appliance.h"
#include "engine/pipeline/flow_table.h"
#include "pcap_file.h"

using namespace mirrorpipe;

namespace {

constexpr uint64_t kSecond = 1'000'000'000ull;

// An IPv4 packet with ports: 20-byte header + 4 bytes of ports.
std::vector<uint8_t> ipv4(uint8_t proto, uint8_t a, uint8_t b, uint16_t sport, uint16_t dport) {
  std::vector<uint8_t> p(28, 0);
  p[0] = 0x45;
  p[9] = proto;
  p[12] = 10, p[15] = a;
  p[16] = 10, p[19] = b;
  p[20] = static_cast<uint8_t>(sport >> 8), p[21] = static_cast<uint8_t>(sport);
  p[22] = static_cast<uint8_t>(dport >> 8), p[23] = static_cast<uint8_t>(dport);
  return p;
}

InnerFlowKey key_of(const std::vector<uint8_t>& p, uint64_t endpoint) {
  InnerFlowKey k;
  REQUIRE(inner_flow_key(p.data(), static_cast<uint32_t>(p.size()), 0x0800, endpoint, k));
  return k;
}

std::vector<uint8_t> header(uint32_t cookie) {
  std::vector<uint8_t> h(82, 0xab);
  h[78] = static_cast<uint8_t>(cookie >> 24), h[79] = static_cast<uint8_t>(cookie >> 16);
  h[80] = static_cast<uint8_t>(cookie >> 8), h[81] = static_cast<uint8_t>(cookie);
  return h;
}

}  // namespace

TEST_CASE("inner flow key: both directions alike; ports ignored for GRE; endpoint kept") {
  const auto fwd = key_of(ipv4(6, 1, 2, 40000, 443), 7);
  const auto rev = key_of(ipv4(6, 2, 1, 443, 40000), 7);
  CHECK(fwd == rev);
  CHECK(fwd.tuple_hash() == rev.tuple_hash());
  CHECK_FALSE(fwd == key_of(ipv4(6, 1, 2, 40001, 443), 7));
  CHECK_FALSE(fwd == key_of(ipv4(6, 1, 2, 40000, 443), 8));
  CHECK(fwd.same_tuple(key_of(ipv4(6, 1, 2, 40000, 443), 8)));
  // GRE has no ports: bytes 20-23 are not read as ports, so two GRE packets with different
  // following bytes share a key (GWLB's 3-tuple).
  CHECK(key_of(ipv4(47, 1, 2, 1, 2), 7) == key_of(ipv4(47, 2, 1, 9, 9), 7));
  InnerFlowKey k;
  const uint8_t junk[4] = {0x45, 0, 0, 0};
  CHECK_FALSE(inner_flow_key(junk, 4, 0x0800, 0, k));
  CHECK_FALSE(inner_flow_key(junk, 4, 0x0806, 0, k));
}

TEST_CASE("flow table: the latest cookie wins; idle timeouts per protocol; injected clock") {
  FlowTable t(1024, FlowTimeouts{350 * kSecond, 120 * kSecond});
  const auto tcp = key_of(ipv4(6, 1, 2, 40000, 443), 7);
  const auto udp = key_of(ipv4(17, 1, 2, 5000, 53), 7);
  auto h1 = header(0x11111111), h2 = header(0x22222222);
  t.refresh(tcp, h1.data(), 82, 14, 0x11111111, 0);
  t.refresh(udp, h1.data(), 82, 14, 0x11111111, 0);
  FlowRecord r;
  REQUIRE(t.lookup(tcp, false, 10 * kSecond, r));
  CHECK(r.cookie == 0x11111111);
  // The 5-tuple reused with a new cookie: the next lookup gives the new header.
  t.refresh(tcp, h2.data(), 82, 14, 0x22222222, 20 * kSecond);
  REQUIRE(t.lookup(tcp, false, 21 * kSecond, r));
  CHECK(r.cookie == 0x22222222);
  CHECK(std::equal(h2.begin(), h2.end(), r.header));
  CHECK(t.counters().cookie_changes == 1);
  // UDP dies after 120 s idle, TCP after 350 s.
  CHECK(t.lookup(udp, false, 120 * kSecond, r));
  CHECK_FALSE(t.lookup(udp, false, 120 * kSecond + 1, r));
  CHECK(t.lookup(tcp, false, 370 * kSecond, r));
  CHECK_FALSE(t.lookup(tcp, false, 370 * kSecond + 1, r));
  // A packet after the timeout starts a new flow (counted as expired).
  t.refresh(tcp, h1.data(), 82, 14, 0x33333333, 400 * kSecond);
  CHECK(t.counters().expired == 1);
  CHECK(t.counters().inserted == 3);
  REQUIRE(t.lookup(tcp, false, 401 * kSecond, r));
  CHECK(r.cookie == 0x33333333);
}

TEST_CASE("flow table: per endpoint, and 'any endpoint' picks the latest") {
  FlowTable t(64, FlowTimeouts{});
  const auto a = key_of(ipv4(6, 1, 2, 40000, 443), 1);
  const auto b = key_of(ipv4(6, 1, 2, 40000, 443), 2);
  auto h = header(1);
  t.refresh(a, h.data(), 82, 14, 0xa, 1 * kSecond);
  t.refresh(b, h.data(), 82, 14, 0xb, 2 * kSecond);
  FlowRecord r;
  REQUIRE(t.lookup(a, false, 3 * kSecond, r));
  CHECK(r.cookie == 0xa);
  REQUIRE(t.lookup(a, true, 3 * kSecond, r));
  CHECK(r.cookie == 0xb);
  t.refresh(a, h.data(), 82, 14, 0xc, 4 * kSecond);
  REQUIRE(t.lookup(b, true, 5 * kSecond, r));
  CHECK(r.cookie == 0xc);
}

TEST_CASE("flow table: bounded; a full bucket evicts its least recently seen flow, counted") {
  FlowTable t(16, FlowTimeouts{});
  REQUIRE(t.capacity() == 16);
  auto h = header(1);
  uint64_t now = 0;
  for (uint16_t port = 1; port <= 1000; ++port) {
    t.refresh(key_of(ipv4(17, 1, 2, port, 53), 1), h.data(), 82, 14, port, ++now);
  }
  const auto& c = t.counters();
  CHECK(c.inserted == 1000);
  CHECK(c.evicted == 1000 - 16);
  // The newest flow is there; the first is gone.
  FlowRecord r;
  CHECK(t.lookup(key_of(ipv4(17, 1, 2, 1000, 53), 1), false, now, r));
  CHECK_FALSE(t.lookup(key_of(ipv4(17, 1, 2, 1, 53), 1), false, now, r));
}

TEST_CASE("flow table: a reader on another thread sees whole entries only") {
  FlowTable t(64, FlowTimeouts{});
  const auto k = key_of(ipv4(6, 1, 2, 40000, 443), 1);
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> torn{0}, seen{0};
  std::thread reader([&] {
    FlowRecord r;
    while (!stop.load()) {
      if (!t.lookup(k, false, 1, r)) continue;
      ++seen;
      // Every header byte carries the cookie's low byte: a mix means a torn read.
      for (uint32_t i = 0; i < r.header_len; ++i) {
        if (r.header[i] != static_cast<uint8_t>(r.cookie)) {
          ++torn;
          break;
        }
      }
    }
  });
  std::vector<uint8_t> h(100);
  // At least 200000 refreshes, and on until the reader has read 1000 times during them (on a
  // loaded 2-CPU machine it may not be scheduled at all for a while); bounded at 20 s.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (uint32_t i = 0; i < 200000 || (seen.load() < 1000 && std::chrono::steady_clock::now() < deadline); ++i) {
    std::fill(h.begin(), h.end(), static_cast<uint8_t>(i));
    t.refresh(k, h.data(), 100, 14, i, 1);
  }
  stop = true;
  reader.join();
  CHECK(torn == 0);
  CHECK(seen > 0);
}


TEST_CASE("gwlb_wrap: an inner packet wrapped in a stored return header is what GWLB's own packet returns as") {
  // The 12 packets of the shared GWLB capture share one GWLB flow (outer header equal but for
  // lengths and checksums): wrapping each inner packet in the return header of the FIRST one
  // must give, byte for byte, the return of the packet itself, lengths and IPv4 checksum
  // included, and a UDP checksum equal to the one GWLB computed.
  const auto recs = test::read_pcap(test::source_path("pcaps/third-party/suricata-bug-6402-geneve-aws-gwlb-opts.pcap"));
  REQUIRE(recs.size() == 12);
  ApplianceConfig ac;
  ac.mac = {0x02, 0, 0, 0, 0, 0x01};
  std::vector<uint8_t> first = recs[0].bytes;
  PacketRef r0{first.data(), static_cast<uint32_t>(first.size()), static_cast<uint32_t>(first.size()), 0};
  DecapResult d0;
  REQUIRE(appliance_return(r0, ac, d0) == DropReason::kNone);
  const std::vector<uint8_t> header(first.begin(), first.begin() + d0.inner_offset);
  for (const auto& rec : recs) {
    std::vector<uint8_t> own = rec.bytes;
    PacketRef ro{own.data(), static_cast<uint32_t>(own.size()), static_cast<uint32_t>(own.size()), 0};
    DecapResult d;
    REQUIRE(appliance_return(ro, ac, d) == DropReason::kNone);
    std::vector<uint8_t> buf(256 + d.inner_len);
    std::memcpy(buf.data() + 256, rec.bytes.data() + d.inner_offset, d.inner_len);
    PacketRef w{buf.data() + 256, d.inner_len, d.inner_len, 256};
    REQUIRE(gwlb_wrap(w, header.data(), static_cast<uint32_t>(header.size()), d0.outer_l3_offset) == DropReason::kNone);
    CHECK(std::vector<uint8_t>(w.data, w.data + w.len) == own);
  }
  std::vector<uint8_t> small(8);
  PacketRef tight{small.data() + 4, 4, 4, 4};
  CHECK(gwlb_wrap(tight, header.data(), static_cast<uint32_t>(header.size()), d0.outer_l3_offset) == DropReason::no_headroom);
}

TEST_CASE("appliance_return: never toward a group, loopback or unspecified source, or a group MAC") {
  ApplianceConfig ac;
  ac.mac = {0x02, 0, 0, 0, 0, 0x99};
  const auto recs = test::read_pcap(test::source_path("pcaps/third-party/suricata-bug-6402-geneve-aws-gwlb-opts.pcap"));
  REQUIRE(!recs.empty());
  const std::vector<uint8_t>& gwlb = recs[0].bytes;  // from GWLB: returned (the control case)
  {
    std::vector<uint8_t> own = gwlb;
    PacketRef r{own.data(), static_cast<uint32_t>(own.size()), static_cast<uint32_t>(own.size()), 0};
    DecapResult d;
    REQUIRE(appliance_return(r, ac, d) == DropReason::kNone);
  }
  // The same packet claiming another source (outer IPv4 source at 14 + 12; checksums are not
  // what decides here).
  for (const std::array<uint8_t, 4> src : {std::array<uint8_t, 4>{255, 255, 255, 255}, std::array<uint8_t, 4>{224, 0, 0, 1},
                                           std::array<uint8_t, 4>{239, 1, 2, 3}, std::array<uint8_t, 4>{240, 0, 0, 1},
                                           std::array<uint8_t, 4>{127, 0, 0, 1}, std::array<uint8_t, 4>{0, 0, 0, 0}}) {
    std::vector<uint8_t> own = gwlb;
    std::copy(src.begin(), src.end(), own.begin() + 26);
    const std::vector<uint8_t> before = own;
    PacketRef r{own.data(), static_cast<uint32_t>(own.size()), static_cast<uint32_t>(own.size()), 0};
    DecapResult d;
    INFO(int{src[0]} << "." << int{src[1]} << "." << int{src[2]} << "." << int{src[3]});
    CHECK(appliance_return(r, ac, d) == DropReason::gwlb_source_bad);
    CHECK(own == before);  // nothing written
  }
  std::vector<uint8_t> group_mac = gwlb;
  group_mac[6] = 0x01;  // Ethernet source: a multicast MAC
  PacketRef r{group_mac.data(), static_cast<uint32_t>(group_mac.size()), static_cast<uint32_t>(group_mac.size()), 0};
  DecapResult d;
  CHECK(appliance_return(r, ac, d) == DropReason::gwlb_source_bad);
}

namespace {

// Every field appliance_return() sets, compared one by one.
void check_same_result(const DecapResult& a, const DecapResult& b) {
  CHECK(a.inner_offset == b.inner_offset);
  CHECK(a.inner_len == b.inner_len);
  CHECK(a.inner_wire_len == b.inner_wire_len);
  CHECK(a.l3_protocol == b.l3_protocol);
  CHECK(a.layer_count == b.layer_count);
  CHECK(a.outer_l3_offset == b.outer_l3_offset);
  CHECK(a.outer_dst_mac == b.outer_dst_mac);
  CHECK(a.outer_src_mac == b.outer_src_mac);
  CHECK(a.has_meta == b.has_meta);
  const TunnelLayer& x = a.layers[0];
  const TunnelLayer& y = b.layers[0];
  CHECK(x.type == y.type);
  CHECK(x.ipv6 == y.ipv6);
  CHECK(x.gwlb_options == y.gwlb_options);
  CHECK(x.src_port == y.src_port);
  CHECK(x.dst_port == y.dst_port);
  CHECK(x.geneve_protocol == y.geneve_protocol);
  CHECK(x.vni == y.vni);
  CHECK(x.src_ip == y.src_ip);
  CHECK(x.dst_ip == y.dst_ip);
  CHECK(x.gwlb_endpoint_id == y.gwlb_endpoint_id);
  CHECK(x.gwlb_attachment_id == y.gwlb_attachment_id);
  CHECK(x.gwlb_flow_cookie == y.gwlb_flow_cookie);
}

// The inline key against the general one on the L3 packet at `l3`: the same answer, the same
// 48 bytes of key (no padding: every byte is a field), and the key's own tuple_hash().
bool same_key(const uint8_t* l3, uint32_t len, uint16_t ethertype) {
  InnerFlowKey fast, general;
  uint32_t hash = 0;
  const bool f = inner_flow_key(l3, len, ethertype, 0x1122334455667788ull, fast, hash);
  const bool g = inner_flow_key_general(l3, len, ethertype, 0x1122334455667788ull, general);
  return f == g && (!f || (std::memcmp(&fast, &general, sizeof fast) == 0 && hash == general.tuple_hash()));
}

}  // namespace

TEST_CASE("appliance's fast path: takes only what appliance_return accepts, and returns the same packet") {
  // The shared GWLB capture's 12 frames (GWLB's own option layout), then every one of their
  // first 110 bytes set to four other values in turn (outer headers, options, the inner IPv4
  // header and ports), whole and as if the capture had cut the frame, under two port sets and
  // with and without checksum verification, plus the decap table's and the hostile corpus's
  // frames as they are. Where return_plain_gwlb4 takes a packet, appliance_return returns it
  // too, with the same bytes and the same result; elsewhere it changes nothing. The inner flow
  // key's inline case is compared with the general one on every inner packet returned.
  auto recs = test::read_pcap(test::source_path("pcaps/third-party/suricata-bug-6402-geneve-aws-gwlb-opts.pcap"));
  REQUIRE(recs.size() == 12);
  std::vector<test::Record> cases;
  for (const auto& rec : recs) {
    cases.push_back(rec);
    for (size_t at = 0; at < 110 && at < rec.bytes.size(); ++at) {
      for (const uint8_t v : {uint8_t{0x00}, uint8_t{0xff}, static_cast<uint8_t>(rec.bytes[at] ^ 0x01),
                              static_cast<uint8_t>(rec.bytes[at] ^ 0x80)}) {
        test::Record m = rec;
        m.bytes[at] = v;
        cases.push_back(m);
      }
    }
    // The inner packet as UDP to a VXLAN port and to another port, as ICMP and as GRE.
    for (const auto& [proto, port] : {std::pair<uint8_t, uint16_t>{17, 4789}, {17, 8472}, {17, 53}, {1, 0}, {47, 0}}) {
      test::Record m = rec;
      m.bytes[82 + 9] = proto;
      if (port) m.bytes[82 + 22] = static_cast<uint8_t>(port >> 8), m.bytes[82 + 23] = static_cast<uint8_t>(port);
      cases.push_back(m);
    }
  }
  for (const char* table : {"test/golden/decap-table.pcap", "test/golden/hostile.pcap"}) {
    for (const auto& rec : test::read_pcap(test::source_path(table))) cases.push_back(rec);
  }
  size_t taken = 0, returned = 0, keys = 0;
  for (const bool verify : {false, true}) {
    for (const bool more_ports : {false, true}) {
      ApplianceConfig ac;
      ac.mac = {0x02, 0, 0, 0, 0, 0x42};
      ac.decap.verify_checksums = verify;
      if (more_ports) {
        ac.decap.vxlan_ports = {4789, 8472};
        ac.decap.vxlan_port_count = 2;
        ac.decap.geneve_ports = {6081, 6082};
        ac.decap.geneve_port_count = 2;
      }
      for (const uint32_t cut : {0u, 30u}) {
        for (size_t i = 0; i < cases.size(); ++i) {
          test::Record rec = cases[i];
          if (cut) {
            if (rec.bytes.size() <= cut + 14) continue;
            rec.bytes.resize(rec.bytes.size() - cut);  // the wire length stays
          }
          INFO("case " << i << ", verify=" << verify << ", more ports=" << more_ports << ", cut " << cut);
          test::Buffer fast(rec), full(rec);
          DecapResult by_fast, by_full;
          const DropReason r = appliance_return(full.ref, ac, by_full);
          returned += r == DropReason::kNone;
          if (r == DropReason::kNone && by_full.layer_count == 1 && by_full.l3_protocol != 0) {
            ++keys;
            CHECK(same_key(full.ref.data + by_full.inner_offset, by_full.inner_len, by_full.l3_protocol));
          }
          if (!return_plain_gwlb4(fast.ref, ac, by_fast)) {
            CHECK(fast.bytes() == rec.bytes);
            continue;
          }
          ++taken;
          CHECK(!verify);
          REQUIRE(r == DropReason::kNone);
          CHECK(fast.bytes() == full.bytes());
          check_same_result(by_fast, by_full);
        }
      }
    }
  }
  // Not vacuous: most of the mutations leave a packet the fast path should take.
  CHECK(taken >= 10000);
  CHECK(returned > taken);
  CHECK(keys > returned / 2);
}

TEST_CASE("inner flow key: the inline case gives the general key, for every packet of the captures") {
  // Every frame's L3 packet (Ethernet II, no tag), whole and cut to each length from 0 to 40
  // bytes, and with its fragment field and protocol changed: first fragments and later ones,
  // TCP, UDP, SCTP, ICMP and GRE.
  size_t inline_case = 0;
  for (const char* file : {"pcaps/sample-mix.pcap", "pcaps/third-party/zeek-plain-ipv4-fragmented-3.pcap",
                           "pcaps/third-party/tcpdump-plain-gso-ipv4.pcap", "pcaps/third-party/tcpdump-plain-icmpv6.pcap"}) {
    for (const auto& rec : test::read_pcap(test::source_path(file))) {
      if (rec.bytes.size() < 14) continue;
      const uint16_t type = static_cast<uint16_t>((rec.bytes[12] << 8) | rec.bytes[13]);
      std::vector<uint8_t> l3(rec.bytes.begin() + 14, rec.bytes.end());
      INFO(file);
      for (uint32_t len = 0; len <= 40 && len <= l3.size(); ++len) CHECK(same_key(l3.data(), len, type));
      CHECK(same_key(l3.data(), static_cast<uint32_t>(l3.size()), type));
      if (type != 0x0800 || l3.size() < 24) continue;
      inline_case += l3[0] == 0x45;
      for (const uint8_t proto : {uint8_t{6}, uint8_t{17}, uint8_t{132}, uint8_t{1}, uint8_t{47}}) {
        for (const uint16_t frag : {uint16_t{0}, uint16_t{0x2000}, uint16_t{0x0001}, uint16_t{0x4000}, uint16_t{0x1fff}}) {
          std::vector<uint8_t> m = l3;
          m[9] = proto;
          m[6] = static_cast<uint8_t>(frag >> 8), m[7] = static_cast<uint8_t>(frag);
          CHECK(same_key(m.data(), static_cast<uint32_t>(m.size()), type));
        }
      }
    }
  }
  CHECK(inline_case >= 20);
}

#include "engine/pipeline/verdict.h"

TEST_CASE("verdict set: a rule blocks its flow both ways, on its endpoint or any; nothing else") {
  const std::array<uint8_t, 16> a{10, 0, 0, 1}, b{10, 0, 0, 2};
  FlowRule on_one{make_flow_key(7, 6, false, a, 40000, b, 443), false};
  FlowRule on_any{make_flow_key(0, 17, false, b, 53, a, 5000), true};
  const VerdictSet v({on_one, on_any});
  CHECK(v.size() == 2);
  CHECK(v.blocks(key_of(ipv4(6, 1, 2, 40000, 443), 7)));
  CHECK(v.blocks(key_of(ipv4(6, 2, 1, 443, 40000), 7)));
  CHECK_FALSE(v.blocks(key_of(ipv4(6, 1, 2, 40000, 443), 8)));  // another endpoint
  CHECK_FALSE(v.blocks(key_of(ipv4(6, 1, 2, 40001, 443), 7)));  // another port
  CHECK(v.blocks(key_of(ipv4(17, 1, 2, 5000, 53), 1)));
  CHECK(v.blocks(key_of(ipv4(17, 2, 1, 53, 5000), 99)));
  CHECK_FALSE(v.blocks(key_of(ipv4(6, 1, 2, 5000, 53), 1)));    // TCP, not UDP
  CHECK(VerdictSet().empty());
}
