#include "engine/config/schema.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

namespace mirrorpipe {

namespace {

constexpr RangeKind kNone = RangeKind::kNone;
constexpr RangeKind kInt = RangeKind::kInteger;
constexpr RangeKind kNum = RangeKind::kNumber;
constexpr RangeKind kIntList = RangeKind::kIntegerList;
constexpr Reload kYes = Reload::kYes;
constexpr Reload kNo = Reload::kNo;
constexpr Reload kPerKey = Reload::kPerKey;

// {table, key, type, default, allowed, range, min, max, reload, description}. Within a table
// the order is the loader's unknown-key message's ("expected one of: ...").
constexpr ConfigKey kSchema[] = {
    // The top level.
    {"", "engine", "table", "(all defaults)", "", kNone, 0, 0, kPerKey, "Workers, cores, buffers, summary interval."},
    {"", "eal", "table", "(none)", "", kNone, 0, 0, kPerKey, "DPDK EAL options."},
    {"", "decap", "table", "(all defaults)", "", kNone, 0, 0, kPerKey, "How tunnel inputs recognise and check tunnels."},
    {"", "appliance", "table", "(all defaults)", "", kNone, 0, 0, kPerKey, "Appliance ports: flow table, timeouts, verdict rules."},
    {"", "ports", "array of tables", "required", "at least 1, at most 32", kNone, 0, 0, kNo, "The ports: DPDK devices or capture files, each with a role."},
    {"", "targets", "array of tables", "(none)", "", kNone, 0, 0, kNo, "Tunnel targets: where encapsulated copies go."},
    {"", "routes", "array of tables", "(none)", "", kNone, 0, 0, kNo, "Which input feeds which target, pool or output."},
    {"", "sessions", "array of tables", "(none)", "", kNone, 0, 0, kNo, "Mirror and receive sessions: what is selected and where it goes."},
    {"", "filters", "array of tables", "(none)", "", kNone, 0, 0, kPerKey, "AWS Traffic Mirroring filters named by sessions."},
    {"", "pools", "array of tables", "(none)", "", kNone, 0, 0, kPerKey, "Analyzer pools: targets sharing flows (Maglev)."},
    {"", "metrics", "table", "(none)", "", kNone, 0, 0, kPerKey, "The Prometheus endpoint."},
    {"", "log", "table", "(all defaults)", "", kNone, 0, 0, kPerKey, "The engine's event log."},

    // [engine]
    {"engine", "workers", "integer", "1", "", kInt, 1, 64, kNo, "Worker lcores (run-to-completion, one RX queue per input each)."},
    {"engine", "worker_cores", "array of integers", "derived: 1..workers", "one core per worker; CPUs this process may run on", kIntList, 0, 1023, kNo, "The CPU of each worker."},
    {"engine", "main_core", "integer", "0", "a CPU this process may run on", kInt, 0, 1023, kNo, "The CPU of the main (control) thread."},
    {"engine", "mbufs", "integer", "derived: from the ports' rings and the workers", "", kInt, 1024, 16777216, kNo, "Packet buffers in the DPDK pool."},
    {"engine", "tx_flush_us", "integer", "100", "", kInt, 1, 1000000, kNo, "Microseconds after which a partly filled TX buffer is sent."},
    {"engine", "stats_interval_s", "number", "1.0", "0: no summary", kNum, 0, 3600, kYes, "Seconds between one-line summaries."},
    {"engine", "arp_refresh_s", "integer", "30", "", kInt, 1, 3600, kNo, "Seconds between ARP requests to an output's next_hop_ip while it answers; an unanswered one is asked again every 3 s, sending to its last MAC meanwhile."},
    {"engine", "user", "string", "(none): stays the user it started as", "a user of this machine (getpwnam); the engine started as root or as that user", kNone, 0, 0, kNo, "After start (EAL, ports, files, endpoints set up), run as this user, with its groups and no capabilities."},
    {"engine", "group", "string", "derived: the user's primary group", "a group of this machine (getgrnam); with user", kNone, 0, 0, kNo, "The primary group after the drop to user."},

    // [eal]
    {"eal", "args", "array of strings", "[]", "no -d (driver plugins) where DPDK is built in, the default build (mirrorpipe --version)", kNone, 0, 0, kNo, "Arguments for the DPDK EAL (\"-l\", \"--no-huge\", \"--file-prefix\", ...)."},

    // [decap]
    {"decap", "vxlan_ports", "array of integers", "[4789]", "1 to 8 ports", kIntList, 1, 65535, kYes, "UDP destination ports read as VXLAN."},
    {"decap", "geneve_ports", "array of integers", "[6081]", "1 to 8 ports, none of them a VXLAN port", kIntList, 1, 65535, kYes, "UDP destination ports read as Geneve (GWLB Geneve among them)."},
    {"decap", "verify_checksums", "bool", "false", "", kNone, 0, 0, kYes, "Check the outer IPv4 header checksum and non-zero UDP checksums."},

    // [appliance]
    {"appliance", "flow_table_size", "integer", "65536", "", kInt, 16, 16777216, kNo, "Flow-table entries per worker."},
    {"appliance", "tcp_idle_timeout_s", "integer", "350", "", kInt, 1, 6000, kNo, "Seconds after which an idle TCP flow is forgotten (GWLB's default)."},
    {"appliance", "idle_timeout_s", "integer", "120", "", kInt, 1, 6000, kNo, "Seconds after which an idle non-TCP flow is forgotten (GWLB's default)."},
    {"appliance", "ttl", "integer", "64", "", kInt, 1, 255, kYes, "TTL of the packets returned to GWLB."},
    {"appliance", "drop_flows", "array of strings", "[]", "\"PROTO SRC[:PORT] DST[:PORT] [endpoint=ID]\"", kNone, 0, 0, kYes, "Flows the verdict hook drops from the start."},

    // [[ports]]
    {"ports", "name", "string", "required", "unique among ports, targets and pools", kNone, 0, 0, kNo, "The port's name."},
    {"ports", "role", "string", "required", "\"mirror-input\", \"tunnel-input\", \"appliance\", \"output\"", kNone, 0, 0, kNo, "What the port does."},
    {"ports", "devargs", "string", "(none)", "exactly one of devargs and file", kNone, 0, 0, kNo, "A DPDK device: PCI address or vdev (\"net_af_packet0,iface=veth0\")."},
    {"ports", "file", "string", "(none)", "exactly one of devargs and file; relative to the configuration's folder", kNone, 0, 0, kNo, "A capture file: pcap or pcapng in; pcap, or pcapng by extension, out."},
    {"ports", "mtu", "integer", "derived: the port's own", "", kInt, 68, 9216, kNo, "IP MTU; a larger outer packet is truncated or dropped (oversize)."},
    {"ports", "queues", "integer", "derived: one per worker", "", kInt, 1, 64, kNo, "RX/TX queue pairs."},
    {"ports", "rx_ring", "integer", "1024", "", kInt, 64, 16384, kNo, "RX descriptors per queue."},
    {"ports", "tx_ring", "integer", "1024", "", kInt, 64, 16384, kNo, "TX descriptors per queue."},
    {"ports", "mac", "string", "derived: the device's", "a MAC address; on a port that sends", kNone, 0, 0, kNo, "The port's MAC (the outer source)."},
    {"ports", "ip", "string", "(none)", "an IPv4 or IPv6 address", kNone, 0, 0, kNo, "The port's address: the outer source; answers ARP and ICMP echo (IPv4, DPDK ports)."},
    {"ports", "next_hop_mac", "string", "(none)", "a MAC address; on a port that sends", kNone, 0, 0, kNo, "The next hop's MAC (the outer destination)."},
    {"ports", "next_hop_ip", "string", "(none)", "an IPv4 address; on a DPDK port that sends, with an IPv4 ip", kNone, 0, 0, kNo, "The next hop, resolved with ARP."},
    {"ports", "oversize", "string", "\"truncate\"", "\"truncate\", \"drop\"; on a port that sends", kNone, 0, 0, kNo, "What happens to a packet over the MTU."},
    {"ports", "pace", "string or number", "\"fast\"", "\"fast\", \"capture\", or packets per second; on a file input", kNum, 1, 1e9, kNo, "Replay pacing."},
    {"ports", "exception_tap", "string", "(none)", "an interface name of at most 15 characters; on a DPDK port with an IPv4 ip", kNone, 0, 0, kNo, "A kernel TAP for the host's own traffic."},
    {"ports", "allow_vnis", "array of integers", "[] (any)", "on a tunnel-input or appliance", kIntList, 0, 16777215, kYes, "VNIs accepted at all."},
    {"ports", "allow_sources", "array of strings", "[] (any)", "addresses or prefixes; on a tunnel-input or appliance", kNone, 0, 0, kYes, "Outer sources accepted at all."},
    {"ports", "returns", "string", "derived: the port itself", "an output port; on an appliance (required when it reads a file)", kNone, 0, 0, kNo, "Where an appliance returns its packets."},
    {"ports", "inject_from", "string", "(none)", "an output port on a DPDK device (a TAP); on an appliance", kNone, 0, 0, kNo, "A port whose received packets go back to GWLB."},
    {"ports", "rotate_mb", "number", "(none)", "on a pcapng file output", kNum, 0.001, 1e6, kNo, "Start a new file after this many megabytes."},
    {"ports", "rotate_seconds", "integer", "(none)", "on a pcapng file output", kInt, 1, 31622400, kNo, "Start a new file after this many seconds."},
    {"ports", "also_output", "bool", "false", "on a mirror-input or tunnel-input DPDK port", kNone, 0, 0, kNo, "The input also sends (a single-NIC instance)."},
    {"ports", "flow_hash", "string", "\"auto\"", "\"auto\", \"software\", \"nic\"; on a mirror-input DPDK port", kNone, 0, 0, kNo, "Where the flow hash (VXLAN source port, GWLB cookie) comes from."},
    {"ports", "tx_chains", "bool", "derived: what the device says it can send", "on a DPDK port that sends", kNone, 0, 0, kNo, "Whether fan-out copies sent here may be chained buffers."},

    // [[targets]]
    {"targets", "name", "string", "required", "unique among targets, ports and pools", kNone, 0, 0, kNo, "The target's name."},
    {"targets", "output", "string", "required", "a port that sends", kNone, 0, 0, kNo, "The output port."},
    {"targets", "tunnel", "string", "required", "\"vxlan\", \"gwlb\", \"geneve\"", kNone, 0, 0, kYes, "The tunnel kind."},
    {"targets", "dst_ip", "string", "required", "an IPv4 or IPv6 address", kNone, 0, 0, kYes, "The analyzer's (or NLB's) address."},
    {"targets", "src_ip", "string", "derived: the output's ip", "an IPv4 or IPv6 address", kNone, 0, 0, kYes, "The outer source address."},
    {"targets", "src_mac", "string", "derived: the output's mac", "a MAC address", kNone, 0, 0, kYes, "The outer source MAC."},
    {"targets", "dst_mac", "string", "derived: the output's next_hop_mac or next_hop_ip", "a MAC address", kNone, 0, 0, kYes, "The outer destination MAC."},
    {"targets", "vni", "integer", "0", "", kInt, 0, 16777215, kYes, "The VNI."},
    {"targets", "dst_port", "integer", "derived: 4789 (vxlan), 6081 (gwlb, geneve)", "", kInt, 1, 65535, kYes, "The outer UDP destination port."},
    {"targets", "sport_range", "array of integers", "[49152, 65535]", "[LO, HI], LO <= HI", kIntList, 1, 65535, kYes, "The outer UDP source ports (from the flow hash)."},
    {"targets", "ttl", "integer", "255", "", kInt, 1, 255, kYes, "The outer TTL (hop limit)."},
    {"targets", "dscp", "integer", "0", "", kInt, 0, 63, kYes, "The outer DSCP."},
    {"targets", "df", "bool", "false", "", kNone, 0, 0, kYes, "Set DF on the outer IPv4 header."},
    {"targets", "udp_checksum", "string", "\"auto\"", "\"auto\", \"on\", \"off\"", kNone, 0, 0, kYes, "The outer UDP checksum."},
    {"targets", "packet_length", "integer", "(whole packets)", "", kInt, 1, 65535, kYes, "AWS PacketLength: bytes of each packet mirrored."},
    {"targets", "gwlb_endpoint_id", "integer or string", "0", "a 64-bit ID: an integer, or a string in decimal or 0x hex; with tunnel = \"gwlb\"", kNone, 0, 0, kYes, "The GWLB endpoint ID option."},
    {"targets", "gwlb_attachment_id", "integer or string", "0", "a 64-bit ID: an integer, or a string in decimal or 0x hex; with tunnel = \"gwlb\"", kNone, 0, 0, kYes, "The GWLB attachment ID option."},
    {"targets", "geneve_options", "array of strings", "[]", "\"CLASS:TYPE:HEXDATA\"", kNone, 0, 0, kYes, "Geneve options to add."},
    {"targets", "metadata_option", "bool", "false", "with tunnel = \"geneve\"; at most 64 such targets", kNone, 0, 0, kYes, "Carry the packet's metadata in a Geneve option."},

    // [[pools]]
    {"pools", "name", "string", "required", "unique among pools, ports and targets", kNone, 0, 0, kYes, "The pool's name (a sink or route target)."},
    {"pools", "members", "array of strings", "required", "1 or more distinct targets", kNone, 0, 0, kYes, "The member targets."},
    {"pools", "table_size", "integer", "65537", "a prime at least 100 times the members", kInt, 2, 16777216, kYes, "Maglev's lookup table."},
    {"pools", "health_check", "table", "(none: members always healthy)", "", kNone, 0, 0, kPerKey, "How the members are health-checked."},
    {"pools", "description", "string", "(none)", "ignored", kNone, 0, 0, kYes, "A note for people."},

    // [pools.health_check]
    {"pools.health_check", "protocol", "string", "\"tcp\"", "\"tcp\", \"http\"", kNone, 0, 0, kYes, "TCP connect, or HTTP GET."},
    {"pools.health_check", "port", "integer", "80", "", kInt, 1, 65535, kYes, "The port checked."},
    {"pools.health_check", "path", "string", "\"/\"", "starts with '/', printable, no spaces, at most 1024 bytes; with protocol = \"http\"", kNone, 0, 0, kYes, "The HTTP path."},
    {"pools.health_check", "matcher", "string", "\"200-399\"", "\"N\" or \"LO-HI\" within 100-599; with protocol = \"http\"", kNone, 0, 0, kYes, "HTTP statuses that pass."},
    {"pools.health_check", "interval_s", "number", "10", "", kNum, 0.1, 300, kYes, "Seconds from one check's start to the next."},
    {"pools.health_check", "timeout_s", "number", "5", "at most interval_s", kNum, 0.05, 120, kYes, "Seconds without an answer that fail a check."},
    {"pools.health_check", "healthy_threshold", "integer", "5", "", kInt, 1, 10, kYes, "Passed checks in a row that return a member to service."},
    {"pools.health_check", "unhealthy_threshold", "integer", "2", "", kInt, 1, 10, kYes, "Failed checks in a row that take a member out."},

    // [[routes]]
    {"routes", "input", "string", "required", "a mirror-input or tunnel-input, routed once, without sessions", kNone, 0, 0, kNo, "The input."},
    {"routes", "target", "string", "(none)", "a target or pool; required for a mirror input", kNone, 0, 0, kNo, "Where a mirror input's packets go."},
    {"routes", "output", "string", "(none)", "a port that sends; required for a tunnel input", kNone, 0, 0, kNo, "Where a tunnel input's inner frames go."},

    // [[filters]]
    {"filters", "name", "string", "required", "unique among filters", kNone, 0, 0, kYes, "The filter's name."},
    {"filters", "network_services", "array of strings", "[]", "\"amazon-dns\"", kNone, 0, 0, kYes, "Network services mirrored too."},
    {"filters", "aws_exclusions", "bool", "true", "", kNone, 0, 0, kYes, "Exclude what AWS never mirrors."},
    {"filters", "bpf", "string", "(none)", "a tcpdump expression", kNone, 0, 0, kYes, "An expression that must also accept the frame."},
    {"filters", "rules", "array of inline tables", "(none)", "at most 10 per direction", kNone, 0, 0, kPerKey, "The filter rules."},
    {"filters", "description", "string", "(none)", "ignored", kNone, 0, 0, kYes, "A note for people."},

    // rules = [{...}] of a [[filters]] table
    {"filters.rules", "direction", "string", "required", "\"ingress\", \"egress\"", kNone, 0, 0, kYes, "The traffic direction."},
    {"filters.rules", "number", "integer", "required", "unique per direction; lower is tried first", kInt, 1, 32766, kYes, "The rule number."},
    {"filters.rules", "action", "string", "required", "\"accept\", \"reject\"", kNone, 0, 0, kYes, "What a match does."},
    {"filters.rules", "protocol", "integer or string", "required", "\"tcp\", \"udp\", \"icmp\", \"icmpv6\", \"all\", or a number", kInt, 0, 255, kYes, "The IP protocol."},
    {"filters.rules", "source", "string", "required", "a CIDR block", kNone, 0, 0, kYes, "The source block."},
    {"filters.rules", "destination", "string", "required", "a CIDR block of the source's family", kNone, 0, 0, kYes, "The destination block."},
    {"filters.rules", "source_ports", "string", "(any)", "\"N\" or \"LO-HI\"; with tcp or udp", kNone, 0, 0, kYes, "Source ports."},
    {"filters.rules", "destination_ports", "string", "(any)", "\"N\" or \"LO-HI\"; with tcp or udp", kNone, 0, 0, kYes, "Destination ports."},
    {"filters.rules", "description", "string", "(none)", "ignored", kNone, 0, 0, kYes, "A note for people."},

    // [[sessions]]
    {"sessions", "name", "string", "required", "unique among sessions", kNone, 0, 0, kNo, "The session's name."},
    {"sessions", "input", "string", "required", "a mirror-input, tunnel-input or appliance without a route", kNone, 0, 0, kNo, "The input."},
    {"sessions", "vnis", "array of integers", "[] (any)", "on a tunnel-input or appliance", kIntList, 0, 16777215, kYes, "VNIs this session takes."},
    {"sessions", "sources", "array of strings", "[] (any)", "addresses or prefixes; on a tunnel-input or appliance", kNone, 0, 0, kYes, "Outer sources this session takes."},
    {"sessions", "sinks", "array of strings", "required", "1 to 16 ports that send, targets or pools", kNone, 0, 0, kYes, "Where the selected packets go."},
    {"sessions", "number", "integer", "required on a mirror-input", "unique per input; lower is tried first; on a mirror-input", kInt, 1, 32766, kYes, "The session number."},
    {"sessions", "filter", "string", "(none: everything)", "a filter's name; on a mirror-input or tunnel-input", kNone, 0, 0, kYes, "The filter."},
    {"sessions", "monitored", "array of strings", "[]", "addresses or prefixes; on a mirror-input or tunnel-input", kNone, 0, 0, kYes, "The monitored side: decides each packet's direction."},
    {"sessions", "direction", "string", "\"ingress\"", "\"ingress\", \"egress\"; not with monitored", kNone, 0, 0, kYes, "The direction of every packet without monitored."},
    {"sessions", "vni", "integer", "derived: the targets'", "on a mirror-input, with target sinks", kInt, 0, 16777215, kYes, "The VNI of this session's copies."},
    {"sessions", "packet_length", "integer", "derived: the targets'", "on a mirror-input, with target sinks", kInt, 1, 8500, kYes, "AWS PacketLength of this session's copies."},
    {"sessions", "slice", "integer", "(off)", "on a mirror-input or tunnel-input", kInt, 0, 65535, kYes, "Keep headers through L4, then this many payload bytes."},
    {"sessions", "sample_flows", "integer", "(all)", "on a mirror-input or tunnel-input", kInt, 1, 1048576, kYes, "Keep the flows whose symmetric hash falls in 1/N."},
    {"sessions", "sample_packets", "integer", "(all)", "on a mirror-input or tunnel-input", kInt, 1, 1048576, kYes, "Keep every Nth packet per worker."},
    {"sessions", "max_pps", "number", "(no limit)", "on a mirror-input or tunnel-input", kNum, 1, 1e9, kYes, "Packets per second for the session, over all workers."},
    {"sessions", "dedup_us", "integer", "(off)", "on a mirror-input or tunnel-input", kInt, 1, 1000000, Reload::kOnOff, "Drop a packet seen within this many microseconds."},

    // [metrics]
    {"metrics", "listen", "string", "(none)", "ADDRESS:PORT (\"127.0.0.1:9464\", \"[::1]:9464\")", kNone, 0, 0, kNo, "The Prometheus endpoint."},

    // [log]
    {"log", "format", "string", "\"text\"", "\"text\", \"json\"", kNone, 0, 0, kNo, "Text lines or one JSON object per line."},
    {"log", "level", "string", "\"info\"", "\"debug\", \"info\", \"warn\", \"error\"", kNone, 0, 0, kYes, "The lowest level written."},
};

std::string number_text(double v) {
  std::ostringstream os;
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    os << static_cast<long long>(v);
  } else {
    os << v;
  }
  return os.str();
}

std::string cell(std::string_view s) {
  std::string out;
  for (char ch : s) {
    if (ch == '|') out += '\\';
    out += ch;
  }
  return out;
}

const char* reload_text(Reload r) {
  switch (r) {
    case Reload::kYes: return "yes";
    case Reload::kNo: return "no";
    case Reload::kOnOff: return "yes, not on/off";
    case Reload::kPerKey: return "per key";
  }
  return "";
}

}  // namespace

