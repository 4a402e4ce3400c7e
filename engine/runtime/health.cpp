#include "engine/runtime/health.h"

#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <cstring>

#include "engine/runtime/arp.h"
#include "engine/runtime/mbuf.h"

namespace mirrorpipe {

HealthChecker::HealthChecker(std::string port_name, uint16_t port_id, uint16_t tx_queue, uint16_t rx_queues,
                             rte_mempool* pool, const wire::MacAddress& own_mac, const wire::Ipv4Address& own_ip,
                             ArpResolver* resolver)
    : name_(std::move(port_name)), port_(port_id), txq_(tx_queue), rxqs_(rx_queues), pool_(pool) {
  host_.enabled = true;
  host_.ip = own_ip;
  host_.mac = own_mac;
  if (resolver) {
    resolver->rx_taken_over();
    host_.next_hop_seen = resolver->learned_slot();
  }
}

void HealthChecker::add(size_t pool, size_t member, const wire::Ipv4Address& member_ip,
                        const wire::MacAddress& next_hop, const HealthCheckSettings& s, uint64_t seed,
                        uint64_t first_ns) {
  Member m{pool, member, std::make_unique<HealthProbe>(host_.mac, host_.ip, next_hop, member_ip, s, seed),
           static_cast<uint64_t>(s.interval_s * 1e9), first_ns, true};
  members_.push_back(std::move(m));
}

void HealthChecker::send(HealthFrames& frames) {
  for (const auto& f : frames) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool_);
    if (!m || f.size() > rte_pktmbuf_tailroom(m)) {
      rte_pktmbuf_free(m);
      ++unsent_;
      continue;
    }
    std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), f.data(), f.size());
    m->data_len = m->pkt_len = static_cast<uint32_t>(f.size());
    if (rte_eth_tx_burst(port_, txq_, &m, 1) == 1) {
      ++sent_;
    } else {
      rte_pktmbuf_free(m);
      ++unsent_;
    }
  }
  frames.clear();
}

void HealthChecker::step(uint64_t now_ns, std::vector<Result>& done) {
  // What came back: ARP and echo for our address answered here, the rest offered to the probes.
  rte_mbuf* pkts[32];
  for (uint16_t q = 0; q < rxqs_; ++q) {
    uint16_t n;
    // At most 64 bursts a queue per step: a flood on the output cannot hold the control thread.
    for (int bursts = 0; bursts < 64 && (n = rte_eth_rx_burst(port_, q, pkts, 32)) > 0; ++bursts) {
      for (uint16_t i = 0; i < n; ++i) {
        PacketRef ref = to_packet_ref(pkts[i], false);
        if (host_classify(host_, ref) == HostVerdict::kReply) {
          apply_packet_ref(pkts[i], ref, false);
          if (rte_eth_tx_burst(port_, txq_, &pkts[i], 1) != 1) rte_pktmbuf_free(pkts[i]);
          pkts[i] = nullptr;
          continue;
        }
        const std::span<const uint8_t> frame(rte_pktmbuf_mtod(pkts[i], const uint8_t*), pkts[i]->data_len);
        for (Member& m : members_) {
          if (m.probe->on_frame(frame, now_ns, out_)) break;
        }
      }
      for (uint16_t i = 0; i < n; ++i) rte_pktmbuf_free(pkts[i]);
    }
  }
  // Timers, results, and the checks that are due.
  for (Member& m : members_) {
    if (m.probe->running()) m.probe->poll(now_ns, out_);
    if (!m.reported && !m.probe->running() && m.probe->result()) {
      done.push_back({m.pool, m.member, *m.probe->result(), m.probe->outcome(), m.probe->http_status()});
      m.reported = true;
    }
    if (!m.probe->running() && now_ns >= m.next_start_ns) {
      m.probe->start(now_ns, out_);
      m.reported = false;
      m.next_start_ns += m.interval_ns;
      if (m.next_start_ns <= now_ns) m.next_start_ns = now_ns + m.interval_ns;  // the loop fell behind
    }
  }
  send(out_);
}

}  // namespace mirrorpipe
