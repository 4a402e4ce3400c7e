#include "engine/runtime/metrics.h"

#include <civetweb.h>
#include <rte_ethdev.h>

#include <cstring>
#include <sstream>
#include <stdexcept>

#include "encap/drop_reason.h"
#include "engine/runtime/ethdev.h"

namespace mirrorpipe {

namespace {

// A label value: backslash, double quote and newline escaped (the exposition format's rule).
std::string quoted(const std::string& v) {
  std::string out = "\"";
  for (char ch : v) {
    if (ch == '\\' || ch == '"') out += '\\';
    if (ch == '\n') {
      out += "\\n";
      continue;
    }
    out += ch;
  }
  return out + "\"";
}

// A counter field's metric name: "truncated.slice" -> "truncated_slice".
std::string metric_name(const char* field) {
  std::string n = field;
  for (char& ch : n) ch = ch == '.' ? '_' : ch;
  return n;
}

class Writer {
 public:
  explicit Writer(std::ostringstream& os) : os_(os) {}
  // One family's header, once: HELP and TYPE.
  void family(const std::string& name, const char* type, const std::string& help) {
    os_ << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
  }
  void sample(const std::string& name, const std::string& labels, uint64_t v) {
    os_ << name;
    if (!labels.empty()) os_ << "{" << labels << "}";
    os_ << " " << v << "\n";
  }
  void sample(const std::string& name, const std::string& labels, double v) {
    os_ << name;
    if (!labels.empty()) os_ << "{" << labels << "}";
    os_ << " " << v << "\n";
  }

