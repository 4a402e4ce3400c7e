// The state of the analyzer pools of a running engine (control path, no DPDK): which members
// are in service, as health checks and the operator (drain/undrain) decide, and each member's
// share of the flows. A change is planned into a new route snapshot by the caller
// (LiveRoutes::republish with PortTopology::pool_in_service = in_service()).
//
// A member is in service when it is healthy and not drained. Members start healthy (a pool
// without health checks keeps them so). When no member of a pool is in service, the pool fails
// open: the planner spreads its flows over every member, as GWLB does with all targets unhealthy.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "engine/config/config.h"
#include "engine/control/health_check.h"

namespace mirrorpipe {

class PoolStates {
 public:
  explicit PoolStates(const EngineConfig& config);

  struct Member {
    std::string name;
    HealthState health{1, 1};   // the pool's thresholds; healthy until checks say otherwise
    bool drained = false;
    double flow_share = 0;      // of the Maglev table, as last planned
    bool in_service() const { return health.healthy() && !drained; }
  };
  struct Pool {
    std::string name;
    std::vector<Member> members;
    uint32_t table_size = 0;
    bool fail_open = false;     // no member in service
  };
  const std::vector<Pool>& pools() const { return pools_; }

  // What the planner reads.
  std::map<std::string, std::vector<bool>> in_service() const;

  // The operator: takes a member out of the table (drain) or puts it back. Returns the reason
  // it cannot ("" when done); `changed` says whether the table changes.
  std::string set_drained(const std::string& pool, const std::string& member, bool drained, bool& changed);

  // A health check's result for a member (the pool's thresholds decide, as GWLB's do). Returns
  // true when the member's health changed.
  bool record_check(size_t pool, size_t member, bool passed);

  // Recomputes fail_open and each member's share after a change; what to log, one per pool
  // whose fail-open state changed.
  struct FailOpenChange {
    std::string pool;
    bool fail_open = false;  // true: it starts failing open; false: it stops
    std::string message;
  };
  std::vector<FailOpenChange> refresh();

 private:
  std::vector<Pool> pools_;
};

}  // namespace mirrorpipe
