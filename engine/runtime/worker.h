// The run-to-completion worker: RX burst -> pipeline -> TX burst, on one lcore.
#pragma once

#include <atomic>

#include "engine/pipeline/counters.h"
#include "engine/pipeline/pipeline.h"
#include "engine/runtime/port.h"

namespace mirrorpipe {

inline constexpr uint16_t kBurstSize = 32;

// Processes one burst: returns the number of packets received. Every packet received ends in
// `c` as sent or dropped (under its reason) before this returns.
uint16_t worker_poll_once(const PipelineConfig& cfg, RxPort& rx, TxPort& tx, WorkerCounters& c);

// Polls until `rx` is finished or `stop` is set, then flushes `tx`.
void worker_run(const PipelineConfig& cfg, RxPort& rx, TxPort& tx, WorkerCounters& c,
                const std::atomic<bool>& stop);

}  // namespace mirrorpipe
