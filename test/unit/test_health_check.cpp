// Health checks of analyzer-pool members (engine/control/health_check.h): HealthState's
// thresholds, the settings' validation, and HealthProbe's conversations against
// test/golden/health-frames.tsv, where scapy built every frame, the probe's included (so its
// checksums, sequence numbers, ports and ISS are checked against an independent writer).
// The Linux TCP stack checks the probe again in test/netns/test_health_probe.sh.
#include <catch2/catch.hpp>

#include <cstdint>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <string>
#include <tuple>
#include <vector>

#include "encap/wire/checksum.h"
#include "encap/wire/tcp.h"
#include "engine/control/health_check.h"
#include "pcap_file.h"

using namespace mirrorpipe;

namespace {

constexpr uint64_t kMs = 1'000'000;
const wire::MacAddress kOwnMac{2, 0, 0, 0, 0, 1};
const wire::MacAddress kHopMac{2, 0, 0, 0, 0, 2};
const wire::Ipv4Address kOwnIp{10, 0, 0, 1};
const wire::Ipv4Address kMemberIp{10, 0, 0, 2};

std::vector<uint8_t> from_hex(const std::string& hex) {
  std::vector<uint8_t> out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) out.push_back(static_cast<uint8_t>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return out;
}

std::string hex(const std::vector<uint8_t>& b) { return test::to_hex(b.data(), b.size()); }

HealthCheckSettings http_settings() {
  HealthCheckSettings s;
  s.protocol = HealthCheckSettings::Protocol::kHttp;
  s.port = 8080;
  return s;
}

// Every frame the probe sends is a whole IPv4/TCP frame with both checksums right, read here
// with the generic one's-complement sum only (no code of the probe's).
void check_frame_sums(const std::vector<uint8_t>& f) {
  INFO(hex(f));
  REQUIRE(f.size() >= kHealthMinFrameBytes);
  REQUIRE(f[12] == 0x08);
  REQUIRE(f[13] == 0x00);
  const uint8_t* ip = f.data() + 14;
  const size_t total = static_cast<size_t>(ip[2]) << 8 | ip[3];
  REQUIRE(14 + total <= f.size());
  CHECK(wire::checksum_valid(ip, 20));
  const uint64_t pseudo = wire::tcp_ipv4_pseudo_header_partial(ip + 12, static_cast<uint16_t>(total - 20));
  CHECK(wire::checksum_valid(ip + 20, total - 20, pseudo));
  for (size_t i = 14 + total; i < f.size(); ++i) CHECK(f[i] == 0);  // padding
}

}  // namespace

TEST_CASE("HealthState: starts healthy, leaves after 2 failures, returns after 5 passes", "[health]") {
  HealthState h{HealthCheckSettings{}};  // GWLB's defaults: healthy 5, unhealthy 2
  CHECK(h.healthy());
  CHECK_FALSE(h.record(false));
  CHECK(h.healthy());
  CHECK(h.consecutive_failures() == 1);
  CHECK(h.record(false));  // the second consecutive failure: out of service
  CHECK_FALSE(h.healthy());
  CHECK_FALSE(h.record(false));  // stays unhealthy, no change reported
  for (int i = 0; i < 4; ++i) {
    CHECK_FALSE(h.record(true));
    CHECK_FALSE(h.healthy());
  }
  CHECK(h.consecutive_passes() == 4);
  CHECK(h.record(true));  // the fifth consecutive pass: back in service
  CHECK(h.healthy());
  CHECK(h.passed() == 5);
  CHECK(h.failed() == 3);
  CHECK(h.consecutive_failures() == 0);
}

TEST_CASE("HealthState: a result of the other kind resets the consecutive count", "[health]") {
  HealthState h(5, 2);
  CHECK_FALSE(h.record(false));
  CHECK_FALSE(h.record(true));  // a pass between two failures
  CHECK_FALSE(h.record(false));
  CHECK(h.healthy());
  CHECK(h.consecutive_failures() == 1);
  CHECK(h.record(false));
  CHECK_FALSE(h.healthy());
  for (int i = 0; i < 4; ++i) CHECK_FALSE(h.record(true));
  CHECK_FALSE(h.record(false));  // a failure after 4 passes: the count starts again
  for (int i = 0; i < 4; ++i) CHECK_FALSE(h.record(true));
  CHECK_FALSE(h.healthy());
  CHECK(h.record(true));
  CHECK(h.healthy());
  CHECK(h.passed() == 10);
  CHECK(h.failed() == 4);
}

TEST_CASE("HealthState: thresholds of 1, and 0 counted as 1", "[health]") {
  HealthState h(0, 1);
  CHECK(h.record(false));
  CHECK_FALSE(h.healthy());
  CHECK(h.record(true));
  CHECK(h.healthy());
}

