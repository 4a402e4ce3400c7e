// Counters over DPDK telemetry: /mirrorpipe/... commands on the EAL's telemetry socket, read
// with dpdk-telemetry.py or `mirrorpipe stats`. Control path: the telemetry thread reads the
// counters the workers publish, never the workers' own.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/pipeline/counters.h"
#include "engine/control/live_routes.h"
#include "engine/control/pools.h"
#include "engine/pipeline/verdict.h"

#include <mutex>

namespace mirrorpipe {

class LinkWatch;

// Verdicts asked for through /mirrorpipe/verdict, waiting for the control loop to publish them.
struct VerdictInbox {
  std::mutex mutex;
  std::vector<VerdictRequest> pending;
};

// Pool requests from /mirrorpipe/pool (drain, undrain), and the pools' state as the control
// loop last published it (what /mirrorpipe/pool shows).
struct PoolInbox {
  struct Request {
    bool drain = true;
    std::string pool, member;
  };
  std::mutex mutex;
  std::vector<Request> pending;
  std::vector<PoolStates::Pool> published;
};

// What a running engine shows. The engine attaches it while it runs and detaches it before
// the memory behind it goes away.
// Each session's filter rules as the metrics name them ("ingress/100"), with the index of their
// hit counter in SessionCounters::rule_hits. Set at start and after each accepted reload.
struct SessionRules {
  struct Rule {
    size_t index;
    std::string direction;  // ingress or egress
    uint16_t number;
  };
  std::mutex mutex;
  std::vector<std::vector<Rule>> sessions;  // by [[sessions]] index
};
std::vector<std::vector<SessionRules::Rule>> session_rules_of(const EngineConfig& cfg);

struct TelemetryView {
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::vector<std::pair<std::string, uint16_t>> ethdevs;  // name, DPDK port id
  std::vector<std::string> sessions;                      // [[sessions]] names, in order
  std::vector<const WorkerStats*> published;             // one per worker
  uint64_t start_tsc = 0;
  VerdictInbox* verdicts = nullptr;  // where /mirrorpipe/verdict leaves its requests
  PoolInbox* pools = nullptr;        // where /mirrorpipe/pool leaves its requests
  SessionRules* rules = nullptr;     // the sessions' rules, for per-rule hits
  const LinkWatch* links = nullptr;  // the ports' links, in `ethdevs` order
};

// Registers the /mirrorpipe commands; once, after the EAL has started.
void telemetry_register();
void telemetry_attach(const TelemetryView* view);
void telemetry_detach();

// The client side: a connection to a running engine's telemetry socket (EAL file prefix
// `prefix`). ask() sends one command and returns the JSON reply. Throws std::runtime_error.
class TelemetryClient {
 public:
  explicit TelemetryClient(const std::string& prefix);
  ~TelemetryClient();
  TelemetryClient(const TelemetryClient&) = delete;
  TelemetryClient& operator=(const TelemetryClient&) = delete;
  std::string ask(const std::string& command);

  static constexpr int kReplyTimeoutS = 10;  // the engine answers from its telemetry thread at once

 private:
  int fd_ = -1;
};

}  // namespace mirrorpipe
