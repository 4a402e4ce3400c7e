// The engine's log (engine/control/log.h): the per-kind rate limit against an injected clock
// (a burst, then the refill; the count of what was held back said by the next line), levels,
// the kinds that are never limited, text lines, and JSON lines whose escaping is compared with
// strings written here by hand (test/engine/test_log.py parses real ones with Python's json).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "engine/control/log.h"

using namespace mirrorpipe;

namespace {

constexpr uint64_t kSecond = 1000000000;
// 2026-01-05T10:11:12.345999999Z: milliseconds are cut, not rounded.
constexpr uint64_t kWall = 1767607872345999999ull;

// A logger writing into `lines`, at a monotonic time the test sets.
struct Captured {
  Logger log;
  std::vector<std::string> lines;
  uint64_t now_ns = 5 * kSecond;

  explicit Captured(LogFormat format, LogLevel level = LogLevel::kInfo) {
    log.configure({format, level});
    log.set_sink([this](std::string_view l) { lines.emplace_back(l); });
    log.set_clocks([this] { return now_ns; }, [] { return kWall; });
  }
};

}  // namespace

TEST_CASE("log rate limit: a burst, then the refill rate; kinds apart") {
  LogRateLimiter r(10, 1.0);
  const uint64_t t0 = 100 * kSecond;
  for (int i = 0; i < 10; ++i) CHECK(r.admit("next_hop", t0).pass);
  CHECK_FALSE(r.admit("next_hop", t0).pass);
  CHECK_FALSE(r.admit("next_hop", t0 + kSecond / 10).pass);
  CHECK(r.admit("reload", t0).pass);  // another kind has its own bucket
  CHECK_FALSE(r.admit("next_hop", t0 + kSecond / 2).pass);  // half a token
  // One second after the bucket ran dry: one token, and the three held back are said.
  const auto a = r.admit("next_hop", t0 + kSecond);
  CHECK(a.pass);
  CHECK(a.suppressed_before == 3);
  const auto b = r.admit("next_hop", t0 + kSecond);
  CHECK_FALSE(b.pass);
  // Two more seconds: two tokens.
  CHECK(r.admit("next_hop", t0 + 3 * kSecond).pass);
  CHECK(r.admit("next_hop", t0 + 3 * kSecond).suppressed_before == 0);
  CHECK_FALSE(r.admit("next_hop", t0 + 3 * kSecond).pass);
  // A long quiet time refills to the burst, not beyond.
  int passed = 0;
  for (int i = 0; i < 50; ++i) passed += r.admit("next_hop", t0 + 1000 * kSecond).pass;
  CHECK(passed == 10);
  const auto held = r.take_suppressed();
  REQUIRE(held.size() == 1);
  CHECK(held[0] == std::make_pair(std::string("next_hop"), uint64_t{40}));
  CHECK(r.take_suppressed().empty());
  // A clock that steps back refills nothing and takes nothing away.
  CHECK_FALSE(r.admit("next_hop", t0).pass);
}

TEST_CASE("log: timestamps are RFC 3339, UTC, milliseconds") {
  CHECK(rfc3339_utc_ms(0) == "1970-01-01T00:00:00.000Z");
  CHECK(rfc3339_utc_ms(kWall) == "2026-01-05T10:11:12.345Z");
  CHECK(rfc3339_utc_ms(951868799007000000ull) == "2000-02-29T23:59:59.007Z");
}

TEST_CASE("log: text lines, levels, and the count of suppressed lines") {
  Captured c(LogFormat::kText);
  CHECK(c.log.info("reload", "reloaded /etc/a.toml (generation 2)"));
  CHECK(c.log.error("write_error", "write failed: 'x'"));
  CHECK_FALSE(c.log.debug("health_check", "passed"));  // below the level
  REQUIRE(c.lines.size() == 2);
  CHECK(c.lines[0] == "2026-01-05T10:11:12.345Z info  reload: reloaded /etc/a.toml (generation 2)\n");
  CHECK(c.lines[1] == "2026-01-05T10:11:12.345Z error write_error: write failed: 'x'\n");
  c.log.set_level(LogLevel::kDebug);
  CHECK(c.log.debug("health_check", "passed"));
  CHECK(c.lines.back() == "2026-01-05T10:11:12.345Z debug health_check: passed\n");
  // One event, one line: a newline or control byte in a message is escaped.
  CHECK(c.log.warn("reload_refused", "a\nb\tc"));
  CHECK(c.lines.back() == "2026-01-05T10:11:12.345Z warn  reload_refused: a\\nb\\x09c\n");

  c.lines.clear();
  for (int i = 0; i < 15; ++i) c.log.info("next_hop", "moved " + std::to_string(i));
  CHECK(c.lines.size() == 10);
  c.now_ns += kSecond;
  CHECK(c.log.info("next_hop", "moved again"));
  CHECK(c.lines.back() ==
        "2026-01-05T10:11:12.345Z info  next_hop: moved again (5 earlier 'next_hop' lines suppressed by the rate limit)\n");
  CHECK_FALSE(c.log.info("next_hop", "and again"));
  // The summary has its own period, and the start-up lines come once: neither is limited.
  c.lines.clear();
  for (int i = 0; i < 100; ++i) {
    CHECK(c.log.info("summary", "[1.0s] ..."));
    CHECK(c.log.info("start", "port p: ..."));
  }
  CHECK(c.lines.size() == 200);
  // At the stop: what no later line said.
  c.lines.clear();
  c.log.report_suppressed();
  REQUIRE(c.lines.size() == 1);
  CHECK(c.lines[0] == "2026-01-05T10:11:12.345Z info  log_suppressed: 1 'next_hop' lines suppressed by the rate "
                      "limit since its last line\n");
}

TEST_CASE("log: JSON lines, escaped by hand-written expectations") {
  Captured c(LogFormat::kJson);
  // Quotes, a backslash, a newline, a tab, a control byte, UTF-8, and a byte that is not UTF-8
  // (written as U+FFFD rather than making the line invalid JSON).
  const std::string msg = "path \"C:\\x\"\n\tend\x01 caf\xc3\xa9 \xff.";
  CHECK(c.log.warn("reload_refused", msg,
                   {{"path", std::string("/tmp/\"a\".toml")},
                    {"generation", uint64_t{18446744073709551615ull}},
                    {"delta", int64_t{-3}},
                    {"ratio", 0.5},
                    {"changed", true},
                    {"msg", std::string("a field may not take the line's own keys")}}));
  REQUIRE(c.lines.size() == 1);
  CHECK(c.lines[0] ==
        "{\"ts\":\"2026-01-05T10:11:12.345Z\",\"level\":\"warn\",\"kind\":\"reload_refused\","
        "\"msg\":\"path \\\"C:\\\\x\\\"\\n\\tend\\u0001 caf\xc3\xa9 \xef\xbf\xbd.\","
        "\"path\":\"/tmp/\\\"a\\\".toml\",\"generation\":18446744073709551615,\"delta\":-3,\"ratio\":0.5,"
        "\"changed\":true}\n");
  // The count of suppressed lines is a key of its own.
  for (int i = 0; i < 12; ++i) c.log.info("write_error", "x");
  c.now_ns += 2 * kSecond;
  c.lines.clear();
  CHECK(c.log.info("write_error", "y"));
  REQUIRE(c.lines.size() == 1);
  CHECK(c.lines[0] == "{\"ts\":\"2026-01-05T10:11:12.345Z\",\"level\":\"info\",\"kind\":\"write_error\","
                      "\"msg\":\"y\",\"suppressed\":2}\n");
}
