#include "engine/runtime/file_sink.h"

#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <chrono>
#include <stdexcept>
#include <string>

namespace mirrorpipe {

QueuedFileSink::QueuedFileSink(CaptureFileWriter* writer, unsigned ring_size, const std::string& ring_name)
    : writer_(writer) {
  ring_ = rte_ring_create(ring_name.c_str(), ring_size, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
  if (!ring_) {
    throw std::runtime_error("cannot create the queue of file output '" + writer->path() + "': " +
                             rte_strerror(rte_errno));
  }
}

QueuedFileSink::~QueuedFileSink() {
  if (!ring_) return;
  rte_mbuf* m;
  while (rte_ring_sc_dequeue(ring_, reinterpret_cast<void**>(&m)) == 0) rte_pktmbuf_free(m);
  rte_ring_free(ring_);
}

uint16_t QueuedFileSink::tx_burst(rte_mbuf** pkts, uint16_t n) {
  return static_cast<uint16_t>(rte_ring_sp_enqueue_burst(ring_, reinterpret_cast<void* const*>(pkts), n, nullptr));
}

unsigned QueuedFileSink::drain() {
  constexpr unsigned kBatch = 64;
  rte_mbuf* pkts[kBatch];
  unsigned total = 0;
  for (;;) {
    const unsigned n = rte_ring_sc_dequeue_burst(ring_, reinterpret_cast<void**>(pkts), kBatch, nullptr);
    if (n == 0) return total;
    total += n;
    const uint16_t written = writer_->tx_burst(pkts, static_cast<uint16_t>(n));
    if (written < n) {
      write_failed_.fetch_add(n - written, std::memory_order_relaxed);
      rte_pktmbuf_free_bulk(pkts + written, n - written);
    }
  }
}

FileWriterThread::FileWriterThread(std::vector<QueuedFileSink*> sinks)
    : sinks_(std::move(sinks)), thread_([this] { run(); }) {}

FileWriterThread::~FileWriterThread() { stop(); }

void FileWriterThread::stop() {
  if (!thread_.joinable()) return;
  stop_.store(true, std::memory_order_release);
  thread_.join();
}

void FileWriterThread::run() {
  for (;;) {
    // Read the flag before draining: once it is seen set, every worker has stopped, so one
    // more pass empties the rings for good.
    const bool last = stop_.load(std::memory_order_acquire);
    unsigned moved = 0;
    for (QueuedFileSink* s : sinks_) moved += s->drain();
    if (last) return;
    if (moved == 0) std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
}

}  // namespace mirrorpipe
