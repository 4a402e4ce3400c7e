// The flow hash: symmetry, the key rules (ports, echo identifier, fragments, non-IP) and its
// collision rate against an ideal 32-bit hash. Frames are built here byte by byte.
#include <catch2/catch.hpp>
#include <cmath>
#include <filesystem>
#include <random>
#include <set>
#include <unordered_set>
#include <vector>

#include "encap/flow.h"
#include "engine/pipeline/verdict_cache.h"
#include "pcap_file.h"

using namespace mirrorpipe;

namespace {

using Frame = std::vector<uint8_t>;

void put16(Frame& f, size_t at, uint16_t v) {
  f[at] = static_cast<uint8_t>(v >> 8);
  f[at + 1] = static_cast<uint8_t>(v);
}

struct V4 {
  std::array<uint8_t, 4> src, dst;
  uint8_t proto;
  uint16_t sport = 0, dport = 0;
  uint16_t frag = 0;  // flags + offset word
  std::vector<uint16_t> vlans;
};

Frame build_v4(const V4& p, const std::array<uint8_t, 6>& smac = {2, 0, 0, 0, 0, 1},
               const std::array<uint8_t, 6>& dmac = {2, 0, 0, 0, 0, 2}) {
  Frame f(14 + 4 * p.vlans.size() + 20 + 8, 0);
  std::copy(dmac.begin(), dmac.end(), f.begin());
  std::copy(smac.begin(), smac.end(), f.begin() + 6);
  size_t off = 12;
  for (uint16_t v : p.vlans) {
    put16(f, off, 0x8100);
    put16(f, off + 2, v);
    off += 4;
  }
  put16(f, off, 0x0800);
  off += 2;
  f[off] = 0x45;
  put16(f, off + 2, 28);
  put16(f, off + 6, p.frag);
  f[off + 8] = 64;
  f[off + 9] = p.proto;
  std::copy(p.src.begin(), p.src.end(), f.begin() + off + 12);
  std::copy(p.dst.begin(), p.dst.end(), f.begin() + off + 16);
  put16(f, off + 20, p.sport);
  put16(f, off + 22, p.dport);
  return f;
}

V4 reversed(V4 p) {
  std::swap(p.src, p.dst);
  std::swap(p.sport, p.dport);
  return p;
}

uint32_t hash_of(const Frame& f) { return parse_frame(wire::Bytes(f.data(), f.size())).flow_hash; }

Frame build_icmp_echo(std::array<uint8_t, 4> src, std::array<uint8_t, 4> dst, uint8_t type,
                      uint16_t id) {
  V4 p{src, dst, 1};
  Frame f = build_v4(p);
  f[34] = type;
  put16(f, 38, id);
  return f;
}

}  // namespace

TEST_CASE("flow hash: both directions of TCP, UDP and SCTP flows hash alike") {
  std::mt19937 rng(7);
  for (uint8_t proto : {6, 17, 132}) {
    for (int i = 0; i < 500; ++i) {
      V4 p{{10, 0, static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng())},
           {10, 1, static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng())},
           proto,
           static_cast<uint16_t>(rng()),
           static_cast<uint16_t>(rng())};
      CHECK(hash_of(build_v4(p)) == hash_of(build_v4(reversed(p))));
    }
  }
}

TEST_CASE("flow hash: same address, ports swapped, is one flow both ways") {
  V4 p{{10, 0, 0, 1}, {10, 0, 0, 1}, 17, 1000, 2000};
  CHECK(hash_of(build_v4(p)) == hash_of(build_v4(reversed(p))));
}

TEST_CASE("flow hash: ports, protocol and addresses all change the key") {
  V4 base{{10, 0, 0, 1}, {10, 0, 0, 2}, 6, 1000, 80};
  const uint32_t h = hash_of(build_v4(base));
  V4 p = base;
  p.sport = 1001;
  CHECK(hash_of(build_v4(p)) != h);
  p = base;
  p.proto = 17;
  CHECK(hash_of(build_v4(p)) != h);
  p = base;
  p.dst[3] = 3;
  CHECK(hash_of(build_v4(p)) != h);
}

