// Counter reports: the JSON object of --stats-json and the readable tables on stderr.
#pragma once

#include <nlohmann/json.hpp>
#include <ostream>

#include "engine/pipeline/counters.h"
#include "engine/runtime/engine.h"

namespace mirrorpipe {

// {"packets_in", "packets_out", "filtered", "dropped": {reason: n, ...}, "dropped_total",
//  "bytes_in", "bytes_out"}; every reason is listed, zero or not.
nlohmann::json counters_json(const InputCounters& c);

// The totals as above, plus "inputs", "outputs", "ports" (the PMD's own counters), "workers"
// and "seconds".
nlohmann::json report_json(const EngineReport& r);

void print_counters_table(std::ostream& os, const InputCounters& c);
void print_report(std::ostream& os, const EngineReport& r);

}  // namespace mirrorpipe
