// Hot path. Invariants: no allocation, no locks, no logging, no exceptions of our own (a file
// port may throw on an I/O error, which ends the run); every packet counted where it ends.
#include "engine/runtime/worker.h"

#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "engine/runtime/mbuf.h"

namespace mirrorpipe {

namespace {
constexpr uint16_t kPrefetchAhead = 3;
}

uint16_t worker_poll_once(const PipelineConfig& cfg, RxPort& rx, TxPort& tx, WorkerCounters& c) {
  rte_mbuf* in[kBurstSize];
  rte_mbuf* out[kBurstSize];
  rte_mbuf* dropped[kBurstSize];
  const uint16_t n = rx.rx_burst(in, kBurstSize, c);
  if (n == 0) return 0;
  c.rx += n;

  uint16_t n_out = 0;
  uint16_t n_drop = 0;
  for (uint16_t i = 0; i < n; ++i) {
    if (i + kPrefetchAhead < n) rte_prefetch0(rte_pktmbuf_mtod(in[i + kPrefetchAhead], void*));
    rte_mbuf* m = in[i];
    c.rx_bytes += m->data_len;
    PacketRef ref = to_packet_ref(m);
    const DropReason r = process_packet(cfg, ref);
    if (r == DropReason::kNone) {
      apply_packet_ref(m, ref);
      out[n_out++] = m;
    } else {
      c.drop(r);
      dropped[n_drop++] = m;
    }
  }
  if (n_drop) rte_pktmbuf_free_bulk(dropped, n_drop);

  uint64_t bytes = 0;
  for (uint16_t i = 0; i < n_out; ++i) bytes += out[i]->data_len;
  const uint16_t sent = tx.tx_burst(out, n_out);
  c.sent += sent;
  if (sent < n_out) {
    for (uint16_t i = sent; i < n_out; ++i) {
      bytes -= out[i]->data_len;
      c.drop(DropReason::tx_full);
    }
    rte_pktmbuf_free_bulk(out + sent, n_out - sent);
  }
  c.sent_bytes += bytes;
  return n;
}

void worker_run(const PipelineConfig& cfg, RxPort& rx, TxPort& tx, WorkerCounters& c,
                const std::atomic<bool>& stop) {
  while (!rx.finished() && !stop.load(std::memory_order_relaxed)) {
    worker_poll_once(cfg, rx, tx, c);
  }
  tx.flush();
}

}  // namespace mirrorpipe