TEST_CASE("health_settings_error: GWLB's defaults pass, each bad field is named", "[health]") {
  CHECK(health_settings_error(HealthCheckSettings{}).empty());
  CHECK(health_settings_error(http_settings()).empty());
  using Edit = void (*)(HealthCheckSettings&);
  auto [edit, expect] = GENERATE(table<Edit, std::string>({
      {[](HealthCheckSettings& s) { s.port = 0; }, "port"},
      {[](HealthCheckSettings& s) { s.path = "health"; }, "path"},
      {[](HealthCheckSettings& s) { s.path = "/a b"; }, "path"},
      {[](HealthCheckSettings& s) { s.path = "/a\r\nX: y"; }, "path"},
      {[](HealthCheckSettings& s) { s.path = "/" + std::string(kHealthMaxPathBytes, 'a'); }, "path"},
      {[](HealthCheckSettings& s) { s.match_lo = 400; s.match_hi = 399; }, "matcher"},
      {[](HealthCheckSettings& s) { s.match_hi = 600; }, "matcher"},
      {[](HealthCheckSettings& s) { s.timeout_s = 0; }, "timeout"},
      {[](HealthCheckSettings& s) { s.timeout_s = std::numeric_limits<double>::quiet_NaN(); }, "timeout"},
      {[](HealthCheckSettings& s) { s.timeout_s = 11; }, "timeout"},
      {[](HealthCheckSettings& s) { s.interval_s = 4000; s.timeout_s = 5; }, "interval"},
      {[](HealthCheckSettings& s) { s.unhealthy_threshold = 0; }, "thresholds"},
  }));
  HealthCheckSettings s = http_settings();
  edit(s);
  const std::string err = health_settings_error(s);
  INFO(err);
  CHECK(err.find(expect) != std::string::npos);
  CHECK_THROWS_AS(HealthProbe(kOwnMac, kOwnIp, kHopMac, kMemberIp, s, 1), std::invalid_argument);
}

// The conversations of test/golden/health-frames.tsv (the generator's docstring has the rows).
TEST_CASE("HealthProbe: the scapy-built conversations", "[health]") {
  const auto rows = test::read_tsv(test::source_path("test/golden/health-frames.tsv"));
  REQUIRE(rows.size() > 100);
  std::unique_ptr<HealthProbe> probe;
  std::string name;
  HealthFrames pending;  // what the last call sent and the rows have not matched yet
  size_t cases = 0, frames_in = 0, frames_out = 0;
  const auto all_matched = [&]() {
    INFO("case " << name << ": the probe sent more frames than expected");
    for (const auto& f : pending) INFO(hex(f));
    CHECK(pending.empty());
    pending.clear();
  };
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    INFO("health-frames.tsv row " << i << ": " << r[0] << " (case " << name << ")");
    if (r[0] != "out") all_matched();
    if (r[0] == "case") {
      REQUIRE(r.size() == 9);
      name = r[1];
      HealthCheckSettings s;
      s.protocol = r[2] == "http" ? HealthCheckSettings::Protocol::kHttp : HealthCheckSettings::Protocol::kTcp;
      s.port = static_cast<uint16_t>(std::stoi(r[3]));
      s.path = r[4];
      s.timeout_s = std::stod(r[5]) / 1000;
      s.match_lo = static_cast<uint16_t>(std::stoi(r[7]));
      s.match_hi = static_cast<uint16_t>(std::stoi(r[8]));
      probe = std::make_unique<HealthProbe>(kOwnMac, kOwnIp, kHopMac, kMemberIp, s, std::stoull(r[6]));
      CHECK_FALSE(probe->result().has_value());
      CHECK(probe->next_timer_ns() == std::numeric_limits<uint64_t>::max());
      ++cases;
      continue;
    }
    REQUIRE(probe);
    if (r[0] == "start") {
      probe->start(std::stoull(r[1]) * kMs, pending);
      CHECK(probe->running());
    } else if (r[0] == "poll") {
      probe->poll(std::stoull(r[1]) * kMs, pending);
    } else if (r[0] == "in") {
      REQUIRE(r.size() >= 4);
      INFO("frame in: " << (r.size() > 4 ? r[4] : ""));
      const auto frame = from_hex(r[3]);
      CHECK(probe->on_frame(frame, std::stoull(r[1]) * kMs, pending) == (r[2] == "1"));
      ++frames_in;
    } else if (r[0] == "out") {
      INFO("frame out: " << (r.size() > 2 ? r[2] : ""));
      REQUIRE_FALSE(pending.empty());
      CHECK(hex(pending.front()) == r[1]);
      check_frame_sums(pending.front());
      pending.erase(pending.begin());
      ++frames_out;
    } else if (r[0] == "result") {
      CHECK(health_outcome_name(probe->outcome()) == r[1]);
      CHECK(probe->http_status() == std::stoi(r[2]));
      CHECK(probe->running() == (r[1] == "pending"));
      if (r[1] != "pending") CHECK(probe->result() == (r[1] == "pass"));
    } else {
      FAIL("unknown row " << r[0]);
    }
  }
  all_matched();
  CHECK(cases == 16);
  CHECK(frames_in > 40);
  CHECK(frames_out > 40);
}

