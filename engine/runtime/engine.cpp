#include "engine/runtime/engine.h"

#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <cstring>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>

#include "engine/control/log.h"
#include "engine/control/planner.h"
#include "engine/control/progress.h"
#include "engine/pipeline/rss.h"
#include "engine/runtime/arp.h"
#include "engine/runtime/bench_fixtures.h"
#include "engine/runtime/bpf_filter.h"
#include "engine/runtime/control_loop.h"
#include "engine/runtime/eal.h"
#include "engine/runtime/ethdev.h"
#include "engine/runtime/file_port.h"
#include "engine/runtime/file_sink.h"
#include "engine/runtime/health.h"
#include "engine/runtime/metrics.h"
#include "engine/runtime/privileges.h"
#include "engine/runtime/telemetry.h"
#include "engine/runtime/worker.h"

namespace mirrorpipe {

static_assert(RTE_MAX_ETHPORTS >= kMaxDpdkPorts, "engine/config admits more DPDK ports than this DPDK can open");

namespace {

}  // namespace

InputCounters EngineReport::total() const {
  InputCounters t;
  for (const auto& i : inputs) t += i.counters;
  return t;
}

namespace {

bool has_lcore_option(const std::vector<std::string>& args) {
  for (const auto& a : args) {
    if (a == "-l" || a == "-c" || a == "--lcores" || a.rfind("--lcores=", 0) == 0) return true;
  }
  return false;
}

uint64_t wall_clock_ns() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

int worker_main(void* arg) {
  auto* slot = static_cast<WorkerSlot*>(arg);
  try {
    worker_run(slot->plan, slot->published, *slot->stop);
  } catch (...) {
    slot->error = std::current_exception();
    slot->failed.store(true, std::memory_order_release);
  }
  return 0;
}

PmdCounters read_pmd(uint16_t port) {
  rte_eth_stats s{};
  PmdCounters c;
  if (rte_eth_stats_get(port, &s) == 0) {
    c = {s.ipackets, s.opackets, s.ibytes, s.obytes, s.imissed, s.ierrors, s.oerrors, s.rx_nombuf};
  }
  return c;
}

}  // namespace

std::vector<std::string> engine_eal_args(const EngineConfig& cfg, bool file_mode) {
  std::vector<std::string> args = file_mode ? eal_file_mode_args() : cfg.eal_args;
  if (!file_mode && !has_lcore_option(args)) {
    // Main lcore 0 on main_core; worker i on lcore i + 1, on its configured CPU.
    const unsigned ncpu = std::max(1u, std::thread::hardware_concurrency());
    std::string map = "0@" + std::to_string(cfg.main_core);
    for (uint32_t i = 0; i < cfg.workers; ++i) {
      const unsigned cpu = cfg.worker_cores.empty() ? (cfg.main_core + 1 + i) % ncpu : cfg.worker_cores[i];
      map += "," + std::to_string(i + 1) + "@" + std::to_string(cpu);
    }
    args.push_back("--lcores=" + map);
  }
  for (const auto& p : cfg.ports) add_device_args(p, args);
  return args;
}

namespace {

// The folders in which file outputs create or rename files while running (rotation, or the
// temporary file renamed at the end): after a privilege drop they must be the user's.
std::vector<std::string> directories_written_later(const EngineConfig& cfg, const RunOptions& opts) {
  std::vector<std::string> dirs;
  for (const PortConfig& p : cfg.ports) {
    if (!p.is_file() || p.role != PortRole::kOutput || p.file == "-") continue;
    if (!opts.atomic_file_outputs && !p.rotate_bytes && !p.rotate_seconds) continue;
    std::error_code ec;
    if (std::filesystem::exists(p.file, ec) && !std::filesystem::is_regular_file(p.file, ec)) continue;  // a device
    const std::filesystem::path parent = std::filesystem::path(p.file).parent_path();
    dirs.push_back(parent.empty() ? "." : parent.string());
  }
  return dirs;
}

}  // namespace

EngineReport run_engine(const EngineConfig& cfg, const RunOptions& opts, std::atomic<bool>& stop) {
  check_privilege_drop(cfg);  // [engine] user: possible at all? (before anything is set up)
  eal_init(engine_eal_args(cfg, opts.file_mode_eal));
  telemetry_register();

  // Workers: lcores other than main. None (file mode): the one worker runs on the main lcore.
  std::vector<unsigned> lcores;
  unsigned lc;
  RTE_LCORE_FOREACH_WORKER(lc) lcores.push_back(lc);
  const bool inline_worker = lcores.empty();
  if (inline_worker && cfg.workers != 1) {
    throw std::runtime_error("the EAL gave no worker lcores for " + std::to_string(cfg.workers) + " workers");
  }
  if (!inline_worker && lcores.size() < cfg.workers) {
    throw std::runtime_error("the EAL has " + std::to_string(lcores.size()) + " worker lcores; " +
                             std::to_string(cfg.workers) + " workers configured");
  }
  const uint32_t nworkers = cfg.workers;

  // Packet buffers: for DPDK ports, one pool sized from the rings; file ports have their own.
  bool any_file = false, any_ethdev = false;
  uint32_t max_frame = RTE_ETHER_MAX_LEN;
  uint64_t ring_mbufs = 0;
  for (const auto& p : cfg.ports) {
    if (p.is_file()) {
      any_file = true;
      continue;
    }
    any_ethdev = true;
    if (p.mtu) max_frame = std::max<uint32_t>(max_frame, p.mtu + RTE_ETHER_HDR_LEN + 8);
    const uint32_t q = p.queues ? p.queues : nworkers;
    ring_mbufs += static_cast<uint64_t>(q) * (p.rx_ring + p.tx_ring);
  }
  // File outputs fed by a live input are written off the workers, through a queue per worker
  // (engine/runtime/file_sink.h); a job whose inputs are all files writes synchronously.
  const bool live_input = std::any_of(cfg.ports.begin(), cfg.ports.end(), [](const PortConfig& p) {
    return p.role != PortRole::kOutput && !p.is_file();
  });
  const bool queued_files = live_input && !opts.atomic_file_outputs;
  constexpr unsigned kFileQueueSize = 2048;
  for (const auto& p : cfg.ports) {
    if (queued_files && p.is_file() && p.sends()) ring_mbufs += static_cast<uint64_t>(nworkers) * kFileQueueSize;
  }
  rte_mempool* pool = nullptr;
  uint64_t pool_mbufs = 0;
  uint32_t pool_room = 0;
  if (any_ethdev) {
    uint64_t n = cfg.mbufs ? cfg.mbufs : ring_mbufs + nworkers * (kBurstSize + 64 * kMaxPorts + 512) + 4096;
    n = std::min<uint64_t>(n, 1u << 24);
    // Whole kilobytes: af_packet, for one, wants room for its whole framesz (e.g. 10240).
    const uint32_t room = RTE_PKTMBUF_HEADROOM + std::max<uint32_t>(2048, (max_frame + 1023) / 1024 * 1024);
    pool = create_packet_pool("mp_engine", static_cast<unsigned>(n), 256, static_cast<uint16_t>(room),
                              rte_socket_id());
    if (!pool) {
      throw std::runtime_error("cannot create a pool of " + std::to_string(n) + " packet buffers of " +
                               std::to_string(room) + " bytes: " + rte_strerror(rte_errno));
    }
    pool_mbufs = n;
    pool_room = room;
  }
  // Benchmarks: every buffer written once with a frame (net_null's copy=0 receive hands them
  // out as they are), and with the hash a NIC would deliver (engine/runtime/bench_fixtures.h).
  if (pool && opts.prefill_frames && !opts.prefill_frames->empty()) {
    prefill_pool(pool, *opts.prefill_frames, pool_room - RTE_PKTMBUF_HEADROOM, opts.simulate_rx_rss_hash,
                 opts.restore_ethernet_header);
  }
  FilePools file_pools;
  if (any_file) file_pools = create_file_pools();
  // Every mbuf a DPDK port transmits comes from `pool` unless a capture file feeds it (its
  // buffers come from the file pools): the precondition of MBUF_FAST_FREE.
  // Fan-out (a session with several sinks) may send chained copies: a header buffer from its
  // own pool, the payload shared through an indirect buffer (reference counted), so the TX
  // queues see several pools and shared buffers too.
  const bool fan_out = std::any_of(cfg.sessions.begin(), cfg.sessions.end(),
                                   [](const SessionConfig& s) { return s.sinks.size() > 1; });
  const bool single_pool = !fan_out && std::none_of(cfg.ports.begin(), cfg.ports.end(), [](const PortConfig& p) {
    return p.is_file() && p.role != PortRole::kOutput;
  });
  rte_mempool* header_pool = nullptr;
  rte_mempool* indirect_pool = nullptr;
  if (fan_out && any_ethdev && !opts.copy_fanout) {
    // Room for the largest outer header (kMaxOuterHeaderBytes), written at the buffer's start.
    const unsigned n = 8191 + nworkers * 2048;
    header_pool = create_packet_pool("mp_fan_hdr", n, 256, kHeaderBufferBytes, rte_socket_id());
    indirect_pool = create_packet_pool("mp_fan_ind", n, 256, 0, rte_socket_id());
    if (!header_pool || !indirect_pool) {
      throw std::runtime_error(std::string("cannot create the fan-out buffer pools: ") + rte_strerror(rte_errno));
    }
  }

  // Ports. Inputs get one RX queue per worker, outputs one TX queue per worker.
  std::vector<std::unique_ptr<RxPort>> rx_owned;
  std::vector<std::unique_ptr<TxPort>> tx_owned;
  std::vector<std::string> input_names, output_names;
  std::vector<int> input_index(cfg.ports.size(), -1), output_index(cfg.ports.size(), -1);
  std::vector<std::vector<RxPort*>> input_queues;   // [input][worker]
  struct ExtraRx {
    size_t input;
    uint32_t worker;
    RxPort* queue;
  };
  std::vector<ExtraRx> extra_rx;  // RX queues beyond one per worker
  std::vector<std::vector<TxPort*>> output_queues;  // [output][worker]
  std::vector<bool> input_file;
  std::vector<EthdevInfo> output_info;
  std::vector<std::pair<std::string, EthdevInfo>> ethdevs;
  std::vector<PcapReader*> readers;
  std::vector<CaptureFileWriter*> writers;
  std::vector<std::pair<size_t, QueuedFileSink*>> file_queues;  // (output index, queue)
  bool inputs_nano = false;
  struct HostPort {
    size_t port;        // index in cfg.ports
    EthdevInfo info;
    int reply_output = -1;  // the port itself as an output
    int tap_input = -1;     // its exception TAP: an input forwarded to the port ...
    int tap_output = -1;    // ... and an output for the host's traffic
  };
  std::vector<HostPort> host_inputs;
  std::map<size_t, EthdevInfo> shared_info;  // inputs that are outputs too, by cfg.ports index
  std::vector<bool> nic_flow_hash(cfg.ports.size(), false);  // by input index: the NIC's hash
  std::vector<std::unique_ptr<ArpResolver>> resolvers;
  std::set<std::string> health_outputs;  // outputs whose pool members are health-checked
  for (const PoolConfig& pc : cfg.pools) {
    if (!pc.health) continue;
    for (const auto& m : pc.members) health_outputs.insert(cfg.target(m)->output);
  }
  std::map<std::string, wire::MacAddress> next_hop_macs;  // output name -> resolved MAC
  for (size_t i = 0; i < cfg.ports.size(); ++i) {
    const PortConfig& p = cfg.ports[i];
    if (p.role == PortRole::kOutput) continue;
    input_index[i] = static_cast<int>(input_names.size());
    input_names.push_back(p.name);
    std::vector<RxPort*> queues(nworkers, nullptr);
    if (p.is_file()) {
      auto r = std::make_unique<PcapReader>(p.file, file_pools, p.pace, p.pace_pps);
      inputs_nano = inputs_nano || r->nanosecond_timestamps();
      readers.push_back(r.get());
      queues[0] = r.get();
      rx_owned.push_back(std::move(r));
      input_file.push_back(true);
    } else {
      // A port with its own IPv4 address answers for it, and an appliance returns packets on
      // it: such ports transmit too (one queue a worker).
      const bool host = (p.ip && !p.ip->v6) || (p.role == PortRole::kAppliance && p.returns.empty());
      const bool simulate_hash = opts.simulate_rx_rss_hash && p.role == PortRole::kMirrorInput;
      const bool restore_head = opts.restore_ethernet_header && p.role == PortRole::kMirrorInput;
      // An input that is also an output: one TX queue per worker, and one more for the control
      // thread's ARP requests when the next hop is resolved; its TX offloads as an output's.
      uint16_t txq = host ? static_cast<uint16_t>(nworkers) : 0;
      if (p.also_output) txq = static_cast<uint16_t>(nworkers + (p.next_hop_ip ? 1 : 0));
      EthdevInfo info = ethdev_open(p, static_cast<uint16_t>(p.queues ? p.queues : nworkers), txq, pool,
                                    p.also_output, single_pool);
      if (p.also_output) shared_info[i] = info;
      if (p.role == PortRole::kMirrorInput) {
        const FlowHashChoice h = choose_flow_hash(p.flow_hash, info.rss_hash || simulate_hash,
                                                  info.rss_symmetric || simulate_hash);
        if (!h.ok) throw std::runtime_error("port '" + p.name + "': flow_hash = \"nic\", but the flow hash would be " + h.why);
        info.notes.push_back(std::string("flow hash ") + h.why);
        nic_flow_hash[input_index[i]] = h.nic;
      }
      for (uint16_t w = 0; w < nworkers && w < info.rx_queues; ++w) {
        if (simulate_hash || restore_head) rx_owned.push_back(make_fixture_rx(info.port_id, w, restore_head, simulate_hash));
        else rx_owned.push_back(std::make_unique<EthdevRx>(info.port_id, w, info.rx_may_chain));
        queues[w] = rx_owned.back().get();
      }
      // More RX queues than workers (queues = N): the device spreads flows over all of them,
      // so each is polled, queue q by worker q mod workers.
      for (uint16_t q = static_cast<uint16_t>(nworkers); q < info.rx_queues; ++q) {
        rx_owned.push_back(std::make_unique<EthdevRx>(info.port_id, q, info.rx_may_chain));
        extra_rx.push_back({input_queues.size(), q % nworkers, rx_owned.back().get()});
      }
      ethdevs.emplace_back(p.name, info);
      input_file.push_back(false);
      if (host) host_inputs.push_back({i, info});
    }
    input_queues.push_back(std::move(queues));
  }
  for (size_t i = 0; i < cfg.ports.size(); ++i) {
    const PortConfig& p = cfg.ports[i];
    if (!p.sends()) continue;
    output_index[i] = static_cast<int>(output_names.size());
    output_names.push_back(p.name);
    std::vector<TxPort*> queues(nworkers, nullptr);
    EthdevInfo info;
    if (p.is_file()) {
      // One writer per worker (a file has one writer): NAME-wN.EXT when there are several.
      for (uint32_t w = 0; w < nworkers; ++w) {
        std::string path = p.file;
        if (nworkers > 1) {
          const size_t dot = path.rfind('.');
          const size_t slash = path.rfind('/');
          const size_t at = dot != std::string::npos && (slash == std::string::npos || dot > slash) ? dot : path.size();
          path.insert(at, "-w" + std::to_string(w));
        }
        if (p.is_pcapng()) {
          PcapngWriter::Options o;
          o.rotate_bytes = p.rotate_bytes;
          o.rotate_seconds = p.rotate_seconds;
          for (const auto& ses : cfg.sessions) o.session_names.push_back(ses.name);
          auto wr = std::make_unique<PcapngWriter>(path, o, opts.atomic_file_outputs);
          writers.push_back(wr.get());
          tx_owned.push_back(std::move(wr));
        } else {
          auto wr = std::make_unique<PcapWriter>(path, inputs_nano, opts.atomic_file_outputs);
          writers.push_back(wr.get());
          tx_owned.push_back(std::move(wr));
        }
        if (queued_files) {
          auto q = std::make_unique<QueuedFileSink>(writers.back(), kFileQueueSize,
                                                    "mp_file" + std::to_string(writers.size()));
          file_queues.emplace_back(output_names.size() - 1, q.get());
          tx_owned.push_back(std::move(q));
        }
        queues[w] = tx_owned.back().get();
      }
    } else {
      // One TX queue per worker, and one more for the control thread's ARP when the next hop
      // is resolved. As many RX queues as TX queues (net_tap insists); the workers never poll
      // an output's RX queues, the control thread reads queue 0 for ARP replies.
      // An input that is an output too was opened with its TX queues above; the workers poll
      // its RX queues, so its next hop's replies reach the resolver through them.
      const bool shared = p.also_output;
      // The control thread's queue: ARP for the next hop, and the pools' health checks.
      const bool control_txq = p.next_hop_ip || health_outputs.count(p.name);
      const uint16_t txq = static_cast<uint16_t>(nworkers + (control_txq ? 1 : 0));
      if (shared) {
        info = shared_info.at(i);
      } else {
        info = ethdev_open(p, txq, txq, pool, true, single_pool);
        if (opts.simulate_tx_checksum_offload && !(info.tx_ip_checksum && info.tx_udp_checksum)) {
          info.tx_ip_checksum = info.tx_udp_checksum = true;
          info.notes.push_back("outer checksums taken as offloaded (a benchmark: this device fills in neither)");
        }
        ethdevs.emplace_back(p.name, info);
      }
      for (uint16_t w = 0; w < nworkers; ++w) {
        tx_owned.push_back(std::make_unique<EthdevTx>(info.port_id, w));
        queues[w] = tx_owned.back().get();
      }
      if (p.next_hop_ip) {
        wire::MacAddress own{};
        if (p.mac) own = *p.mac;
        else std::memcpy(own.data(), info.mac.addr_bytes, 6);
        wire::Ipv4Address ip{}, hop{};
        std::memcpy(ip.data(), p.ip->bytes.data(), 4);
        std::memcpy(hop.data(), p.next_hop_ip->bytes.data(), 4);
        resolvers.push_back(std::make_unique<ArpResolver>(p.name, info.port_id, static_cast<uint16_t>(nworkers),
                                                          info.rx_queues, pool, own, ip, hop, shared));
      }
    }
    output_info.push_back(info);
    output_queues.push_back(std::move(queues));
  }
  // Inputs that answer for their own address transmit on their own queues, and may have an
  // exception TAP: a net_tap device, created now that the port's MAC is known, carrying the
  // port's MAC so that the kernel behind it speaks as the port.
  int tap_count = 0;
  for (HostPort& h : host_inputs) {
    const PortConfig& p = cfg.ports[h.port];
    h.reply_output = static_cast<int>(output_names.size());
    output_names.push_back(p.name + "/replies");
    std::vector<TxPort*> queues(nworkers, nullptr);
    for (uint16_t w = 0; w < nworkers; ++w) {
      tx_owned.push_back(std::make_unique<EthdevTx>(h.info.port_id, w));
      queues[w] = tx_owned.back().get();
    }
    output_info.push_back(h.info);  // the port itself, transmitting
    output_queues.push_back(std::move(queues));
    if (p.exception_tap.empty() || !p.ip) continue;
    char mac[32];
    const auto& a = h.info.mac.addr_bytes;
    std::snprintf(mac, sizeof mac, "%02x:%02x:%02x:%02x:%02x:%02x", a[0], a[1], a[2], a[3], a[4], a[5]);
    PortConfig tap;
    tap.name = p.name + "/host";
    tap.role = PortRole::kTunnelInput;
    tap.devargs = "net_tap_mp" + std::to_string(tap_count++) + ",iface=" + p.exception_tap + ",mac=" + mac;
    if (rte_dev_probe(tap.devargs.c_str()) != 0) {
      throw std::runtime_error("port '" + p.name + "': cannot create the exception TAP '" + p.exception_tap + "'");
    }
    const EthdevInfo tinfo = ethdev_open(tap, static_cast<uint16_t>(nworkers), static_cast<uint16_t>(nworkers), pool, false,
                                             single_pool);
    ethdevs.emplace_back(tap.name, tinfo);
    h.tap_input = static_cast<int>(input_names.size());
    input_names.push_back(tap.name);
    std::vector<RxPort*> rxq(nworkers, nullptr);
    std::vector<TxPort*> txq(nworkers, nullptr);
    for (uint16_t w = 0; w < nworkers; ++w) {
      rx_owned.push_back(std::make_unique<EthdevRx>(tinfo.port_id, w, tinfo.rx_may_chain));
      rxq[w] = rx_owned.back().get();
      tx_owned.push_back(std::make_unique<EthdevTx>(tinfo.port_id, w));
      txq[w] = tx_owned.back().get();
    }
    input_queues.push_back(std::move(rxq));
    input_file.push_back(false);
    h.tap_output = static_cast<int>(output_names.size());
    output_names.push_back(tap.name);
    output_info.push_back(tinfo);
    output_queues.push_back(std::move(txq));
  }
  // Appliances fed by an inspection engine: the RX queues of their inject_from output (a TAP)
  // are inputs too.
  std::map<std::string, int> inject_input;  // appliance name -> input index
  for (const PortConfig& p : cfg.ports) {
    if (p.role != PortRole::kAppliance || p.inject_from.empty()) continue;
    const PortConfig* o = cfg.port(p.inject_from);
    const EthdevInfo& oi = output_info[static_cast<size_t>(output_index[static_cast<size_t>(o - cfg.ports.data())])];
    inject_input[p.name] = static_cast<int>(input_names.size());
    input_names.push_back(o->name + "/inject");
    std::vector<RxPort*> rxq(nworkers, nullptr);
    for (uint16_t w = 0; w < nworkers && w < oi.rx_queues; ++w) {
      rx_owned.push_back(std::make_unique<EthdevRx>(oi.port_id, w, oi.rx_may_chain));
      rxq[w] = rx_owned.back().get();
    }
    input_queues.push_back(std::move(rxq));
    input_file.push_back(false);
  }
  // Copies for second sinks come from the engine's pool, or the file pools in file mode.
  rte_mempool* copy_pool = pool ? pool : file_pools.small;
  // One flow table per worker when an appliance runs.
  std::vector<std::unique_ptr<FlowTable>> flow_tables;
  if (std::any_of(cfg.ports.begin(), cfg.ports.end(), [](const PortConfig& p) { return p.role == PortRole::kAppliance; })) {
    FlowTimeouts ft;
    ft.tcp_ns = cfg.appliance.tcp_idle_timeout_s * 1000000000ull;
    ft.other_ns = cfg.appliance.idle_timeout_s * 1000000000ull;
    for (uint32_t w = 0; w < nworkers; ++w) {
      flow_tables.push_back(std::make_unique<FlowTable>(cfg.appliance.flow_table_size, ft));
    }
  }
  if (opts.periodic_summary) {
    for (const auto& [name, info] : ethdevs) {
      std::string line = "port " + name + ": " + info.driver + ", " + std::to_string(info.rx_queues) + " RX / " +
                         std::to_string(info.tx_queues) + " TX queues, MTU " + std::to_string(info.mtu);
      if (info.rss) line += info.rss_symmetric ? ", symmetric RSS" : ", RSS (not symmetric)";
      // The checksum choice, whichever it is: offloaded to the device, or computed in software.
      line += info.tx_ip_checksum ? ", outer IPv4 checksum offloaded" : ", outer IPv4 checksum in software";
      line += info.tx_udp_checksum ? ", outer UDP checksum offloaded" : ", outer UDP checksum in software";
      logger().info("start", line,
                    {{"port", name}, {"driver", info.driver}, {"rx_queues", uint64_t{info.rx_queues}},
                     {"tx_queues", uint64_t{info.tx_queues}}, {"mtu", uint64_t{info.mtu}},
                     {"ip_checksum_offload", info.tx_ip_checksum}, {"udp_checksum_offload", info.tx_udp_checksum}});
      for (const auto& n : info.notes) logger().info("start", "port " + name + ": " + n, {{"port", name}});
    }
  }

  // Next hops given by address: resolved now, before any packet moves.
  for (auto& r : resolvers) {
    const wire::MacAddress mac = r->resolve(3.0);
    next_hop_macs[r->port_name()] = mac;
    if (opts.periodic_summary) {
      char m[24];
      std::snprintf(m, sizeof m, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
      logger().info("start", "port " + r->port_name() + ": next hop " + r->next_hop_text() + " is at " + m,
                    {{"port", r->port_name()}, {"next_hop", r->next_hop_text()}, {"mac", std::string(m)}});
    }
  }

  // What the runtime opened, for the planner (engine/control/planner.h).
  PortTopology topo;
  topo.input_count = input_names.size();
  topo.input_index = input_index;
  topo.output_index = output_index;
  topo.input_is_file = input_file;
  topo.nic_flow_hash.assign(input_names.size(), false);
  for (size_t i = 0; i < input_names.size() && i < nic_flow_hash.size(); ++i) topo.nic_flow_hash[i] = nic_flow_hash[i];
  for (const EthdevInfo& info : output_info) {
    PortTopology::Output o;
    o.mtu = info.mtu;
    o.tx_ip_checksum = info.tx_ip_checksum;
    o.tx_udp_checksum = info.tx_udp_checksum;
    o.multi_seg = info.tx_multi_seg && header_pool;
    std::memcpy(o.mac.data(), info.mac.addr_bytes, 6);
    topo.outputs.push_back(o);
  }
  for (const HostPort& h : host_inputs) {
    PortTopology::Host t;
    t.port = h.port;
    std::memcpy(t.mac.data(), h.info.mac.addr_bytes, 6);
    t.reply_output = h.reply_output;
    t.tap_input = h.tap_input;
    t.tap_output = h.tap_output;
    for (auto& r : resolvers) {
      if (r->port_name() == cfg.ports[h.port].name) t.next_hop_seen = r->learned_slot();
    }
    topo.hosts.push_back(t);
  }
  topo.inject_input = inject_input;
  topo.next_hop_macs = next_hop_macs;
  // The pools: every member in service until a health check or the operator says otherwise.
  PoolStates pool_states(cfg);
  // Their health checks, one checker per output port their members send through.
  std::vector<std::unique_ptr<HealthChecker>> checkers;
  {
    std::random_device rd;
    const uint64_t start_ns = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                        std::chrono::steady_clock::now().time_since_epoch())
                                                        .count());
    std::map<std::string, HealthChecker*> by_output;
    for (size_t pi = 0; pi < cfg.pools.size(); ++pi) {
      const PoolConfig& pc = cfg.pools[pi];
      if (!pc.health) continue;
      for (size_t mi = 0; mi < pc.members.size(); ++mi) {
        const TargetConfig& t = *cfg.target(pc.members[mi]);
        const PortConfig& out = *cfg.port(t.output);
        HealthChecker*& hc = by_output[out.name];
        if (!hc) {
          const EthdevInfo& info = output_info[static_cast<size_t>(output_index[static_cast<size_t>(&out - cfg.ports.data())])];
          wire::MacAddress own{};
          if (out.mac) own = *out.mac;
          else std::memcpy(own.data(), info.mac.addr_bytes, 6);
          wire::Ipv4Address ip{};
          std::memcpy(ip.data(), out.ip->bytes.data(), 4);
          ArpResolver* resolver = nullptr;
          for (auto& r : resolvers) {
            if (r->port_name() == out.name) resolver = r.get();
          }
          checkers.push_back(std::make_unique<HealthChecker>(out.name, info.port_id, static_cast<uint16_t>(nworkers),
                                                             info.rx_queues, pool, own, ip, resolver));
          hc = checkers.back().get();
        }
        wire::Ipv4Address member_ip{};
        std::memcpy(member_ip.data(), t.tunnel.dst_ip.bytes.data(), 4);
        const wire::MacAddress hop = t.resolve_dst_mac ? next_hop_macs.at(t.output) : t.tunnel.dst_mac;
        const uint64_t seed = (uint64_t{rd()} << 32) | rd();
        // Members checked a little apart, not all in the same millisecond.
        hc->add(pi, mi, member_ip, hop, *pc.health, seed, start_ns + mi * 10'000'000ull);
      }
    }
  }
  topo.pool_in_service = pool_states.in_service();
  // Mirror filters' tcpdump expressions, compiled once each; the snapshots, planned from the
  // configuration and `topo` (whose next hops the control loop updates).
  BpfPrograms bpf_programs;
  LiveRoutes routes(cfg, [&](const EngineConfig& c, const std::vector<FlowRule>& blocked) {
    auto planned = plan_routes(c, topo, blocked);
    for (Route& r : *planned) {
      auto compile = [&](SessionSelection& sel) {
        if (sel.bpf_expression.empty()) return;
        const BpfPrograms::Compiled c = bpf_programs.get(sel.bpf_expression);
        sel.bpf = c.program;
        sel.verdict_cacheable = c.keyed;
      };
      for (MirrorSessionRoute& s : r.mirror_sessions) compile(s.select);
      for (SessionSinks& s : r.sessions) compile(s.select);
    }
    return planned;
  });

