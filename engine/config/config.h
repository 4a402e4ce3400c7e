// The engine's configuration: what `mirrorpipe run -c FILE` reads and `mirrorpipe check`
// validates. Loaded and validated once into an immutable EngineConfig; the runtime builds its
// snapshot from it and never reads the file again (a reload loads a new EngineConfig).
//
// Control path only: may allocate and throw ConfigError.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "decap/decap.h"
#include "encap/tunnel.h"
#include "engine/config/health_settings.h"
#include "engine/config/log_settings.h"
#include "engine/pipeline/counters.h"
#include "engine/pipeline/pipeline.h"
#include "engine/pipeline/mirror_session.h"
#include "engine/pipeline/receive.h"
#include "engine/pipeline/verdict.h"

namespace mirrorpipe {

// Every configuration error names the file, the line, the key, the value found and what was
// expected: "mirrorpipe.toml:12: ports[1].mtu: found 100000, expected an integer 68-9216".
class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

enum class PortRole : uint8_t {
  kMirrorInput,  // raw frames to encapsulate
  kTunnelInput,  // tunnelled frames to decapsulate and forward
  kOutput,
  kAppliance,    // inline behind a GWLB: GWLB Geneve in, returned to GWLB, inner copied to sinks
};

enum class Oversize : uint8_t {
  kTruncate,  // what AWS does toward instance targets: keep what fits the output's IP MTU
  kDrop,
};

enum class Pace : uint8_t {
  kFast,     // as fast as possible
  kCapture,  // at the capture's own timing
  kRate,     // at pace_pps packets per second
};

struct PortConfig {
  std::string name;
  int line = 0;
  PortRole role = PortRole::kMirrorInput;
  std::string devargs;  // a DPDK port: PCI address or vdev ("net_af_packet0,iface=veth0")
  std::string file;     // or a capture file (pcap/pcapng in; pcap, or pcapng by extension, out;
                        // with several workers, one file per worker: NAME-w0.pcap, NAME-w1.pcap...)
  uint32_t mtu = 0;     // IP MTU; 0 leaves the port's own
  uint16_t queues = 0;  // RX/TX queue pairs; 0: one per worker
  uint16_t rx_ring = 1024;
  uint16_t tx_ring = 1024;
  // The port's own addresses (outputs: the outer source; any DPDK port with an IPv4 `ip`
  // answers ARP and ICMP echo for it) and the next hop's MAC.
  std::optional<wire::MacAddress> mac;
  std::optional<IpAddress> ip;
  std::string exception_tap;  // kernel interface for the host's own traffic (DPDK ports)
  std::optional<wire::MacAddress> next_hop_mac;
  std::optional<IpAddress> next_hop_ip;  // outputs: resolved with ARP from `ip` when no MAC is given
  Oversize oversize = Oversize::kTruncate;
  // File inputs: replay pacing.
  Pace pace = Pace::kFast;
  double pace_pps = 0;
  // Tunnel inputs and appliances: what is accepted at all (empty: everything).
  std::vector<uint32_t> allow_vnis;
  std::vector<IpPrefix> allow_sources;
  // Appliances: where the returns go (default: the port itself), and the output port (a TAP)
  // whose received packets come from a local inspection engine and go back to GWLB.
  std::string returns;
  std::string inject_from;
  // pcapng file outputs: rotation.
  uint64_t rotate_bytes = 0;
  uint64_t rotate_seconds = 0;
  // A mirror or tunnel input on a DPDK device that also sends, as an output does: the one NIC
  // of a single-NIC instance receives the mirrored traffic and sends what it becomes.
  bool also_output = false;
  // Mirror inputs on a DPDK device: where the flow hash (VXLAN source port, GWLB cookie) comes
  // from; see choose_flow_hash in engine/pipeline/pipeline.h.
  FlowHashSource flow_hash = FlowHashSource::kAuto;
  // Whether fan-out copies sent here may be chained buffers (a header buffer on the shared
  // payload). Unset: what the device says it can send (RTE_ETH_TX_OFFLOAD_MULTI_SEGS); true for
  // a driver that sends chains without saying so (net_null, net_pcap), false to always copy.
  std::optional<bool> tx_chains;
  bool is_file() const { return !file.empty(); }
  // Targets, routes and sessions may send out of this port.
  bool sends() const { return role == PortRole::kOutput || also_output; }
  bool is_pcapng() const {
    return file.size() > 7 && file.compare(file.size() - 7, 7, ".pcapng") == 0;
  }
};

// A mirror session as the receiving side sees it: which packets (VNI, outer source) and where
// their inner frames go (output ports: pcapng files, TAPs, NICs; or targets: re-mirroring).
struct SessionConfig {
  std::string name;
  int line = 0;
  std::string input;
  std::vector<uint32_t> vnis;       // receive sessions: empty, any
  std::vector<IpPrefix> sources;    // receive sessions: empty, any
  std::vector<std::string> sinks;   // output port or target names
  // Mirror sessions (on a mirror-input), as AWS Traffic Mirroring has them.
  uint16_t number = 0;              // 1-32766, unique per input; lower is tried first
  std::string filter;               // empty: mirror everything
  std::vector<IpPrefix> monitored;  // decides the direction; empty: `egress`
  bool egress = false;              // without monitored: the direction of every packet
  std::optional<uint32_t> vni;      // overrides the targets' VNI for this session's copies
  uint32_t packet_length = 0;       // AWS PacketLength for this session's copies; 0: the target's
  // Beyond AWS.
  int32_t slice = -1;               // headers through L4, then this many payload bytes; -1: off
  uint32_t sample_flows = 0;        // keep the flows whose symmetric hash falls in 1/N; 0: all
  uint32_t sample_packets = 0;      // every Nth packet per worker; 0: all
  double max_pps = 0;               // packets per second for the session (over all workers); 0: no limit
  uint32_t dedup_us = 0;            // drop a packet seen within this many microseconds; 0: off
};

// [[filters]]: an AWS Traffic Mirroring filter (engine/pipeline/mirror_session.h).
struct FilterConfig {
  std::string name;
  int line = 0;
  MirrorFilter filter;
  std::string bpf;  // a tcpdump expression on the frame that must also accept; empty: none
};

struct ApplianceSettings {
  uint32_t flow_table_size = 65536;  // entries per worker
  uint32_t tcp_idle_timeout_s = 350;  // GWLB's defaults
  uint32_t idle_timeout_s = 120;
  uint8_t ttl = 64;
  std::vector<FlowRule> drop_flows;   // the verdict hook's rules from the file
};

struct TargetConfig {
  std::string name;
  int line = 0;
  std::string output;  // name of an output port
  TunnelConfig tunnel;
  bool resolve_dst_mac = false;  // dst_mac comes from ARP for the output's next_hop_ip
};

// [[pools]]: targets that share the flows sent to the pool, both directions of a flow to one
// member, chosen with Maglev consistent hashing (engine/control/maglev.h).
// At most kMaxPools pools of kMaxPoolMembers members (engine/pipeline/counters.h).
struct PoolConfig {
  std::string name;
  int line = 0;
  std::vector<std::string> members;  // target names, in the file's order
  uint32_t table_size = 65537;       // Maglev's lookup table: a prime
  // [pools.health_check]: without it, members are always healthy.
  std::optional<HealthCheckSettings> health;
};

// Which input feeds what: a mirror input feeds a target (or a pool), a tunnel input an output port.
struct RouteConfig {
  int line = 0;
  std::string input;
  std::string target;  // mirror inputs
  std::string output;  // tunnel inputs
};

struct EngineConfig {
  std::string path;  // the file it came from
  std::vector<std::string> eal_args;
  uint32_t workers = 1;
  std::vector<unsigned> worker_cores;  // CPU of each worker; empty: 1..workers (main on 0)
  unsigned main_core = 0;
  uint32_t mbufs = 0;        // 0: sized from the ports' rings and the workers
  uint32_t tx_flush_us = 100;
  double stats_interval_s = 1.0;
  uint32_t arp_refresh_s = 30;  // next_hop_ip asked again (engine/control/next_hop.h)
  // [engine] user and group: who the engine runs as once started (engine/runtime/privileges.h);
  // empty: no drop. Both names exist on this machine (checked by the loader).
  std::string user;
  std::string group;
  std::string metrics_listen;  // [metrics] listen: the Prometheus endpoint's ADDRESS:PORT; empty: none
  LogSettings log;             // [log] format and level
  DecapConfig decap;
  std::vector<PortConfig> ports;
  std::vector<TargetConfig> targets;
  std::vector<RouteConfig> routes;
  std::vector<SessionConfig> sessions;
  std::vector<FilterConfig> filters;
  std::vector<PoolConfig> pools;
  ApplianceSettings appliance;

