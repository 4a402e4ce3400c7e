// The planner without DPDK: configurations (through load_config_text, as a user writes them)
// and a hand-made topology of opened ports, checked field by field in the route snapshot.
#include <catch2/catch.hpp>

#include <algorithm>

#include "engine/control/planner.h"

using namespace mirrorpipe;

namespace {

const wire::MacAddress kOutMac{0x02, 0x0a, 0, 0, 0, 1};
const wire::MacAddress kInMac{0x02, 0x0b, 0, 0, 0, 2};
const wire::MacAddress kHopMac{0x02, 0x0c, 0, 0, 0, 3};

// A topology as the runtime opens it for `cfg`: every non-output port an input, every sending
// port an output, in configuration order; DPDK outputs with the given MTU and offloads.
PortTopology topology_of(const EngineConfig& cfg, uint32_t mtu, bool ip_csum, bool udp_csum) {
  PortTopology t;
  t.input_index.assign(cfg.ports.size(), -1);
  t.output_index.assign(cfg.ports.size(), -1);
  for (size_t i = 0; i < cfg.ports.size(); ++i) {
    if (cfg.ports[i].role == PortRole::kOutput) continue;
    t.input_index[i] = static_cast<int>(t.input_count++);
    t.input_is_file.push_back(cfg.ports[i].is_file());
    t.nic_flow_hash.push_back(false);
  }
  for (size_t i = 0; i < cfg.ports.size(); ++i) {
    if (!cfg.ports[i].sends()) continue;
    t.output_index[i] = static_cast<int>(t.outputs.size());
    PortTopology::Output o;
    if (!cfg.ports[i].is_file()) {
      o.mtu = mtu;
      o.tx_ip_checksum = ip_csum;
      o.tx_udp_checksum = udp_csum;
      o.mac = kOutMac;
    }
    t.outputs.push_back(o);
  }
  return t;
}

const char* kMirror = R"(
[[ports]]
name = "in"
role = "mirror-input"
devargs = "net_null0"
[[ports]]
name = "out"
role = "output"
devargs = "net_null1"
%MTU%
[[targets]]
name = "zeek"
output = "out"
tunnel = "vxlan"
src_ip = "%SRC%"
dst_ip = "%DST%"
dst_mac = "02:00:00:00:00:99"
vni = 77
[[routes]]
input = "in"
target = "zeek"
)";

std::string mirror(const std::string& mtu, const std::string& src = "10.0.0.1", const std::string& dst = "10.0.0.2") {
  std::string s = kMirror;
  s.replace(s.find("%MTU%"), 5, mtu);
  s.replace(s.find("%SRC%"), 5, src);
  s.replace(s.find("%DST%"), 5, dst);
  return s;
}

}  // namespace

TEST_CASE("planner: a mirror route takes its output's MTU and the offloads the device offers") {
  const EngineConfig cfg = load_config_text(mirror(""), "mirror.toml");
  const PortTopology topo = topology_of(cfg, 9001, true, false);
  const auto routes = plan_routes(cfg, topo, {});
  REQUIRE(routes->size() == 1);
  const Route& r = (*routes)[0];
  CHECK(r.pipeline.mode == PipelineMode::kEncap);
  CHECK(r.output == 0);
  CHECK(r.pipeline.outer.max_ip_length == 9001);  // the device's, none configured
  CHECK(r.pipeline.outer.truncate_to_mtu);        // oversize defaults to truncate
  CHECK(r.pipeline.outer.ip_checksum_offload);
  CHECK(r.tx_ip_checksum_offload);
  CHECK_FALSE(r.tx_udp_checksum_offload);         // VXLAN over IPv4 sends a zero checksum
  CHECK_FALSE(r.receive);
  CHECK_FALSE(r.appliance);
  CHECK_FALSE(r.stamp_file_meta);
}