 private:
  std::ostringstream& os_;
};

int handle_metrics(mg_connection* conn, void* arg) {
  const auto* server = static_cast<const MetricsServer*>(arg);
  const std::string body = server->render();
  mg_printf(conn,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
            "Content-Length: %zu\r\nConnection: close\r\n\r\n",
            body.size());
  mg_write(conn, body.data(), body.size());
  return 200;
}

}  // namespace

MetricsServer::MetricsServer(const std::string& listen, const TelemetryView* view, std::string build_info)
    : view_(view), build_info_(std::move(build_info)) {
  mg_init_library(0);
  const char* options[] = {"listening_ports", listen.c_str(), "num_threads", "2", nullptr};
  mg_callbacks callbacks{};
  ctx_ = mg_start(&callbacks, nullptr, options);
  if (!ctx_) {
    mg_exit_library();
    throw std::runtime_error("[metrics] listen = \"" + listen + "\": cannot listen there (in use, or not an address "
                             "of this machine)");
  }
  mg_set_request_handler(ctx_, "/metrics$", handle_metrics, const_cast<MetricsServer*>(this));
}

MetricsServer::~MetricsServer() {
  mg_stop(ctx_);
  mg_exit_library();
}

std::string MetricsServer::render() const {
  const TelemetryView& v = *view_;
  std::vector<WorkerStats> workers(v.published.size());
  for (size_t w = 0; w < v.published.size(); ++w) load_stats(*v.published[w], workers[w]);

  std::ostringstream os;
  Writer out(os);
  out.family("mirrorpipe_build_info", "gauge", "The build: version, git revision, build type, DPDK.");
  out.sample("mirrorpipe_build_info", build_info_, uint64_t{1});

  // Inputs: every declared counter, then the ends by reason.
  std::vector<InputCounters> inputs(v.inputs.size());
  for (const auto& w : workers) {
    for (size_t i = 0; i < v.inputs.size(); ++i) inputs[i] += w.inputs[i];
  }
  if (!inputs.empty()) {
    inputs[0].for_each_field([&](const char* name, const char* label, int, uint64_t) {
      // Durations in seconds, as Prometheus names them: "..._ns_sum" -> "..._seconds_total".
      std::string base = metric_name(name);
      const bool ns = base.size() > 7 && base.compare(base.size() - 7, 7, "_ns_sum") == 0;
      if (ns) base = base.substr(0, base.size() - 7) + "_seconds";
      const std::string m = "mirrorpipe_input_" + base + "_total";
      out.family(m, "counter", std::string("Per input: ") + label + (ns ? " (in seconds)." : "."));
      for (size_t i = 0; i < inputs.size(); ++i) {
        inputs[i].for_each_field([&](const char* n2, const char*, int, uint64_t value) {
          if (std::strcmp(n2, name) != 0) return;
          if (ns) out.sample(m, "input=" + quoted(v.inputs[i]), static_cast<double>(value) / 1e9);
          else out.sample(m, "input=" + quoted(v.inputs[i]), value);
        });
      }
    });
  }
  out.family("mirrorpipe_input_dropped_total", "counter", "Per input: packets dropped, by reason.");
  for (size_t i = 0; i < inputs.size(); ++i) {
    for (size_t r = 1; r <= kDropReasonCount; ++r) {
      out.sample("mirrorpipe_input_dropped_total",
                 "input=" + quoted(v.inputs[i]) + ",reason=" + quoted(std::string(kDropReasonNames[r])), inputs[i].dropped[r]);
    }
  }
  out.family("mirrorpipe_input_filtered_total", "counter", "Per input: packets filtered by policy, by reason.");
  for (size_t i = 0; i < inputs.size(); ++i) {
    for (size_t r = 1; r <= kFilterReasonCount; ++r) {
      out.sample("mirrorpipe_input_filtered_total",
                 "input=" + quoted(v.inputs[i]) + ",reason=" + quoted(std::string(kFilterReasonNames[r])), inputs[i].filtered_by[r]);
    }
  }

  // Outputs.
  std::vector<OutputCounters> outputs(v.outputs.size());
  for (const auto& w : workers) {
    for (size_t o = 0; o < v.outputs.size(); ++o) outputs[o] += w.outputs[o];
  }
  out.family("mirrorpipe_output_packets_total", "counter", "Per output: packets given to it.");
  for (size_t o = 0; o < outputs.size(); ++o) out.sample("mirrorpipe_output_packets_total", "output=" + quoted(v.outputs[o]), outputs[o].tx);
  out.family("mirrorpipe_output_bytes_total", "counter", "Per output: bytes given to it.");
  for (size_t o = 0; o < outputs.size(); ++o) out.sample("mirrorpipe_output_bytes_total", "output=" + quoted(v.outputs[o]), outputs[o].tx_bytes);
  out.family("mirrorpipe_output_dropped_total", "counter", "Per output: copies meant for it that did not go, by reason.");
  for (size_t o = 0; o < outputs.size(); ++o) {
    for (size_t r = 1; r <= kDropReasonCount; ++r) {
      if (outputs[o].dropped[r]) {
        out.sample("mirrorpipe_output_dropped_total", "output=" + quoted(v.outputs[o]) + ",reason=" + quoted(std::string(kDropReasonNames[r])),
                   outputs[o].dropped[r]);
      }
    }
  }

  // Workers: their load.
  out.family("mirrorpipe_worker_packets_total", "counter", "Per worker: packets received.");
  for (size_t w = 0; w < workers.size(); ++w) {
    InputCounters t;
    for (size_t i = 0; i < v.inputs.size(); ++i) t += workers[w].inputs[i];
    out.sample("mirrorpipe_worker_packets_total", "worker=\"" + std::to_string(w) + "\"", t.rx);
  }
  out.family("mirrorpipe_worker_polls_total", "counter", "Per worker: receive polls made.");
  for (size_t w = 0; w < workers.size(); ++w) out.sample("mirrorpipe_worker_polls_total", "worker=\"" + std::to_string(w) + "\"", workers[w].polls);
  out.family("mirrorpipe_worker_busy_polls_total", "counter", "Per worker: receive polls that returned packets.");
  for (size_t w = 0; w < workers.size(); ++w) {
    out.sample("mirrorpipe_worker_busy_polls_total", "worker=\"" + std::to_string(w) + "\"", workers[w].busy_polls);
  }

  // Sessions.
  if (!v.sessions.empty()) {
    std::vector<SessionCounters> sessions(v.sessions.size());
    for (const auto& w : workers) {
      for (size_t s = 0; s < v.sessions.size(); ++s) sessions[s] += w.sessions[s];
    }
    sessions[0].for_each_field([&](const char* name, const char* label, int, uint64_t) {
      const std::string m = "mirrorpipe_session_" + metric_name(name) + "_total";
      out.family(m, "counter", std::string("Per session: ") + label + ".");
      for (size_t s = 0; s < sessions.size(); ++s) {
        sessions[s].for_each_field([&](const char* n2, const char*, int, uint64_t value) {
          if (std::strcmp(n2, name) == 0) out.sample(m, "session=" + quoted(v.sessions[s]), value);
        });
      }
    });
  }

  // Per rule: the hits of each rule of each session's filter (the rule that decided).
  if (!v.sessions.empty() && v.rules) {
    std::vector<std::vector<SessionRules::Rule>> rules;
    {
      std::lock_guard lock(v.rules->mutex);
      rules = v.rules->sessions;
    }
    std::vector<SessionCounters> sessions(v.sessions.size());
    for (const auto& w : workers) {
      for (size_t s = 0; s < v.sessions.size(); ++s) sessions[s] += w.sessions[s];
    }
    out.family("mirrorpipe_session_rule_hits_total", "counter",
               "Per session and filter rule: packets that rule decided (accepted or rejected).");
    for (size_t s = 0; s < rules.size() && s < sessions.size(); ++s) {
      for (const auto& r : rules[s]) {
        out.sample("mirrorpipe_session_rule_hits_total",
                   "session=" + quoted(v.sessions[s]) + ",direction=\"" + r.direction + "\",rule=\"" +
                       std::to_string(r.number) + "\"",
                   sessions[s].rule_hits[r.index]);
      }
    }
  }

  // Pools: each member's state and copies.
  if (v.pools) {
    std::vector<PoolStates::Pool> pools;
    {
      std::lock_guard lock(v.pools->mutex);
      pools = v.pools->published;
    }
    if (!pools.empty()) {
      out.family("mirrorpipe_pool_member_up", "gauge", "Per pool member: 1 in service (healthy, not drained), else 0.");
      out.family("mirrorpipe_pool_member_healthy", "gauge", "Per pool member: 1 healthy by its checks, else 0.");
      out.family("mirrorpipe_pool_member_flow_share", "gauge", "Per pool member: its share of the Maglev table.");
      out.family("mirrorpipe_pool_member_copies_total", "counter", "Per pool member: packets sent to it.");
      out.family("mirrorpipe_pool_member_checks_total", "counter", "Per pool member: health checks, by result.");
      out.family("mirrorpipe_pool_fail_open", "gauge", "Per pool: 1 when no member is in service (flows spread over all).");
      out.family("mirrorpipe_pool_fail_open_copies_total", "counter", "Per pool: packets sent while failing open.");
    }
    for (size_t p = 0; p < pools.size(); ++p) {
      PoolCounters pc;
      for (const auto& w : workers) pc += w.pools[p];
      const std::string pl = "pool=" + quoted(pools[p].name);
      out.sample("mirrorpipe_pool_fail_open", pl, uint64_t{pools[p].fail_open});
      out.sample("mirrorpipe_pool_fail_open_copies_total", pl, pc.fail_open);
      for (size_t m = 0; m < pools[p].members.size(); ++m) {
        const auto& mem = pools[p].members[m];
        const std::string ml = pl + ",member=" + quoted(mem.name);
        out.sample("mirrorpipe_pool_member_up", ml, uint64_t{mem.in_service()});
        out.sample("mirrorpipe_pool_member_healthy", ml, uint64_t{mem.health.healthy()});
        out.sample("mirrorpipe_pool_member_flow_share", ml, mem.flow_share);
        out.sample("mirrorpipe_pool_member_copies_total", ml, pc.member_copies[m]);
        out.sample("mirrorpipe_pool_member_checks_total", ml + ",result=\"passed\"", mem.health.passed());
        out.sample("mirrorpipe_pool_member_checks_total", ml + ",result=\"failed\"", mem.health.failed());
      }
    }
  }

  // The DPDK ports' own counters.
  const struct {
    const char* name;
    const char* help;
    uint64_t rte_eth_stats::*field;
  } pmd[] = {
      {"mirrorpipe_port_rx_packets_total", "Per DPDK port: packets the driver received.", &rte_eth_stats::ipackets},
      {"mirrorpipe_port_tx_packets_total", "Per DPDK port: packets the driver sent.", &rte_eth_stats::opackets},
      {"mirrorpipe_port_rx_bytes_total", "Per DPDK port: bytes the driver received.", &rte_eth_stats::ibytes},
      {"mirrorpipe_port_tx_bytes_total", "Per DPDK port: bytes the driver sent.", &rte_eth_stats::obytes},
      {"mirrorpipe_port_rx_missed_total", "Per DPDK port: packets the NIC dropped, its RX ring full.", &rte_eth_stats::imissed},
      {"mirrorpipe_port_rx_errors_total", "Per DPDK port: erroneous packets received.", &rte_eth_stats::ierrors},
      {"mirrorpipe_port_tx_errors_total", "Per DPDK port: packets the driver failed to send.", &rte_eth_stats::oerrors},
      {"mirrorpipe_port_rx_nombuf_total", "Per DPDK port: receive buffer allocation failures.", &rte_eth_stats::rx_nombuf},
  };
  std::vector<rte_eth_stats> stats(v.ethdevs.size());
  for (size_t i = 0; i < v.ethdevs.size(); ++i) {
    if (rte_eth_stats_get(v.ethdevs[i].second, &stats[i]) != 0) stats[i] = rte_eth_stats{};
  }
  for (const auto& f : pmd) {
    out.family(f.name, "counter", f.help);
    for (size_t i = 0; i < v.ethdevs.size(); ++i) out.sample(f.name, "port=" + quoted(v.ethdevs[i].first), stats[i].*f.field);
  }
  // What the control loop counts per port (the link changes), and the link as it last read it.
  if (v.links && v.links->size() == v.ethdevs.size()) {
    std::vector<PortCounters> ports(v.ethdevs.size());
    for (size_t i = 0; i < ports.size(); ++i) ports[i] = v.links->counters(i);
    PortCounters{}.for_each_field([&](const char* name, const char* label, int, uint64_t) {
      const std::string m = "mirrorpipe_port_" + metric_name(name) + "_total";
      out.family(m, "counter", std::string("Per DPDK port: ") + label + ".");
      for (size_t i = 0; i < ports.size(); ++i) {
        ports[i].for_each_field([&](const char* n2, const char*, int, uint64_t value) {
          if (std::strcmp(n2, name) == 0) out.sample(m, "port=" + quoted(v.ethdevs[i].first), value);
        });
      }
    });
    out.family("mirrorpipe_port_link_up", "gauge", "Per DPDK port: 1 while its link is up, as last read (about once a second).");
    out.family("mirrorpipe_port_link_speed_mbps", "gauge", "Per DPDK port: its link speed in Mbit/s, 0 when down or unknown.");
    for (size_t i = 0; i < ports.size(); ++i) {
      const LinkState link = v.links->state(i);
      out.sample("mirrorpipe_port_link_up", "port=" + quoted(v.ethdevs[i].first), uint64_t{link.up});
      out.sample("mirrorpipe_port_link_speed_mbps", "port=" + quoted(v.ethdevs[i].first), uint64_t{link.speed_mbps});
    }
  }
  return os.str();
}

}  // namespace mirrorpipe