TEST_CASE("flow hash: VLAN tags are walked, not hashed") {
  V4 p{{10, 0, 0, 1}, {10, 0, 0, 2}, 6, 1000, 80};
  const uint32_t plain = hash_of(build_v4(p));
  p.vlans = {100};
  CHECK(hash_of(build_v4(p)) == plain);
  p.vlans = {200, 2001};
  CHECK(hash_of(build_v4(p)) == plain);
}

TEST_CASE("flow hash: every fragment of a datagram hashes alike, the first one included") {
  V4 first{{10, 0, 0, 1}, {10, 0, 0, 2}, 17, 5000, 53, 0x2000};   // MF, offset 0, has ports
  V4 middle{{10, 0, 0, 1}, {10, 0, 0, 2}, 17, 0x4142, 0x4344, 0x2000 | 185};  // payload bytes
  V4 last{{10, 0, 0, 1}, {10, 0, 0, 2}, 17, 0x4546, 0x4748, 370};
  const uint32_t h = hash_of(build_v4(first));
  CHECK(hash_of(build_v4(middle)) == h);
  CHECK(hash_of(build_v4(last)) == h);
  const auto m = parse_frame(wire::Bytes(build_v4(first).data(), 42));
  CHECK(m.fragment);
  // Not the 5-tuple hash of the unfragmented flow: fragments cannot all show the ports.
  V4 whole = first;
  whole.frag = 0;
  CHECK(hash_of(build_v4(whole)) != h);
}

TEST_CASE("flow hash: ICMP echo request and reply share the identifier key") {
  const uint32_t req = hash_of(build_icmp_echo({10, 0, 0, 1}, {10, 0, 0, 2}, 8, 77));
  const uint32_t rep = hash_of(build_icmp_echo({10, 0, 0, 2}, {10, 0, 0, 1}, 0, 77));
  CHECK(req == rep);
  CHECK(hash_of(build_icmp_echo({10, 0, 0, 1}, {10, 0, 0, 2}, 8, 78)) != req);
  // Non-echo ICMP: addresses and protocol only, symmetric too.
  const uint32_t unreach = hash_of(build_icmp_echo({10, 0, 0, 1}, {10, 0, 0, 2}, 3, 1));
  CHECK(unreach == hash_of(build_icmp_echo({10, 0, 0, 2}, {10, 0, 0, 1}, 3, 9)));
}

TEST_CASE("flow hash: non-IP frames key on MACs and EtherType, symmetrically") {
  Frame arp(42, 0);
  const uint8_t a[6] = {2, 0, 0, 0, 0, 1}, b[6] = {2, 0, 0, 0, 0, 2};
  std::copy(b, b + 6, arp.begin());
  std::copy(a, a + 6, arp.begin() + 6);
  put16(arp, 12, 0x0806);
  Frame back = arp;
  std::copy(a, a + 6, back.begin());
  std::copy(b, b + 6, back.begin() + 6);
  CHECK(hash_of(arp) == hash_of(back));
  Frame other = arp;
  put16(other, 12, 0x88cc);
  CHECK(hash_of(other) != hash_of(arp));
}

TEST_CASE("flow hash: short or broken frames never read out of bounds") {
  for (size_t n = 0; n < 60; ++n) {
    Frame f = build_v4({{10, 0, 0, 1}, {10, 0, 0, 2}, 6, 1, 2});
    f.resize(n);
    (void)parse_frame(wire::Bytes(f.data(), f.size()));
  }
  SUCCEED("no read past the end (the sanitizer build checks this)");
}

TEST_CASE("flow hash: an empty frame with no buffer at all hashes like one of zeros") {
  // fuzz/regressions/parse_frame/empty-frame: a null data() with size 0 reached memcpy (undefined
  // behaviour, reported by UBSan's nonnull-attribute check in the sanitizer build).
  const FrameMeta m = parse_frame(wire::Bytes{});
  const uint8_t zero = 0;
  CHECK(m.flow_hash == parse_frame(wire::Bytes(&zero, 0)).flow_hash);
  CHECK(m.ip_version == 0);
  CHECK_FALSE(m.l4_found);
}

