// The configuration schema (engine/config/schema.cpp) against the loader and the reload rules:
// every schema key is read by the loader where it belongs, an unknown key is refused naming its
// table, every range's ends load and one past them fails naming the key, a reload that changes
// a "reload: no" key is refused and one that changes a "yes" key is not, and a file that leaves
// a key out gets the schema's default. (docs/configuration.md against `mirrorpipe
// config-reference` is the ctest config_reference.)
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "engine/config/config.h"
#include "engine/config/schema.h"

using namespace mirrorpipe;

namespace {

const std::string kPath = "/tmp/mirrorpipe-schema-test.toml";

// A valid configuration made of sections ("slots"), each with a header and its keys, so that a
// test can set one key where it belongs: a port option on a port of the right role, a GWLB
// option on a GWLB target. The file input and its route are left out unless set (a file input
// allows one worker only).
struct Section {
  std::string slot;
  std::string header;
  std::vector<std::pair<std::string, std::string>> kv;
  bool enabled = true;
};

class Fixture {
 public:
  Fixture() {
    const std::string pcap = std::string(MIRRORPIPE_SOURCE_DIR) + "/test/golden/decap-table.pcap";
    s_ = {
        {"engine", "[engine]", {}},
        {"eal", "[eal]", {}},
        {"metrics", "[metrics]", {}},
        {"log", "[log]", {}},
        {"decap", "[decap]", {}},
        {"appliance", "[appliance]", {}},
        {"ports.mirror", "[[ports]]", {{"name", "\"in\""}, {"role", "\"mirror-input\""}, {"devargs", "\"net_null0\""}}},
        {"ports.tunnel", "[[ports]]", {{"name", "\"tin\""}, {"role", "\"tunnel-input\""}, {"devargs", "\"net_null1\""}}},
        {"ports.appliance", "[[ports]]", {{"name", "\"app\""}, {"role", "\"appliance\""}, {"devargs", "\"net_null2\""}}},
        {"ports.output", "[[ports]]",
         {{"name", "\"out\""}, {"role", "\"output\""}, {"devargs", "\"net_null3\""}, {"ip", "\"10.0.0.10\""},
          {"next_hop_mac", "\"02:00:00:00:00:20\""}}},
        {"ports.pcapng", "[[ports]]", {{"name", "\"cap\""}, {"role", "\"output\""}, {"file", "\"/tmp/mirrorpipe-schema-test.pcapng\""}}},
        {"ports.tunnel2", "[[ports]]", {{"name", "\"tin2\""}, {"role", "\"tunnel-input\""}, {"devargs", "\"net_null4\""}}},
        {"ports.file", "[[ports]]", {{"name", "\"rep\""}, {"role", "\"mirror-input\""}, {"file", "\"" + pcap + "\""}}, false},
        {"targets", "[[targets]]", {{"name", "\"tv\""}, {"output", "\"out\""}, {"tunnel", "\"vxlan\""}, {"dst_ip", "\"10.0.0.20\""}}},
        {"targets.gwlb", "[[targets]]", {{"name", "\"tg\""}, {"output", "\"out\""}, {"tunnel", "\"gwlb\""}, {"dst_ip", "\"10.0.0.21\""}}},
        {"targets.geneve", "[[targets]]",
         {{"name", "\"tgen\""}, {"output", "\"out\""}, {"tunnel", "\"geneve\""}, {"dst_ip", "\"10.0.0.22\""}}},
        {"pools", "[[pools]]", {{"name", "\"pool\""}, {"members", "[\"tv\"]"}}},
        {"pools.health_check", "[pools.health_check]", {}},
        {"routes", "[[routes]]", {{"input", "\"tin2\""}, {"output", "\"out\""}}},
        {"routes.file", "[[routes]]", {{"input", "\"rep\""}, {"target", "\"tv\""}}, false},
        {"filters", "[[filters]]", {{"name", "\"f\""}}},
        {"filters.rules", "",
         {{"direction", "\"ingress\""}, {"number", "100"}, {"action", "\"accept\""}, {"protocol", "\"tcp\""},
          {"source", "\"0.0.0.0/0\""}, {"destination", "\"0.0.0.0/0\""}}},
        {"sessions.mirror", "[[sessions]]", {{"name", "\"m\""}, {"input", "\"in\""}, {"number", "1"}, {"sinks", "[\"tv\"]"}}},
        {"sessions.receive", "[[sessions]]", {{"name", "\"r\""}, {"input", "\"tin\""}, {"sinks", "[\"out\"]"}}},
        {"sessions.appliance", "[[sessions]]", {{"name", "\"a\""}, {"input", "\"app\""}, {"sinks", "[\"out\"]"}}},
    };
  }

