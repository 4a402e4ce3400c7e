// The configuration loader through load_config_text: what a valid file becomes, field by field,
// and what may change on a reload. (Each invalid value has a bad file in test/config/bad/, run by
// test/oracle/test_config.py through `mirrorpipe check`; a few are repeated here to pin the
// message's shape: file, line, key, found, expected.)
#include <catch2/catch.hpp>

#include <string>

#include "engine/config/config.h"

using namespace mirrorpipe;

namespace {

const char* kMirror = R"(
[engine]
workers = 2
stats_interval_s = 2.5

[[ports]]
name = "mirrored"
role = "mirror-input"
devargs = "net_null0"

[[ports]]
name = "out"
role = "output"
devargs = "net_null1"
mtu = 9001
ip = "10.0.0.10"

[[ports]]
name = "archive"
role = "output"
file = "archive.pcapng"

[[targets]]
name = "zeek"
output = "out"
tunnel = "vxlan"
src_ip = "10.0.0.10"
dst_ip = "10.0.0.20"
dst_mac = "02:00:00:00:00:20"
vni = 123

[[filters]]
name = "web"
network_services = ["amazon-dns"]
rules = [
  { direction = "ingress", number = 200, action = "accept", protocol = "all", source = "0.0.0.0/0", destination = "10.0.0.0/16" },
  { direction = "ingress", number = 100, action = "reject", protocol = "tcp", source = "0.0.0.0/0", destination = "0.0.0.0/0", destination_ports = "22" },
  { direction = "egress", number = 100, action = "accept", protocol = 17, source = "10.0.0.0/16", destination = "0.0.0.0/0", source_ports = "1024-65535" },
]

[[sessions]]
name = "web"
input = "mirrored"
number = 1
filter = "web"
monitored = ["10.0.0.0/16"]
sinks = ["zeek"]
vni = 5569041
packet_length = 128
)";

std::string with(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  REQUIRE(at != std::string::npos);
  text.replace(at, from.size(), to);
  return text;
}

