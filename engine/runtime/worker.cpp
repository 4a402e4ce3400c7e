// Hot path. Invariants: no allocation, no locks, no logging, no exceptions of our own (a file
// port may throw on an I/O error, which ends the run); every packet is counted where it ends,
// against the input it came from.
#include "engine/runtime/worker.h"

#include <rte_cycles.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "engine/runtime/mbuf.h"

namespace mirrorpipe {
namespace {

constexpr uint16_t kPrefetchAhead = 3;
constexpr uint16_t kTxBufferSize = 64;

// Packets waiting for one output, with the input each came from and its length (both needed
// after the PMD owns the mbuf).
struct TxBuffer {
  rte_mbuf* pkts[kTxBufferSize];
  uint16_t input[kTxBufferSize];
  uint32_t len[kTxBufferSize];
  uint16_t count = 0;
};

// The cache lines a packet's processing touches besides its mbuf: the first line of the frame
// (every header the parse reads, for untagged IPv4) and the line before it, in the headroom,
// where the outer header is written. Both are fetched ahead; the second for writing.
inline void prefetch_packet(rte_mbuf* m) {
  const auto* data = rte_pktmbuf_mtod(m, const uint8_t*);
  rte_prefetch0(data);
  __builtin_prefetch(data - RTE_CACHE_LINE_SIZE, 1, 3);
}

struct Worker {
  explicit Worker(const WorkerPlan& p) : plan(p) {}

  const WorkerPlan& plan;
  WorkerStats stats{};
  TxBuffer tx[kMaxPorts];

  void flush(uint16_t out) {
    TxBuffer& b = tx[out];
    if (b.count == 0) return;
    const uint16_t sent = plan.tx[out]->tx_burst(b.pkts, b.count);
    OutputCounters& oc = stats.outputs[out];
    for (uint16_t i = 0; i < sent; ++i) {
      InputCounters& ic = stats.inputs[b.input[i]];
      ++ic.sent;
      ic.sent_bytes += b.len[i];
      oc.tx_bytes += b.len[i];
    }
    oc.tx += sent;
    if (sent < b.count) {
      for (uint16_t i = sent; i < b.count; ++i) stats.inputs[b.input[i]].drop(DropReason::tx_full);
      rte_pktmbuf_free_bulk(b.pkts + sent, b.count - sent);
    }
    b.count = 0;
  }

  void flush_all() {
    for (uint16_t o = 0; o < plan.tx.size(); ++o) flush(o);
  }

  void enqueue(uint16_t out, rte_mbuf* m, uint16_t input) {
    TxBuffer& b = tx[out];
    b.pkts[b.count] = m;
    b.input[b.count] = input;
    b.len[b.count] = m->data_len;
    if (++b.count == kTxBufferSize) flush(out);
  }

  // One packet through its route. Written once; the burst loop calls it per packet.
  // kFileMeta: whether the port fills MbufMeta (file ports), fixed per RX port, so the live
  // path carries no test for it.
  template <bool kFileMeta>
  inline void handle(rte_mbuf* m, const WorkerPlan::Rx& rx, const Route& route,
                     InputCounters& ic) {
    PacketRef ref = to_packet_ref(m, kFileMeta);
    if (route.host.enabled) {
      const HostVerdict v = host_classify(route.host, ref);
      if (v == HostVerdict::kReply) {
        apply_packet_ref(m, ref, kFileMeta);
        ++ic.host_replies;
        enqueue(route.reply_output, m, rx.input);
        return;
      }
      if (v == HostVerdict::kToHost) {
        ++ic.to_host;
        enqueue(static_cast<uint16_t>(route.host_output), m, rx.input);
        return;
      }
    }
    const DropReason r = process_packet(route.pipeline, ref);
    if (r != DropReason::kNone) {
      // Not tunnel traffic, on a port with an exception TAP: the host's (unchanged: a failed
      // decapsulation writes nothing).
      if (route.host_output >= 0 &&
          (r == DropReason::not_ip || r == DropReason::not_udp || r == DropReason::not_tunnel_port)) {
        ++ic.to_host;
        enqueue(static_cast<uint16_t>(route.host_output), m, rx.input);
        return;
      }
      ic.drop(r);
      rte_pktmbuf_free(m);
      return;
    }
    if (ref.flags) {
      ic.truncated_packet_length += (ref.flags & PacketRef::kTruncatedPacketLength) != 0;
      ic.truncated_mtu += (ref.flags & PacketRef::kTruncatedMtu) != 0;
    }
    apply_packet_ref(m, ref, kFileMeta);
    if (route.stamp_file_meta) {
      const uint64_t dt = rte_get_tsc_cycles() - plan.tsc_base;
      const uint64_t ns = plan.wall_base_ns + dt / plan.tsc_hz * 1000000000ull +
                          dt % plan.tsc_hz * 1000000000ull / plan.tsc_hz;
      mbuf_meta(m) = MbufMeta{ns, ref.len};
    }
    if (route.tx_ip_checksum_offload) {
      m->l2_len = RTE_ETHER_HDR_LEN;
      m->l3_len = route.pipeline.outer.ipv6 ? 40 : 20;
      m->ol_flags |= route.pipeline.outer.ipv6 ? RTE_MBUF_F_TX_IPV6
                                                 : (RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM);
      if (route.tx_udp_checksum_offload) m->ol_flags |= RTE_MBUF_F_TX_UDP_CKSUM;
    }
    enqueue(route.output, m, rx.input);
  }

