#include "engine/cli/commands.h"

#include <CLI/CLI.hpp>

#include <atomic>
#include <fstream>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <csignal>
#include <cstring>
#include <filesystem>

#include <unistd.h>

#include "engine/cli/bench.h"
#include "engine/cli/emulate.h"
#include "engine/cli/stats.h"
#include "engine/cli/version.h"
#include "engine/config/config.h"
#include "engine/config/schema.h"
#include "engine/control/log.h"
#include "engine/runtime/eal.h"
#include "engine/runtime/engine.h"
#include "engine/runtime/file_port.h"
#include "engine/runtime/telemetry.h"

namespace mirrorpipe {
namespace {

// A usage error found after CLI11's own checks: exit code 2.
struct UsageError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// Decimal, or hexadecimal with 0x. No octal: "010" is ten.
uint64_t parse_uint(const std::string& text, uint64_t max, const std::string& what) {
  const bool hex = text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X');
  const std::string digits = hex ? text.substr(2) : text;
  if (digits.empty() || digits.find_first_not_of(hex ? "0123456789abcdefABCDEF" : "0123456789") !=
                            std::string::npos) {
    throw UsageError(what + ": '" + text + "' is not a number (decimal, or hex with 0x)");
  }
  uint64_t v = 0;
  try {
    v = std::stoull(digits, nullptr, hex ? 16 : 10);
  } catch (const std::out_of_range&) {
    throw UsageError(what + ": '" + text + "' is out of range");
  }
  if (v > max) throw UsageError(what + ": '" + text + "' is larger than " + std::to_string(max));
  return v;
}

struct CommonOptions {
  std::string input;
  std::string output;
  std::string stats_json;
  bool no_progress = false;
};

// A progress bar only where someone watches it: stderr is a terminal, and not --no-progress.
bool show_progress(bool no_progress) { return !no_progress && ::isatty(STDERR_FILENO) == 1; }

struct EncapOptions {
  std::string tunnel = "vxlan";
  std::string src_ip, dst_ip;
  std::string src_mac = "02:00:00:00:00:01";
  std::string dst_mac = "02:00:00:00:00:02";
  std::string vni = "0";
  std::string dst_port;
  std::string sport_range = "49152-65535";
  std::string ttl = "255";
  std::string dscp = "0";
  bool df = false;
  bool udp_checksum = false;
  bool no_udp_checksum = false;
  std::string packet_length = "0";
  std::string gwlb_endpoint_id = "0";
  std::string gwlb_attachment_id = "0";
  std::vector<std::string> geneve_options;
  bool metadata_option = false;
  std::string mtu = "0";
  std::string oversize = "truncate";
};

struct DecapOptions {
  std::vector<std::string> vxlan_ports;
  std::vector<std::string> geneve_ports;
  bool verify_checksums = false;
};

TunnelConfig tunnel_config_from(const EncapOptions& o) {
  TunnelConfig c;
  if (o.tunnel == "vxlan") c.kind = TunnelKind::kVxlan;
  else if (o.tunnel == "gwlb") c.kind = TunnelKind::kGwlb;
  else if (o.tunnel == "geneve") c.kind = TunnelKind::kGeneve;
  else throw UsageError("--tunnel: '" + o.tunnel + "' is not vxlan, gwlb or geneve");
  try {
    c.src_ip = parse_ip(o.src_ip);
    c.dst_ip = parse_ip(o.dst_ip);
    c.src_mac = parse_mac(o.src_mac);
    c.dst_mac = parse_mac(o.dst_mac);
    for (const auto& g : o.geneve_options) c.geneve_options.push_back(parse_geneve_option(g));
    c.metadata_option = o.metadata_option;
  } catch (const UsageError&) {
    throw;
  } catch (const std::invalid_argument& e) {
    throw UsageError(e.what());
  }
  c.vni = static_cast<uint32_t>(parse_uint(o.vni, 0xffffff, "--vni"));
  if (!o.dst_port.empty()) {
    c.dst_port = static_cast<uint16_t>(parse_uint(o.dst_port, 65535, "--dst-port"));
    if (c.dst_port == 0) throw UsageError("--dst-port: 0 is not a port");
  }
  const auto dash = o.sport_range.find('-');
  if (dash == std::string::npos) throw UsageError("--sport-range: expected LO-HI, got '" + o.sport_range + "'");
  c.sport_lo = static_cast<uint16_t>(parse_uint(o.sport_range.substr(0, dash), 65535, "--sport-range"));
  c.sport_hi = static_cast<uint16_t>(parse_uint(o.sport_range.substr(dash + 1), 65535, "--sport-range"));
  if (c.sport_lo > c.sport_hi || c.sport_lo == 0) {
    throw UsageError("--sport-range: '" + o.sport_range + "' must be LO-HI with 1 <= LO <= HI <= 65535");
  }
  c.ttl = static_cast<uint8_t>(parse_uint(o.ttl, 255, "--ttl"));
  if (c.ttl == 0) throw UsageError("--ttl: 0 would be discarded by the first router");
  c.dscp = static_cast<uint8_t>(parse_uint(o.dscp, 63, "--dscp"));
  c.df = o.df;
  if (o.udp_checksum && o.no_udp_checksum) throw UsageError("--udp-checksum and --no-udp-checksum exclude each other");
  c.udp_checksum = o.udp_checksum ? UdpChecksumMode::kOn
                   : o.no_udp_checksum ? UdpChecksumMode::kOff
                                       : UdpChecksumMode::kAuto;
  c.packet_length = static_cast<uint32_t>(parse_uint(o.packet_length, 65535, "--packet-length"));
  c.gwlb_endpoint_id = parse_uint(o.gwlb_endpoint_id, UINT64_MAX, "--gwlb-endpoint-id");
  c.gwlb_attachment_id = parse_uint(o.gwlb_attachment_id, UINT64_MAX, "--gwlb-attachment-id");
  if (c.kind != TunnelKind::kGwlb && (c.gwlb_endpoint_id || c.gwlb_attachment_id)) {
    throw UsageError("--gwlb-endpoint-id and --gwlb-attachment-id apply to --tunnel gwlb only");
  }
  if (c.kind == TunnelKind::kGwlb && c.src_ip.v6) {
    throw UsageError("--tunnel gwlb: a Gateway Load Balancer's outer header is IPv4 only; "
                     "--src-ip/--dst-ip must be IPv4");
  }
  return c;
}

DecapConfig decap_config_from(const DecapOptions& o) {
  DecapConfig c;
  auto fill = [](const std::vector<std::string>& in, std::array<uint16_t, kMaxTunnelPorts>& ports,
                 uint8_t& count, const char* flag) {
    if (in.empty()) return;
    if (in.size() > kMaxTunnelPorts) {
      throw UsageError(std::string(flag) + ": at most " + std::to_string(kMaxTunnelPorts) + " ports");
    }
    count = 0;
    for (const auto& p : in) {
      const auto v = static_cast<uint16_t>(parse_uint(p, 65535, flag));
      if (v == 0) throw UsageError(std::string(flag) + ": 0 is not a port");
      ports[count++] = v;
    }
  };
  fill(o.vxlan_ports, c.vxlan_ports, c.vxlan_port_count, "--vxlan-port");
  fill(o.geneve_ports, c.geneve_ports, c.geneve_port_count, "--geneve-port");
  for (uint8_t i = 0; i < c.vxlan_port_count; ++i) {
    for (uint8_t j = 0; j < c.geneve_port_count; ++j) {
      if (c.vxlan_ports[i] == c.geneve_ports[j]) {
        throw UsageError("port " + std::to_string(c.vxlan_ports[i]) + " is both a VXLAN and a Geneve port");
      }
    }
  }
  c.verify_checksums = o.verify_checksums;
  return c;
}

// `opened`: the file, opened before the engine gave up its privileges ([engine] user), or null.
void write_stats(const std::string& where, const nlohmann::json& j, std::ofstream* opened = nullptr) {
  if (where.empty()) return;
  if (opened) {
    *opened << j.dump(2) << "\n";
    opened->close();
    if (!*opened) throw std::runtime_error("write failed: the counters to '" + where + "'");
    return;
  }
  if (where == "-") {
    std::cout << j.dump(2) << std::endl;
    if (!std::cout) throw std::runtime_error("write failed: the counters to standard output");
    return;
  }
  std::ofstream f(where);
  if (!f) throw std::runtime_error("write failed: cannot open '" + where + "' for the counters");
  f << j.dump(2) << "\n";
  f.close();
  if (!f) throw std::runtime_error("write failed: the counters to '" + where + "'");
}

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};

extern "C" void on_stop_signal(int) { g_stop.store(true, std::memory_order_relaxed); }
extern "C" void on_reload_signal(int) { g_reload.store(true, std::memory_order_relaxed); }

void install_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  struct sigaction hup {};
  hup.sa_handler = on_reload_signal;
  sigemptyset(&hup.sa_mask);
  sigaction(SIGHUP, &hup, nullptr);
}