  const PortConfig* port(const std::string& name) const;
  const TargetConfig* target(const std::string& name) const;
  const FilterConfig* filter(const std::string& name) const;
  const PoolConfig* pool(const std::string& name) const;
};

// What a reload (SIGHUP) may change while traffic flows: each target's tunnel settings, the
// decap settings, the summary interval and the log level. Returns "" when `next` only changes
// those, else a message naming the first setting that cannot change live (log.format among
// them: a log reader expects one format from one stream).
std::string live_change_refusal(const EngineConfig& running, const EngineConfig& next);

// A flow rule as a user writes it: "PROTO SRC[:PORT] DST[:PORT] [endpoint=ID]". PROTO is tcp,
// udp, sctp (ports required), icmp, icmpv6, gre or a number (no ports); an IPv6 address with a
// port is written [ADDR]:PORT; ID is the GWLB endpoint's (decimal or 0x hex), any when absent.
// Either direction names the same flow. Throws std::invalid_argument saying what is wrong.
FlowRule parse_flow_rule(const std::string& text);

// Reads and validates a configuration file. Throws ConfigError with file, line and key.
EngineConfig load_config(const std::string& path);

// The same, from text (tests); `path` only names it in messages.
EngineConfig load_config_text(const std::string& text, const std::string& path);

}  // namespace mirrorpipe