  // One plan per worker: queue w of every input and output, and the extra RX queues it polls.
  const uint64_t hz = rte_get_tsc_hz();
  std::vector<std::unique_ptr<WorkerSlot>> slots;
  std::vector<std::unique_ptr<DedupTable>> dedup_tables;  // one per worker and deduplicating session
  // Loss detection on what tunnel inputs and appliances receive: a stream table per worker.
  std::vector<std::unique_ptr<SequenceTracker>> sequence_trackers;
  const bool receives = std::any_of(cfg.ports.begin(), cfg.ports.end(), [](const PortConfig& p) {
    return p.role == PortRole::kTunnelInput || p.role == PortRole::kAppliance;
  });
  for (uint32_t w = 0; w < nworkers; ++w) {
    auto s = std::make_unique<WorkerSlot>();
    s->stop = &stop;
    for (size_t in = 0; in < input_queues.size(); ++in) {
      if (input_queues[in][w]) {
        s->plan.rx.push_back({input_queues[in][w], static_cast<uint16_t>(in), input_file[in]});
      }
    }
    for (const ExtraRx& e : extra_rx) {
      if (e.worker == w) s->plan.rx.push_back({e.queue, static_cast<uint16_t>(e.input), false});
    }
    for (auto& q : output_queues) s->plan.tx.push_back(q[w]);
    s->plan.routes = &routes.table();
    s->plan.seen_generation = &s->seen_generation;
    s->plan.flush_cycles = hz * cfg.tx_flush_us / 1000000;
    s->plan.publish_cycles = hz / 100;
    s->plan.wall_base_ns = wall_clock_ns();
    s->plan.tsc_base = rte_get_tsc_cycles();
    s->plan.tsc_hz = hz;
    s->plan.worker_id = static_cast<uint16_t>(w);
    if (receives) {
      sequence_trackers.push_back(std::make_unique<SequenceTracker>());
      s->plan.sequences = sequence_trackers.back().get();
    }
    s->plan.copy_pool = copy_pool;
    s->plan.header_pool = header_pool;
    s->plan.indirect_pool = indirect_pool;
    s->plan.dedup.assign(cfg.sessions.size(), nullptr);
    for (size_t si = 0; si < cfg.sessions.size(); ++si) {
      if (!cfg.sessions[si].dedup_us) continue;
      dedup_tables.push_back(std::make_unique<DedupTable>());
      s->plan.dedup[si] = dedup_tables.back().get();
    }
    if (!flow_tables.empty()) {
      s->plan.flows = flow_tables[w].get();
      for (const auto& t : flow_tables) s->plan.all_flows.push_back(t.get());
    }
    // A worker with no RX queue (more workers than an input has queues) would spin on nothing.
    slots.push_back(std::move(s));
  }