std::span<const ConfigKey> config_schema() { return kSchema; }

std::vector<std::string_view> config_tables() {
  std::vector<std::string_view> out;
  for (const ConfigKey& k : kSchema) {
    if (out.empty() || out.back() != k.table) out.push_back(k.table);
  }
  return out;
}

std::vector<std::string> config_keys(std::string_view table) {
  std::vector<std::string> out;
  for (const ConfigKey& k : kSchema) {
    if (k.table == table) out.emplace_back(k.key);
  }
  return out;
}

const ConfigKey& config_key(std::string_view table, std::string_view key) {
  for (const ConfigKey& k : kSchema) {
    if (k.table == table && k.key == key) return k;
  }
  throw std::logic_error("configuration schema: no key '" + std::string(key) + "' in table '" + std::string(table) + "'");
}

std::string schema_table_of(std::string_view path) {
  std::string out;
  bool in_index = false;
  for (char ch : path) {
    if (ch == '[') in_index = true;
    else if (ch == ']') in_index = false;
    else if (!in_index) out += ch;
  }
  return out;
}

std::string config_reference_markdown() {
  std::ostringstream os;
  os << "<!-- Generated by `mirrorpipe config-reference` from engine/config/schema.cpp: do not edit.\n"
        "     Regenerate with: mirrorpipe config-reference > docs/configuration.md\n"
        "     The test config_reference fails when this file and the schema disagree. -->\n"
        "# Configuration reference\n\n"
        "Every key of the TOML file read by `mirrorpipe run -c FILE` and `mirrorpipe check -c FILE`, "
        "from the loader's own schema (engine/config/schema.cpp): the loader rejects any key not "
        "listed here, and takes its integer and number ranges from these rows.\n\n"
        "- **default**: the value when the key is absent; `required`: the key must be given; "
        "`derived: ...`: computed from other settings; `(none)`: the feature is off.\n"
        "- **range**: both ends included; for an array of integers, the range of each element.\n"
        "- **reload**: whether a reload (SIGHUP) may change the key. `no`: a reload that changes it "
        "is refused with a message and the engine goes on unchanged (restart to change it). "
        "Adding or removing a port, target, route or session is refused too.\n"
        "- Errors name the file, the line, the key, the value found and what was expected.\n";
  for (std::string_view table : config_tables()) {
    os << "\n## ";
    if (table.empty()) os << "Top level";
    else if (table == "filters.rules") os << "`rules` of `[[filters]]` (inline tables)";
    else if (table == "pools.health_check") os << "`[pools.health_check]`";
    else if (table == "ports" || table == "targets" || table == "routes" || table == "sessions" || table == "filters" ||
             table == "pools") os << "`[[" << table << "]]`";
    else os << "`[" << table << "]`";
    os << "\n\n| key | type | default | range | allowed | reload | description |\n"
          "|---|---|---|---|---|---|---|\n";
    for (const ConfigKey& k : kSchema) {
      if (k.table != table) continue;
      std::string range;
      if (k.range != RangeKind::kNone) range = number_text(k.min) + " to " + number_text(k.max);
      if (k.range == RangeKind::kIntegerList) range = "each " + range;
      os << "| `" << k.key << "` | " << cell(k.type) << " | " << cell(k.default_value) << " | " << range << " | "
         << cell(k.allowed) << " | " << reload_text(k.reload) << " | " << cell(k.description) << " |\n";
    }
  }
  return os.str();
}

}  // namespace mirrorpipe
