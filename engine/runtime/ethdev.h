// DPDK ports: configuration from a PortConfig, capabilities, and the RX/TX adapters the worker
// polls. Control path except rx_burst/tx_burst.
#pragma once

#include <rte_ethdev.h>

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

class EthdevRx final : public RxPort {
 public:
  EthdevRx(uint16_t port, uint16_t queue) : port_(port), queue_(queue) {}
  uint16_t rx_burst(rte_mbuf** pkts, uint16_t n, InputCounters&) override {
    return rte_eth_rx_burst(port_, queue_, pkts, n);
  }
  bool finished() const override { return false; }

 private:
  uint16_t port_, queue_;
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
