// Counter reports: the JSON object of --stats-json and the readable table on stderr.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>

#include "engine/pipeline/counters.h"

namespace mirrorpipe {

// {"packets_in", "packets_out", "filtered", "dropped": {reason: n, ...}, "dropped_total",
//  "bytes_in", "bytes_out"}; every reason is listed, zero or not.
nlohmann::json counters_json(const WorkerCounters& c);

void print_counters_table(std::ostream& os, const WorkerCounters& c);

}  // namespace mirrorpipe
