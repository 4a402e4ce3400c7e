// The engine: from a validated EngineConfig to running workers and back to a report.
//
// Control path. Builds the EAL arguments, opens the ports (DPDK devices and capture files),
// builds one immutable plan per worker, launches the workers on their lcores, prints a periodic
// summary, and on the end of the inputs or a stop request drains, stops and reports.
#pragma once

#include <atomic>
#include <string>
#include <vector>

#include "engine/config/config.h"
#include "engine/pipeline/counters.h"

namespace mirrorpipe {

// The PMD's own counters: drops in the NIC or kernel ring happen before the engine sees a packet.
struct PmdCounters {
  uint64_t ipackets = 0, opackets = 0, ibytes = 0, obytes = 0;
  uint64_t imissed = 0, ierrors = 0, oerrors = 0, rx_nombuf = 0;
};

struct EngineReport {
  struct Input {
    std::string name;
    InputCounters counters;
  };
  struct Output {
    std::string name;
    OutputCounters counters;
  };
  struct Port {
    std::string name;
    std::string driver;
    PmdCounters pmd;
    PortCounters counters;  // what the control loop counted (link changes)
    bool link_up = false;   // at the end
    uint32_t link_speed_mbps = 0;
  };
  struct Session {
    std::string name;
    SessionCounters counters;
    std::vector<std::pair<std::string, uint64_t>> rule_hits;  // "ingress/100" -> hits, in order
  };
  struct PoolMember {
    std::string name;
    std::string state;       // healthy, unhealthy or drained, at the end
    double flow_share = 0;   // of the pool's Maglev table, at the end
    uint64_t copies = 0;     // packets sent to it
    uint64_t checks_passed = 0, checks_failed = 0;
  };
  struct Pool {
    std::string name;
    bool fail_open_now = false;
    uint64_t fail_open_copies = 0;  // copies sent while no member was in service
    std::vector<PoolMember> members;
  };
  std::vector<Input> inputs;
  std::vector<Output> outputs;
  std::vector<Pool> pools;
  std::vector<Session> sessions;  // every [[sessions]] entry, in configuration order
  std::vector<Port> ports;  // DPDK ports only
  std::vector<WorkerStats> workers;
  double seconds = 0;
  std::vector<std::string> notes;  // what the control thread did beside the data path
  // File outputs whose writes failed ("write failed: 'PATH': REASON"), once each; their
  // packets are counted as dropped (write_failed).
  std::vector<std::string> write_errors;
  // Capture inputs that ended early: cut inside their last record (every complete record was
  // processed), or unreadable from some record on (what came before was processed).
  std::vector<std::string> inputs_truncated;
  std::vector<std::string> inputs_damaged;
  bool inputs_ended = true;   // every capture input was read to its end (false: stopped early)
  std::vector<std::string> files_written;  // every file output, as named when complete
  uint64_t pool_mbufs = 0;       // the DPDK ports' packet-buffer pool (for benchmark peers)
  uint32_t pool_data_room = 0;
  // Each packet-buffer pool's buffers in use when the workers started and once they stopped
  // (RX rings hold theirs both times): equal when nothing leaked.
  struct Mempool {
    std::string name;
    uint64_t in_use_start = 0, in_use_end = 0;
  };
  std::vector<Mempool> mempools;

  InputCounters total() const;
};

struct RunOptions {
  bool periodic_summary = true;  // the start-up lines and one summary per stats interval (log events)
  bool file_mode_eal = false;    // EAL without hugepages, PCI or shared files (encap/decap)
  std::atomic<bool>* reload = nullptr;  // set (by SIGHUP): reload the configuration file
  double stop_after_s = 0;              // > 0: stop by itself after this long (benchmarks)
  // Frames written once into every buffer of the DPDK ports' pool before any port starts, in
  // turn (benchmarks: net_null's copy=0 receive hands the buffers out as they are).
  const std::vector<std::vector<uint8_t>>* prefill_frames = nullptr;
  // Benchmarks of the NIC-hash path on net_null, which gives no RSS hash: prefill also writes
  // each buffer's symmetric Toeplitz hash (DPDK's rte_softrss, the engine's key) into the mbuf
  // (rte_pktmbuf_reset leaves it), and the mirror inputs' RX sets RTE_MBUF_F_RX_RSS_HASH on
  // each packet, as a NIC's PMD does when it delivers the hash.
  bool simulate_rx_rss_hash = false;
  // Benchmarks of GWLB encapsulation on net_null: its outer headers take the place of the
  // frame's Ethernet header, so a buffer received again would no longer hold its frame. Prefill
  // also keeps each frame's first 14 bytes at the end of its buffer, and the mirror inputs' RX
  // writes them back in front of each packet received (a 14-byte copy where net_pcap's replay
  // copied the whole frame; bench_fixtures.h).
  bool restore_ethernet_header = false;
  // Benchmarks of the path an output that offloads the outer IPv4 and UDP checksums takes (ENA
  // and Intel's VFs offer both), on net_null, which offers neither: each output not shared with
  // an input is taken as offloading them. The workers then write what the device would complete
  // (the pseudo-header sum) and set the mbuf's offload flags, and net_null sends the packets
  // with the checksums unfilled.
  bool simulate_tx_checksum_offload = false;
  // File outputs are written under a temporary name and renamed when the run ends without a
  // write error (encap and decap): a partial file never takes the output's name.
  bool atomic_file_outputs = false;
  bool copy_fanout = false;  // fan-out copies every extra packet, never chains (benchmarks)
  std::string build_info;  // the Prometheus build_info labels (version, revision, build type, DPDK)
  // A progress bar on stderr while capture-file inputs are read (the caller decides: a
  // terminal, and not --no-progress).
  bool progress = false;
};

// Runs the engine until every input has ended (capture files) or `stop` becomes true. Throws
// std::runtime_error on a start-up failure (EAL, port, mempool), before any packet moves.
EngineReport run_engine(const EngineConfig& cfg, const RunOptions& opts, std::atomic<bool>& stop);

// The EAL arguments a configuration starts with (for messages and tests).
std::vector<std::string> engine_eal_args(const EngineConfig& cfg, bool file_mode);

}  // namespace mirrorpipe
