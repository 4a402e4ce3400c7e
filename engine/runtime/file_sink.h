// File outputs off the workers: a worker only enqueues to a ring (single producer: the file
// has one writer per worker), and one writer thread, off the lcores, drains every ring into
// its file (as dpdk-pdump does). A slow or failing disk never stalls a worker, nor an
// appliance's returns to GWLB: a full ring refuses the packets (counted as sink_full against
// their input), and a write that fails is counted per packet (write_failed, on the output) the
// moment the writer knows, logged once by the control loop, and the engine keeps running.
//
// For a live input, "sent" to a file output therefore means taken by its ring, as it means
// taken by the TX queue for a NIC; the output's counters say what its writer then failed to
// write (as a PMD's oerrors do). Jobs whose inputs are all capture files write synchronously
// instead (engine.cpp), where a failed write is the packet's own end.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "engine/runtime/file_port.h"
#include "engine/runtime/port.h"

struct rte_ring;

namespace mirrorpipe {

class QueuedFileSink final : public TxPort {
 public:
  // `writer` stays owned by the caller; `ring_size` a power of two.
  QueuedFileSink(CaptureFileWriter* writer, unsigned ring_size, const std::string& ring_name);
  ~QueuedFileSink() override;
  QueuedFileSink(const QueuedFileSink&) = delete;
  QueuedFileSink& operator=(const QueuedFileSink&) = delete;

  uint16_t tx_burst(rte_mbuf** pkts, uint16_t n) override;  // worker: enqueue only
  void flush() override {}
  DropReason refusal() const noexcept override { return DropReason::sink_full; }

  // Writer thread: writes what is queued; returns how many packets it took off the ring.
  unsigned drain();
  uint64_t write_failed() const { return write_failed_.load(std::memory_order_relaxed); }
  CaptureFileWriter* writer() const { return writer_; }

 private:
  CaptureFileWriter* writer_;
  rte_ring* ring_ = nullptr;
  std::atomic<uint64_t> write_failed_{0};
};

// The one thread that writes every queued file output.
class FileWriterThread {
 public:
  explicit FileWriterThread(std::vector<QueuedFileSink*> sinks);
  ~FileWriterThread();  // stop() if not stopped
  // Writes what is still queued, then returns (call once every worker has stopped).
  void stop();

 private:
  void run();
  std::vector<QueuedFileSink*> sinks_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace mirrorpipe
