// The run-to-completion worker: RX burst -> pipeline -> per-output TX buffer -> TX burst, on one
// lcore, for the live engine and file mode alike.
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

#include "engine/pipeline/counters.h"
#include "engine/pipeline/dedup.h"
#include "engine/pipeline/sequence.h"
#include "engine/pipeline/flow_table.h"
#include "engine/pipeline/route.h"
#include "engine/runtime/port.h"

struct rte_mbuf;
struct rte_mempool;

namespace mirrorpipe {

inline constexpr uint16_t kBurstSize = 32;

// The data room of a fan-out header buffer (the engine's header pool): the outer headers of a
// chained copy, written at its start.
inline constexpr uint16_t kHeaderBufferBytes = 128 + 384;

// Everything one worker touches, built on the control path before it starts.
struct WorkerPlan {
  struct Rx {
    RxPort* port;
    uint16_t input;        // index into WorkerStats::inputs and the routes
    bool file_meta;        // the port fills the mbuf metadata (file ports)
  };
  std::vector<Rx> rx;
  std::vector<TxPort*> tx;            // by output index
  const RouteTable* routes = nullptr;  // by input index
  std::atomic<uint64_t>* seen_generation = nullptr;  // this worker's, read by the control thread
  uint64_t flush_cycles = 0;          // TX buffers flush at least this often (TSC cycles)
  uint64_t publish_cycles = 0;        // counters are published this often
  // Wall clock for packets a live input sends to a file output: ns = base_ns + tsc delta.
  uint64_t wall_base_ns = 0;
  uint64_t tsc_base = 0;
  uint64_t tsc_hz = 1;
  rte_mempool* copy_pool = nullptr;   // copies for a second sink
  rte_mempool* header_pool = nullptr;    // chained fan-out: outer headers ...
  rte_mempool* indirect_pool = nullptr;  // ... and the shared payload
  FlowTable* flows = nullptr;         // this worker's (appliance), written by it only
  std::vector<const FlowTable*> all_flows;  // every worker's, read for injected packets
  std::vector<DedupTable*> dedup;     // by session index: this worker's, for sessions with dedup_us
  SequenceTracker* sequences = nullptr;  // this worker's, for received metadata options
  uint16_t worker_id = 0;             // what the metadata option says the sender worker is
};

// Runs until every RX port is finished (file inputs) or `stop` is set; then flushes the TX
// buffers and publishes the final counters into `published`.
void worker_run(const WorkerPlan& plan, WorkerStats& published, const std::atomic<bool>& stop);

}  // namespace mirrorpipe