  Fixture& set(const std::string& slot, const std::string& key, const std::string& value) {
    Section& s = section(slot);
    if (slot == "ports.file" || slot == "routes.file") section("ports.file").enabled = section("routes.file").enabled = true;
    for (auto& [k, v] : s.kv) {
      if (k == key) {
        v = value;
        return *this;
      }
    }
    s.kv.emplace_back(key, value);
    return *this;
  }

  std::string text() const {
    std::ostringstream os;
    for (const Section& s : s_) {
      if (!s.enabled || s.slot == "filters.rules") continue;
      os << s.header << "\n";
      bool rules = false;
      for (const auto& [k, v] : s.kv) {
        os << k << " = " << v << "\n";
        rules = rules || k == "rules";
      }
      if (s.slot == "filters" && !rules) {
        os << "rules = [{ ";
        bool first = true;
        for (const auto& [k, v] : section("filters.rules").kv) {
          os << (first ? "" : ", ") << k << " = " << v;
          first = false;
        }
        os << " }]\n";
      }
      os << "\n";
    }
    return os.str();
  }

  EngineConfig load() const { return load_config_text(text(), kPath); }

 private:
  Section& section(const std::string& slot) {
    for (Section& s : s_) {
      if (s.slot == slot) return s;
    }
    FAIL("no slot " << slot);
    throw;
  }
  const Section& section(const std::string& slot) const { return const_cast<Fixture*>(this)->section(slot); }

