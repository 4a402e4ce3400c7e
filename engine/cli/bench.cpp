// The benchmark: real workers, real ports (net_null), frames built once from a capture's flows.
//
// Conventions (printed with every result): the frame size is the inner frame without FCS (for
// decap, the inner frame after decapsulation); packets/s counts packets mirrorpipe sent; bits/s
// counts the outer frames' bytes on the wire at L2 (no preamble, gap or FCS).
#include "engine/cli/bench.h"


#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <thread>
#include <vector>

#include <unistd.h>

#include <pcap/pcap.h>

#include "decap/appliance.h"
#include "decap/decap.h"
#include "encap/encap.h"
#include "engine/pipeline/pipeline.h"
#include "engine/cli/stats.h"
#include "engine/runtime/eal.h"
#include "engine/runtime/engine.h"

namespace mirrorpipe {
namespace {

std::vector<std::vector<uint8_t>> read_frames(const std::string& path) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline(path.c_str(), err);
  if (!p) throw std::invalid_argument("bench: cannot read '" + path + "': " + err);
  std::vector<std::vector<uint8_t>> out;
  pcap_pkthdr* h;
  const u_char* d;
  while (pcap_next_ex(p, &h, &d) == 1) out.emplace_back(d, d + h->caplen);
  pcap_close(p);
  return out;
}

// Frames of exactly `size` bytes for many flows in both directions: the capture's untagged
// IPv4 TCP and UDP frames are the templates; addresses and ports are varied to make 2048
// flows, each seen both ways; IP and UDP lengths are set for the new size.
std::vector<std::vector<uint8_t>> make_frames(const std::string& sample, unsigned size) {
  std::vector<std::vector<uint8_t>> templates;
  for (auto& f : read_frames(sample)) {
    if (f.size() < 14 + 20 + 8 || f[12] != 0x08 || f[13] != 0x00 || (f[14] >> 4) != 4) continue;
    const unsigned ihl = (f[14] & 15u) * 4;
    const uint8_t proto = f[23];
    const unsigned l4 = proto == 6 ? 20u : proto == 17 ? 8u : 0u;
    if (l4 == 0 || ((f[20] & 0x3f) | f[21]) != 0) continue;  // TCP/UDP, not a fragment
    f.resize(14 + ihl + l4);
    templates.push_back(f);
  }
  if (templates.empty()) throw std::invalid_argument("bench: no IPv4 TCP/UDP frames in '" + sample + "'");
  std::vector<std::vector<uint8_t>> out;
  for (unsigned flow = 0; flow < 2048; ++flow) {
    const auto& t = templates[flow % templates.size()];
    for (int dir = 0; dir < 2; ++dir) {
      std::vector<uint8_t> f(std::max<size_t>(size, t.size()), 0);
      std::memcpy(f.data(), t.data(), t.size());
      const unsigned ihl = (f[14] & 15u) * 4;
      // Vary the client's address and port per flow; swap the endpoints for the reply.
      f[14 + 12 + 2] = static_cast<uint8_t>(flow >> 8);
      f[14 + 12 + 3] = static_cast<uint8_t>(flow);
      f[14 + ihl + 0] = static_cast<uint8_t>(0x80 | (flow >> 8));
      f[14 + ihl + 1] = static_cast<uint8_t>(flow);
      if (dir == 1) {
        for (int i = 0; i < 4; ++i) std::swap(f[14 + 12 + i], f[14 + 16 + i]);
        std::swap(f[14 + ihl], f[14 + ihl + 2]);
        std::swap(f[14 + ihl + 1], f[14 + ihl + 3]);
        for (int i = 0; i < 6; ++i) std::swap(f[i], f[6 + i]);
      }
      const unsigned ip_len = static_cast<unsigned>(f.size()) - 14;
      f[16] = static_cast<uint8_t>(ip_len >> 8);
      f[17] = static_cast<uint8_t>(ip_len);
      if (f[23] == 17) {
        f[14 + ihl + 4] = static_cast<uint8_t>((ip_len - ihl) >> 8);
        f[14 + ihl + 5] = static_cast<uint8_t>(ip_len - ihl);
      }
      out.push_back(std::move(f));
    }
  }
  return out;
}

TunnelConfig bench_tunnel(const std::string& kind) {
  TunnelConfig c;
  c.kind = kind == "gwlb" ? TunnelKind::kGwlb : kind == "geneve" ? TunnelKind::kGeneve : TunnelKind::kVxlan;
  c.src_ip = parse_ip("172.31.0.238");
  c.dst_ip = parse_ip("172.31.17.188");
  c.vni = c.kind == TunnelKind::kGwlb ? 0 : 5569041;
  c.gwlb_endpoint_id = c.kind == TunnelKind::kGwlb ? 0x31e129cdc0cd8633 : 0;
  return c;
}

// The correctness gate: every prepared frame goes through the same pipeline the workers run,
// and the result must decapsulate back to the frame (or, for decap, to its inner frame) and
// carry the configured VNI. A fast wrong path cannot score.
void check_pipeline(const PipelineConfig& cfg, const std::vector<std::vector<uint8_t>>& frames,
                    const std::vector<std::vector<uint8_t>>& inner, uint32_t want_vni) {
  std::vector<uint8_t> buf(1024 + 16384);
  DecapConfig dc;
  for (size_t i = 0; i < frames.size(); ++i) {
    std::memcpy(buf.data() + 1024, frames[i].data(), frames[i].size());
    const auto n = static_cast<uint32_t>(frames[i].size());
    PacketRef ref{buf.data() + 1024, n, n, 1024};
    if (process_packet(cfg, ref) != DropReason::kNone) throw std::runtime_error("bench: the pipeline dropped a prepared frame");
    std::vector<uint8_t> out(ref.data, ref.data + ref.len);
    if (cfg.mode == PipelineMode::kDecap) {
      if (out != inner[i]) throw std::runtime_error("bench: decap output differs from the inner frame");
      continue;
    }
    if (cfg.outer.ip_checksum_offload && (out[14 + 10] | out[14 + 11]) != 0) {
      throw std::runtime_error("bench: the outer IPv4 checksum is not left to the device");
    }
    DecapResult r;
    if (decap_parse(wire::Bytes(out.data(), out.size()), static_cast<uint32_t>(out.size()), dc, r) != DropReason::kNone ||
        r.layers[0].vni != want_vni) {
      throw std::runtime_error("bench: encap output does not decapsulate");
    }
    std::vector<uint8_t> back(out.begin() + r.inner_offset, out.begin() + r.inner_offset + r.inner_len);
    const auto& f = frames[i];
    const bool l3 = r.l3_protocol != 0;
    const std::vector<uint8_t> want = l3 ? std::vector<uint8_t>(f.begin() + 14, f.end()) : f;
    if (back != want) throw std::runtime_error("bench: encap output carries a different frame");
  }
}

// The appliance's gate: each prepared GWLB packet, returned, keeps its UDP payload (Geneve header,
// options, inner packet) byte for byte and has its IPv4 addresses swapped.
void check_appliance(const std::vector<std::vector<uint8_t>>& frames) {
  ApplianceConfig ac;
  for (const auto& f : frames) {
    std::vector<uint8_t> buf(f);
    PacketRef ref{buf.data(), static_cast<uint32_t>(buf.size()), static_cast<uint32_t>(buf.size()), 0};
    DecapResult r;
    if (appliance_return(ref, ac, r) != DropReason::kNone) throw std::runtime_error("bench: the appliance dropped a GWLB packet");
    const size_t ip = r.outer_l3_offset;
    if (std::memcmp(&buf[ip + 12], &f[ip + 16], 4) != 0 || std::memcmp(&buf[ip + 16], &f[ip + 12], 4) != 0 ||
        std::memcmp(&buf[ip + 20], &f[ip + 20], f.size() - ip - 20) != 0) {
      throw std::runtime_error("bench: the appliance's return is not the packet with its addresses swapped");
    }
  }
}

}  // namespace

