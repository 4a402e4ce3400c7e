// The route snapshots of a running engine and what changes them live (control path, no DPDK):
// a reload (SIGHUP), the verdict hook, a next hop that moved. Each change plans a whole new
// snapshot and publishes it behind RouteTable's one pointer; an old snapshot is freed only once
// every running worker has adopted a later generation (retire()).
//
// Memory ordering (the workers' side is in engine/runtime/worker.cpp): publish() stores the new
// snapshot's pointer (release), then increments the generation (acq_rel). A worker loads the
// pointer (acquire) at the top of a loop and, at its quiescent point, where it holds no snapshot,
// stores the generation it read (release) into its seen slot. A worker that has seen generation
// g can only load snapshots published at g or later, so retire(g) may free every older one.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/config/config.h"
#include "engine/pipeline/route.h"

namespace mirrorpipe {

// What `mirrorpipe verdict` asks of a running appliance.
enum class VerdictVerb : uint8_t { kDrop, kAccept, kClear };
using VerdictRequest = std::pair<VerdictVerb, FlowRule>;

class LiveRoutes {
 public:
  // Plans a snapshot for a configuration and the flows blocked (the runtime adds what needs
  // DPDK or libpcap, such as compiled filters).
  using Plan = std::function<std::unique_ptr<std::vector<Route>>(const EngineConfig&,
                                                                 const std::vector<FlowRule>& blocked)>;

  // Plans and publishes the first snapshot (generation 0).
  LiveRoutes(EngineConfig config, Plan plan);

  const RouteTable& table() const { return table_; }
  const EngineConfig& running() const { return running_; }
  uint64_t generation() const { return table_.generation.load(std::memory_order_acquire); }
  size_t snapshots() const { return versions_.size(); }

  // A new configuration file. Empty: it runs now. Otherwise why it was refused (a change that
  // needs a restart, see live_change_refusal, or a planner error); the previous one keeps
  // running and nothing is published.
  std::string reload(EngineConfig next);

  // The verdict hook's requests, in order: drop blocks a flow (and ends a live accept of it),
  // accept lifts a file rule or a live drop until the next reload, clear forgets every live
  // request. Publishes one snapshot when there was any request.
  struct VerdictState {
    size_t applied = 0;        // requests taken
    size_t live_drops = 0;     // flows the hook blocks now
    size_t lifted = 0;         // file rules a live accept lifted
  };
  VerdictState apply_verdicts(const std::vector<VerdictRequest>& requests);

  // Plans the running configuration again (what the plan reads besides it changed, e.g. a
  // next hop's MAC) and publishes it.
  void republish();

  // Frees every snapshot older than generation `oldest_seen`, the lowest generation a running
  // worker has adopted (or the current one when no worker runs).
  void retire(uint64_t oldest_seen);

 private:
  void publish(const EngineConfig& config);

  EngineConfig running_;
  Plan plan_;
  std::vector<FlowRule> live_drops_;
  std::vector<FlowRule> accepted_;  // file rules a live accept lifted (until a reload)
  // Published snapshots, oldest first, each with the generation it was published at.
  std::vector<std::pair<uint64_t, std::unique_ptr<std::vector<Route>>>> versions_;
  RouteTable table_;
};

}  // namespace mirrorpipe
