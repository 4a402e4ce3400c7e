#include "engine/cli/stats.h"

#include <iomanip>

namespace mirrorpipe {

namespace {

// Every field of a counter struct (engine/pipeline/counters.h), by its declared name: "a.b"
// nests b inside object a.
template <class Counters>
void put_fields(nlohmann::json& j, const Counters& c) {
  c.for_each_field([&](const char* name, const char*, int, uint64_t v) {
    const std::string n = name;
    const size_t dot = n.find('.');
    if (dot == std::string::npos) j[n] = v;
    else j[n.substr(0, dot)][n.substr(dot + 1)] = v;
  });
}

nlohmann::json drops_json(const std::array<uint64_t, kDropReasonCount + 1>& d, bool nonzero_only) {
  nlohmann::json dropped = nlohmann::json::object();
  for (size_t i = 1; i <= kDropReasonCount; ++i) {
    if (!nonzero_only || d[i]) dropped[std::string(kDropReasonNames[i])] = d[i];
  }
  return dropped;
}

}  // namespace

nlohmann::json counters_json(const InputCounters& c) {
  nlohmann::json j = nlohmann::json::object();
  put_fields(j, c);
  j["dropped"] = drops_json(c.dropped, false);
  j["dropped_total"] = c.dropped_total();
  j["filtered"] = c.filtered();
  nlohmann::json by = nlohmann::json::object();
  for (size_t i = 1; i <= kFilterReasonCount; ++i) by[std::string(kFilterReasonNames[i])] = c.filtered_by[i];
  j["filtered_by"] = by;
  return j;
}

nlohmann::json report_json(const EngineReport& r) {
  nlohmann::json j = counters_json(r.total());
  j["seconds"] = r.seconds;
  j["inputs"] = nlohmann::json::object();
  for (const auto& i : r.inputs) j["inputs"][i.name] = counters_json(i.counters);
  j["outputs"] = nlohmann::json::object();
  for (const auto& o : r.outputs) {
    nlohmann::json oj = nlohmann::json::object();
    put_fields(oj, o.counters);
    oj["dropped"] = drops_json(o.counters.dropped, true);
    oj["dropped_total"] = o.counters.dropped_total();
    j["outputs"][o.name] = oj;
  }
  j["sessions"] = nlohmann::json::object();
  for (const auto& s : r.sessions) {
    nlohmann::json sj = nlohmann::json::object();
    put_fields(sj, s.counters);
    sj["rules"] = nlohmann::json::object();
    for (const auto& [rule, hits] : s.rule_hits) sj["rules"][rule] = hits;
    j["sessions"][s.name] = sj;
  }
  // The DPDK ports' packet-buffer pool: what a run's memory may grow to as its buffers are used.
  j["pool_mbufs"] = r.pool_mbufs;
  j["pool_data_room"] = r.pool_data_room;
  j["mempools"] = nlohmann::json::object();
  for (const auto& m : r.mempools) {
    j["mempools"][m.name] = {{"in_use_start", m.in_use_start}, {"in_use_end", m.in_use_end}};
  }
  j["pools"] = nlohmann::json::object();
  for (const auto& p : r.pools) {
    nlohmann::json pj = {{"fail_open", p.fail_open_now}, {"fail_open_copies", p.fail_open_copies},
                         {"members", nlohmann::json::object()}};
    for (const auto& m : p.members) {
      pj["members"][m.name] = {{"state", m.state}, {"flow_share", m.flow_share}, {"copies", m.copies},
                               {"checks_passed", m.checks_passed}, {"checks_failed", m.checks_failed}};
    }
    j["pools"][p.name] = pj;
  }
  FlowCounters flows;
  for (const auto& w : r.workers) flows += w.flows;
  j["flow_table"] = nlohmann::json::object();
  put_fields(j["flow_table"], flows.table);
  j["flow_table"]["lookups"] = flows.lookups;
  j["flow_table"]["misses"] = flows.misses;
  j["ports"] = nlohmann::json::object();
  for (const auto& p : r.ports) {
    j["ports"][p.name] = {{"driver", p.driver},        {"ipackets", p.pmd.ipackets},
                          {"opackets", p.pmd.opackets}, {"ibytes", p.pmd.ibytes},
                          {"obytes", p.pmd.obytes},     {"imissed", p.pmd.imissed},
                          {"ierrors", p.pmd.ierrors},   {"oerrors", p.pmd.oerrors},
                          {"rx_nombuf", p.pmd.rx_nombuf}};
    // What the control loop counted on the port, and its link at the end.
    put_fields(j["ports"][p.name], p.counters);
    j["ports"][p.name]["link_up"] = p.link_up;
    j["ports"][p.name]["link_speed_mbps"] = p.link_speed_mbps;
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
  c.for_each_field([&](const char*, const char* label, int table, uint64_t v) {
    if (table == 1) row(os, label, v);
  });
  row(os, "filtered", c.filtered());
  row(os, "dropped", c.dropped_total());
  c.for_each_field([&](const char*, const char* label, int table, uint64_t v) {
    if (table == 2 && v) row(os, label, v);
  });
  for (size_t i = 1; i <= kFilterReasonCount; ++i) {
    if (c.filtered_by[i] == 0) continue;
    os << "    " << std::left << std::setw(22) << kFilterReasonNames[i] << std::right << std::setw(14)
       << c.filtered_by[i] << "  filtered: " << kFilterReasonDescriptions[i] << "\n";
  }
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
    o.counters.for_each_field([&](const char*, const char* label, int table, uint64_t v) {
      if (table) row(os, label, v);
    });
    for (size_t i = 1; i <= kDropReasonCount; ++i) {
      if (o.counters.dropped[i]) row(os, "dropped: " + std::string(kDropReasonNames[i]), o.counters.dropped[i], 4);
    }
  }
  for (const auto& s : r.sessions) {
    os << "session " << s.name << ":\n";
    s.counters.for_each_field([&](const char*, const char* label, int table, uint64_t v) {
      if (table) row(os, label, v);
    });
    for (const auto& [rule, hits] : s.rule_hits) row(os, "rule " + rule, hits, 4);
  }
  for (const auto& p : r.pools) {
    os << "pool " << p.name << (p.fail_open_now ? " (failing open)" : "") << ":\n";
    for (const auto& m : p.members) {
      char share[32];
      std::snprintf(share, sizeof share, "%.1f%% of flows", 100.0 * m.flow_share);
      row(os, "member " + m.name + " (" + m.state + ", " + share + ")", m.copies);
    }
    if (p.fail_open_copies) row(os, "copies while failing open", p.fail_open_copies);
  }
  for (const auto& p : r.ports) {
    os << "port " << p.name << " (" << p.driver << ", the driver's own counters):\n";
    row(os, "ipackets", p.pmd.ipackets);
    row(os, "opackets", p.pmd.opackets);
    row(os, "imissed", p.pmd.imissed);
    row(os, "ierrors", p.pmd.ierrors);
    row(os, "oerrors", p.pmd.oerrors);
    row(os, "rx_nombuf", p.pmd.rx_nombuf);
    p.counters.for_each_field([&](const char*, const char* label, int table, uint64_t v) {
      if (table == 1 || (table == 2 && v)) row(os, label, v);
    });
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