std::string error_of(const std::string& text) {
  try {
    (void)load_config_text(text, "/tmp/m.toml");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("config: what a file leaves out takes its default") {
  const EngineConfig c = load_config_text("[[ports]]\nname = \"a\"\nrole = \"appliance\"\ndevargs = \"net_null0\"\n",
                                          "/etc/mirrorpipe/small.toml");
  CHECK(c.path == "/etc/mirrorpipe/small.toml");
  CHECK(c.workers == 1);
  CHECK(c.tx_flush_us == 100);
  CHECK(c.stats_interval_s == 1.0);
  REQUIRE(c.ports.size() == 1);
  CHECK(c.ports[0].mtu == 0);  // the device's own
  CHECK(c.ports[0].queues == 0);  // one per worker
  CHECK(c.ports[0].returns.empty());  // an appliance returns on itself
  CHECK(c.appliance.flow_table_size == 65536);
  CHECK(c.appliance.tcp_idle_timeout_s == 350);  // GWLB's TCP idle timeout
  CHECK(c.appliance.idle_timeout_s == 120);
}

TEST_CASE("config: ports, targets, filters and a mirror session, field by field") {
  const EngineConfig c = load_config_text(kMirror, "/tmp/m.toml");
  CHECK(c.workers == 2);
  CHECK(c.stats_interval_s == 2.5);
  REQUIRE(c.ports.size() == 3);
  CHECK(c.ports[0].role == PortRole::kMirrorInput);
  CHECK(c.ports[0].rx_ring == 1024);
  CHECK(c.ports[1].role == PortRole::kOutput);
  CHECK(c.ports[1].mtu == 9001);
  REQUIRE(c.ports[1].ip);
  CHECK(c.ports[1].ip->bytes[0] == 10);
  CHECK(c.ports[1].ip->bytes[3] == 10);
  // A relative file path is relative to the configuration file's folder.
  CHECK(c.ports[2].file == "/tmp/archive.pcapng");
  CHECK(c.ports[2].is_pcapng());
  CHECK(c.ports[2].line == 18);

  REQUIRE(c.targets.size() == 1);
  const TargetConfig& t = c.targets[0];
  CHECK(t.tunnel.kind == TunnelKind::kVxlan);
  CHECK(t.tunnel.vni == 123);
  CHECK(t.tunnel.ttl == 255);        // as AWS Traffic Mirroring sends
  CHECK_FALSE(t.tunnel.df);          // AWS sends DF clear
  CHECK(t.tunnel.sport_lo == 49152);  // RFC 7348 section 5
  CHECK(t.tunnel.dst_mac == wire::MacAddress{0x02, 0, 0, 0, 0, 0x20});
  CHECK(t.tunnel.dst_ip.bytes[3] == 20);

  REQUIRE(c.filters.size() == 1);
  const MirrorFilter& f = c.filters[0].filter;
  CHECK(f.amazon_dns);
  CHECK(f.aws_exclusions);
  // Rules are kept in ascending number, whatever the file's order (AWS evaluates them so).
  REQUIRE(f.ingress.size() == 2);
  CHECK(f.ingress[0].number == 100);
  CHECK_FALSE(f.ingress[0].accept);
  CHECK(f.ingress[0].protocol == 6);
  CHECK(f.ingress[0].has_destination_ports);
  CHECK(f.ingress[0].destination_lo == 22);
  CHECK(f.ingress[0].destination_hi == 22);
  CHECK_FALSE(f.ingress[0].has_source_ports);
  CHECK(f.ingress[1].number == 200);
  CHECK(f.ingress[1].protocol == -1);
  CHECK(f.ingress[1].destination.length == 16);
  REQUIRE(f.egress.size() == 1);
  CHECK(f.egress[0].protocol == 17);
  CHECK(f.egress[0].source_lo == 1024);
  CHECK(f.egress[0].source_hi == 65535);

  REQUIRE(c.sessions.size() == 1);
  const SessionConfig& s = c.sessions[0];
  CHECK(s.number == 1);
  CHECK(s.filter == "web");
  REQUIRE(s.monitored.size() == 1);
  CHECK(s.monitored[0].length == 16);
  CHECK(s.sinks == std::vector<std::string>{"zeek"});
  REQUIRE(s.vni);
  CHECK(*s.vni == 5569041);
  CHECK(s.packet_length == 128);
  CHECK(s.slice == -1);
  CHECK(s.sample_flows == 0);
}

TEST_CASE("config: errors name the file, the line and the key") {
  CHECK(error_of(with(kMirror, "mtu = 9001", "mtu = 100000")).rfind("/tmp/m.toml:", 0) == 0);
  CHECK(error_of(with(kMirror, "mtu = 9001", "mtu = 100000")).find("ports[1].mtu") != std::string::npos);
  const std::string reversed = error_of(with(kMirror, "\"1024-65535\"", "\"65535-1024\""));
  INFO(reversed);
  CHECK(reversed.rfind("/tmp/m.toml:38:", 0) == 0);
  CHECK(reversed.find("source_ports") != std::string::npos);
  CHECK(error_of(with(kMirror, "filter = \"web\"", "filter = \"nope\"")).find("sessions[0].filter") !=
        std::string::npos);
  CHECK(error_of(with(kMirror, "workers = 2", "workers = \"two\"")).find("engine.workers") != std::string::npos);
  CHECK(error_of("[[ports]\n").rfind("/tmp/m.toml:1:", 0) == 0);  // TOML syntax, with its line
  CHECK(error_of("").find("expected at least one [[ports]]") != std::string::npos);  // TOML syntax, with its line
}

TEST_CASE("config: [eal] args take no driver plugin where DPDK is built in") {
  const std::string base = std::string(kMirror) + "\n[eal]\nargs = [\"--log-level=7\", ";
  const std::string plugin = error_of(base + "\"-d\", \"/usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0\"]\n");
  const std::string joined = error_of(base + "\"-d/tmp/librte_net_x.so\"]\n");
  const std::string grouped = error_of(base + "\"-vd\", \"/tmp/librte_net_x.so\"]\n");
  CHECK(error_of(base + "\"--no-telemetry\"]\n").empty());
  CHECK(error_of(base + "\"-a\", \"0000:00:06.0\", \"-v\"]\n").empty());
#if MIRRORPIPE_STATIC_DPDK
  INFO(plugin);
  CHECK(plugin.rfind("/tmp/m.toml:52:", 0) == 0);  // the line of `args`
  CHECK(plugin.find("eal.args") != std::string::npos);
  CHECK(plugin.find("no -d") != std::string::npos);
  CHECK(joined.find("no -d") != std::string::npos);
  CHECK(grouped.find("no -d") != std::string::npos);
#else
  CHECK(plugin.empty());
  CHECK(joined.empty());
  CHECK(grouped.empty());
#endif
}

TEST_CASE("config: what a reload may change") {
  const EngineConfig a = load_config_text(kMirror, "/tmp/m.toml");
  // Tunnel settings, filters, session options and the summary interval change live.
  CHECK(live_change_refusal(a, load_config_text(with(kMirror, "vni = 123", "vni = 124"), "/tmp/m.toml")).empty());
  CHECK(live_change_refusal(a, load_config_text(with(kMirror, "\"22\"", "\"23\""), "/tmp/m.toml")).empty());
  CHECK(live_change_refusal(a, load_config_text(with(kMirror, "packet_length = 128", "packet_length = 64"), "/tmp/m.toml"))
            .empty());
  CHECK(live_change_refusal(a, load_config_text(with(kMirror, "stats_interval_s = 2.5", "stats_interval_s = 1"),
                                                "/tmp/m.toml"))
            .empty());
  // What the runtime opened or sized does not.
  CHECK(live_change_refusal(a, load_config_text(with(kMirror, "workers = 2", "workers = 1"), "/tmp/m.toml"))
            .find("engine.workers") != std::string::npos);
  CHECK(live_change_refusal(a, load_config_text(with(kMirror, "mtu = 9001", "mtu = 1500"), "/tmp/m.toml"))
            .find("ports[1]") != std::string::npos);
  CHECK(live_change_refusal(a, load_config_text(with(kMirror, "name = \"web\"\ninput", "name = \"www\"\ninput"),
                                                "/tmp/m.toml"))
            .find("sessions[0]") != std::string::npos);
}

TEST_CASE("config: [log] format and level; the level changes on a reload, the format does not") {
  const EngineConfig plain = load_config_text(kMirror, "/tmp/m.toml");
  CHECK(plain.log.format == LogFormat::kText);
  CHECK(plain.log.level == LogLevel::kInfo);
  const std::string json = std::string(kMirror) + "\n[log]\nformat = \"json\"\nlevel = \"warn\"\n";
  const EngineConfig j = load_config_text(json, "/tmp/m.toml");
  CHECK(j.log.format == LogFormat::kJson);
  CHECK(j.log.level == LogLevel::kWarn);
  CHECK(load_config_text(std::string(kMirror) + "\n[log]\nlevel = \"debug\"\n", "/tmp/m.toml").log.level ==
        LogLevel::kDebug);
  CHECK(live_change_refusal(plain, load_config_text(std::string(kMirror) + "\n[log]\nlevel = \"error\"\n",
                                                    "/tmp/m.toml"))
            .empty());
  CHECK(live_change_refusal(plain, j) == "log.format cannot change while running (restart the engine to change it)");
  const std::string bad = error_of(std::string(kMirror) + "\n[log]\nformat = \"xml\"\n");
  INFO(bad);
  CHECK(bad.rfind("/tmp/m.toml:", 0) == 0);
  CHECK(bad.find(": log.format: found \"xml\", expected text or json") != std::string::npos);
  CHECK(error_of(std::string(kMirror) + "\n[log]\nlevel = \"trace\"\n").find("log.level: found \"trace\"") !=
        std::string::npos);
  CHECK(error_of(std::string(kMirror) + "\n[log]\nformats = \"json\"\n").find("log.formats: unknown key") !=
        std::string::npos);
}