  VerdictInbox inbox;
  PoolInbox pool_inbox;
  pool_inbox.published = pool_states.pools();
  TelemetryView view;
  view.verdicts = &inbox;
  view.pools = &pool_inbox;
  view.inputs = input_names;
  view.outputs = output_names;
  for (const auto& [name, info] : ethdevs) view.ethdevs.emplace_back(name, info.port_id);
  for (auto& s : slots) view.published.push_back(&s->published);
  for (const auto& s : cfg.sessions) view.sessions.push_back(s.name);
  SessionRules session_rules;
  session_rules.sessions = session_rules_of(cfg);
  view.rules = &session_rules;
  view.start_tsc = rte_get_tsc_cycles();
  LinkWatch links(view.ethdevs);
  view.links = &links;
  telemetry_attach(&view);
  struct Detach {
    ~Detach() { telemetry_detach(); }
  } detach_on_exit;
  // The Prometheus endpoint: stopped (by its destructor) before the view it reads goes away.
  std::unique_ptr<MetricsServer> metrics;
  if (!cfg.metrics_listen.empty()) {
    metrics = std::make_unique<MetricsServer>(cfg.metrics_listen, &view, opts.build_info);
    if (opts.periodic_summary) {
      logger().info("start", "metrics: http://" + cfg.metrics_listen + "/metrics", {{"listen", cfg.metrics_listen}});
    }
  }