// The bundled sample, found beside the executable: build/../pcaps in a source tree,
// ../share/mirrorpipe once installed. No build path is compiled in.
std::string default_sample() {
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  for (const char* rel : {"../pcaps/sample-mix.pcap", "../share/mirrorpipe/sample-mix.pcap"}) {
    const auto p = (exe.parent_path() / rel).lexically_normal();
    if (!ec && std::filesystem::is_regular_file(p, ec)) return p.string();
  }
  throw std::invalid_argument("the bundled sample (pcaps/sample-mix.pcap) is not beside the executable; give --sample FILE");
}

int run_bench(const BenchOptions& o, std::atomic<bool>& stop) {
  if (!(o.seconds > 0) || o.seconds > 86400) {
    throw std::invalid_argument("--seconds: more than 0 and at most 86400 (a day)");
  }
  if (o.workers == 0 || o.workers > 64) throw std::invalid_argument("--workers: 1-64");
  const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
  if (o.workers + 1 > cpus) {
    std::fprintf(stderr,
                 "mirrorpipe bench: warning: %u workers and the main lcore on %u CPUs: workers share cores, "
                 "the figures will not be per-core figures\n",
                 o.workers, cpus);
  }
  if (o.tunnel != "vxlan" && o.tunnel != "gwlb" && o.tunnel != "geneve" && o.tunnel != "decap" &&
      o.tunnel != "appliance") {
    throw std::invalid_argument("--tunnel: '" + o.tunnel + "' is not vxlan, gwlb, geneve, decap or appliance");
  }
  if (o.frame_size < 64 || o.frame_size > 9000) throw std::invalid_argument("--frame-size: 64-9000");
  const bool nic_hash = o.flow_hash == "nic";
  if (nic_hash && (o.tunnel == "decap" || o.tunnel == "appliance" || !o.rx.empty())) {
    throw std::invalid_argument("--flow-hash nic: for a mirror input (vxlan, gwlb, geneve) on the default net_null RX");
  }
  const bool nic_checksum = o.tx_checksum == "nic";
  // A real device behind --tx would send the checksums unfilled: net_null, or a file to look at.
  if (nic_checksum && (o.tunnel == "decap" || o.tunnel == "appliance" ||
                       !(o.tx.empty() || o.tx.rfind("net_pcap", 0) == 0))) {
    throw std::invalid_argument("--tx-checksum nic: for an encapsulating route (vxlan, gwlb, geneve) on the default "
                                "net_null TX or a net_pcap one");
  }
  const std::string sample = o.sample.empty() ? default_sample() : o.sample;
  const bool decap = o.tunnel == "decap";
  // The GWLB appliance: GWLB Geneve in (the frames wrapped as GWLB sends them), each returned
  // to GWLB, the flow table refreshed. Returning rewrites addresses in place, and what it
  // writes is again valid GWLB Geneve, so the buffers can be received again and again.
  const bool appliance = o.tunnel == "appliance";
  const std::vector<std::vector<uint8_t>> inner = make_frames(sample, o.frame_size);

  // What the RX buffers hold: the frames, or (decap) the frames wrapped as Traffic Mirroring does.
  std::vector<std::vector<uint8_t>> frames = inner;
  const TunnelConfig tc = bench_tunnel(decap ? "vxlan" : appliance ? "gwlb" : o.tunnel);
  PipelineConfig pc;
  pc.mode = decap ? PipelineMode::kDecap : PipelineMode::kEncap;
  pc.outer = build_outer_template(tc);
  if (nic_checksum) use_checksum_offload(pc.outer, true, true);  // the gate runs the workers' writer
  if (decap || appliance) {
    PipelineConfig enc;
    enc.outer = pc.outer;
    for (auto& f : frames) {
      std::vector<uint8_t> buf(512 + f.size());
      std::memcpy(buf.data() + 512, f.data(), f.size());
      const auto n = static_cast<uint32_t>(f.size());
      PacketRef ref{buf.data() + 512, n, n, 512};
      (void)process_packet(enc, ref);
      f.assign(ref.data, ref.data + ref.len);
    }
  }
  if (appliance) {
    check_appliance(frames);
  } else {
    check_pipeline(pc, frames, inner, tc.vni);
  }
  const unsigned rx_size = static_cast<unsigned>(frames[0].size());

  EngineConfig cfg;
  cfg.path = "(bench)";
  cfg.workers = o.workers;
  cfg.stats_interval_s = 0;
  cfg.eal_args = {"--file-prefix", "mpbench" + std::to_string(getpid()), "--no-pci", "--no-telemetry",
                  "--log-level", "lib.eal:error"};
  // Hugepage files unlinked once mapped: a run that is killed leaves none behind under its
  // per-process prefix.
  if (o.hugepages) cfg.eal_args.push_back("--huge-unlink");
  else cfg.eal_args.insert(cfg.eal_args.begin(), {"--no-huge", "-m", "2048"});
  PortConfig in;
  in.name = "rx";
  in.role = decap ? PortRole::kTunnelInput : appliance ? PortRole::kAppliance : PortRole::kMirrorInput;
  if (appliance) in.returns = "tx";
  // GWLB encapsulation rewrites the frame's first bytes (the Ethernet header gives way to the
  // outer headers), so a buffer received again would not hold its frame: the RX writes the 14
  // bytes back on each receive (RunOptions::restore_ethernet_header), a cost the GWLB figures
  // carry and the others do not.
  const bool restore_head = o.rx.empty() && o.tunnel == "gwlb";
  in.devargs = o.rx.empty() ? "net_null0,size=" + std::to_string(rx_size) + ",copy=0" : o.rx;
  in.mtu = rx_size > 1500 ? 9216 : 0;
  if (nic_hash) in.flow_hash = FlowHashSource::kNic;
  PortConfig out;
  out.name = "tx";
  out.role = PortRole::kOutput;
  out.devargs = o.tx.empty() ? "net_null1,no-rx=1" : o.tx;
  // net_null frees what it is given, chains too, without saying it takes them.
  if (o.tx.empty() && o.fanout) out.tx_chains = true;
  cfg.ports = {in, out};
  RouteConfig r;
  r.input = "rx";
  if (appliance) {
    // No route: the appliance returns to `returns`.
  } else if (decap) {
    r.output = "tx";
  } else {
    TargetConfig t;
    t.name = "target";
    t.output = "tx";
    t.tunnel = tc;
    cfg.targets.push_back(t);
    r.target = "target";
  }
  const bool session = o.filter_rules || !o.bpf.empty() || o.sample_flows || o.fanout || o.pool;
  if (session && (decap || appliance)) {
    throw std::invalid_argument(
        "--filter-rules, --bpf, --sample-flows, --fanout and --pool: for a mirror input (vxlan, gwlb, geneve)");
  }
  if (o.fanout_copy && !o.fanout) throw std::invalid_argument("--fanout-copy: with --fanout N");
  if (o.fanout && o.pool) throw std::invalid_argument("--fanout and --pool: one or the other");
  if (o.filter_rules > kMaxRulesPerDirection) {
    throw std::invalid_argument("--filter-rules: at most " + std::to_string(kMaxRulesPerDirection));
  }
  if (session) {
    // The frames are IPv4 TCP/UDP between ports >= 0x8000 and the sample's server ports: the
    // first N-1 rules (TCP and UDP in turn, to destination ports 1-10) match none of them, so
    // each packet walks them all to the last, which accepts every IPv4 packet.
    SessionConfig s;
    s.name = "bench";
    s.input = "rx";
    s.number = 1;
    s.sinks = {"target"};
    s.sample_flows = o.sample_flows;
    // --fanout N: N targets, each a sink; --pool N: N targets, members of the one sink.
    for (unsigned i = 1; i < std::max(o.fanout, o.pool); ++i) {
      TargetConfig t = cfg.targets.front();
      t.name = "target" + std::to_string(i);
      t.tunnel.dst_ip.bytes[3] = static_cast<uint8_t>(t.tunnel.dst_ip.bytes[3] + i);
      cfg.targets.push_back(t);
      if (o.fanout) s.sinks.push_back(t.name);
    }
    if (o.pool) {
      PoolConfig p;
      p.name = "bench-pool";
      for (const TargetConfig& t : cfg.targets) p.members.push_back(t.name);
      cfg.pools.push_back(p);
      s.sinks = {p.name};
    }
    if (o.filter_rules || !o.bpf.empty()) {
      FilterConfig f;
      f.name = "bench";
      f.bpf = o.bpf;
      const unsigned n = std::max(1u, o.filter_rules);
      for (int dir = 0; dir < 2; ++dir) {
        for (unsigned i = 0; i < n; ++i) {
          MirrorFilterRule rule;
          rule.number = static_cast<uint16_t>(100 + i);
          const bool last = i + 1 == n;
          rule.accept = last;
          rule.protocol = last ? -1 : (i % 2 ? 17 : 6);
          rule.source.length = 0;
          rule.destination.length = 0;
          if (!last) {
            rule.has_destination_ports = true;
            rule.destination_lo = 1;
            rule.destination_hi = 10;
          }
          (dir ? f.filter.egress : f.filter.ingress).push_back(rule);
        }
      }
      cfg.filters.push_back(f);
      s.filter = "bench";
    }
    cfg.sessions.push_back(s);
  } else if (!appliance) {
    cfg.routes.push_back(r);
  }

  RunOptions ro;
  ro.periodic_summary = false;
  ro.stop_after_s = o.seconds;
  // Every buffer filled once; net_null with copy=0 hands them out without touching the data.
  ro.prefill_frames = &frames;
  ro.simulate_rx_rss_hash = nic_hash;
  ro.restore_ethernet_header = restore_head;
  ro.simulate_tx_checksum_offload = nic_checksum;
  ro.copy_fanout = o.fanout_copy;
  // SIGINT ends the measurement early: the figures are those of the time measured.
  const EngineReport rep = run_engine(cfg, ro, stop);
  const bool interrupted = rep.seconds + 0.05 < o.seconds;  // the engine sets `stop` itself at the end
  eal_cleanup();

  const InputCounters t = rep.total();
  const double s = rep.seconds;
  nlohmann::json j;
  j["tunnel"] = o.tunnel;
  j["workers"] = o.workers;
  j["frame_size"] = o.frame_size;
  j["seconds"] = s;
  j["interrupted"] = interrupted;
  j["memory"] = o.hugepages ? "hugepages" : "4 KiB pages (--no-huge)";
  if (restore_head) j["rx_fixture"] = "each frame's 14-byte Ethernet header written back on receive (GWLB overwrites it)";
  j["flow_hash"] = nic_hash ? "nic (simulated on net_null: Toeplitz hash written once per buffer, RX flag set per packet)"
                            : "software";
  j["tx_checksum"] = nic_checksum ? "nic (simulated: the offload flags set, the IPv4 checksum field left 0 and a "
                                    "UDP checksum sent as its pseudo-header sum; the output fills in neither)"
                                  : "software";
  j["mpps"] = t.sent / s / 1e6;
  j["rx_mpps"] = t.rx / s / 1e6;  // packets processed (filters and sampling send fewer)
  j["filter_rules"] = o.filter_rules;
  j["bpf"] = o.bpf;
  j["sample_flows"] = o.sample_flows;
  j["fanout"] = o.fanout;
  j["fanout_copies"] = o.fanout ? (o.fanout_copy ? "copied" : "chained where the output takes chains") : "";
  j["pool"] = o.pool;
  if (o.pool && !rep.pools.empty()) {
    // Each member's packets, and its share of the Maglev table (of flows). The packets follow
    // the frames of the buffers net_null hands out again and again: the mempool cache is LIFO,
    // so one burst's 32 buffers cycle (`--pool 32` counts packets in 32 equal units). Not an
    // evenness figure: test_maglev has those.
    j["pool_copies"] = nlohmann::json::object();
    j["pool_flow_share"] = nlohmann::json::object();
    for (const auto& m : rep.pools.front().members) {
      j["pool_copies"][m.name] = m.copies;
      j["pool_flow_share"][m.name] = m.flow_share;
    }
  }
  j["tx_mpps"] = nlohmann::json::object();
  for (const auto& out : rep.outputs) j["tx_mpps"][out.name] = out.counters.tx / s / 1e6;
  j["gbps"] = t.sent_bytes * 8.0 / s / 1e9;
  j["per_worker_mpps"] = nlohmann::json::array();
  for (const auto& w : rep.workers) {
    InputCounters wt;
    for (size_t i = 0; i < rep.inputs.size(); ++i) wt += w.inputs[i];
    j["per_worker_mpps"].push_back(wt.sent / s / 1e6);
  }
  j["dropped"] = nlohmann::json::object();
  for (size_t i = 1; i <= kDropReasonCount; ++i) {
    if (t.dropped[i]) j["dropped"][std::string(kDropReasonNames[i])] = t.dropped[i];
  }
  j["packets_in"] = t.rx;
  j["packets_out"] = t.sent;
  j["mbufs"] = rep.pool_mbufs;
  j["mbuf_data_room"] = rep.pool_data_room;
  j["burst"] = 32;
  j["rx"] = in.devargs;
  j["tx"] = out.devargs;
  j["conventions"] = "frame_size: inner frame without FCS (decap: after decapsulation); mpps: packets sent; "
                     "gbps: outer frames at L2, no preamble, gap or FCS";
  if (o.json) {
    std::cout << j.dump() << "\n";
  } else {
    std::printf("mirrorpipe bench: %s, %u-byte frames, %u worker(s), %.1f s%s, %s\n", o.tunnel.c_str(),
                o.frame_size, o.workers, s, interrupted ? " (interrupted)" : "", j["memory"].get<std::string>().c_str());
    std::printf("  %.2f Mpps  %.2f Gbps (outer L2 bytes)   per worker:", j["mpps"].get<double>(), j["gbps"].get<double>());
    for (const auto& w : j["per_worker_mpps"]) std::printf(" %.2f", w.get<double>());
    std::printf(" Mpps\n  processed %.2f Mpps; in %llu, out %llu, dropped %s\n", j["rx_mpps"].get<double>(),
                static_cast<unsigned long long>(t.rx),
                static_cast<unsigned long long>(t.sent), j["dropped"].dump().c_str());
    std::printf("  rx %s, tx %s\n", in.devargs.c_str(), out.devargs.c_str());
  }
  return 0;
}

}  // namespace mirrorpipe