TEST_CASE("planner: a configured MTU wins over the device's; no offload the device lacks") {
  const EngineConfig cfg = load_config_text(mirror("mtu = 1500\noversize = \"drop\""), "mirror.toml");
  const auto routes = plan_routes(cfg, topology_of(cfg, 9001, false, false), {});
  const Route& r = (*routes)[0];
  CHECK(r.pipeline.outer.max_ip_length == 1500);
  CHECK_FALSE(r.pipeline.outer.truncate_to_mtu);
  CHECK_FALSE(r.pipeline.outer.ip_checksum_offload);
  CHECK_FALSE(r.tx_ip_checksum_offload);
}

TEST_CASE("planner: IPv6 outer: no IPv4 checksum to offload; the UDP checksum is, where offered") {
  const EngineConfig cfg = load_config_text(mirror("", "fd00::1", "fd00::2"), "mirror.toml");
  const auto routes = plan_routes(cfg, topology_of(cfg, 9001, true, true), {});
  const Route& r = (*routes)[0];
  CHECK(r.pipeline.outer.ipv6);
  CHECK_FALSE(r.pipeline.outer.ip_checksum_offload);
  CHECK(r.pipeline.outer.udp_checksum_offload);
  CHECK(r.tx_udp_checksum_offload);
  CHECK(r.tx_ip_checksum_offload);  // the flags and lengths are set together
}

TEST_CASE("planner: a next hop resolved by ARP becomes the target's destination MAC") {
  std::string text = mirror("ip = \"10.0.0.1\"\nnext_hop_ip = \"10.0.0.254\"");
  text.replace(text.find("dst_mac = \"02:00:00:00:00:99\"\n"), 30, "");
  const EngineConfig cfg = load_config_text(text, "mirror.toml");
  PortTopology topo = topology_of(cfg, 1500, false, false);
  topo.next_hop_macs["out"] = kHopMac;
  auto routes = plan_routes(cfg, topo, {});
  CHECK(std::equal(kHopMac.begin(), kHopMac.end(), (*routes)[0].pipeline.outer.bytes.begin()));
  // A next hop that moved: the next plan carries the new MAC.
  topo.next_hop_macs["out"] = kInMac;
  routes = plan_routes(cfg, topo, {});
  CHECK(std::equal(kInMac.begin(), kInMac.end(), (*routes)[0].pipeline.outer.bytes.begin()));
}

TEST_CASE("planner: sessions of two inputs keep their configuration index (pcapng names)") {
  const std::string text = R"(
[[ports]]
name = "a"
role = "tunnel-input"
devargs = "net_null0"
[[ports]]
name = "b"
role = "tunnel-input"
devargs = "net_null1"
[[ports]]
name = "o1"
role = "output"
devargs = "net_null2"
[[ports]]
name = "o2"
role = "output"
devargs = "net_null3"
[[sessions]]
name = "first"
input = "a"
vnis = [1]
sinks = ["o1"]
[[sessions]]
name = "second"
input = "a"
vnis = [2]
sinks = ["o1", "o2"]
[[sessions]]
name = "third"
input = "b"
sinks = ["o2"]
)";
  const EngineConfig cfg = load_config_text(text, "sessions.toml");
  const auto routes = plan_routes(cfg, topology_of(cfg, 1500, false, false), {});
  REQUIRE(routes->size() == 2);
  const Route& a = (*routes)[0];
  const Route& b = (*routes)[1];
  CHECK(a.receive);
  REQUIRE(a.sessions.size() == 2);
  CHECK(a.sessions[0].config_index == 0);
  CHECK(a.sessions[1].config_index == 1);
  REQUIRE(a.sessions[1].sinks.size() == 2);
  CHECK(a.sessions[1].sinks[0].output == 0);
  CHECK(a.sessions[1].sinks[1].output == 1);
  REQUIRE(b.sessions.size() == 1);
  CHECK(b.sessions[0].config_index == 2);  // not 0: the third session of the file
  CHECK(b.policy.sessions.size() == 1);
}

