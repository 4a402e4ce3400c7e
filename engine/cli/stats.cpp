#include "engine/cli/stats.h"

#include <iomanip>

namespace mirrorpipe {

nlohmann::json counters_json(const InputCounters& c) {
  nlohmann::json dropped = nlohmann::json::object();
  for (size_t i = 1; i <= kDropReasonCount; ++i) {
    dropped[std::string(kDropReasonNames[i])] = c.dropped[i];
  }
  return {{"packets_in", c.rx},          {"packets_out", c.sent},
          {"filtered", c.filtered},      {"dropped", dropped},
          {"dropped_total", c.dropped_total()}, {"bytes_in", c.rx_bytes},
          {"bytes_out", c.sent_bytes},
          {"truncated", {{"packet_length", c.truncated_packet_length}, {"mtu", c.truncated_mtu}}},
          {"host", {{"replies", c.host_replies}, {"to_tap", c.to_host}}}};
}

nlohmann::json report_json(const EngineReport& r) {
  nlohmann::json j = counters_json(r.total());
  j["seconds"] = r.seconds;
  j["inputs"] = nlohmann::json::object();
  for (const auto& i : r.inputs) j["inputs"][i.name] = counters_json(i.counters);
  j["outputs"] = nlohmann::json::object();
  for (const auto& o : r.outputs) {
    nlohmann::json dropped = nlohmann::json::object();
    for (size_t i = 1; i <= kDropReasonCount; ++i) {
      if (o.counters.dropped[i]) dropped[std::string(kDropReasonNames[i])] = o.counters.dropped[i];
    }
    j["outputs"][o.name] = {{"packets", o.counters.tx},
                            {"bytes", o.counters.tx_bytes},
                            {"dropped", dropped},
                            {"dropped_total", o.counters.dropped_total()}};
  }
  FlowCounters flows;
  for (const auto& w : r.workers) flows += w.flows;
  j["flow_table"] = {{"inserted", flows.table.inserted},   {"refreshed", flows.table.refreshed},
                     {"expired", flows.table.expired},     {"evicted", flows.table.evicted},
                     {"cookie_changes", flows.table.cookie_changes}, {"lookups", flows.lookups},
                     {"misses", flows.misses}};
  j["ports"] = nlohmann::json::object();
  for (const auto& p : r.ports) {
    j["ports"][p.name] = {{"driver", p.driver},        {"ipackets", p.pmd.ipackets},
                          {"opackets", p.pmd.opackets}, {"ibytes", p.pmd.ibytes},
                          {"obytes", p.pmd.obytes},     {"imissed", p.pmd.imissed},
                          {"ierrors", p.pmd.ierrors},   {"oerrors", p.pmd.oerrors},
                          {"rx_nombuf", p.pmd.rx_nombuf}};
  }
  j["notes"] = r.notes;
  j["write_errors"] = r.write_errors;
  j["inputs_truncated"] = r.inputs_truncated;
  j["inputs_damaged"] = r.inputs_damaged;
  j["files_written"] = r.files_written;
  j["workers"] = nlohmann::json::array();
  for (const auto& w : r.workers) {
    InputCounters t;
    for (size_t i = 0; i < r.inputs.size(); ++i) t += w.inputs[i];
    nlohmann::json wj = counters_json(t);
    wj["polls"] = w.polls;
    wj["busy_polls"] = w.busy_polls;
    j["workers"].push_back(wj);
  }
  return j;
}

namespace {
void row(std::ostream& os, const std::string& label, uint64_t v, int indent = 2) {
  os << std::string(indent, ' ') << std::left << std::setw(26 - indent) << label << std::right
     << std::setw(14) << v << "\n";
}
}  // namespace

void print_counters_table(std::ostream& os, const InputCounters& c) {
  row(os, "packets in", c.rx);
  row(os, "packets out", c.sent);
  row(os, "filtered", c.filtered);
  row(os, "dropped", c.dropped_total());
  if (c.truncated_packet_length) row(os, "(truncated: PacketLength)", c.truncated_packet_length);
  if (c.truncated_mtu) row(os, "(truncated: output MTU)", c.truncated_mtu);
  if (c.host_replies) row(os, "(ARP/ICMP answered)", c.host_replies);
  if (c.to_host) row(os, "(to the exception TAP)", c.to_host);
  for (size_t i = 1; i <= kDropReasonCount; ++i) {
    if (c.dropped[i] == 0) continue;
    os << "    " << std::left << std::setw(22) << kDropReasonNames[i] << std::right << std::setw(14)
       << c.dropped[i] << "  " << kDropReasonDescriptions[i] << "\n";
  }
}

void print_report(std::ostream& os, const EngineReport& r) {
  for (const auto& i : r.inputs) {
    os << "input " << i.name << ":\n";
    print_counters_table(os, i.counters);
  }
  for (const auto& o : r.outputs) {
    os << "output " << o.name << ":\n";
    row(os, "packets", o.counters.tx);
    row(os, "bytes", o.counters.tx_bytes);
  }
  for (const auto& p : r.ports) {
    os << "port " << p.name << " (" << p.driver << ", the driver's own counters):\n";
    row(os, "ipackets", p.pmd.ipackets);
    row(os, "opackets", p.pmd.opackets);
    row(os, "imissed", p.pmd.imissed);
    row(os, "ierrors", p.pmd.ierrors);
    row(os, "oerrors", p.pmd.oerrors);
    row(os, "rx_nombuf", p.pmd.rx_nombuf);
  }
  for (const auto& n : r.notes) os << n << "\n";
  if (r.workers.size() > 1) {
    for (size_t w = 0; w < r.workers.size(); ++w) {
      InputCounters t;
      for (size_t i = 0; i < r.inputs.size(); ++i) t += r.workers[w].inputs[i];
      os << "worker " << w << ": " << t.rx << " in, " << t.sent << " out, " << t.dropped_total()
         << " dropped\n";
    }
  }
}

}  // namespace mirrorpipe
