#include "engine/runtime/ethdev.h"

#include <rte_errno.h>

#include <cstring>
#include <regex>
#include <stdexcept>

#include "engine/pipeline/rss.h"

namespace mirrorpipe {
namespace {

bool is_pci_address(const std::string& devargs) {
  static const std::regex pci("^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\\.[0-7](,.*)?$");
  return std::regex_match(devargs, pci);
}

std::string device_name(const std::string& devargs) { return devargs.substr(0, devargs.find(',')); }

[[noreturn]] void fail(const PortConfig& p, const std::string& what, int err) {
  throw std::runtime_error("port '" + p.name + "' (" + p.devargs + "): " + what + ": " +
                           rte_strerror(err < 0 ? -err : err));
}

}  // namespace

void add_device_args(const PortConfig& p, std::vector<std::string>& eal_args) {
  if (p.is_file()) return;
  if (is_pci_address(p.devargs)) {
    eal_args.push_back("-a");
  } else {
    eal_args.push_back("--vdev");
  }
  eal_args.push_back(p.devargs);
}

EthdevInfo ethdev_open(const PortConfig& p, uint16_t rx_queues, uint16_t tx_queues,
                       rte_mempool* pool, bool want_tx_offloads, bool single_pool) {
  EthdevInfo info;
  const std::string name = device_name(p.devargs);
  if (rte_eth_dev_get_port_by_name(name.c_str(), &info.port_id) != 0) {
    throw std::runtime_error("port '" + p.name + "': no DPDK device named '" + name + "' (devargs '" +
                             p.devargs + "')" +
                             (is_pci_address(p.devargs) ? "; is it bound to a DPDK driver (vfio-pci)?" : ""));
  }
  const uint16_t id = info.port_id;
  rte_eth_dev_info dev{};
  int rc = rte_eth_dev_info_get(id, &dev);
  if (rc != 0) fail(p, "cannot read device information", rc);
  info.driver = dev.driver_name ? dev.driver_name : "?";
  if (rx_queues > dev.max_rx_queues) {
    if (p.role != PortRole::kOutput) {
      info.notes.push_back("has " + std::to_string(dev.max_rx_queues) + " RX queues, not " +
                           std::to_string(rx_queues));
    }
    rx_queues = dev.max_rx_queues;
  }
  if (tx_queues > dev.max_tx_queues) {
    throw std::runtime_error("port '" + p.name + "': " + std::to_string(tx_queues) +
                             " TX queues needed (one per worker), the device has " +
                             std::to_string(dev.max_tx_queues));
  }
  info.rx_queues = rx_queues;
  info.tx_queues = tx_queues;

  rte_eth_conf conf{};
  uint8_t key[128];
  const bool want_rss_hash = p.role == PortRole::kMirrorInput && p.flow_hash != FlowHashSource::kSoftware &&
                             rx_queues > 0 && (dev.rx_offload_capa & RTE_ETH_RX_OFFLOAD_RSS_HASH) != 0;
  if ((rx_queues > 1 || want_rss_hash) && dev.flow_type_rss_offloads != 0) {
    conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
    conf.rx_adv_conf.rss_conf.rss_hf =
        dev.flow_type_rss_offloads & (RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP);
    if (dev.hash_key_size > 0 && dev.hash_key_size <= sizeof(key)) {
      fill_symmetric_rss_key(key, dev.hash_key_size);
      conf.rx_adv_conf.rss_conf.rss_key = key;
      conf.rx_adv_conf.rss_conf.rss_key_len = dev.hash_key_size;
      info.rss_symmetric = true;
    }
    info.rss = true;
    if (want_rss_hash) {
      conf.rxmode.offloads |= RTE_ETH_RX_OFFLOAD_RSS_HASH;
      info.rss_hash = true;
    }
  } else if (rx_queues > 1) {
    info.notes.push_back("no RSS: the device spreads its RX queues itself (af_packet: kernel fanout)");
  }
  const uint64_t tx_cksum = RTE_ETH_TX_OFFLOAD_IPV4_CKSUM | RTE_ETH_TX_OFFLOAD_UDP_CKSUM;
  if (want_tx_offloads && (dev.tx_offload_capa & tx_cksum) == tx_cksum) {
    conf.txmode.offloads |= tx_cksum;
    info.tx_ip_checksum = info.tx_udp_checksum = true;
  } else if (want_tx_offloads && (dev.tx_offload_capa & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM)) {
    conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_IPV4_CKSUM;
    info.tx_ip_checksum = true;
  }
  if (want_tx_offloads && (dev.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MULTI_SEGS) && p.tx_chains.value_or(true)) {
    conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MULTI_SEGS;
    info.tx_multi_seg = true;
  } else if (want_tx_offloads && p.tx_chains.value_or(false)) {
    info.tx_multi_seg = true;
    info.notes.push_back("tx_chains = true: fan-out copies chained although the driver does not say it sends chains");
  } else if (want_tx_offloads) {
    info.notes.push_back(p.tx_chains ? "tx_chains = false: fan-out copies to it are whole copies"
                                     : "sends no chained buffers (the driver does not offer MULTI_SEGS): fan-out "
                                       "copies to it are whole copies");
  }
  if (dev.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE) {
    if (single_pool) conf.txmode.offloads |= RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;
    else info.notes.push_back("MBUF_FAST_FREE off: buffers come from more than one pool (capture-file inputs, "
                              "or fan-out headers chained to shared data)");
  }

  rc = rte_eth_dev_configure(id, rx_queues, tx_queues, &conf);
  if (rc != 0 && info.rss_symmetric) {
    // Some devices refuse a key that is not theirs: keep RSS, lose symmetry, and say so.
    conf.rx_adv_conf.rss_conf.rss_key = nullptr;
    conf.rx_adv_conf.rss_conf.rss_key_len = 0;
    info.rss_symmetric = false;
    info.notes.push_back("refused the symmetric RSS key: the two directions of a flow may reach "
                         "different workers (the flow hash still sends them to one analyzer)");
    rc = rte_eth_dev_configure(id, rx_queues, tx_queues, &conf);
  }
  if (rc != 0) fail(p, "configuration refused", rc);
  if (p.mtu) {
    rc = rte_eth_dev_set_mtu(id, static_cast<uint16_t>(p.mtu));
    if (rc != 0 && !is_pci_address(p.devargs)) {
      // Virtual devices have no MTU to set (net_pcap, net_null) or report a fixed 1518-byte
      // limit that their buffers do not have (net_af_packet: framesz rules): the mbufs are
      // sized for the configured MTU, and the outer packets are bounded by it.
      info.notes.push_back("takes no MTU setting (" + std::string(rte_strerror(-rc)) +
                           "); buffers are sized for MTU " + std::to_string(p.mtu));
    } else if (rc != 0) {
      fail(p, "MTU " + std::to_string(p.mtu) + " refused", rc);
    }
  }
  uint16_t rxd = p.rx_ring, txd = p.tx_ring;
  rc = rte_eth_dev_adjust_nb_rx_tx_desc(id, &rxd, &txd);
  if (rc != 0) fail(p, "ring sizes refused", rc);
  const int socket = rte_eth_dev_socket_id(id);
  for (uint16_t q = 0; q < rx_queues; ++q) {
    rc = rte_eth_rx_queue_setup(id, q, rxd, socket < 0 ? SOCKET_ID_ANY : socket, nullptr, pool);
    if (rc != 0) fail(p, "RX queue " + std::to_string(q) + " setup failed", rc);
  }
  rte_eth_txconf txconf = dev.default_txconf;
  txconf.offloads = conf.txmode.offloads;
  for (uint16_t q = 0; q < tx_queues; ++q) {
    rc = rte_eth_tx_queue_setup(id, q, txd, socket < 0 ? SOCKET_ID_ANY : socket, &txconf);
    if (rc != 0) fail(p, "TX queue " + std::to_string(q) + " setup failed", rc);
  }
  rc = rte_eth_dev_start(id);
  if (rc != 0) fail(p, "start failed", rc);
  if (p.role != PortRole::kOutput) rte_eth_promiscuous_enable(id);
  uint16_t mtu = 0;
  rte_eth_dev_get_mtu(id, &mtu);
  info.mtu = mtu;
  rte_eth_macaddr_get(id, &info.mac);
  return info;
}

void ethdev_close(uint16_t port_id) noexcept {
  rte_eth_dev_stop(port_id);
  rte_eth_dev_close(port_id);
}

}  // namespace mirrorpipe