TEST_CASE("planner: a routed tunnel input to pcapng receives, with no named session") {
  const std::string out = "/tmp/mirrorpipe-planner-test.pcapng";  // never opened by the planner
  const std::string text = "[[ports]]\nname = \"in\"\nrole = \"tunnel-input\"\ndevargs = \"net_null0\"\n"
                           "[[ports]]\nname = \"out\"\nrole = \"output\"\nfile = \"" + out + "\"\n"
                           "[[routes]]\ninput = \"in\"\noutput = \"out\"\n";
  const EngineConfig cfg = load_config_text(text, "route.toml");
  const auto routes = plan_routes(cfg, topology_of(cfg, 0, false, false), {});
  const Route& r = (*routes)[0];
  CHECK(r.pipeline.mode == PipelineMode::kDecap);
  CHECK(r.receive);
  REQUIRE(r.sessions.size() == 1);
  CHECK(r.sessions[0].config_index == SessionSinks::kNoSessionId);
  CHECK(r.sessions[0].any_keeps_meta);
  CHECK(r.sessions[0].sinks[0].stamp_file_meta);  // a live input into a file: timestamped
}

TEST_CASE("planner: an appliance returns on its own port, with its MAC, and blocks what the hook says") {
  const std::string text = R"(
[appliance]
drop_flows = ["tcp 192.0.2.1:1000 192.0.2.2:80", "gre 192.0.2.3 192.0.2.4"]
[[ports]]
name = "gwlb"
role = "appliance"
devargs = "net_null0"
ip = "10.0.0.5"
)";
  const EngineConfig cfg = load_config_text(text, "appliance.toml");
  PortTopology topo = topology_of(cfg, 8500, false, false);
  // The runtime adds the port's replies as an output.
  topo.outputs.push_back(PortTopology::Output{8500, false, false, kInMac});
  topo.hosts.push_back(PortTopology::Host{0, kInMac, 0, -1, -1, nullptr});
  const FlowRule live = parse_flow_rule("icmp 198.51.100.1 198.51.100.2");
  const FlowRule lifted = cfg.appliance.drop_flows[0];
  const auto blocked = blocked_flows(cfg, {live}, {lifted});
  REQUIRE(blocked.size() == 2);
  CHECK(blocked[0] == cfg.appliance.drop_flows[1]);
  CHECK(blocked[1] == live);
  const auto routes = plan_routes(cfg, topo, blocked);
  const Route& r = (*routes)[0];
  CHECK(r.appliance);
  CHECK(r.return_output == 0);
  CHECK(r.appliance_cfg.mac == kInMac);
  CHECK(r.appliance_cfg.ttl == 64);
  CHECK(r.host.enabled);
  CHECK(r.host.mac == kInMac);
  CHECK_FALSE(r.verdicts.empty());
  CHECK_FALSE(r.staged_appliance);  // verdicts decide per flow: one packet at a time
}

TEST_CASE("planner: an appliance takes its bursts in stages only where nothing but the packet decides") {
  const std::string base = "[[ports]]\nname = \"gwlb\"\nrole = \"appliance\"\ndevargs = \"net_null0\"\n";
  struct Case {
    const char* port_extra;
    const char* rest;
    bool staged;
  };
  const Case cases[] = {
      {"", "", true},
      {"ip = \"10.0.0.5\"\n", "", true},  // the host's traffic is never UDP to the Geneve port
      {"allow_sources = [\"10.0.0.0/8\"]\n", "", false},
      {"", "[[ports]]\nname = \"tap\"\nrole = \"output\"\ndevargs = \"net_null1\"\n"
           "[[sessions]]\nname = \"s\"\ninput = \"gwlb\"\nsinks = [\"tap\"]\n", false},
  };
  for (const Case& c : cases) {
    const std::string text = base + c.port_extra + c.rest;
    INFO(text);
    const EngineConfig cfg = load_config_text(text, "appliance.toml");
    PortTopology topo = topology_of(cfg, 8500, false, false);
    topo.outputs.push_back(PortTopology::Output{8500, false, false, kInMac});
    topo.hosts.push_back(PortTopology::Host{0, kInMac, 0, -1, -1, nullptr});
    const auto routes = plan_routes(cfg, topo, {});
    const Route& r = (*routes)[0];
    REQUIRE(r.appliance);
    CHECK(r.staged_appliance == c.staged);
  }
}

