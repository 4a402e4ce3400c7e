#include "engine/runtime/telemetry.h"

#include "engine/config/config.h"
#include "engine/runtime/ethdev.h"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_telemetry.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>

namespace mirrorpipe {

std::vector<std::vector<SessionRules::Rule>> session_rules_of(const EngineConfig& cfg) {
  std::vector<std::vector<SessionRules::Rule>> out(cfg.sessions.size());
  for (size_t si = 0; si < cfg.sessions.size(); ++si) {
    const FilterConfig* f = cfg.filter(cfg.sessions[si].filter);
    if (!f) continue;
    for (size_t i = 0; i < f->filter.ingress.size(); ++i) out[si].push_back({i, "ingress", f->filter.ingress[i].number});
    for (size_t i = 0; i < f->filter.egress.size(); ++i) {
      out[si].push_back({kMaxRulesPerDirection + i, "egress", f->filter.egress[i].number});
    }
  }
  return out;
}
namespace {

std::mutex g_mutex;  // held by a telemetry callback while it reads, and by attach/detach
const TelemetryView* g_view = nullptr;

InputCounters sum_inputs(const TelemetryView& v, int only = -1) {
  InputCounters total;
  for (const WorkerStats* p : v.published) {
    WorkerStats ws;
    load_stats(*p, ws);
    for (size_t i = 0; i < v.inputs.size(); ++i) {
      if (only < 0 || static_cast<size_t>(only) == i) total += ws.inputs[i];
    }
  }
  return total;
}

// Every field, by its declared name with '.' as '_' (engine/pipeline/counters.h).
template <class Counters>
void put_fields(rte_tel_data* d, const Counters& c) {
  c.for_each_field([&](const char* name, const char*, int, uint64_t v) {
    std::string key = name;
    for (char& ch : key) ch = ch == '.' ? '_' : ch;
    rte_tel_data_add_dict_u64(d, key.c_str(), v);
  });
}

void put_counters(rte_tel_data* d, const InputCounters& c) {
  put_fields(d, c);
  rte_tel_data_add_dict_u64(d, "dropped_total", c.dropped_total());
  rte_tel_data_add_dict_u64(d, "filtered", c.filtered());
  for (size_t i = 1; i <= kFilterReasonCount; ++i) {
    const std::string key = "filtered_" + std::string(kFilterReasonNames[i]);
    rte_tel_data_add_dict_u64(d, key.c_str(), c.filtered_by[i]);
  }
  for (size_t i = 1; i <= kDropReasonCount; ++i) {
    const std::string key = "dropped_" + std::string(kDropReasonNames[i]);
    rte_tel_data_add_dict_u64(d, key.c_str(), c.dropped[i]);
  }
}

int index_of(const std::vector<std::string>& names, const char* params) {
  if (!params) return -1;
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == params) return static_cast<int>(i);
  }
  return -1;
}

int cmd_stats(const char*, const char*, rte_tel_data* d) {
  std::lock_guard lock(g_mutex);
  if (!g_view) return -1;
  rte_tel_data_start_dict(d);
  put_counters(d, sum_inputs(*g_view));
  rte_tel_data_add_dict_u64(d, "workers", g_view->published.size());
  rte_tel_data_add_dict_u64(d, "uptime_ms", (rte_get_tsc_cycles() - g_view->start_tsc) * 1000 / rte_get_tsc_hz());
  return 0;
}

int list(const std::vector<std::string>& names, rte_tel_data* d) {
  rte_tel_data_start_array(d, RTE_TEL_STRING_VAL);
  for (const auto& n : names) rte_tel_data_add_array_string(d, n.c_str());
  return 0;
}

int cmd_inputs(const char*, const char*, rte_tel_data* d) {
  std::lock_guard lock(g_mutex);
  return g_view ? list(g_view->inputs, d) : -1;
}

int cmd_input(const char*, const char* params, rte_tel_data* d) {
  std::lock_guard lock(g_mutex);
  if (!g_view) return -1;
  const int i = index_of(g_view->inputs, params);
  if (i < 0) return -1;
  rte_tel_data_start_dict(d);
  put_counters(d, sum_inputs(*g_view, i));
  return 0;
}

int cmd_outputs(const char*, const char*, rte_tel_data* d) {
  std::lock_guard lock(g_mutex);
  return g_view ? list(g_view->outputs, d) : -1;
}