  std::vector<Section> s_;
};

// Where each schema key goes in the fixture, a valid value, and (when a reload test is simple to
// set up) a second valid value; `pre` is a key = value the key needs beside it in its slot.
struct Example {
  std::string slot;
  std::string value;
  std::string value2;
  std::string pre_key = "";
  std::string pre_value = "";
};

const std::map<std::string, Example>& examples() {
  static const std::map<std::string, Example> m = {
      {"engine.workers", {"engine", "2", "3"}},
      {"engine.worker_cores", {"engine", "[0]", "[1]"}},
      {"engine.main_core", {"engine", "0", "1"}},
      {"engine.mbufs", {"engine", "2048", "4096"}},
      {"engine.tx_flush_us", {"engine", "50", "60"}},
      {"engine.stats_interval_s", {"engine", "2.5", "3"}},
      {"engine.arp_refresh_s", {"engine", "5", "6"}},
      {"engine.user", {"engine", "\"nobody\"", "\"root\""}},
      {"engine.group", {"engine", "\"nogroup\"", "\"root\"", "user", "\"nobody\""}},
      {"eal.args", {"eal", "[\"--no-huge\"]", "[\"-l\", \"0\"]"}},
      {"decap.vxlan_ports", {"decap", "[4790]", "[4791]"}},
      {"decap.geneve_ports", {"decap", "[6082]", "[6083]"}},
      {"decap.verify_checksums", {"decap", "true", "false"}},
      {"appliance.flow_table_size", {"appliance", "1024", "2048"}},
      {"appliance.tcp_idle_timeout_s", {"appliance", "100", "200"}},
      {"appliance.idle_timeout_s", {"appliance", "100", "200"}},
      {"appliance.ttl", {"appliance", "63", "62"}},
      {"appliance.drop_flows", {"appliance", "[\"tcp 10.0.0.1:1 10.0.0.2:2\"]", "[\"udp 10.0.0.1:1 10.0.0.2:2\"]"}},
      {"ports.name", {"ports.pcapng", "\"cap2\"", "\"cap3\""}},
      {"ports.role", {"ports.pcapng", "\"output\"", ""}},
      {"ports.devargs", {"ports.mirror", "\"net_null8\"", "\"net_null9\""}},
      {"ports.file", {"ports.pcapng", "\"/tmp/mirrorpipe-schema-a.pcapng\"", "\"/tmp/mirrorpipe-schema-b.pcapng\""}},
      {"ports.mtu", {"ports.mirror", "1500", "9000"}},
      {"ports.queues", {"ports.mirror", "1", "2"}},
      {"ports.rx_ring", {"ports.mirror", "512", "256"}},
      {"ports.tx_ring", {"ports.mirror", "512", "256"}},
      {"ports.mac", {"ports.output", "\"02:00:00:00:00:10\"", "\"02:00:00:00:00:11\""}},
      {"ports.ip", {"ports.mirror", "\"10.0.0.5\"", "\"10.0.0.6\""}},
      {"ports.next_hop_mac", {"ports.output", "\"02:00:00:00:00:21\"", "\"02:00:00:00:00:22\""}},
      {"ports.next_hop_ip", {"ports.output", "\"10.0.0.1\"", "\"10.0.0.2\""}},
      {"ports.oversize", {"ports.output", "\"drop\"", "\"truncate\""}},
      {"ports.pace", {"ports.file", "\"capture\"", "1000"}},
      {"ports.exception_tap", {"ports.output", "\"mp0\"", "\"mp1\""}},
      {"ports.allow_vnis", {"ports.tunnel", "[1]", "[2]"}},
      {"ports.allow_sources", {"ports.tunnel", "[\"10.0.0.0/8\"]", "[\"10.1.0.0/16\"]"}},
      {"ports.returns", {"ports.appliance", "\"out\"", "\"cap\""}},
      {"ports.inject_from", {"ports.appliance", "\"out\"", ""}},
      {"ports.rotate_mb", {"ports.pcapng", "1", "2"}},
      {"ports.rotate_seconds", {"ports.pcapng", "60", "120"}},
      {"ports.also_output", {"ports.mirror", "true", "false"}},
      {"ports.flow_hash", {"ports.mirror", "\"software\"", "\"nic\""}},
      {"ports.tx_chains", {"ports.output", "true", "false"}},
      {"targets.name", {"targets.geneve", "\"tgen2\"", "\"tgen3\""}},
      {"targets.output", {"targets", "\"out\"", ""}},
      {"targets.tunnel", {"targets", "\"vxlan\"", "\"geneve\""}},
      {"targets.dst_ip", {"targets", "\"10.0.0.30\"", "\"10.0.0.31\""}},
      {"targets.src_ip", {"targets", "\"10.0.0.40\"", "\"10.0.0.41\""}},
      {"targets.src_mac", {"targets", "\"02:00:00:00:00:01\"", "\"02:00:00:00:00:02\""}},
      {"targets.dst_mac", {"targets", "\"02:00:00:00:00:03\"", "\"02:00:00:00:00:04\""}},
      {"targets.vni", {"targets", "5", "6"}},
      {"targets.dst_port", {"targets", "4790", "4791"}},
      {"targets.sport_range", {"targets", "[1000, 2000]", "[2000, 3000]"}},
      {"targets.ttl", {"targets", "64", "65"}},
      {"targets.dscp", {"targets", "10", "11"}},
      {"targets.df", {"targets", "true", "false"}},
      {"targets.udp_checksum", {"targets", "\"on\"", "\"off\""}},
      {"targets.packet_length", {"targets", "128", "64"}},
      {"targets.gwlb_endpoint_id", {"targets.gwlb", "\"0x1\"", "2"}},
      {"targets.gwlb_attachment_id", {"targets.gwlb", "\"0x1\"", "2"}},
      {"targets.geneve_options", {"targets.geneve", "[\"0x0100:1:01020304\"]", "[\"0x0100:2:01020304\"]"}},
      {"targets.metadata_option", {"targets.geneve", "true", "false"}},
      {"pools.name", {"pools", "\"p2\"", "\"p3\""}},
      {"pools.members", {"pools", "[\"tv\"]", "[\"tg\"]"}},
      {"pools.table_size", {"pools", "65537", "131071"}},
      {"pools.health_check", {"pools", "", ""}},  // a table: the fixture has one
      {"pools.description", {"pools", "\"x\"", "\"y\""}},
      {"pools.health_check.protocol", {"pools.health_check", "\"http\"", "\"tcp\""}},
      {"pools.health_check.port", {"pools.health_check", "8080", "8081"}},
      {"pools.health_check.path", {"pools.health_check", "\"/a\"", "\"/b\"", "protocol", "\"http\""}},
      {"pools.health_check.matcher", {"pools.health_check", "\"200-299\"", "\"200\"", "protocol", "\"http\""}},
      {"pools.health_check.interval_s", {"pools.health_check", "20", "30"}},
      {"pools.health_check.timeout_s", {"pools.health_check", "6", "7"}},
      {"pools.health_check.healthy_threshold", {"pools.health_check", "3", "4"}},
      {"pools.health_check.unhealthy_threshold", {"pools.health_check", "3", "4"}},
      {"routes.input", {"routes", "\"tin2\"", ""}},
      {"routes.target", {"routes.file", "\"tv\"", "\"tg\""}},
      {"routes.output", {"routes", "\"out\"", "\"cap\""}},
      {"filters.name", {"filters", "\"f2\"", "\"f3\""}},
      {"filters.network_services", {"filters", "[\"amazon-dns\"]", "[]"}},
      {"filters.aws_exclusions", {"filters", "false", "true"}},
      {"filters.bpf", {"filters", "\"tcp\"", "\"udp\""}},
      {"filters.rules", {"filters", "[]", ""}},  // a reload of rules: the rules' own keys below
      {"filters.description", {"filters", "\"x\"", "\"y\""}},
      {"filters.rules.direction", {"filters.rules", "\"egress\"", "\"ingress\""}},
      {"filters.rules.number", {"filters.rules", "200", "300"}},
      {"filters.rules.action", {"filters.rules", "\"reject\"", "\"accept\""}},
      {"filters.rules.protocol", {"filters.rules", "17", "\"tcp\""}},
      {"filters.rules.source", {"filters.rules", "\"10.0.0.0/8\"", "\"10.1.0.0/16\""}},
      {"filters.rules.destination", {"filters.rules", "\"10.0.0.0/8\"", "\"10.1.0.0/16\""}},
      {"filters.rules.source_ports", {"filters.rules", "\"1024-65535\"", "\"80\""}},
      {"filters.rules.destination_ports", {"filters.rules", "\"22\"", "\"23\""}},
      {"filters.rules.description", {"filters.rules", "\"x\"", "\"y\""}},
      {"sessions.name", {"sessions.receive", "\"r2\"", "\"r3\""}},
      {"sessions.input", {"sessions.receive", "\"tin\"", ""}},
      {"sessions.vnis", {"sessions.receive", "[1]", "[2]"}},
      {"sessions.sources", {"sessions.receive", "[\"10.0.0.0/8\"]", "[\"10.1.0.0/16\"]"}},
      {"sessions.sinks", {"sessions.mirror", "[\"tv\"]", "[\"tg\"]"}},
      {"sessions.number", {"sessions.mirror", "2", "3"}},
      {"sessions.filter", {"sessions.mirror", "\"f\"", ""}},
      {"sessions.monitored", {"sessions.mirror", "[\"10.0.0.0/8\"]", "[\"10.1.0.0/16\"]"}},
      {"sessions.direction", {"sessions.mirror", "\"egress\"", "\"ingress\""}},
      {"sessions.vni", {"sessions.mirror", "5", "6"}},
      {"sessions.packet_length", {"sessions.mirror", "128", "64"}},
      {"sessions.slice", {"sessions.mirror", "64", "128"}},
      {"sessions.sample_flows", {"sessions.mirror", "2", "4"}},
      {"sessions.sample_packets", {"sessions.mirror", "2", "4"}},
      {"sessions.max_pps", {"sessions.mirror", "1000", "2000.5"}},
      {"sessions.dedup_us", {"sessions.mirror", "100", "200"}},
      {"metrics.listen", {"metrics", "\"127.0.0.1:9464\"", "\"127.0.0.1:9465\""}},
      {"log.format", {"log", "\"json\"", "\"text\""}},
      {"log.level", {"log", "\"debug\"", "\"warn\""}},
  };
  return m;
}

std::string name_of(const ConfigKey& k) { return k.table.empty() ? std::string(k.key) : std::string(k.table) + "." + std::string(k.key); }

const Example& example_of(const ConfigKey& k) {
  const auto it = examples().find(name_of(k));
  if (it == examples().end()) FAIL("no example for " << name_of(k) << ": add one to examples() in this file");
  return it->second;
}

Fixture with(const ConfigKey& k, const std::string& value) {
  const Example& e = example_of(k);
  Fixture f;
  if (!e.pre_key.empty()) f.set(e.slot, e.pre_key, e.pre_value);
  f.set(e.slot, std::string(k.key), value);
  return f;
}

// "" when it loads, else the ConfigError's message.
std::string load_error(const Fixture& f) {
  try {
    (void)f.load();
    return "";
  } catch (const ConfigError& e) {
    return e.what();
  }
}

std::string load_error_text(const std::string& text) {
  try {
    (void)load_config_text(text, kPath);
    return "";
  } catch (const ConfigError& e) {
    return e.what();
  }
}

std::string number_text(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

TEST_CASE("schema: the fixture loads, and every table has a slot") {
  const Fixture f;
  INFO(f.text());
  CHECK(load_error(f) == "");
  for (const ConfigKey& k : config_schema()) {
    if (k.table.empty()) continue;
    CHECK(examples().count(name_of(k)) == 1);
  }
  // No example for a key the schema does not have.
  for (const auto& [name, e] : examples()) {
    const size_t dot = name.rfind('.');
    CHECK_NOTHROW(config_key(name.substr(0, dot), name.substr(dot + 1)));
  }
}

TEST_CASE("schema: every key is read by the loader where it belongs") {
  for (const ConfigKey& k : config_schema()) {
    if (k.table.empty() || k.type == "table") continue;
    const Example& e = example_of(k);
    INFO(name_of(k));
    // Its example value loads...
    const Fixture good = with(k, e.value);
    INFO(good.text());
    CHECK(load_error(good) == "");
    // ...and a value of the wrong type is refused naming the key: the loader reads it (a key
    // accepted but never read would load). Keys documented as ignored are the exception.
    const std::string err = load_error(with(k, "{ wrong = 1 }"));
    if (k.allowed == "ignored") {
      CHECK(err == "");
    } else {
      CHECK_THAT(err, Catch::Contains(std::string(k.key)) && Catch::Contains("found a table"));
    }
  }
}

TEST_CASE("schema: an unknown key is refused naming its table and the schema's keys") {
  const std::map<std::string, std::string> slot_of = {{"", ""}, {"ports", "ports.mirror"}, {"targets", "targets"},
                                                      {"sessions", "sessions.mirror"}, {"routes", "routes"}};
  for (std::string_view table : config_tables()) {
    const std::string t(table);
    std::string list;
    for (const auto& key : config_keys(table)) list += (list.empty() ? "" : ", ") + key;
    std::string err;
    std::string where;
    if (t.empty()) {
      err = load_error_text("no_such_key = 1\n" + Fixture().text());
      where = "no_such_key";
    } else {
      const std::string slot = slot_of.count(t) ? slot_of.at(t) : t;
      err = load_error(Fixture().set(slot, "no_such_key", "1"));
      where = ".no_such_key";
    }
    INFO("table '" << t << "'");
    CHECK_THAT(err, Catch::Contains(where + ": unknown key (expected one of: " + list + ")"));
    CHECK_THAT(err, Catch::StartsWith(kPath + ":"));
  }
}

TEST_CASE("schema: each range's ends load, one past them fails naming the key") {
  // Ends that are in range but refused for another reason (named here, so that the rest must load).
  const std::set<std::string> other_rule = {
      "engine.worker_cores",              // a CPU this machine has
      "engine.main_core",                 // the same
      "pools.table_size",                 // a prime at least 100 times the members
      "pools.health_check.interval_s",    // at least timeout_s (5)
      "pools.health_check.timeout_s",     // at most interval_s (10)
  };
  int checked = 0;
  for (const ConfigKey& k : config_schema()) {
    if (k.range == RangeKind::kNone) continue;
    INFO(name_of(k));
    const bool list = k.range == RangeKind::kIntegerList;
    const bool integer = k.range != RangeKind::kNumber;
    auto value = [&](double v) {
      const std::string one = integer ? std::to_string(static_cast<long long>(v)) : number_text(v);
      if (!list) return one;
      return k.key == "sport_range" ? "[" + one + ", " + one + "]" : "[" + one + "]";
    };
    std::ostringstream expected;
    if (integer) {
      expected << "expected an integer " << static_cast<long long>(k.min) << "-" << static_cast<long long>(k.max);
    } else {
      expected << "expected a number from " << k.min << " to " << k.max;
    }
    const std::string key = std::string(k.key) + (list ? "[0]" : "");
    for (double v : {k.min, k.max}) {
      const std::string err = load_error(with(k, value(v)));
      INFO("value " << value(v));
      if (other_rule.count(name_of(k))) {
        CHECK_THAT(err, !Catch::Contains(expected.str()));
      } else {
        CHECK(err == "");
      }
    }
    const double below = integer ? k.min - 1 : std::nextafter(k.min, -1e300);
    const double above = integer ? k.max + 1 : std::nextafter(k.max, 1e300);
    for (double v : {below, above}) {
      const std::string err = load_error(with(k, value(v)));
      INFO("value " << value(v));
      CHECK_THAT(err, Catch::StartsWith(kPath + ":") && Catch::Contains(key + ": found ") &&
                          Catch::EndsWith(expected.str()));
    }
    ++checked;
  }
  CHECK(checked > 40);
}

TEST_CASE("schema: a reload changing a 'reload: no' key is refused, a 'yes' key is not") {
  int checked = 0;
  for (const ConfigKey& k : config_schema()) {
    if (k.table.empty() || k.reload == Reload::kPerKey) continue;
    const Example& e = example_of(k);
    if (e.value2.empty()) continue;
    INFO(name_of(k) << ": " << e.value << " -> " << e.value2);
    const Fixture a = with(k, e.value);
    const Fixture b = with(k, e.value2);
    REQUIRE(load_error(a) == "");
    REQUIRE(load_error(b) == "");
    const std::string refusal = live_change_refusal(a.load(), b.load());
    if (k.reload == Reload::kNo) {
      CHECK_THAT(refusal, Catch::Contains("cannot change while running"));
    } else {
      CHECK(refusal == "");
    }
    if (k.reload == Reload::kOnOff) {  // on to off is refused
      CHECK_THAT(live_change_refusal(a.load(), Fixture().load()), Catch::Contains("on or off"));
    }
    ++checked;
  }
  CHECK(checked > 90);
}

TEST_CASE("schema: a file that leaves a key out gets the schema's default") {
  const EngineConfig c = Fixture().load();
  const PortConfig& in = c.ports[0];
  const TunnelConfig& t = c.targets[0].tunnel;
  const HealthCheckSettings& h = *c.pools[0].health;
  const SessionConfig& s = c.sessions[0];
  auto b = [](bool v) { return std::string(v ? "true" : "false"); };
  auto n = [](double v) {
    std::ostringstream os;
    os << v;
    return os.str();
  };
  const std::map<std::string, std::string> found = {
      {"engine.workers", std::to_string(c.workers)},
      {"engine.main_core", std::to_string(c.main_core)},
      {"engine.tx_flush_us", std::to_string(c.tx_flush_us)},
      {"engine.stats_interval_s", n(c.stats_interval_s) + (c.stats_interval_s == std::floor(c.stats_interval_s) ? ".0" : "")},
      {"engine.arp_refresh_s", std::to_string(c.arp_refresh_s)},
      {"eal.args", c.eal_args.empty() ? "[]" : "?"},
      {"decap.vxlan_ports", "[" + std::to_string(c.decap.vxlan_ports[0]) + "]" + (c.decap.vxlan_port_count == 1 ? "" : "?")},
      {"decap.geneve_ports", "[" + std::to_string(c.decap.geneve_ports[0]) + "]" + (c.decap.geneve_port_count == 1 ? "" : "?")},
      {"decap.verify_checksums", b(c.decap.verify_checksums)},
      {"appliance.flow_table_size", std::to_string(c.appliance.flow_table_size)},
      {"appliance.tcp_idle_timeout_s", std::to_string(c.appliance.tcp_idle_timeout_s)},
      {"appliance.idle_timeout_s", std::to_string(c.appliance.idle_timeout_s)},
      {"appliance.ttl", std::to_string(c.appliance.ttl)},
      {"appliance.drop_flows", c.appliance.drop_flows.empty() ? "[]" : "?"},
      {"ports.rx_ring", std::to_string(in.rx_ring)},
      {"ports.tx_ring", std::to_string(in.tx_ring)},
      {"ports.oversize", in.oversize == Oversize::kTruncate ? "\"truncate\"" : "\"drop\""},
      {"ports.pace", in.pace == Pace::kFast ? "\"fast\"" : "?"},
      {"ports.also_output", b(in.also_output)},
      {"ports.flow_hash", in.flow_hash == FlowHashSource::kAuto ? "\"auto\"" : "?"},
      {"targets.vni", std::to_string(t.vni)},
      {"targets.sport_range", "[" + std::to_string(t.sport_lo) + ", " + std::to_string(t.sport_hi) + "]"},
      {"targets.ttl", std::to_string(t.ttl)},
      {"targets.dscp", std::to_string(t.dscp)},
      {"targets.df", b(t.df)},
      {"targets.udp_checksum", t.udp_checksum == UdpChecksumMode::kAuto ? "\"auto\"" : "?"},
      {"targets.gwlb_endpoint_id", std::to_string(c.targets[1].tunnel.gwlb_endpoint_id)},
      {"targets.gwlb_attachment_id", std::to_string(c.targets[1].tunnel.gwlb_attachment_id)},
      {"targets.geneve_options", t.geneve_options.empty() ? "[]" : "?"},
      {"targets.metadata_option", b(c.targets[2].tunnel.metadata_option)},
      {"pools.table_size", std::to_string(c.pools[0].table_size)},
      {"pools.health_check.protocol", h.protocol == HealthCheckSettings::Protocol::kTcp ? "\"tcp\"" : "\"http\""},
      {"pools.health_check.port", std::to_string(h.port)},
      {"pools.health_check.path", "\"" + h.path + "\""},
      {"pools.health_check.matcher", "\"" + std::to_string(h.match_lo) + "-" + std::to_string(h.match_hi) + "\""},
      {"pools.health_check.interval_s", n(h.interval_s)},
      {"pools.health_check.timeout_s", n(h.timeout_s)},
      {"pools.health_check.healthy_threshold", std::to_string(h.healthy_threshold)},
      {"pools.health_check.unhealthy_threshold", std::to_string(h.unhealthy_threshold)},
      {"filters.network_services", c.filters[0].filter.amazon_dns ? "?" : "[]"},
      {"filters.aws_exclusions", b(c.filters[0].filter.aws_exclusions)},
      {"sessions.monitored", s.monitored.empty() ? "[]" : "?"},
      {"sessions.direction", s.egress ? "\"egress\"" : "\"ingress\""},
      {"log.format", c.log.format == LogFormat::kText ? "\"text\"" : "\"json\""},
      {"log.level", c.log.level == LogLevel::kInfo ? "\"info\"" : "?"},
  };
  for (const auto& [name, value] : found) {
    const size_t dot = name.rfind('.');
    const ConfigKey& k = config_key(name.substr(0, dot), name.substr(dot + 1));
    INFO(name);
    CHECK(std::string(k.default_value) == value);
  }
  // Every default given as a plain value (not "required", "derived: ...", "(...)") is checked.
  for (const ConfigKey& k : config_schema()) {
    const std::string d(k.default_value);
    const bool plain = !d.empty() && d.rfind("required", 0) != 0 && d.rfind("derived:", 0) != 0 && d[0] != '(' &&
                       d.find(" (") == std::string::npos;
    INFO(name_of(k) << " = " << d);
    if (plain) CHECK(found.count(name_of(k)) == 1);
  }
}