TEST_CASE("planner: fan-out shares the packet as every copy's payload only where every copy chains and cuts alike") {
  const std::string base = R"(
[[ports]]
name = "in"
role = "mirror-input"
devargs = "net_null0"
[[ports]]
name = "o1"
role = "output"
devargs = "net_null1"
[[ports]]
name = "o2"
role = "output"
devargs = "net_null2"
[[targets]]
name = "a"
output = "o1"
tunnel = "vxlan"
src_ip = "10.0.0.1"
dst_ip = "10.0.0.2"
dst_mac = "02:00:00:00:00:99"
vni = 1
%A%
[[targets]]
name = "b"
output = "o2"
tunnel = "vxlan"
src_ip = "10.0.0.1"
dst_ip = "10.0.0.3"
dst_mac = "02:00:00:00:00:99"
vni = 2
%B%
[[targets]]
name = "c"
output = "o2"
tunnel = "vxlan"
src_ip = "10.0.0.1"
dst_ip = "10.0.0.4"
dst_mac = "02:00:00:00:00:99"
vni = 3
%C%
[[pools]]
name = "p"
members = ["b", "c"]
[[sessions]]
name = "s"
input = "in"
number = 1
sinks = %SINKS%
)";
  // The last sink's flag, for target options a, b, c, the session's sinks and whether o2 chains;
  // the session's shared_one_output in `one_output`.
  bool one_output = false;
  auto shared = [&](const std::string& a, const std::string& b, const std::string& c, const std::string& sinks,
                    bool o2_chains = true) {
    std::string text = base;
    text.replace(text.find("%A%"), 3, a);
    text.replace(text.find("%B%"), 3, b);
    text.replace(text.find("%C%"), 3, c);
    text.replace(text.find("%SINKS%"), 7, sinks);
    const EngineConfig cfg = load_config_text(text, "fan.toml");
    PortTopology topo = topology_of(cfg, 9001, false, false);
    topo.outputs[0].multi_seg = true;
    topo.outputs[1].multi_seg = o2_chains;
    const auto routes = plan_routes(cfg, topo, {});
    const auto& ms = (*routes)[0].mirror_sessions;
    REQUIRE(ms.size() == 1);
    for (size_t i = 0; i + 1 < ms[0].sinks.size(); ++i) CHECK_FALSE(ms[0].sinks[i].share_payload);  // the last's alone
    one_output = ms[0].shared_one_output;
    return ms[0].sinks.back().share_payload;
  };
  // Written a burst at a time (Worker::fan_burst): shared, no pool, one output.
  CHECK(shared("", "", "", R"(["b", "c"])"));
  CHECK(one_output);
  CHECK(shared("packet_length = 100", "packet_length = 100", "packet_length = 100", R"(["c", "b"])"));
  CHECK(one_output);
  CHECK_FALSE(shared("", "", "", R"(["b", "c"])", false));  // o2 copies: nothing shared
  CHECK_FALSE(one_output);
  CHECK(shared("", "", "", R"(["a", "b"])"));
  CHECK_FALSE(one_output);  // two outputs
  CHECK(shared("", "", "", R"(["a", "p"])"));                                            // a pool: its members
  CHECK_FALSE(one_output);                                                                // (a pool, and two outputs)
  CHECK(shared("", "", "", R"(["b", "p"])"));
  CHECK_FALSE(one_output);                                                                // a pool, on one output
  CHECK(shared("packet_length = 100", "packet_length = 100", "packet_length = 100", R"(["a", "p"])"));
  CHECK_FALSE(shared("", "", "", R"(["a"])"));                                            // one sink: nothing to share
  CHECK_FALSE(shared("", "", "", R"(["a", "b"])", false));                                // o2 copies
  CHECK_FALSE(shared("packet_length = 100", "", "", R"(["a", "b"])"));                   // cut differently
  CHECK_FALSE(shared("", "", "packet_length = 100", R"(["a", "p"])"));                   // a member cuts differently
  CHECK_FALSE(shared("", "", "", R"(["a", "o2"])"));                                      // a raw sink is no chain
}