  if (opts.periodic_summary) {
    for (const CaptureFileWriter* w : writers) {
      logger().info("start",
                    "file output '" + w->path() + "': " +
                        (queued_files ? "written by the writer thread, off the workers (a queue per worker)"
                                      : "written by the worker (every input is a capture file)"),
                    {{"path", w->path()}, {"writer_thread", queued_files}});
    }
  }
  std::vector<QueuedFileSink*> queue_list;
  for (const auto& [o, q] : file_queues) queue_list.push_back(q);
  std::unique_ptr<FileWriterThread> file_thread;
  if (!queue_list.empty()) file_thread = std::make_unique<FileWriterThread>(queue_list);

  // Everything is open (EAL, ports, TAPs, files, telemetry, metrics): from here on the engine
  // runs as [engine] user, if one is set (engine/runtime/privileges.h).
  drop_privileges(cfg, directories_written_later(cfg, opts));

  std::vector<std::pair<rte_mempool*, uint64_t>> pools_in_use;
  for (rte_mempool* mp : {pool, header_pool, indirect_pool, file_pools.small, file_pools.large}) {
    if (mp) pools_in_use.emplace_back(mp, rte_mempool_in_use_count(mp));
  }
  const auto t0 = std::chrono::steady_clock::now();
  if (inline_worker) {
    // The worker has the main lcore: a thread of its own draws the progress bar, from what
    // the worker publishes (every 10 ms) and the readers' byte counts.
    std::atomic<bool> worker_done{false};
    std::thread progress;
    if (opts.progress && !readers.empty()) {
      progress = std::thread([&] {
        ProgressBar bar(stderr);
        const std::vector<WorkerSlot*> one = {slots[0].get()};
        const std::vector<const PcapReader*> files(readers.begin(), readers.end());
        const auto since = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };
        while (!worker_done.load(std::memory_order_acquire)) {
          bar.update(sample_progress(one, input_names.size(), files, since()));
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        bar.finish(sample_progress(one, input_names.size(), files, since()));
      });
    }
    worker_main(slots[0].get());  // catches what the worker throws
    worker_done.store(true, std::memory_order_release);
    if (progress.joinable()) progress.join();
  } else {
    // From here on the RX queues of an input that is also an output are the workers'.
    for (auto& r : resolvers) r->workers_started();
    for (uint32_t w = 0; w < nworkers; ++w) {
      const int rc = rte_eal_remote_launch(worker_main, slots[w].get(), lcores[w]);
      if (rc != 0) throw std::runtime_error("cannot launch worker " + std::to_string(w));
    }
    ControlLoop loop;
    loop.opts = &opts;
    loop.stop = &stop;
    loop.lcores.assign(lcores.begin(), lcores.begin() + nworkers);
    for (auto& s : slots) loop.workers.push_back(s.get());
    loop.routes = &routes;
    loop.session_rules = &session_rules;
    loop.config_path = cfg.path;
    loop.inbox = &inbox;
    for (auto& r : resolvers) loop.resolvers.push_back(r.get());
    loop.next_hop_macs = &topo.next_hop_macs;
    loop.writers = writers;
    loop.readers.assign(readers.begin(), readers.end());
    for (const auto& [name, info] : ethdevs) loop.ethdev_ports.push_back(info.port_id);
    loop.input_count = input_names.size();
    loop.pools = &pool_states;
    loop.pool_inbox = &pool_inbox;
    loop.pool_in_service = &topo.pool_in_service;
    for (auto& hc : checkers) loop.checkers.push_back(hc.get());
    loop.links = &links;
    loop.run();
    rte_eal_mp_wait_lcore();
  }
  const auto t1 = std::chrono::steady_clock::now();
  if (file_thread) file_thread->stop();  // every worker has stopped: what is queued is written
  std::vector<EngineReport::Mempool> mempools;
  for (const auto& [mp, start] : pools_in_use) mempools.push_back({mp->name, start, rte_mempool_in_use_count(mp)});
  for (auto& s : slots) {
    if (s->error) std::rethrow_exception(s->error);
  }

