// DPDK ports: configuration from a PortConfig, capabilities, and the RX/TX adapters the worker
// polls. Control path except rx_burst/tx_burst.
#pragma once

#include <rte_ethdev.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "engine/config/config.h"
#include "engine/runtime/port.h"

namespace mirrorpipe {

// Adds the EAL arguments that create or allow a port's device: "-a" for a PCI address,
// "--vdev" for anything else.
void add_device_args(const PortConfig& p, std::vector<std::string>& eal_args);

struct EthdevInfo {
  uint16_t port_id = 0;
  std::string driver;
  uint16_t rx_queues = 0;
  uint16_t tx_queues = 0;
  uint32_t mtu = 0;
  bool rss = false;             // RSS spreads RX queues
  bool rss_symmetric = false;   // with the symmetric key the device accepted
  bool rss_hash = false;        // the RSS hash comes with each packet (RX offload RSS_HASH)
  bool tx_ip_checksum = false;  // IPv4 header checksum offload in use
  bool tx_udp_checksum = false; // UDP checksum offload in use
  bool tx_multi_seg = false;    // sends chained mbufs (fan-out without copies)
  // May hand over a frame in several chained mbufs: the driver can scatter (RX offload
  // SCATTER) and its largest frame does not fit a buffer, or it is net_pcap, which chains a
  // capture's frames larger than its buffers whatever it says. EthdevRx drops such frames
  // (rx_chained); other ports' frames are never checked.
  bool rx_may_chain = false;
  rte_ether_addr mac{};
  std::vector<std::string> notes;  // said at start-up: what was chosen and why
};

// Finds, configures and starts a port: `rx_queues` RX queues and `tx_queues` TX queues, rings
// from the config, MTU, symmetric RSS where the device takes it, TX checksum offloads where it
// has them; on a mirror input that may use it (flow_hash not "software"), the RSS hash with
// each packet, RSS then being set up even for one queue. Throws std::runtime_error naming the
// port on failure.
// `single_pool`: every mbuf this port will transmit comes from `pool` with a reference count of
// one, the precondition of MBUF_FAST_FREE (enabled only then, where the device offers it).
EthdevInfo ethdev_open(const PortConfig& p, uint16_t rx_queues, uint16_t tx_queues,
                       rte_mempool* pool, bool want_tx_offloads, bool single_pool);
void ethdev_close(uint16_t port_id) noexcept;

// A port's link as read now, without waiting (rte_eth_link_get_nowait). A port over a kernel
// interface (net_af_packet, net_af_xdp, net_tap: the device reports the interface's index) is
// up only while the kernel says the interface is up and running too: DPDK 22.11's
// net_af_packet reports "up" from start to stop whatever the interface does.
struct LinkState {
  bool up = false;
  uint32_t speed_mbps = 0;  // 0: unknown
  bool full_duplex = false;
  bool operator==(const LinkState&) const = default;
};
LinkState ethdev_link(uint16_t port_id) noexcept;
std::string link_text(const LinkState& s);  // "up, 10000 Mbps full-duplex" or "down"

// Every DPDK port's link as the control loop last polled it, and the changes it saw: the
// control loop writes, the telemetry and metrics threads and the final report read (relaxed
// atomics: each value stands alone).
class LinkWatch {
 public:
  // Reads each port's link once: the state the first change is measured from.
  explicit LinkWatch(const std::vector<std::pair<std::string, uint16_t>>& ports);

  struct Change {
    std::string port;
    LinkState now;
    uint64_t changes = 0;  // on this port so far, this one included
  };
  // Control thread: reads every link again; the ports whose state changed since the last poll.
  std::vector<Change> poll();

  size_t size() const { return ports_.size(); }
  const std::string& name(size_t i) const { return ports_[i]->name; }
  PortCounters counters(size_t i) const;
  LinkState state(size_t i) const;
  // Control thread: sets a counter that another part of it keeps (the next hop's ARP counts).
  void store(const std::string& port, uint64_t PortCounters::*field, uint64_t value);

 private:
  struct Port {
    std::string name;
    uint16_t id = 0;
    LinkState last;          // control thread only
    PortCounters counters;   // written with relaxed atomic stores, read with relaxed loads
    std::atomic<bool> up{false};
    std::atomic<uint32_t> speed_mbps{0};
    std::atomic<bool> full_duplex{false};
  };
  std::vector<std::unique_ptr<Port>> ports_;
};

// The data path takes a packet in one buffer (engine/runtime/mbuf.h). A port that may hand
// over a frame in several (EthdevInfo::rx_may_chain: `may_chain`) has each burst checked, and
// such a frame dropped here, as rx_chained. Only those ports: the check reads every mbuf
// before the worker's prefetches, which cost 7-8 % of the rate when every port had it
// (`mirrorpipe bench` on net_null, docs/performance.md).
class EthdevRx final : public RxPort {
 public:
  EthdevRx(uint16_t port, uint16_t queue, bool may_chain) : port_(port), queue_(queue), may_chain_(may_chain) {}
  uint16_t rx_burst(rte_mbuf** pkts, uint16_t n, InputCounters& c) override {
    const uint16_t got = rte_eth_rx_burst(port_, queue_, pkts, n);
    if (!may_chain_) return got;
    // The segment counts ORed: 1 only when every packet has one (a count is never 0).
    unsigned segs = 1;
    for (uint16_t i = 0; i < got; ++i) segs |= pkts[i]->nb_segs;
    return segs == 1 ? got : drop_chained(pkts, got, c);
  }
  bool finished() const override { return false; }

 private:
  // Keeps the single-buffer packets of `pkts[0..got)`, in order; the others counted and freed.
  static uint16_t drop_chained(rte_mbuf** pkts, uint16_t got, InputCounters& c);

  uint16_t port_, queue_;
  bool may_chain_;
};

class EthdevTx final : public TxPort {
 public:
  EthdevTx(uint16_t port, uint16_t queue) : port_(port), queue_(queue) {}
  uint16_t tx_burst(rte_mbuf** pkts, uint16_t n) override {
    return rte_eth_tx_burst(port_, queue_, pkts, n);
  }
  void flush() override {}

 private:
  uint16_t port_, queue_;
};

}  // namespace mirrorpipe