int cmd_output(const char*, const char* params, rte_tel_data* d) {
  std::lock_guard lock(g_mutex);
  if (!g_view) return -1;
  const int o = index_of(g_view->outputs, params);
  if (o < 0) return -1;
  OutputCounters total;
  for (const WorkerStats* p : g_view->published) {
    WorkerStats ws;
    load_stats(*p, ws);
    total += ws.outputs[static_cast<size_t>(o)];
  }
  rte_tel_data_start_dict(d);
  put_fields(d, total);
  rte_tel_data_add_dict_u64(d, "dropped_total", total.dropped_total());
  for (size_t i = 1; i <= kDropReasonCount; ++i) {
    const std::string key = "dropped_" + std::string(kDropReasonNames[i]);
    rte_tel_data_add_dict_u64(d, key.c_str(), total.dropped[i]);
  }
  return 0;
}

int cmd_workers(const char*, const char*, rte_tel_data* d) {
  std::lock_guard lock(g_mutex);
  if (!g_view) return -1;
  rte_tel_data_start_array(d, RTE_TEL_U64_VAL);
  for (const WorkerStats* p : g_view->published) {
    WorkerStats ws;
    load_stats(*p, ws);
    uint64_t rx = 0;
    for (size_t i = 0; i < g_view->inputs.size(); ++i) rx += ws.inputs[i].rx;
    rte_tel_data_add_array_u64(d, rx);
  }
  return 0;
}

int cmd_ports(const char*, const char*, rte_tel_data* d) {
  std::lock_guard lock(g_mutex);
  if (!g_view) return -1;
  rte_tel_data_start_array(d, RTE_TEL_STRING_VAL);
  for (const auto& [name, id] : g_view->ethdevs) rte_tel_data_add_array_string(d, name.c_str());
  return 0;
}

// The PMD's own counters: what the NIC or kernel ring dropped before the engine saw a packet.
int cmd_port(const char*, const char* params, rte_tel_data* d) {
  std::lock_guard lock(g_mutex);
  if (!g_view || !params) return -1;
  for (size_t i = 0; i < g_view->ethdevs.size(); ++i) {
    const auto& [name, id] = g_view->ethdevs[i];
    if (name != params) continue;
    rte_eth_stats s{};
    if (rte_eth_stats_get(id, &s) != 0) return -1;
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_u64(d, "ipackets", s.ipackets);
    rte_tel_data_add_dict_u64(d, "opackets", s.opackets);
    rte_tel_data_add_dict_u64(d, "imissed", s.imissed);
    rte_tel_data_add_dict_u64(d, "ierrors", s.ierrors);
    rte_tel_data_add_dict_u64(d, "oerrors", s.oerrors);
    rte_tel_data_add_dict_u64(d, "rx_nombuf", s.rx_nombuf);
    // The link as the control loop last read it, and what it counted on this port.
    if (g_view->links) {
      const LinkState link = g_view->links->state(i);
      rte_tel_data_add_dict_u64(d, "link_up", link.up);
      rte_tel_data_add_dict_u64(d, "link_speed_mbps", link.speed_mbps);
      g_view->links->counters(i).for_each_field([&](const char* key, const char*, int, uint64_t v) {
        rte_tel_data_add_dict_u64(d, key, v);
      });
    }
    return 0;
  }
  return -1;
}

// The verdict hook: "drop RULE", "accept RULE" (forward it again) or "clear" (only the
// configuration's rules). Queued for the control loop, which publishes a new snapshot.
int cmd_verdict(const char*, const char* params, rte_tel_data* d) {
  std::lock_guard lock(g_mutex);
  if (!g_view || !g_view->verdicts) return -1;
  const std::string p = params ? params : "";
  const size_t space = p.find(' ');
  const std::string verb = p.substr(0, space);
  rte_tel_data_start_dict(d);
  try {
    VerdictVerb v;
    FlowRule rule;
    if (verb == "clear") {
      v = VerdictVerb::kClear;
    } else if (verb == "drop" || verb == "accept") {
      v = verb == "drop" ? VerdictVerb::kDrop : VerdictVerb::kAccept;
      rule = parse_flow_rule(space == std::string::npos ? "" : p.substr(space + 1));
    } else {
      throw std::invalid_argument("expected drop RULE, accept RULE or clear");
    }
    std::lock_guard q(g_view->verdicts->mutex);
    g_view->verdicts->pending.emplace_back(v, rule);
    rte_tel_data_add_dict_string(d, "queued", verb.c_str());
  } catch (const std::exception& e) {
    rte_tel_data_add_dict_string(d, "error", e.what());
  }
  return 0;
}

