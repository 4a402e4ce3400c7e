// The session verdict cache against the evaluation it caches: for random filters and random
// IPv4/IPv6 fields drawn from a small pool (so that fields recur, as flows do), the cached
// verdict equals evaluate_session's every time, and a new snapshot tag never returns a verdict
// of the previous snapshot's policy.
#include <catch2/catch.hpp>

#include <random>
#include <vector>

#include "engine/pipeline/verdict_cache.h"

using namespace mirrorpipe;

namespace {

IpPrefix prefix4(std::mt19937& rng) {
  IpPrefix p;
  p.addr = {10, static_cast<uint8_t>(rng() % 4), static_cast<uint8_t>(rng() % 4), 0};
  const uint8_t lengths[] = {0, 8, 16, 24, 30, 32};
  p.length = lengths[rng() % 6];
  return p;
}

MirrorSessionPolicy random_policy(std::mt19937& rng) {
  MirrorSessionPolicy s;
  s.has_filter = true;
  s.filter.aws_exclusions = rng() % 2;
  s.filter.amazon_dns = rng() % 2;
  for (auto* dir : {&s.filter.ingress, &s.filter.egress}) {
    const int n = static_cast<int>(rng() % 11);
    for (int i = 0; i < n; ++i) {
      MirrorFilterRule r;
      r.number = static_cast<uint16_t>(100 + i);
      r.accept = rng() % 3 != 0;
      const int16_t protos[] = {-1, 6, 17, 1};
      r.protocol = protos[rng() % 4];
      r.source = prefix4(rng);
      r.destination = prefix4(rng);
      if (rng() % 8 == 0) r.source.v6 = r.destination.v6 = true;  // never matches IPv4
      if (rng() % 2) {
        r.has_destination_ports = true;
        r.destination_lo = static_cast<uint16_t>(rng() % 100);
        r.destination_hi = static_cast<uint16_t>(r.destination_lo + rng() % 100);
      }
      if (rng() % 3 == 0) {
        r.has_source_ports = true;
        r.source_lo = static_cast<uint16_t>(rng() % 100);
        r.source_hi = static_cast<uint16_t>(r.source_lo + rng() % 100);
      }
      dir->push_back(r);
    }
  }
  if (rng() % 2) {
    IpPrefix m;
    m.addr = {10, 0, 0, 0};
    m.length = 16;
    s.monitored.push_back(m);
  }
  s.egress_default = rng() % 2;
  return s;
}

// A frame: mostly untagged IPv4 TCP/UDP (the cached kind), some VLAN-tagged, fragments, other
// protocols and IPv6 (evaluated each time), from small pools so that keys recur.
std::vector<uint8_t> random_frame(std::mt19937& rng) {
  std::vector<uint8_t> f(12, 0x02);
  auto u16 = [&](uint16_t v) { f.push_back(static_cast<uint8_t>(v >> 8)), f.push_back(static_cast<uint8_t>(v)); };
  const int kind = static_cast<int>(rng() % 10);
  if (kind == 0) u16(0x8100), u16(7);  // a VLAN tag
  const uint8_t protos[] = {6, 17, 6, 17, 1, 47};
  const uint8_t proto = protos[rng() % 6];
  const uint16_t ports[] = {67, 15, 80, 120};
  if (kind == 1) {  // IPv6
    u16(0x86dd);
    f.insert(f.end(), {0x60, 0, 0, 0, 0, 8, proto, 64});
    for (int a = 0; a < 2; ++a) {
      f.insert(f.end(), {0x20, 0x01, 0x0d, 0xb8});
      f.insert(f.end(), 11, 0);
      f.push_back(static_cast<uint8_t>(rng() % 4));
    }
  } else {
    u16(0x0800);
    const uint16_t frag = kind == 2 ? 185 : 0;  // a later fragment: no ports
    f.insert(f.end(), {0x45, 0, 0, 28, 0, 1, static_cast<uint8_t>(frag >> 8), static_cast<uint8_t>(frag), 64, proto, 0, 0});
    const uint8_t pool[5][4] = {{10, 0, 0, 1}, {10, 0, 3, 2}, {10, 1, 2, 3}, {10, 3, 0, 0}, {169, 254, 169, 253}};
    for (int a = 0; a < 2; ++a) {
      const auto* p = pool[rng() % (rng() % 20 == 0 ? 5 : 4)];
      f.insert(f.end(), p, p + 4);
    }
  }
  u16(ports[rng() % 4]);
  u16(ports[rng() % 4]);
  return f;
}

}  // namespace

TEST_CASE("verdict cache: always the verdict evaluate_session gives, across snapshots") {
  std::mt19937 rng(20261130);
  SessionVerdictCache cache;
  uint64_t lookups = 0, keyed = 0;
  for (uint32_t snapshot = 1; snapshot <= 200; ++snapshot) {
    const MirrorSessionPolicy policy = random_policy(rng);
    for (int i = 0; i < 2000; ++i) {
      const std::vector<uint8_t> frame = random_frame(rng);
      const auto len = static_cast<uint32_t>(frame.size());
      const SessionVerdict want = evaluate_session(policy, read_filter_fields_general(frame.data(), len));
      const VerdictKey key = verdict_key(frame.data(), len);
      LazyFilterFields fields(frame.data(), len);
      const SessionVerdict got = cache.evaluate(policy, key, snapshot, fields);
      ++lookups;
      keyed += key.k1 != 0;
      REQUIRE(got.filtered == want.filtered);
      REQUIRE(got.rule == want.rule);
    }
  }
  // Keys recur (a few hundred per snapshot): many answers come from the table, so the
  // comparisons above covered cached verdicts, not only fresh ones; and the other frames
  // (tagged, fragments, other protocols, IPv6) were evaluated.
  CHECK(lookups - cache.evaluations() > keyed / 4);  // answered by the table
  CHECK(keyed < lookups * 9 / 10);
}