// File mode is the engine with two capture-file ports and one route: the same workers, the
// same pipeline, one worker on the main lcore.
EngineConfig file_mode_config(const CommonOptions& io, const TunnelConfig* tunnel,
                              const DecapConfig& decap, uint32_t mtu = 0,
                              Oversize oversize = Oversize::kTruncate) {
  EngineConfig c;
  c.path = "(command line)";
  c.workers = 1;
  PortConfig in;
  in.name = "input";
  in.role = tunnel ? PortRole::kMirrorInput : PortRole::kTunnelInput;
  in.file = io.input;
  PortConfig out;
  out.name = "output";
  out.role = PortRole::kOutput;
  out.file = io.output;
  out.mtu = mtu;
  out.oversize = oversize;
  c.ports = {in, out};
  RouteConfig r;
  r.input = "input";
  if (tunnel) {
    TargetConfig t;
    t.name = "target";
    t.output = "output";
    t.tunnel = *tunnel;
    c.targets.push_back(t);
    r.target = "target";
  } else {
    r.output = "output";
    c.decap = decap;
  }
  c.routes.push_back(r);
  return c;
}

// A path mirrorpipe will write: refused before anything starts when it cannot be (its folder
// missing or not writable, a folder itself). "-" is standard output.
void check_writable(const std::string& path, const std::string& what) {
  if (path.empty() || path == "-") return;
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw UsageError(what + ": '" + path + "' is a directory");
  const fs::path parent = fs::path(path).parent_path();
  const std::string dir = parent.empty() ? "." : parent.string();
  if (!fs::is_directory(dir, ec)) throw UsageError(what + ": '" + path + "': the folder '" + dir + "' does not exist");
  if (fs::exists(path, ec) ? ::access(path.c_str(), W_OK) != 0 : ::access(dir.c_str(), W_OK | X_OK) != 0) {
    throw UsageError(what + ": '" + path + "': " + std::strerror(errno));
  }
}

