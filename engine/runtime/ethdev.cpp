#include "engine/runtime/ethdev.h"

#include <net/if.h>
#include <rte_errno.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <type_traits>
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
  // A frame in several buffers: from a driver that can scatter (RX offload SCATTER) when its
  // largest frame (the MTU, two VLAN tags, the FCS) does not fit one of `pool`'s buffers; from
  // net_pcap whenever a capture's frame is larger than them (it chains whatever it says).
  const uint32_t room = pool ? rte_pktmbuf_data_room_size(pool) - RTE_PKTMBUF_HEADROOM : 0;
  const uint32_t largest = uint32_t{mtu} + RTE_ETHER_HDR_LEN + 2 * RTE_VLAN_HLEN + RTE_ETHER_CRC_LEN;
  info.rx_may_chain = info.driver == "net_pcap" ||
                      ((dev.rx_offload_capa & RTE_ETH_RX_OFFLOAD_SCATTER) != 0 && largest > room);
  if (info.rx_may_chain && p.role != PortRole::kOutput) {
    info.notes.push_back("may receive a frame in several buffers (larger than them): dropped as rx_chained");
  }
  rte_eth_macaddr_get(id, &info.mac);
  return info;
}

void ethdev_close(uint16_t port_id) noexcept {
  rte_eth_dev_stop(port_id);
  rte_eth_dev_close(port_id);
}

}  // namespace mirrorpipe

namespace mirrorpipe {
namespace {

// The kernel's view of an interface: administratively up and running (carrier). False when the
// interface is gone or cannot be asked.
bool kernel_interface_running(unsigned if_index) noexcept {
  char name[IF_NAMESIZE] = {};
  if (!if_indextoname(if_index, name)) return false;
  const int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  ifreq ifr{};
  static_assert(sizeof ifr.ifr_name == IF_NAMESIZE);
  std::memcpy(ifr.ifr_name, name, IF_NAMESIZE);  // if_indextoname wrote a terminated name
  const bool ok = ::ioctl(fd, SIOCGIFFLAGS, &ifr) == 0;
  ::close(fd);
  return ok && (ifr.ifr_flags & IFF_UP) && (ifr.ifr_flags & IFF_RUNNING);
}

}  // namespace

LinkState ethdev_link(uint16_t port_id) noexcept {
  LinkState s;
  rte_eth_link link{};
  if (rte_eth_link_get_nowait(port_id, &link) != 0) return s;
  s.up = link.link_status == RTE_ETH_LINK_UP;
  s.speed_mbps = link.link_speed == RTE_ETH_SPEED_NUM_UNKNOWN ? 0 : link.link_speed;
  s.full_duplex = link.link_duplex == RTE_ETH_LINK_FULL_DUPLEX;
  rte_eth_dev_info dev{};
  if (s.up && rte_eth_dev_info_get(port_id, &dev) == 0 && dev.if_index != 0) {
    s.up = kernel_interface_running(dev.if_index);
  }
  if (!s.up) s = LinkState{};  // a link that is down has no speed worth saying
  return s;
}

std::string link_text(const LinkState& s) {
  if (!s.up) return "down";
  std::string t = "up";
  if (s.speed_mbps) t += ", " + std::to_string(s.speed_mbps) + " Mbps";
  t += s.full_duplex ? " full-duplex" : " half-duplex";
  return t;
}

LinkWatch::LinkWatch(const std::vector<std::pair<std::string, uint16_t>>& ports) {
  for (const auto& [name, id] : ports) {
    auto p = std::make_unique<Port>();
    p->name = name;
    p->id = id;
    p->last = ethdev_link(id);
    p->up.store(p->last.up, std::memory_order_relaxed);
    p->speed_mbps.store(p->last.speed_mbps, std::memory_order_relaxed);
    p->full_duplex.store(p->last.full_duplex, std::memory_order_relaxed);
    ports_.push_back(std::move(p));
  }
}

std::vector<LinkWatch::Change> LinkWatch::poll() {
  std::vector<Change> changed;
  for (auto& p : ports_) {
    const LinkState now = ethdev_link(p->id);
    if (now == p->last) continue;
    p->last = now;
    p->up.store(now.up, std::memory_order_relaxed);
    p->speed_mbps.store(now.speed_mbps, std::memory_order_relaxed);
    p->full_duplex.store(now.full_duplex, std::memory_order_relaxed);
    // Only this thread writes the counter: a load and a store, each atomic for the readers.
    std::atomic_ref<uint64_t> n(p->counters.link_changes);
    const uint64_t changes = n.load(std::memory_order_relaxed) + 1;
    n.store(changes, std::memory_order_relaxed);
    changed.push_back({p->name, now, changes});
  }
  return changed;
}

void LinkWatch::store(const std::string& port, uint64_t PortCounters::*field, uint64_t value) {
  for (auto& p : ports_) {
    if (p->name == port) std::atomic_ref<uint64_t>(p->counters.*field).store(value, std::memory_order_relaxed);
  }
}

PortCounters LinkWatch::counters(size_t i) const {
  PortCounters c;
  load_words(ports_[i]->counters, c);
  return c;
}

LinkState LinkWatch::state(size_t i) const {
  const Port& p = *ports_[i];
  return {p.up.load(std::memory_order_relaxed), p.speed_mbps.load(std::memory_order_relaxed),
          p.full_duplex.load(std::memory_order_relaxed)};
}

uint16_t EthdevRx::drop_chained(rte_mbuf** pkts, uint16_t got, InputCounters& c) {
  uint16_t kept = 0;
  for (uint16_t i = 0; i < got; ++i) {
    rte_mbuf* m = pkts[i];
    if (m->nb_segs == 1) {
      pkts[kept++] = m;
      continue;
    }
    ++c.rx;
    c.rx_bytes += m->pkt_len;
    c.drop(DropReason::rx_chained);
    rte_pktmbuf_free(m);
  }
  return kept;
}

}  // namespace mirrorpipe
