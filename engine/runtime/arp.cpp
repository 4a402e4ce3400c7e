#include "engine/runtime/arp.h"

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <chrono>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "encap/wire/arp.h"
#include "encap/wire/bytes.h"
#include "engine/pipeline/host.h"

namespace mirrorpipe {

ArpResolver::ArpResolver(std::string port_name, uint16_t port_id, uint16_t tx_queue, uint16_t rx_queues,
                         rte_mempool* pool, wire::MacAddress own_mac, wire::Ipv4Address own_ip,
                         wire::Ipv4Address next_hop, bool rx_shared_with_workers)
    : name_(std::move(port_name)), port_(port_id), txq_(tx_queue), rxqs_(rx_queues), pool_(pool), mac_(own_mac), ip_(own_ip),
      next_hop_(next_hop), shared_(rx_shared_with_workers) {}

std::string ArpResolver::next_hop_text() const {
  return std::to_string(next_hop_[0]) + "." + std::to_string(next_hop_[1]) + "." +
         std::to_string(next_hop_[2]) + "." + std::to_string(next_hop_[3]);
}

bool ArpResolver::request() {
  rte_mbuf* m = rte_pktmbuf_alloc(pool_);
  if (!m) return false;
  wire::write_arp_request(rte_pktmbuf_mtod(m, uint8_t*), mac_, ip_, next_hop_);
  m->data_len = m->pkt_len = wire::kArpFrameBytes;
  if (rte_eth_tx_burst(port_, txq_, &m, 1) == 1) return true;
  rte_pktmbuf_free(m);
  return false;
}

std::optional<wire::MacAddress> ArpResolver::poll() {
  if (shared_ && workers_running_) {
    const uint64_t v = learned_.exchange(0, std::memory_order_relaxed);
    if (v == 0) return std::nullopt;
    ++replies_;
    return unpack_learned_mac(v);
  }
  std::optional<wire::MacAddress> found;
  rte_mbuf* pkts[32];
  uint16_t n;
  // At most 64 bursts a queue per call: a flood on the output cannot hold the control thread.
  for (uint16_t q = 0; q < rxqs_; ++q) {
    for (int bursts = 0; bursts < 64 && (n = rte_eth_rx_burst(port_, q, pkts, 32)) > 0; ++bursts) {
    for (uint16_t i = 0; i < n; ++i) {
      const wire::Bytes b(rte_pktmbuf_mtod(pkts[i], const uint8_t*), rte_pktmbuf_data_len(pkts[i]));
      if (auto mac = wire::arp_reply_from(b, next_hop_, ip_)) {
        found = mac;
        ++replies_;
      } else {
        ++other_;
      }
    }
      rte_pktmbuf_free_bulk(pkts, n);
    }
  }
  return found;
}

wire::MacAddress ArpResolver::resolve(double timeout_s) {
  const auto start = std::chrono::steady_clock::now();
  auto last = start - std::chrono::seconds(1);
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    if (std::chrono::duration<double>(now - start).count() > timeout_s) {
      throw std::runtime_error("port '" + name_ + "': no ARP reply from the next hop " + next_hop_text() +
                               " within " + std::to_string(static_cast<int>(timeout_s)) + " s");
    }
    if (now - last >= std::chrono::milliseconds(500)) {
      request();
      last = now;
    }
    if (auto mac = poll()) return *mac;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

}  // namespace mirrorpipe