  uint16_t poll(const WorkerPlan::Rx& rx, const std::vector<Route>& routes) {
    rte_mbuf* pkts[kBurstSize];
    InputCounters& ic = stats.inputs[rx.input];
    const uint16_t n = rx.port->rx_burst(pkts, kBurstSize, ic);
    ++stats.polls;
    if (n == 0) return 0;
    ++stats.busy_polls;
    ic.rx += n;
    const Route& route = routes[rx.input];
    if (rx.file_meta) {
      burst<true>(pkts, n, rx, route, ic);
    } else {
      burst<false>(pkts, n, rx, route, ic);
    }
    return n;
  }

  template <bool kFileMeta>
  void burst(rte_mbuf** pkts, uint16_t n, const WorkerPlan::Rx& rx, const Route& route, InputCounters& ic) {
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < kPrefetchAhead && i < n; ++i) prefetch_packet(pkts[i]);
    for (uint16_t i = 0; i < n; ++i) {
      if (i + kPrefetchAhead < n) prefetch_packet(pkts[i + kPrefetchAhead]);
      bytes += pkts[i]->data_len;
      handle<kFileMeta>(pkts[i], rx, route, ic);
    }
    ic.rx_bytes += bytes;
    // A full burst's worth waiting: send it now (held longer, the mbufs only cost cache); a
    // smaller one waits for more, or for the timer.
    if (tx[route.output].count >= kBurstSize) flush(route.output);
  }
};

}  // namespace

void worker_run(const WorkerPlan& plan, WorkerStats& published, const std::atomic<bool>& stop) {
  Worker w(plan);
  uint64_t last_flush = rte_get_tsc_cycles();
  uint64_t last_publish = last_flush;
  for (uint64_t loop = 0;; ++loop) {
    bool all_finished = true;
    const std::vector<Route>& routes = *plan.routes->current.load(std::memory_order_acquire);
    for (const auto& rx : plan.rx) {
      if (rx.port->finished()) continue;
      all_finished = false;
      w.poll(rx, routes);
    }
    if (all_finished) break;
    // Housekeeping every 16 loops: TX buffers flushed on a timer, counters published, stop.
    if ((loop & 15) == 0) {
      const uint64_t now = rte_get_tsc_cycles();
      if (now - last_flush >= plan.flush_cycles) {
        w.flush_all();
        last_flush = now;
      }
      if (now - last_publish >= plan.publish_cycles) {
        publish_stats(w.stats, published);
        last_publish = now;
      }
      // Quiescent point: no route snapshot is held across it (see RouteTable).
      plan.seen_generation->store(plan.routes->generation.load(std::memory_order_acquire),
                                  std::memory_order_release);
      if (stop.load(std::memory_order_relaxed)) break;
    }
  }
  w.flush_all();
  for (TxPort* t : plan.tx) t->flush();
  publish_stats(w.stats, published);
}

}  // namespace mirrorpipe