// The checks a file job passes before it reads a packet: input readable, outputs writable, the
// input never overwritten (also through a link), the JSON and the capture not both on stdout.
void check_file_job(const CommonOptions& io) {
  if (io.input != "-" && ::access(io.input.c_str(), R_OK) != 0) {
    throw UsageError("-r: cannot read '" + io.input + "': " + std::strerror(errno));
  }
  if (io.output == "-" && io.stats_json == "-") {
    throw UsageError("-w - and --stats-json - would both write to standard output; send one to a file");
  }
  if (same_file(io.input, io.output)) {
    throw UsageError("-w '" + io.output + "' is the input itself ('" + io.input +
                     "'): writing it would destroy what is being read");
  }
  if (!io.stats_json.empty() && same_file(io.input, io.stats_json)) {
    throw UsageError("--stats-json '" + io.stats_json + "' is the input itself");
  }
  check_writable(io.output, "-w");
  check_writable(io.stats_json, "--stats-json");
}

// Exit code 130 (as a shell reports SIGINT) for a file job stopped before its input ended.
constexpr int kExitInterrupted = 130;

int run_file_mode(const std::string& command, const CommonOptions& io, const EngineConfig& cfg,
                  nlohmann::json description) {
  check_file_job(io);
  // A regular file (or a new one) is written under a temporary name; a device or pipe in place.
  std::error_code ec;
  const bool renamed_output = io.output != "-" && (!std::filesystem::exists(io.output, ec) ||
                                                   std::filesystem::is_regular_file(io.output, ec));
  RunOptions opts;
  opts.periodic_summary = false;
  opts.file_mode_eal = true;
  opts.atomic_file_outputs = true;
  opts.progress = show_progress(io.no_progress);
  // Standard output may be the capture (-w -): whatever the engine logs goes to stderr.
  logger().set_sink(Logger::stream_sink(stderr));
  install_stop_signals();
  std::signal(SIGPIPE, SIG_IGN);  // a closed pipe on -w - is a write error, not a silent death
  const EngineReport rep = run_engine(cfg, opts, g_stop);
  const InputCounters total = rep.total();
  const bool interrupted = !rep.inputs_ended;
  nlohmann::json j = report_json(rep);
  j["command"] = command;
  j["input"] = io.input;
  j["output"] = io.output;
  j["interrupted"] = interrupted;
  j["complete"] = !interrupted && rep.write_errors.empty() && rep.inputs_damaged.empty();
  for (auto& [k, v] : description.items()) j[k] = v;
  std::cerr << "mirrorpipe " << command << ": " << io.input << " -> " << io.output << "\n";
  print_counters_table(std::cerr, total);
  for (const auto& m : rep.inputs_truncated) {
    std::cerr << "mirrorpipe " << command << ": warning: " << m << "; every complete record was processed\n";
  }
  int rc = kExitOk;
  if (!rep.write_errors.empty()) {
    for (const auto& m : rep.write_errors) std::cerr << "mirrorpipe " << command << ": " << m << "\n";
    std::cerr << "mirrorpipe " << command << ": " << total.dropped[static_cast<size_t>(DropReason::write_failed)]
              << " packets could not be written; "
              << (renamed_output ? "'" + io.output + "' was not written (an earlier file of that name is untouched)"
                                 : "'" + io.output + "' holds what was written before the failure")
              << "\n";
    rc = kExitRuntime;
  } else if (!rep.inputs_damaged.empty()) {
    for (const auto& m : rep.inputs_damaged) std::cerr << "mirrorpipe " << command << ": " << m << "\n";
    std::cerr << "mirrorpipe " << command << ": '" << io.output << "' holds the " << total.sent
              << " packets sent from the records before the damage\n";
    rc = kExitUsage;
  } else if (interrupted) {
    std::cerr << "mirrorpipe " << command << ": interrupted after " << total.rx << " packets; '" << io.output
              << "' is complete up to them and ends there (the input was not read to its end)\n";
    rc = kExitInterrupted;
  }
  try {
    write_stats(io.stats_json, j);
  } catch (const std::exception& e) {
    std::cerr << "mirrorpipe " << command << ": " << e.what() << "\n";
    rc = kExitRuntime;
  }
  eal_cleanup();
  return rc;
}