TEST_CASE("flow hash: collisions no more frequent than an ideal 32-bit hash") {
  // 200,000 distinct 5-tuples: an ideal 32-bit hash has n(n-1)/2^33 ~ 4.66 expected colliding
  // pairs (Poisson). Allow up to 15 (P(X > 15) < 1e-4 for an ideal hash).
  std::mt19937 rng(42);
  std::unordered_set<uint64_t> seen_keys;
  std::unordered_set<uint32_t> hashes;
  size_t collisions = 0;
  const size_t n = 200000;
  while (seen_keys.size() < n) {
    V4 p{{10, static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng())},
         {172, 31, static_cast<uint8_t>(rng() % 4), static_cast<uint8_t>(rng())},
         6,
         static_cast<uint16_t>(1024 + rng() % 64000),
         443};
    // Canonical key so that a reversed duplicate is not counted twice.
    uint64_t k = (uint64_t(p.src[1]) << 48) | (uint64_t(p.src[2]) << 40) | (uint64_t(p.src[3]) << 32) |
                 (uint64_t(p.dst[2]) << 24) | (uint64_t(p.dst[3]) << 16) | p.sport;
    if (!seen_keys.insert(k).second) continue;
    if (!hashes.insert(hash_of(build_v4(p))).second) ++collisions;
  }
  INFO("collisions among " << n << " flows: " << collisions << " (ideal: ~4.66)");
  CHECK(collisions <= 15);
}

TEST_CASE("flow hash: source ports spread evenly over the range") {
  // Chi-square over 64 buckets of the default range for 64,000 flows; 99.9th percentile of
  // chi-square with 63 degrees of freedom is about 103.4.
  std::mt19937 rng(99);
  std::array<uint32_t, 64> buckets{};
  const int n = 64000;
  for (int i = 0; i < n; ++i) {
    V4 p{{10, 0, static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng())},
         {10, 1, 0, 1},
         17,
         static_cast<uint16_t>(rng()),
         4789};
    const uint16_t port = hash_to_port(hash_of(build_v4(p)), 49152, 65535);
    REQUIRE(port >= 49152);
    ++buckets[(port - 49152) / 256];
  }
  double chi2 = 0;
  const double expect = n / 64.0;
  for (uint32_t b : buckets) chi2 += (b - expect) * (b - expect) / expect;
  INFO("chi-square " << chi2);
  CHECK(chi2 < 103.4);
}

TEST_CASE("CRC-32C: RFC 3720's test vectors, and the instruction agrees with the table") {
  // RFC 3720, appendix B.4: the standard CRC-32C (inverted in and out) of 32-byte strings.
  const auto standard = [](const std::array<uint8_t, 32>& bytes, bool portable) {
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < bytes.size(); i += 8) {
      uint64_t w = 0;
      for (size_t k = 0; k < 8; ++k) w |= uint64_t{bytes[i + k]} << (8 * k);
      crc = portable ? crc32c_u64_portable(crc, w) : crc32c_u64(crc, w);
    }
    return ~crc;
  };
  std::array<uint8_t, 32> zeros{}, ones{}, ascending{}, descending{};
  for (size_t i = 0; i < 32; ++i) {
    ones[i] = 0xff;
    ascending[i] = static_cast<uint8_t>(i);
    descending[i] = static_cast<uint8_t>(31 - i);
  }
  for (bool portable : {true, false}) {
    INFO((portable ? "table" : "instruction"));
    CHECK(standard(zeros, portable) == 0x8A9136AAu);
    CHECK(standard(ones, portable) == 0x62A8AB43u);
    CHECK(standard(ascending, portable) == 0x46DD794Eu);
    CHECK(standard(descending, portable) == 0x113FDB5Cu);
  }
  std::mt19937_64 rng(7);
  for (int i = 0; i < 10000; ++i) {
    const uint32_t crc = static_cast<uint32_t>(rng());
    const uint64_t w = rng();
    REQUIRE(crc32c_u64(crc, w) == crc32c_u64_portable(crc, w));
  }
}

TEST_CASE("hash_to_port covers exactly [lo, hi]") {
  CHECK(hash_to_port(0, 49152, 65535) == 49152);
  CHECK(hash_to_port(0xffffffffu, 49152, 65535) == 65535);
  CHECK(hash_to_port(0xffffffffu, 1000, 1000) == 1000);
  CHECK(hash_to_port(0x80000000u, 0, 65535) == 32768);
}

