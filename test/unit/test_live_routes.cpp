// The live side of the control plane without DPDK: reloads, the verdict hook and snapshot
// retirement (engine/control/live_routes.h), with a plan that records what it was asked.
#include <catch2/catch.hpp>

#include <algorithm>

#include "engine/control/live_routes.h"

using namespace mirrorpipe;

namespace {

std::string appliance(const std::string& engine_lines, const std::string& drop_flows) {
  return "[engine]\n" + engine_lines + R"(
[appliance]
drop_flows = [)" + drop_flows + R"(]
[[ports]]
name = "gwlb"
role = "appliance"
devargs = "net_null0"
)";
}

struct Recorder {
  int plans = 0;
  std::vector<FlowRule> last_blocked;
  double last_interval = -1;
  LiveRoutes::Plan plan() {
    return [this](const EngineConfig& c, const std::vector<FlowRule>& blocked) {
      ++plans;
      last_blocked = blocked;
      last_interval = c.stats_interval_s;
      return std::make_unique<std::vector<Route>>(1);
    };
  }
};

bool has(const std::vector<FlowRule>& v, const FlowRule& r) { return std::find(v.begin(), v.end(), r) != v.end(); }

const char* kFileRule = "\"tcp 203.0.113.5:445 10.0.2.20:51000\"";

}  // namespace

TEST_CASE("live routes: the first snapshot is published at generation 0, with the file's blocked flows") {
  Recorder rec;
  LiveRoutes live(load_config_text(appliance("", kFileRule), "a.toml"), rec.plan());
  CHECK(rec.plans == 1);
  CHECK(live.generation() == 0);
  CHECK(live.table().current.load() != nullptr);
  REQUIRE(rec.last_blocked.size() == 1);
  CHECK(rec.last_blocked[0] == parse_flow_rule("tcp 203.0.113.5:445 10.0.2.20:51000"));
}

TEST_CASE("live routes: a reload that changes a restart-only key is refused and publishes nothing") {
  Recorder rec;
  LiveRoutes live(load_config_text(appliance("workers = 1", ""), "a.toml"), rec.plan());
  const auto* before = live.table().current.load();
  const std::string refusal = live.reload(load_config_text(appliance("workers = 2", ""), "a.toml"));
  CHECK(refusal.find("engine.workers") != std::string::npos);
  CHECK(refusal.find("restart") != std::string::npos);
  CHECK(rec.plans == 1);
  CHECK(live.generation() == 0);
  CHECK(live.table().current.load() == before);
  CHECK(live.running().workers == 1);
}

TEST_CASE("live routes: an accepted reload publishes a new generation and becomes the running configuration") {
  Recorder rec;
  LiveRoutes live(load_config_text(appliance("stats_interval_s = 5", ""), "a.toml"), rec.plan());
  const auto* before = live.table().current.load();
  CHECK(live.reload(load_config_text(appliance("stats_interval_s = 7", kFileRule), "a.toml")).empty());
  CHECK(live.generation() == 1);
  CHECK(live.table().current.load() != before);
  CHECK(live.running().stats_interval_s == 7);
  CHECK(rec.last_interval == 7);
  CHECK(rec.last_blocked.size() == 1);
}

TEST_CASE("live routes: a plan that throws refuses the reload and keeps the previous snapshot") {
  bool fail = false;
  LiveRoutes live(load_config_text(appliance("", ""), "a.toml"),
                  [&](const EngineConfig&, const std::vector<FlowRule>&) {
                    if (fail) throw ConfigError("a.toml: targets[0]: too big for its output");
                    return std::make_unique<std::vector<Route>>(1);
                  });
  const auto* before = live.table().current.load();
  fail = true;
  CHECK(live.reload(load_config_text(appliance("stats_interval_s = 9", ""), "a.toml")) ==
        "a.toml: targets[0]: too big for its output");
  CHECK(live.table().current.load() == before);
  CHECK(live.generation() == 0);
  CHECK(live.running().stats_interval_s != 9);
}

TEST_CASE("live routes: verdicts drop, accept and clear on top of the file's rules, one snapshot per batch") {
  Recorder rec;
  LiveRoutes live(load_config_text(appliance("", kFileRule), "a.toml"), rec.plan());
  const FlowRule file_rule = parse_flow_rule("tcp 203.0.113.5:445 10.0.2.20:51000");
  const FlowRule live_rule = parse_flow_rule("udp 10.0.0.1:53 10.0.0.2:5353");

  auto s = live.apply_verdicts({{VerdictVerb::kDrop, live_rule}, {VerdictVerb::kDrop, live_rule}});
  CHECK(s.applied == 2);
  CHECK(s.live_drops == 1);  // the same flow twice is blocked once
  CHECK(rec.plans == 2);
  CHECK(live.generation() == 1);
  CHECK(has(rec.last_blocked, file_rule));
  CHECK(has(rec.last_blocked, live_rule));

  // accept lifts the file's rule and ends the live drop of the other
  s = live.apply_verdicts({{VerdictVerb::kAccept, file_rule}, {VerdictVerb::kAccept, live_rule}});
  CHECK(s.live_drops == 0);
  CHECK(s.lifted == 2);
  CHECK(rec.last_blocked.empty());

  // a reload brings the file's rule back: what a live accept lifted holds only until then
  CHECK(live.reload(load_config_text(appliance("", kFileRule), "a.toml")).empty());
  CHECK(rec.last_blocked.size() == 1);
  CHECK(has(rec.last_blocked, file_rule));

  live.apply_verdicts({{VerdictVerb::kDrop, live_rule}, {VerdictVerb::kAccept, file_rule}});
  CHECK(rec.last_blocked.size() == 1);
  CHECK(has(rec.last_blocked, live_rule));
  s = live.apply_verdicts({{VerdictVerb::kClear, FlowRule{}}});
  CHECK(s.live_drops == 0);
  CHECK(s.lifted == 0);
  CHECK(rec.last_blocked.size() == 1);
  CHECK(has(rec.last_blocked, file_rule));

  const int plans = rec.plans;
  live.apply_verdicts({});
  CHECK(rec.plans == plans);  // nothing asked, nothing published
}

TEST_CASE("live routes: an old snapshot is freed only once every worker has adopted a later generation") {
  Recorder rec;
  LiveRoutes live(load_config_text(appliance("", ""), "a.toml"), rec.plan());
  live.republish();  // generation 1
  live.republish();  // generation 2
  CHECK(live.snapshots() == 3);
  live.retire(0);    // a worker still at generation 0 may hold the first snapshot
  CHECK(live.snapshots() == 3);
  live.retire(1);    // every worker at 1 or later: the first is free, the second may be held
  CHECK(live.snapshots() == 2);
  live.retire(2);
  CHECK(live.snapshots() == 1);
  live.retire(2);    // the published snapshot always stays
  CHECK(live.snapshots() == 1);
  CHECK(live.table().current.load() != nullptr);
}