TEST_CASE("HealthProbe: timers", "[health]") {
  HealthFrames out;
  HealthProbe p(kOwnMac, kOwnIp, kHopMac, kMemberIp, http_settings(), 42);
  p.start(100 * kMs, out);
  CHECK(p.next_timer_ns() == 1100 * kMs);  // first RTO: 1 s
  p.poll(1100 * kMs, out);
  CHECK(p.next_timer_ns() == 3100 * kMs);  // doubled
  p.poll(3100 * kMs, out);
  CHECK(p.next_timer_ns() == 5100 * kMs);  // the deadline (5 s) comes before a third RTO
  CHECK(out.size() == 3);                  // three SYNs, all the same
  CHECK(out[0] == out[1]);
  CHECK(out[1] == out[2]);
  p.poll(5100 * kMs, out);
  CHECK(p.result() == false);
  CHECK(p.outcome() == HealthOutcome::kTimeout);
  CHECK(p.next_timer_ns() == std::numeric_limits<uint64_t>::max());
}

TEST_CASE("HealthProbe: source ports walk the ephemeral range and wrap", "[health]") {
  HealthCheckSettings s;
  HealthProbe p(kOwnMac, kOwnIp, kHopMac, kMemberIp, s, 7);
  HealthFrames out;
  p.start(0, out);
  const uint32_t first = p.source_port();
  std::vector<uint32_t> isses{p.iss()};
  for (uint32_t n = 1; n <= kHealthPortLast - kHealthPortFirst + 1; ++n) {
    out.clear();
    p.start(n * kMs, out);
    const uint32_t want = kHealthPortFirst + (first - kHealthPortFirst + n) % (kHealthPortLast - kHealthPortFirst + 1);
    REQUIRE(p.source_port() == want);
    if (n < 4) isses.push_back(p.iss());
  }
  CHECK(p.source_port() == first);  // 28232 checks later
  CHECK(isses[0] != isses[1]);
  CHECK(isses[1] != isses[2]);
}

// Every prefix of a good SYN-ACK is rejected, and every single-bit change of it outside the
// Ethernet source, without reading beyond the frame (the sanitizer build proves that half).
TEST_CASE("HealthProbe: cut and flipped frames", "[health]") {
  const auto rows = test::read_tsv(test::source_path("test/golden/health-frames.tsv"));
  std::vector<uint8_t> syn_ack;
  for (const auto& r : rows) {
    if (r[0] == "in" && r.size() > 4 && r[4] == "SYN-ACK") {
      syn_ack = from_hex(r[3]);  // of case tcp_pass, check 0 (seed 1)
      break;
    }
  }
  REQUIRE(syn_ack.size() == 58);
  HealthCheckSettings s;
  s.port = 8080;
  for (size_t len = 0; len < syn_ack.size(); ++len) {
    HealthProbe p(kOwnMac, kOwnIp, kHopMac, kMemberIp, s, 1);
    HealthFrames out;
    p.start(0, out);
    std::vector<uint8_t> cut(syn_ack.begin(), syn_ack.begin() + static_cast<long>(len));
    INFO("first " << len << " bytes");
    CHECK_FALSE(p.on_frame(cut, 1, out));
    CHECK(p.running());
  }
  for (size_t bit = 0; bit < syn_ack.size() * 8; ++bit) {
    HealthProbe p(kOwnMac, kOwnIp, kHopMac, kMemberIp, s, 1);
    HealthFrames out;
    p.start(0, out);
    auto f = syn_ack;
    f[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
    INFO("bit " << bit);
    // The Ethernet source (bytes 6-11) is whoever forwarded the frame: not checked. Any other
    // bit is in the destination MAC, the EtherType or under one of the two checksums (the
    // one's-complement sum sees every single-bit change).
    const bool source_mac = bit / 8 >= 6 && bit / 8 < 12;
    CHECK(p.on_frame(f, 1, out) == source_mac);
    CHECK(p.result() == (source_mac ? std::optional<bool>(true) : std::nullopt));
  }
}