TEST_CASE("flow hash: the inline fast path computes what the general parse computes") {
  // Every frame of the sample and of the third-party captures, and each of them with its
  // addresses and ports varied (and, in the last two, its IPv4 total length made short, or its
  // fragment word and protocol made random, then every protocol number tried), through both
  // parses and flow_hash_of(); and through parse_frame_keyed(), whose key is checked against
  // verdict_key().
  std::vector<std::string> files = {"pcaps/sample-mix.pcap"};
  for (const auto& e : std::filesystem::directory_iterator(test::source_path("pcaps/third-party"))) {
    if (e.path().extension() == ".pcap") files.push_back("pcaps/third-party/" + e.path().filename().string());
  }
  size_t fast = 0, plain = 0, every_protocol = 0, known = 0, short_total = 0;
  std::mt19937 rng(5);
  for (const auto& f : files) {
    for (auto r : test::read_pcap(test::source_path(f))) {
      for (int variant = 0; variant < 6; ++variant) {
        if (variant && r.bytes.size() >= 38) {
          for (size_t i = 26; i < 38; ++i) r.bytes[i] = static_cast<uint8_t>(rng());
          if (variant == 4) r.bytes[16] = 0, r.bytes[17] = static_cast<uint8_t>(rng() % 20);
          if (variant == 5) {
            r.bytes[16] = 0, r.bytes[17] = static_cast<uint8_t>(20 + rng() % 40);  // valid again after variant 4
            r.bytes[20] = static_cast<uint8_t>(rng() % 4 ? 0x40 : rng());  // mostly DF alone
            r.bytes[21] = static_cast<uint8_t>(rng() % 4 ? 0 : rng());
            r.bytes[23] = static_cast<uint8_t>(rng() % 2 ? (rng() % 2 ? 6 : 132) : rng());
          }
        }
        const wire::Bytes b(r.bytes.data(), r.bytes.size());
        const FrameMeta g = parse_frame_general(b);
        auto same = [&](const FrameMeta& a) {
          INFO(f);
          REQUIRE(a.flow_hash == g.flow_hash);
          REQUIRE(a.l3_offset == g.l3_offset);
          REQUIRE(a.l3_ethertype == g.l3_ethertype);
          REQUIRE(a.l3_length == g.l3_length);
          REQUIRE(a.ip_version == g.ip_version);
          REQUIRE(a.l4_proto == g.l4_proto);
          REQUIRE(a.fragment == g.fragment);
          REQUIRE(a.l4_found == g.l4_found);
        };
        same(parse_frame(b));
        REQUIRE(flow_hash_of(b) == g.flow_hash);
        if (variant == 5 && r.bytes.size() >= 38) {
          // Every protocol number, on this frame as it is otherwise.
          auto other = r.bytes;
          for (int proto = 0; proto < 256; ++proto) {
            other[23] = static_cast<uint8_t>(proto);
            const wire::Bytes ob(other.data(), other.size());
            const FrameMeta og = parse_frame_general(ob);
            const FrameMeta of = parse_frame(ob);
            REQUIRE(of.flow_hash == og.flow_hash);
            REQUIRE(of.l4_proto == og.l4_proto);
            REQUIRE(of.l4_found == og.l4_found);
            REQUIRE(flow_hash_of(ob) == og.flow_hash);
            every_protocol += is_plain_ipv4_ports(other.data(), other.size());
          }
        }
        plain += is_plain_ipv4_ports(r.bytes.data(), r.bytes.size());
        // One pass for a session's burst: the same parse, and verdict_key()'s key but for a
        // total length of 1-19.
        const auto len = static_cast<uint32_t>(r.bytes.size());
        VerdictKey key;
        same(parse_frame_keyed(r.bytes.data(), len, key));
        const VerdictKey want = verdict_key(r.bytes.data(), len);
        const uint32_t total = len >= 18 ? (r.bytes[16] << 8 | r.bytes[17]) : 0;
        if (want.k1 && total >= 1 && total < 20) {
          REQUIRE(key.k1 == 0);
          ++short_total;
        } else {
          REQUIRE(key.k0 == want.k0);
          REQUIRE(key.k1 == want.k1);
          known += want.k1 != 0;
        }
        fast += r.bytes.size() >= 38 && r.bytes[12] == 8 && r.bytes[13] == 0 && r.bytes[14] == 0x45;
      }
    }
  }
  CHECK(fast > 200);
  CHECK(plain > 200);
  CHECK(every_protocol > 300);  // three protocols take the fast path: over 100 frames each
  CHECK(known > 200);
  CHECK(short_total > 20);
}