// `mirrorpipe stats`: the counters of a running engine, read over its telemetry socket.
int print_live_stats(const std::string& prefix, bool as_json) {
  TelemetryClient client(prefix);
  auto reply = [&](const std::string& cmd) {
    const auto j = nlohmann::json::parse(client.ask(cmd));
    return j.begin().value();  // {"<command>": value}
  };
  nlohmann::json all;
  all["stats"] = reply("/mirrorpipe/stats");
  all["workers"] = reply("/mirrorpipe/workers");
  for (const auto& name : reply("/mirrorpipe/inputs")) {
    all["inputs"][name.get<std::string>()] = reply("/mirrorpipe/input," + name.get<std::string>());
  }
  for (const auto& name : reply("/mirrorpipe/outputs")) {
    all["outputs"][name.get<std::string>()] = reply("/mirrorpipe/output," + name.get<std::string>());
  }
  for (const auto& name : reply("/mirrorpipe/ports")) {
    all["ports"][name.get<std::string>()] = reply("/mirrorpipe/port," + name.get<std::string>());
  }
  if (as_json) {
    std::cout << all.dump(2) << "\n";
    return kExitOk;
  }
  auto show = [](const std::string& title, const nlohmann::json& c) {
    std::cout << title << ": " << c["packets_in"] << " in, " << c["packets_out"] << " out, "
              << c["filtered"] << " filtered, " << c["dropped_total"] << " dropped\n";
    for (auto it = c.begin(); it != c.end(); ++it) {
      if (it.key().rfind("dropped_", 0) == 0 && it.key() != "dropped_total" && it.value().get<uint64_t>() != 0) {
        std::cout << "    " << it.key().substr(8) << ": " << it.value() << "\n";
      }
    }
  };
  show("total (uptime " + std::to_string(all["stats"]["uptime_ms"].get<uint64_t>() / 1000) + " s)", all["stats"]);
  for (auto& [name, c] : all["inputs"].items()) show("input " + name, c);
  for (auto& [name, c] : all["outputs"].items()) {
    std::cout << "output " << name << ": " << c["packets"] << " packets, " << c["bytes"] << " bytes\n";
  }
  for (auto& [name, c] : all["ports"].items()) {
    std::cout << "port " << name << " (driver's counters): " << c["ipackets"] << " in, " << c["opackets"]
              << " out, imissed " << c["imissed"] << ", ierrors " << c["ierrors"] << ", oerrors "
              << c["oerrors"] << ", rx_nombuf " << c["rx_nombuf"];
    if (c.contains("link_up")) {
      std::cout << "; link " << (c["link_up"].get<uint64_t>() ? "up" : "down") << ", " << c["link_changes"]
                << " link changes";
    }
    std::cout << "\n";
  }
  std::cout << "per worker (packets in): " << all["workers"].dump() << "\n";
  return kExitOk;
}

