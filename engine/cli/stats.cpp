#include "engine/cli/stats.h"

#include <iomanip>

namespace mirrorpipe {

nlohmann::json counters_json(const WorkerCounters& c) {
  nlohmann::json dropped = nlohmann::json::object();
  for (size_t i = 1; i <= kDropReasonCount; ++i) {
    dropped[std::string(kDropReasonNames[i])] = c.dropped[i];
  }
  return {{"packets_in", c.rx},          {"packets_out", c.sent},
          {"filtered", c.filtered},      {"dropped", dropped},
          {"dropped_total", c.dropped_total()}, {"bytes_in", c.rx_bytes},
          {"bytes_out", c.sent_bytes}};
}

void print_counters_table(std::ostream& os, const WorkerCounters& c) {
  os << std::left;
  os << "  " << std::setw(24) << "packets in" << std::right << std::setw(12) << c.rx << std::left
     << "\n";
  os << "  " << std::setw(24) << "packets out" << std::right << std::setw(12) << c.sent
     << std::left << "\n";
  os << "  " << std::setw(24) << "filtered" << std::right << std::setw(12) << c.filtered
     << std::left << "\n";
  os << "  " << std::setw(24) << "dropped" << std::right << std::setw(12) << c.dropped_total()
     << std::left << "\n";
  for (size_t i = 1; i <= kDropReasonCount; ++i) {
    if (c.dropped[i] == 0) continue;
    os << "    " << std::setw(22) << kDropReasonNames[i] << std::right << std::setw(12)
       << c.dropped[i] << std::left << "  " << kDropReasonDescriptions[i] << "\n";
  }
}

}  // namespace mirrorpipe