// The pools: "" lists them; "POOL" shows one (state, share, checks and copies per member);
// "drain POOL MEMBER" and "undrain POOL MEMBER" queue a change for the control loop.
int cmd_pool(const char*, const char* params, rte_tel_data* d) {
  std::lock_guard lock(g_mutex);
  if (!g_view || !g_view->pools) return -1;
  std::istringstream words(params ? params : "");
  std::vector<std::string> w;
  for (std::string x; words >> x;) w.push_back(x);
  std::lock_guard q(g_view->pools->mutex);
  const auto& pools = g_view->pools->published;
  rte_tel_data_start_dict(d);
  auto find = [&](const std::string& name) -> const PoolStates::Pool* {
    for (const auto& p : pools) {
      if (p.name == name) return &p;
    }
    return nullptr;
  };
  if (w.empty()) {
    for (const auto& p : pools) rte_tel_data_add_dict_u64(d, p.name.c_str(), p.members.size());
    return 0;
  }
  if (w.size() == 3 && (w[0] == "drain" || w[0] == "undrain")) {
    const PoolStates::Pool* p = find(w[1]);
    bool known = false;
    if (p) {
      for (const auto& m : p->members) known = known || m.name == w[2];
    }
    if (!known) {
      rte_tel_data_add_dict_string(d, "error", ("no member '" + w[2] + "' in a pool '" + w[1] + "'").c_str());
      return 0;
    }
    g_view->pools->pending.push_back({w[0] == "drain", w[1], w[2]});
    rte_tel_data_add_dict_string(d, "queued", w[0].c_str());
    return 0;
  }
  const PoolStates::Pool* p = w.size() == 1 ? find(w[0]) : nullptr;
  if (!p) {
    rte_tel_data_add_dict_string(d, "error", "expected POOL, drain POOL MEMBER or undrain POOL MEMBER");
    return 0;
  }
  rte_tel_data_add_dict_u64(d, "fail_open", p->fail_open);
  PoolCounters counters;
  for (const WorkerStats* published : g_view->published) {
    auto ws = std::make_unique<WorkerStats>();
    load_stats(*published, *ws);
    counters += ws->pools[static_cast<size_t>(p - pools.data())];
  }
  rte_tel_data_add_dict_u64(d, "fail_open_copies", counters.fail_open);
  // DPDK 22.11's telemetry nests only arrays, and its keys allow no '-' (member names do): one
  // array per field, by member index, beside "members" with their names.
  rte_tel_data* names = rte_tel_data_alloc();
  rte_tel_data* states = rte_tel_data_alloc();
  rte_tel_data* shares = rte_tel_data_alloc();
  rte_tel_data* passed = rte_tel_data_alloc();
  rte_tel_data* failed = rte_tel_data_alloc();
  rte_tel_data* copies = rte_tel_data_alloc();
  for (rte_tel_data* a : {names, states}) {
    if (a) rte_tel_data_start_array(a, RTE_TEL_STRING_VAL);
  }
  for (rte_tel_data* a : {shares, passed, failed, copies}) {
    if (a) rte_tel_data_start_array(a, RTE_TEL_U64_VAL);
  }
  if (!names || !states || !shares || !passed || !failed || !copies) {
    for (rte_tel_data* a : {names, states, shares, passed, failed, copies}) rte_tel_data_free(a);
    return -1;
  }
  for (size_t i = 0; i < p->members.size(); ++i) {
    const auto& m = p->members[i];
    rte_tel_data_add_array_string(names, m.name.c_str());
    rte_tel_data_add_array_string(states, m.drained ? "drained" : m.health.healthy() ? "healthy" : "unhealthy");
    rte_tel_data_add_array_u64(shares, static_cast<uint64_t>(m.flow_share * 1e6 + 0.5));
    rte_tel_data_add_array_u64(passed, m.health.passed());
    rte_tel_data_add_array_u64(failed, m.health.failed());
    rte_tel_data_add_array_u64(copies, counters.member_copies[i]);
  }
  rte_tel_data_add_dict_container(d, "members", names, 0);
  rte_tel_data_add_dict_container(d, "state", states, 0);
  rte_tel_data_add_dict_container(d, "share_ppm", shares, 0);
  rte_tel_data_add_dict_container(d, "checks_passed", passed, 0);
  rte_tel_data_add_dict_container(d, "checks_failed", failed, 0);
  rte_tel_data_add_dict_container(d, "copies", copies, 0);
  return 0;
}

}  // namespace