void add_common(CLI::App* app, CommonOptions& io) {
  app->add_option("-r,--read", io.input,
                  "input capture (pcap or pcapng; Ethernet, Linux cooked SLL/SLL2 or raw IP); '-' reads standard input")
      ->required();
  app->add_option("-w,--write", io.output,
                  "output capture (pcap, Ethernet), written under a temporary name and renamed when complete; "
                  "'-' writes standard output")
      ->required();
  app->add_option("--stats-json", io.stats_json,
                  "write the counters as JSON to FILE ('-' for stdout)");
  app->add_flag("--no-progress", io.no_progress,
                "no progress bar [default: one on stderr when it is a terminal]");
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{
      "mirrorpipe: AWS traffic-mirroring encapsulation engine (VXLAN, GWLB Geneve, Geneve)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("mirrorpipe " MIRRORPIPE_VERSION " (git " MIRRORPIPE_GIT_REVISION
                                                ", " MIRRORPIPE_BUILD_TYPE " build) with ") +
                                        dpdk_version() + " (" MIRRORPIPE_DPDK_LINK ")");

  CommonOptions encap_io;
  EncapOptions eo;
  auto* encap = app.add_subcommand(
      "encap", "wrap every frame of a capture in a tunnel, as a mirror source would send it");
  add_common(encap, encap_io);
  encap->add_option("--tunnel", eo.tunnel,
                    "vxlan: AWS Traffic Mirroring VXLAN (inner Ethernet frame); gwlb: GWLB "
                    "Geneve (VNI 0, inner IP packet, class 0x0108 options); geneve: generic "
                    "Geneve with an Ethernet payload")
      ->capture_default_str();
  encap->add_option("--src-ip", eo.src_ip, "outer source address, IPv4 or IPv6")->required();
  encap->add_option("--dst-ip", eo.dst_ip, "outer destination address, same family")->required();
  encap->add_option("--src-mac", eo.src_mac, "outer source MAC")->capture_default_str();
  encap->add_option("--dst-mac", eo.dst_mac, "outer destination MAC")->capture_default_str();
  encap->add_option("--vni", eo.vni, "VNI, 0-16777215 (gwlb: always 0)")->capture_default_str();
  encap->add_option("--dst-port", eo.dst_port,
                    "UDP destination port [default: 4789 for vxlan, 6081 for gwlb and geneve]");
  encap->add_option("--sport-range", eo.sport_range,
                    "UDP source ports LO-HI; the symmetric flow hash picks one per flow")
      ->capture_default_str();
  encap->add_option("--ttl", eo.ttl, "outer TTL / hop limit")->capture_default_str();
  encap->add_option("--dscp", eo.dscp, "outer DSCP")->capture_default_str();
  encap->add_flag("--df", eo.df, "set DF on the outer IPv4 header [default: clear, as AWS sends]");
  encap->add_flag("--udp-checksum", eo.udp_checksum,
                  "compute the outer UDP checksum [default: vxlan and geneve over IPv4 send zero, as AWS "
                  "Traffic Mirroring does; gwlb and IPv6 compute it]");
  encap->add_flag("--no-udp-checksum", eo.no_udp_checksum,
                  "send a zero UDP checksum over IPv6 too (RFC 6935/6936 conditions apply)");
  encap->add_option("--packet-length", eo.packet_length,
                    "AWS PacketLength: keep the first N bytes after the tunnel header; 0 keeps all")
      ->capture_default_str();
  encap->add_option("--gwlb-endpoint-id", eo.gwlb_endpoint_id,
                    "gwlb option type 1, 64-bit (decimal or 0x hex)")
      ->capture_default_str();
  encap->add_option("--gwlb-attachment-id", eo.gwlb_attachment_id,
                    "gwlb option type 2, 64-bit (decimal or 0x hex)")
      ->capture_default_str();
  encap->add_option("--mtu", eo.mtu,
                    "the output's IP MTU: largest outer IP packet; 0 = no limit but the 65535 of "
                    "the IP length field")
      ->capture_default_str();
  encap->add_option("--oversize", eo.oversize,
                    "over the MTU: truncate (what AWS does toward instance targets) or drop; "
                    "never fragmented")
      ->capture_default_str();
  encap->add_option("--geneve-option", eo.geneve_options,
                    "geneve option CLASS:TYPE:HEXDATA (data a multiple of 4 bytes); repeatable");
  encap->add_flag("--metadata-option", eo.metadata_option,
                  "geneve: add mirrorpipe's metadata option (sequence, capture time, original length) "
                  "for loss detection at the receiver");

  CommonOptions decap_io;
  DecapOptions dopt;
  auto* decap = app.add_subcommand(
      "decap", "strip VXLAN, Geneve and VXLAN-in-Geneve, writing the inner frames");
  add_common(decap, decap_io);
  decap->add_option("--vxlan-port", dopt.vxlan_ports, "VXLAN UDP port; repeatable [default: 4789]");
  decap->add_option("--geneve-port", dopt.geneve_ports,
                    "Geneve UDP port; repeatable [default: 6081]");
  decap->add_flag("--verify-checksums", dopt.verify_checksums,
                  "drop packets whose outer IPv4 header or non-zero UDP checksum is wrong "
                  "[default: not verified; captures carry offload artefacts]");

  const std::string first = argc > 1 ? argv[1] : "";
  if (!first.empty() && first[0] != '-' && first != "encap" && first != "decap" && first != "run" &&
      first != "check" && first != "config-reference" && first != "stats" && first != "bench" && first != "gwlb-emulate" &&
      first != "verdict" && first != "pool") {
    std::cerr << "mirrorpipe: unknown command '" << first
              << "' (expected run, check, config-reference, stats, bench, encap, decap, gwlb-emulate, verdict or pool; see --help)\n";
    return kExitUsage;
  }
  std::string config_path;
  std::string run_stats_json;
  auto* run = app.add_subcommand("run", "run the engine from a configuration file until its inputs end or SIGINT/SIGTERM");
  run->add_option("-c,--config", config_path, "configuration file (TOML); see examples/")->required();
  run->add_option("--stats-json", run_stats_json, "write the final counters as JSON to FILE ('-' for stdout)");
  bool run_no_progress = false;
  run->add_flag("--no-progress", run_no_progress,
                "no progress bar for capture-file inputs [default: one on stderr when it is a terminal]");
  auto* check = app.add_subcommand("check", "validate a configuration file without starting anything");
  check->add_option("-c,--config", config_path, "configuration file (TOML)")->required();
  (void)run;
  auto* reference = app.add_subcommand(
      "config-reference", "print the configuration reference (every key, type, default, range, reload) as Markdown");
  BenchOptions bo;
  auto* bench = app.add_subcommand("bench", "measure the workers on net_null: packets/s and bits/s, per worker");
  bench->add_option("--tunnel", bo.tunnel, "vxlan, gwlb, geneve, decap or appliance (GWLB Geneve returned, flow table refreshed)")->capture_default_str();
  bench->add_option("--rx", bo.rx, "RX devargs [default: net_null, copy=0, over buffers filled once with frames]");
  bench->add_option("--tx", bo.tx, "TX devargs [default: net_null1,no-rx=1]");
  bench->add_option("--workers", bo.workers, "workers (one lcore each)")->capture_default_str();
  bench->add_option("--seconds", bo.seconds, "how long to measure")->capture_default_str();
  bench->add_option("--frame-size", bo.frame_size, "inner frame size without FCS (decap: after decapsulation)")
      ->capture_default_str();
  bench->add_flag("--hugepages,!--no-huge", bo.hugepages, "use hugepages (reserved beforehand) [default: --no-huge]");
  bench->add_flag("--json", bo.json, "one JSON object: mpps, gbps, workers, frame_size, per_worker_mpps, dropped");
  bench->add_option("--flow-hash", bo.flow_hash,
                    "software (parse and hash each frame) or nic (the RSS hash a NIC delivers, simulated on "
                    "net_null: the Toeplitz hash written once per buffer, the flag set on receive)")
      ->check(CLI::IsMember({"software", "nic"}))
      ->capture_default_str();
  bench->add_option("--tx-checksum", bo.tx_checksum,
                    "software (the outer checksums computed by the workers, where the tunnel sends them) or nic "
                    "(the output taken as offloading them, as ENA does; the checksums go out unfilled)")
      ->check(CLI::IsMember({"software", "nic"}))
      ->capture_default_str();
  bench->add_option("--sample", bo.sample, "capture whose flows the frames take [default: pcaps/sample-mix.pcap]");
  bench->add_option("--filter-rules", bo.filter_rules,
                    "a mirror session whose filter has N rules per direction, the accepting rule last");
  bench->add_option("--bpf", bo.bpf, "a mirror session whose filter has this tcpdump expression");
  bench->add_option("--sample-flows", bo.sample_flows, "a mirror session that mirrors 1/N of the flows");
  bench->add_option("--fanout", bo.fanout, "a mirror session with N VXLAN targets: each packet sent N times")
      ->check(CLI::Range(1, 16));
  bench->add_flag("--fanout-copy", bo.fanout_copy, "with --fanout: copy every extra packet instead of chaining "
                                                   "a header to the shared payload");
  bench->add_option("--pool", bo.pool,
                    "a mirror session whose sink is a pool of N VXLAN targets: each packet to the member of its flow")
      ->check(CLI::Range(1, static_cast<int>(kMaxPoolMembers)));
  EmulateOptions em;
  auto* emulate = app.add_subcommand(
      "gwlb-emulate", "play a Gateway Load Balancer toward an appliance on an interface and check every returned packet");
  emulate->add_option("--iface", em.iface, "interface toward the appliance")->required();
  emulate->add_option("--local-ip", em.local_ip, "GWLB's IPv4 address (the outer source)")->required();
  emulate->add_option("--appliance-ip", em.appliance_ip, "the appliance's IPv4 address")->required();
  emulate->add_option("--appliance-mac", em.appliance_mac, "the appliance's MAC [default: resolved with ARP]");
  emulate->add_option("-r,--read", em.read,
                      "send these packets: GWLB Geneve (ids and cookie kept) or IP frames (VLAN tags stripped; "
                      "one cookie and source port per flow, as encap --tunnel gwlb)")
      ->check(CLI::ExistingFile);
  emulate->add_option("--generate", em.generate, "or send N generated flows (TCP, UDP, ICMP, GRE, IPv6)");
  emulate->add_flag("--reuse-cookie", em.reuse_cookie, "send every flow again with the same 5-tuple and a new cookie");
  emulate->add_option("--timeout", em.timeout_s, "seconds to wait for each return (and, after the last, for late ones and copies)")->capture_default_str();
  emulate->add_option("-w,--write", em.write, "write every returned frame to this pcap, with its receive time");
  emulate->add_option("--json", em.json, "write the report as JSON to FILE ('-' for stdout)");
  std::string verdict_prefix = "rte";
  std::vector<std::string> verdict_words;
  auto* verdict = app.add_subcommand(
      "verdict", "block or forward a flow on a running appliance (the verdict hook), over DPDK telemetry");
  verdict->add_option("--file-prefix", verdict_prefix, "the engine's EAL --file-prefix")->capture_default_str();
  verdict->add_option("request", verdict_words,
                      "drop RULE | accept RULE | clear; RULE = PROTO SRC[:PORT] DST[:PORT] [endpoint=ID], "
                      "e.g. drop tcp 192.0.2.10:40000 198.51.100.20:443")
      ->required();
  std::string pool_prefix = "rte";
  std::vector<std::string> pool_words;
  auto* pool = app.add_subcommand(
      "pool", "show an analyzer pool of a running engine, or take a member out of it and back (over DPDK telemetry)");
  pool->add_option("--file-prefix", pool_prefix, "the engine's EAL --file-prefix")->capture_default_str();
  pool->add_option("request", pool_words, "show POOL | drain POOL MEMBER | undrain POOL MEMBER")->required();
  std::string stats_prefix = "rte";
  bool stats_json = false;
  auto* stats = app.add_subcommand("stats", "print the counters of a running engine (over DPDK telemetry)");
  stats->add_option("--file-prefix", stats_prefix, "the engine's EAL --file-prefix")->capture_default_str();
  stats->add_flag("--json", stats_json, "print the raw replies as one JSON object");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    return rc == 0 ? kExitOk : kExitUsage;
  }

  try {
    if (encap->parsed()) {
      const TunnelConfig tc = tunnel_config_from(eo);
      try {
        (void)build_outer_template(tc);
      } catch (const std::invalid_argument& e) {
        throw UsageError(e.what());
      }
      const auto mtu = static_cast<uint32_t>(parse_uint(eo.mtu, 65535, "--mtu"));
      if (mtu != 0 && mtu < 68) throw UsageError("--mtu: at least 68 (RFC 791)");
      if (eo.oversize != "truncate" && eo.oversize != "drop") {
        throw UsageError("--oversize: '" + eo.oversize + "' is not truncate or drop");
      }
      const Oversize oversize = eo.oversize == "drop" ? Oversize::kDrop : Oversize::kTruncate;
      return run_file_mode("encap", encap_io, file_mode_config(encap_io, &tc, DecapConfig{}, mtu, oversize),
                           {{"tunnel", tunnel_kind_name(tc.kind)}, {"vni", tc.vni}});
    }
    if (decap->parsed()) {
      return run_file_mode("decap", decap_io, file_mode_config(decap_io, nullptr, decap_config_from(dopt)),
                           nlohmann::json::object());
    }
    if (check->parsed()) {
      const EngineConfig cfg = load_config(config_path);
      std::cout << config_path << ": ok: " << cfg.ports.size() << " ports, " << cfg.targets.size()
                << " targets, " << cfg.pools.size() << " pools, " << cfg.routes.size() << " routes, " << cfg.sessions.size() << " sessions, "
                << cfg.workers << " workers\n";
      return kExitOk;
    }
    if (reference->parsed()) {
      std::cout << config_reference_markdown();
      return kExitOk;
    }
    if (stats->parsed()) return print_live_stats(stats_prefix, stats_json);
    if (bench->parsed()) {
      install_stop_signals();
      return run_bench(bo, g_stop);
    }
    if (emulate->parsed()) return run_gwlb_emulator(em);
    if (verdict->parsed()) {
      std::string request;
      for (const auto& w : verdict_words) request += (request.empty() ? "" : " ") + w;
      if (verdict_words[0] != "clear") (void)parse_flow_rule(request.substr(request.find(' ') + 1));  // say what is wrong here
      TelemetryClient client(verdict_prefix);
      const auto j = nlohmann::json::parse(client.ask("/mirrorpipe/verdict," + request)).begin().value();
      if (j.contains("error")) throw std::invalid_argument(j["error"].get<std::string>());
      std::cout << "verdict queued: " << request << "\n";
      return kExitOk;
    }
    if (pool->parsed()) {
      const bool change = pool_words[0] == "drain" || pool_words[0] == "undrain";
      if (!(change && pool_words.size() == 3) && !(pool_words[0] == "show" && pool_words.size() == 2)) {
        throw std::invalid_argument("pool: expected show POOL, drain POOL MEMBER or undrain POOL MEMBER");
      }
      TelemetryClient client(pool_prefix);
      std::string request = change ? pool_words[0] + " " + pool_words[1] + " " + pool_words[2] : pool_words[1];
      const auto j = nlohmann::json::parse(client.ask("/mirrorpipe/pool," + request)).begin().value();
      if (j.is_object() && j.contains("error")) throw std::invalid_argument(j["error"].get<std::string>());
      if (change) std::cout << "pool " << pool_words[1] << ": " << pool_words[0] << " " << pool_words[2] << " queued\n";
      if (change) return kExitOk;
      // One array per field, by member (DPDK 22.11's telemetry has no nested dictionaries), shown
      // as one object per member.
      nlohmann::json shown = nlohmann::json::object();
      for (const auto& [key, value] : j.items()) {
        if (!value.is_array() || key == "members") shown[key] = value;
      }
      shown["members"] = nlohmann::json::object();
      const auto& names = j.at("members");
      for (size_t i = 0; i < names.size(); ++i) {
        auto& m = shown["members"][names[i].get<std::string>()];
        for (const auto& [key, value] : j.items()) {
          if (value.is_array() && key != "members" && i < value.size()) m[key] = value[i];
        }
      }
      std::cout << shown.dump(2) << "\n";
      return kExitOk;
    }
    const EngineConfig cfg = load_config(config_path);
    check_writable(run_stats_json, "--stats-json");
    logger().configure(cfg.log);
    install_stop_signals();
    // After the drop to [engine] user the folder may not be writable any more: the counters'
    // file is opened now, and written when the engine ends.
    std::ofstream stats_file;
    if (!cfg.user.empty() && !run_stats_json.empty() && run_stats_json != "-") {
      stats_file.open(run_stats_json);
      if (!stats_file) throw std::runtime_error("write failed: cannot open '" + run_stats_json + "' for the counters");
    }
    RunOptions opts;
    opts.reload = &g_reload;
    opts.progress = show_progress(run_no_progress);
    opts.build_info = "version=\"" MIRRORPIPE_VERSION "\",revision=\"" MIRRORPIPE_GIT_REVISION "\",build_type=\"" MIRRORPIPE_BUILD_TYPE "\",dpdk=\"" + dpdk_version() + "\"";
    const EngineReport rep = run_engine(cfg, opts, g_stop);
    std::cout << "mirrorpipe run: " << (g_stop.load() ? "stopped" : "inputs ended") << " after "
              << rep.seconds << " s\n";
    print_report(std::cout, rep);
    int rc = kExitOk;
    for (const auto& m : rep.inputs_truncated) std::cout << "warning: " << m << "; every complete record was processed\n";
    for (const auto& m : rep.inputs_damaged) {
      std::cout << "error: " << m << "; the records before it were processed\n";
      rc = kExitUsage;
    }
    for (const auto& m : rep.write_errors) {
      std::cout << "error: " << m << "; see write_failed in the counters\n";
      rc = kExitRuntime;
    }
    try {
      write_stats(run_stats_json, report_json(rep), stats_file.is_open() ? &stats_file : nullptr);
    } catch (const std::exception& e) {
      std::cerr << "mirrorpipe: " << e.what() << "\n";
      rc = kExitRuntime;
    }
    eal_cleanup();
    return rc;
  } catch (const std::invalid_argument& e) {
    std::cerr << "mirrorpipe: " << e.what() << "\n";
    eal_cleanup();
    return kExitUsage;
  } catch (const ConfigError& e) {
    std::cerr << "mirrorpipe: " << e.what() << "\n";
    eal_cleanup();
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "mirrorpipe: " << e.what() << "\n";
    eal_cleanup();
    return kExitRuntime;
  }
}

}  // namespace mirrorpipe