  EngineReport rep;
  rep.seconds = std::chrono::duration<double>(t1 - t0).count();
  rep.pool_mbufs = pool_mbufs;
  rep.pool_data_room = pool_room;
  rep.mempools = std::move(mempools);
  rep.inputs.resize(input_names.size());
  rep.outputs.resize(output_names.size());
  for (size_t i = 0; i < input_names.size(); ++i) rep.inputs[i].name = input_names[i];
  for (size_t o = 0; o < output_names.size(); ++o) rep.outputs[o].name = output_names[o];
  for (auto& s : slots) {
    WorkerStats ws;
    load_stats(s->published, ws);
    for (size_t i = 0; i < input_names.size(); ++i) rep.inputs[i].counters += ws.inputs[i];
    for (size_t o = 0; o < output_names.size(); ++o) rep.outputs[o].counters += ws.outputs[o];
    rep.workers.push_back(ws);
  }
  for (size_t i = 0; i < ethdevs.size(); ++i) {
    const auto& [name, info] = ethdevs[i];
    const LinkState link = links.state(i);
    rep.ports.push_back({name, info.driver, read_pmd(info.port_id), links.counters(i), link.up, link.speed_mbps});
  }
  // Sessions, with the hits of each rule of a mirror session's filter.
  for (size_t si = 0; si < cfg.sessions.size(); ++si) {
    EngineReport::Session s;
    s.name = cfg.sessions[si].name;
    for (const auto& w : rep.workers) s.counters += w.sessions[si];
    if (const FilterConfig* f = routes.running().filter(routes.running().sessions[si].filter)) {
      for (size_t i = 0; i < f->filter.ingress.size(); ++i) {
        s.rule_hits.emplace_back("ingress/" + std::to_string(f->filter.ingress[i].number), s.counters.rule_hits[i]);
      }
      for (size_t i = 0; i < f->filter.egress.size(); ++i) {
        s.rule_hits.emplace_back("egress/" + std::to_string(f->filter.egress[i].number),
                                 s.counters.rule_hits[kMaxRulesPerDirection + i]);
      }
    }
    rep.sessions.push_back(std::move(s));
  }
  // Pools: each member's state, share of the flows and copies.
  for (size_t pi = 0; pi < pool_states.pools().size(); ++pi) {
    const PoolStates::Pool& p = pool_states.pools()[pi];
    EngineReport::Pool rp;
    rp.name = p.name;
    rp.fail_open_now = p.fail_open;
    for (const auto& w : rep.workers) rp.fail_open_copies += w.pools[pi].fail_open;
    for (size_t m = 0; m < p.members.size(); ++m) {
      EngineReport::PoolMember rm;
      rm.name = p.members[m].name;
      rm.state = p.members[m].drained ? "drained" : p.members[m].health.healthy() ? "healthy" : "unhealthy";
      rm.flow_share = p.members[m].flow_share;
      rm.checks_passed = p.members[m].health.passed();
      rm.checks_failed = p.members[m].health.failed();
      for (const auto& w : rep.workers) rm.copies += w.pools[pi].member_copies[m];
      rp.members.push_back(std::move(rm));
    }
    rep.pools.push_back(std::move(rp));
  }
  // What the writer thread could not write, on the outputs it was meant for.
  for (const auto& [o, q] : file_queues) {
    rep.outputs[o].counters.dropped[static_cast<size_t>(DropReason::write_failed)] += q->write_failed();
  }
  for (const PcapReader* r : readers) {
    if (r->end() == InputEnd::kTruncated) rep.inputs_truncated.push_back(r->end_message());
    if (r->end() == InputEnd::kDamaged) rep.inputs_damaged.push_back(r->end_message());
    if (r->end() == InputEnd::kReading) rep.inputs_ended = false;
  }
  for (CaptureFileWriter* w : writers) {
    // A file whose writes failed does not take the output's name when it was written under a
    // temporary one; any other ends as it is (complete, or what was read before a stop).
    const bool keep = !w->failed();
    w->finish(keep);
    if (w->failed()) rep.write_errors.push_back(w->error());
    else for (const auto& f : w->files()) rep.files_written.push_back(f);
  }
  for (const auto& r : resolvers) {
    PortCounters c;
    for (size_t i = 0; i < links.size(); ++i) {
      if (links.name(i) == r->port_name()) c = links.counters(i);
    }
    rep.notes.push_back("port " + r->port_name() + ": next hop " + r->next_hop_text() + ": " +
                        std::to_string(c.arp_requests) + " ARP requests while running, " +
                        std::to_string(c.arp_unanswered) + " unanswered; " + std::to_string(r->replies()) +
                        " ARP replies; " + std::to_string(r->other_received()) +
                        " other packets received on the output and freed by the control thread");
  }
  rx_owned.clear();
  tx_owned.clear();
  for (const auto& [name, info] : ethdevs) ethdev_close(info.port_id);
  return rep;
}

}  // namespace mirrorpipe
