// The control loop of a running engine (the main lcore, while the workers run): it watches the
// workers and the ports' links, applies what changes routes live (a reload, the verdict hook, a next hop that moved;
// engine/control/live_routes.h), frees the snapshots no worker holds, says which file outputs
// failed, stops the engine when asked or when a worker failed, logs the periodic summary
// (engine/control/log.h) and, for capture-file inputs on a terminal, draws a progress bar. It
// returns once every worker has returned.
#pragma once

#include <atomic>
#include <exception>
#include <map>
#include <chrono>
#include <string>
#include <vector>

#include "engine/control/live_routes.h"
#include "engine/control/next_hop.h"
#include "engine/control/progress.h"
#include "engine/runtime/engine.h"
#include "engine/runtime/ethdev.h"
#include "engine/runtime/telemetry.h"
#include "engine/runtime/worker.h"

namespace mirrorpipe {

class ArpResolver;
class HealthChecker;
class CaptureFileWriter;
class PcapReader;

// One worker: its plan, what it publishes, and how it ended.
struct WorkerSlot {
  WorkerPlan plan;
  WorkerStats published{};
  std::atomic<uint64_t> seen_generation{0};
  const std::atomic<bool>* stop = nullptr;
  std::exception_ptr error;
  std::atomic<bool> failed{false};  // set after `error`: the control loop stops the engine
};

// What a progress bar shows: packets the workers have read (as last published) and the bytes
// read of the capture inputs whose size is known.
ProgressSample sample_progress(const std::vector<WorkerSlot*>& workers, size_t input_count,
                               const std::vector<const PcapReader*>& readers, double elapsed_s);

struct ControlLoop {
  const RunOptions* opts = nullptr;
  std::atomic<bool>* stop = nullptr;
  std::vector<unsigned> lcores;         // worker w runs on lcores[w]
  std::vector<WorkerSlot*> workers;
  LiveRoutes* routes = nullptr;
  SessionRules* session_rules = nullptr;  // the metrics' rule labels, renewed on each reload
  std::string config_path;              // what a reload reads
  VerdictInbox* inbox = nullptr;
  std::vector<ArpResolver*> resolvers;
  std::map<std::string, wire::MacAddress>* next_hop_macs = nullptr;  // what the planner reads
  std::vector<CaptureFileWriter*> writers;
  std::vector<const PcapReader*> readers;
  std::vector<uint16_t> ethdev_ports;   // for the NIC's missed count in the summary
  size_t input_count = 0;
  PoolStates* pools = nullptr;
  PoolInbox* pool_inbox = nullptr;
  std::map<std::string, std::vector<bool>>* pool_in_service = nullptr;  // what the planner reads
  std::vector<HealthChecker*> checkers;  // the pools' health checks, by output port
  LinkWatch* links = nullptr;            // every DPDK port's link, polled about once a second

  void run();
  // A pool member's state changed: fail-open logged, the tables planned again and published,
  // the state shown to telemetry.
  void pools_changed();

 private:
  void reload();
  void refresh_next_hops();
  void apply_verdicts();
  void apply_pool_requests();
  void run_health_checks();
  void log_write_errors();
  void watch_links();
  void retire_snapshots();
  void print_summary(double elapsed_s);

  double stats_interval_s_ = 0;
  std::chrono::steady_clock::time_point start_{}, last_summary_{}, last_link_{};
  std::vector<NextHopState> next_hops_;  // one per resolver, same order
  double next_summary_s_ = 0;
  InputCounters last_{};
  std::vector<bool> write_error_logged_;
};

}  // namespace mirrorpipe