void telemetry_register() {
  rte_telemetry_register_cmd("/mirrorpipe/stats", cmd_stats,
                             "Totals over all inputs: packets in/out, filtered, drops by reason. No parameters");
  rte_telemetry_register_cmd("/mirrorpipe/inputs", cmd_inputs, "Names of the input ports. No parameters");
  rte_telemetry_register_cmd("/mirrorpipe/input", cmd_input, "One input's counters. Parameter: input name");
  rte_telemetry_register_cmd("/mirrorpipe/outputs", cmd_outputs, "Names of the output ports. No parameters");
  rte_telemetry_register_cmd("/mirrorpipe/output", cmd_output, "One output's counters. Parameter: output name");
  rte_telemetry_register_cmd("/mirrorpipe/workers", cmd_workers, "Packets received by each worker. No parameters");
  rte_telemetry_register_cmd("/mirrorpipe/ports", cmd_ports, "Names of the DPDK ports. No parameters");
  rte_telemetry_register_cmd("/mirrorpipe/port", cmd_port,
                             "One DPDK port's own counters (imissed, ierrors...). Parameter: port name");
  rte_telemetry_register_cmd("/mirrorpipe/pool", cmd_pool,
                             "Analyzer pools. Parameters: none (the pools), POOL (its members), "
                             "drain POOL MEMBER or undrain POOL MEMBER");
  rte_telemetry_register_cmd("/mirrorpipe/verdict", cmd_verdict,
                             "Appliance verdict hook. Parameter: 'drop RULE', 'accept RULE' or 'clear'; "
                             "RULE = PROTO SRC[:PORT] DST[:PORT] [endpoint=ID]");
}

void telemetry_attach(const TelemetryView* view) {
  std::lock_guard lock(g_mutex);
  g_view = view;
}

void telemetry_detach() {
  std::lock_guard lock(g_mutex);
  g_view = nullptr;
}

namespace {

std::string socket_path(const std::string& prefix) {
  // The EAL's runtime directory: /var/run/dpdk/<prefix> for root, else under XDG_RUNTIME_DIR.
  std::string base = "/var/run";
  if (getuid() != 0) {
    const char* xdg = std::getenv("XDG_RUNTIME_DIR");
    base = xdg ? xdg : "/tmp";
  }
  return base + "/dpdk/" + prefix + "/dpdk_telemetry.v2";
}

}  // namespace

TelemetryClient::TelemetryClient(const std::string& prefix) {
  const std::string path = socket_path(prefix);
  fd_ = socket(AF_UNIX, SOCK_SEQPACKET, 0);
  if (fd_ < 0) throw std::runtime_error("telemetry: cannot create a socket");
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd_);
    fd_ = -1;
    throw std::runtime_error("no running mirrorpipe engine with EAL file prefix '" + prefix +
                             "' (no telemetry socket at " + path + ")");
  }
  // An engine that stops answering (stopped, or its telemetry thread stuck) must not hang the
  // command that asked: every send and receive gives up after kReplyTimeoutS.
  const timeval limit{kReplyTimeoutS, 0};
  if (setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit) != 0 ||
      setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit) != 0) {
    close(fd_);
    fd_ = -1;
    throw std::runtime_error("telemetry: cannot set the socket's timeouts");
  }
  std::string greeting(4096, '\0');
  if (recv(fd_, greeting.data(), greeting.size(), 0) <= 0) {
    close(fd_);
    fd_ = -1;
    throw std::runtime_error("telemetry: the engine sent no greeting");
  }
}

TelemetryClient::~TelemetryClient() {
  if (fd_ >= 0) close(fd_);
}

std::string TelemetryClient::ask(const std::string& command) {
  if (send(fd_, command.data(), command.size(), 0) < 0) throw std::runtime_error("telemetry: send failed");
  std::string buf(1 << 16, '\0');
  const ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
    throw std::runtime_error("telemetry: no reply to " + command + " within " + std::to_string(kReplyTimeoutS) + " s");
  }
  if (n <= 0) throw std::runtime_error("telemetry: no reply to " + command);
  buf.resize(static_cast<size_t>(n));
  return buf;
}

}  // namespace mirrorpipe
