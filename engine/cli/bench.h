// `mirrorpipe bench`: the real workers (the same code as `run`) on net_null, timed.
#pragma once

#include <atomic>
#include <string>

namespace mirrorpipe {

struct BenchOptions {
  std::string tunnel = "vxlan";  // vxlan, gwlb, geneve or decap
  std::string rx;                // RX devargs; default: net_null with copy=0 over pre-filled buffers
  std::string tx;                // TX devargs; default: net_null with no-rx=1
  unsigned workers = 1;
  double seconds = 5;
  unsigned frame_size = 64;      // the inner frame without FCS (decap: after decapsulation)
  bool hugepages = false;        // EAL with hugepages (reserved beforehand) instead of --no-huge
  bool json = false;
  std::string sample;            // capture whose flows the frames take; default: the bundled one
  // "nic": the flow hash is taken from the mbuf, as on a NIC that delivers its symmetric RSS
  // hash; net_null has none, so the run writes each buffer's Toeplitz hash once and its RX
  // sets the flag a PMD sets (see RunOptions::simulate_rx_rss_hash). "software": ours.
  std::string flow_hash = "software";
  // "nic": the output taken as offloading the outer checksums, as ENA does (see
  // RunOptions::simulate_tx_checksum_offload). "software": the output's own answer (net_null
  // offloads nothing).
  std::string tx_checksum = "software";
  // A mirror session instead of a route (vxlan, gwlb, geneve): a filter of this many rules per
  // direction, the accepting rule last; a tcpdump expression that must also accept; a flow
  // sample of 1/N.
  unsigned filter_rules = 0;
  std::string bpf;
  unsigned sample_flows = 0;
  // A session with this many VXLAN targets (one output): every packet sent N times; copies
  // chained to the shared payload where the output takes chains, or copied (fanout_copy).
  unsigned fanout = 0;
  bool fanout_copy = false;
  // A session whose one sink is a pool of this many VXLAN targets (one output): each packet
  // sent once, to the member Maglev gives its flow; no health check.
  unsigned pool = 0;
};

// `stop` (set by SIGINT) ends the measurement early; the results measured so far are printed.
int run_bench(const BenchOptions& o, std::atomic<bool>& stop);

}  // namespace mirrorpipe
