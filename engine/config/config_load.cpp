#include <toml++/toml.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <tuple>

#include <grp.h>
#include <pcap/pcap.h>
#include <pwd.h>
#include <sched.h>

#include "engine/config/config.h"
#include "engine/config/schema.h"
#include "engine/pipeline/counters.h"

namespace mirrorpipe {

const PortConfig* EngineConfig::port(const std::string& name) const {
  for (const auto& p : ports) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const TargetConfig* EngineConfig::target(const std::string& name) const {
  for (const auto& t : targets) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

const PoolConfig* EngineConfig::pool(const std::string& name) const {
  for (const auto& p : pools) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const FilterConfig* EngineConfig::filter(const std::string& name) const {
  for (const auto& f : filters) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

FlowRule parse_flow_rule(const std::string& text) {
  std::istringstream in(text);
  std::vector<std::string> words;
  for (std::string w; in >> w;) words.push_back(w);
  if (words.size() < 3 || words.size() > 4) throw std::invalid_argument("expected PROTO SRC[:PORT] DST[:PORT] [endpoint=ID]");
  uint8_t proto = 0;
  const std::string& p = words[0];
  if (p == "tcp") proto = 6;
  else if (p == "udp") proto = 17;
  else if (p == "sctp") proto = 132;
  else if (p == "icmp") proto = 1;
  else if (p == "icmpv6") proto = 58;
  else if (p == "gre") proto = 47;
  else if (!p.empty() && p.size() <= 3 && p.find_first_not_of("0123456789") == std::string::npos && std::stoi(p) <= 255) {
    proto = static_cast<uint8_t>(std::stoi(p));
  } else {
    throw std::invalid_argument("unknown protocol '" + p + "' (tcp, udp, sctp, icmp, icmpv6, gre or 0-255)");
  }
  const bool ports = proto == 6 || proto == 17 || proto == 132;
  auto endpoint = [&](const std::string& w, IpAddress& addr, uint16_t& port) {
    std::string host = w, port_text;
    if (!w.empty() && w[0] == '[') {
      const size_t close = w.find(']');
      if (close == std::string::npos) throw std::invalid_argument("'" + w + "': no closing ]");
      host = w.substr(1, close - 1);
      if (close + 1 < w.size()) {
        if (w[close + 1] != ':') throw std::invalid_argument("'" + w + "': expected [ADDR]:PORT");
        port_text = w.substr(close + 2);
      }
    } else if (std::count(w.begin(), w.end(), ':') == 1) {
      host = w.substr(0, w.find(':'));
      port_text = w.substr(w.find(':') + 1);
    }
    addr = parse_ip(host);
    if (ports != !port_text.empty()) {
      throw std::invalid_argument("'" + w + "': " + (ports ? "a port is needed for " + p : "no port for " + p));
    }
    if (ports) {
      if (port_text.size() > 5 || port_text.find_first_not_of("0123456789") != std::string::npos ||
          std::stoul(port_text) > 65535) {
        throw std::invalid_argument("'" + w + "': bad port");
      }
      port = static_cast<uint16_t>(std::stoul(port_text));
    }
  };
  IpAddress src, dst;
  uint16_t sport = 0, dport = 0;
  endpoint(words[1], src, sport);
  endpoint(words[2], dst, dport);
  if (src.v6 != dst.v6) throw std::invalid_argument("the two addresses are of different families");
  FlowRule r;
  uint64_t id = 0;
  if (words.size() == 4) {
    const std::string& e = words[3];
    if (e.rfind("endpoint=", 0) != 0) throw std::invalid_argument("'" + e + "': expected endpoint=ID");
    const std::string v = e.substr(9);
    const bool hex = v.size() > 2 && v[0] == '0' && (v[1] == 'x' || v[1] == 'X');
    const std::string digits = hex ? v.substr(2) : v;
    if (digits.empty() || digits.size() > (hex ? 16u : 19u) ||
        digits.find_first_not_of(hex ? "0123456789abcdefABCDEF" : "0123456789") != std::string::npos) {
      throw std::invalid_argument("'" + e + "': the ID is a decimal or 0x hex 64-bit number");
    }
    id = std::stoull(digits, nullptr, hex ? 16 : 10);
    r.any_endpoint = false;
  }
  r.key = make_flow_key(id, proto, src.v6, src.bytes, sport, dst.bytes, dport);
  return r;
}

namespace {

std::string describe(const toml::node& n) {
  std::ostringstream os;
  if (n.is_string()) {
    os << '"' << *n.value<std::string>() << '"';
  } else if (n.is_table()) {
    os << "a table";
  } else if (n.is_array()) {
    os << *n.as_array();
  } else {
    n.visit([&](const auto& v) {
      if constexpr (toml::is_value<decltype(v)>) os << v;
    });
  }
  return os.str();
}

// A TOML table being read: knows its key path for messages and which keys were read, so that
// an unknown (misspelt) key is an error rather than silently ignored.
class Table {
 public:
  Table(const toml::table& t, std::string path, std::string file)
      : t_(t), path_(std::move(path)), file_(std::move(file)), schema_table_(schema_table_of(path_)) {}

  int line() const { return static_cast<int>(t_.source().begin.line); }

  [[noreturn]] void fail(const std::string& key, const toml::node* n, const std::string& what) const {
    const int l = n ? static_cast<int>(n->source().begin.line) : line();
    std::ostringstream os;
    os << file_ << ":" << l << ": " << key_path(key) << ": ";
    if (n) {
      os << "found " << describe(*n) << ", expected " << what;
    } else {
      os << what;
    }
    throw ConfigError(os.str());
  }

  const toml::node* node(const std::string& key) const { return t_.get(key); }

  std::optional<std::string> string(const std::string& key) {
    const toml::node* n = node(key);
    if (!n) return std::nullopt;
    if (!n->is_string()) fail(key, n, "a string");
    return *n->value<std::string>();
  }

  std::string required_string(const std::string& key, const std::string& what) {
    auto v = string(key);
    if (!v) fail(key, nullptr, "missing; expected " + what);
    if (v->empty()) fail(key, node(key), what);
    return *v;
  }

  std::optional<int64_t> integer(const std::string& key, int64_t lo, int64_t hi) {
    const toml::node* n = node(key);
    if (!n) return std::nullopt;
    if (!n->is_integer()) fail(key, n, "an integer " + range(lo, hi));
    const int64_t v = *n->value<int64_t>();
    if (v < lo || v > hi) fail(key, n, "an integer " + range(lo, hi));
    return v;
  }

  // The same, with the range of the key's row in the schema (engine/config/schema.cpp).
  std::optional<int64_t> integer(const std::string& key) {
    const ConfigKey& k = schema_row(key, RangeKind::kInteger);
    return integer(key, static_cast<int64_t>(k.min), static_cast<int64_t>(k.max));
  }

  // An integer, or a string holding one in decimal or 0x hex (64-bit IDs do not fit TOML's
  // signed integers when their top bit is set).
  std::optional<uint64_t> id(const std::string& key) {
    const toml::node* n = node(key);
    if (!n) return std::nullopt;
    if (n->is_integer() && *n->value<int64_t>() >= 0) return static_cast<uint64_t>(*n->value<int64_t>());
    if (n->is_string()) {
      const std::string s = n->value_or(std::string());
      const bool hex = s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
      const std::string digits = hex ? s.substr(2) : s;
      if (!digits.empty() && digits.size() <= (hex ? 16u : 20u) &&
          digits.find_first_not_of(hex ? "0123456789abcdefABCDEF" : "0123456789") == std::string::npos) {
        try {
          return std::stoull(digits, nullptr, hex ? 16 : 10);
        } catch (const std::out_of_range&) {
        }
      }
    }
    fail(key, n, "a 64-bit ID: a non-negative integer, or a string in decimal or 0x hex");
  }

  std::optional<double> number(const std::string& key, double lo, double hi) {
    const toml::node* n = node(key);
    if (!n) return std::nullopt;
    if (!n->is_number()) fail(key, n, "a number");
    const double v = n->is_integer() ? static_cast<double>(*n->value<int64_t>()) : *n->value<double>();
    if (v < lo || v > hi) {
      std::ostringstream os;
      os << "a number from " << lo << " to " << hi;
      fail(key, n, os.str());
    }
    return v;
  }

  std::optional<double> number(const std::string& key) {
    const ConfigKey& k = schema_row(key, RangeKind::kNumber);
    return number(key, k.min, k.max);
  }

  std::optional<bool> boolean(const std::string& key) {
    const toml::node* n = node(key);
    if (!n) return std::nullopt;
    if (!n->is_boolean()) fail(key, n, "true or false");
    return *n->value<bool>();
  }

  const toml::array* array(const std::string& key) {
    const toml::node* n = node(key);
    if (!n) return nullptr;
    if (!n->is_array()) fail(key, n, "an array");
    return n->as_array();
  }

  std::vector<std::string> string_list(const std::string& key) {
    std::vector<std::string> out;
    if (const auto* a = array(key)) {
      for (size_t i = 0; i < a->size(); ++i) {
        const toml::node& e = *a->get(i);
        if (!e.is_string()) fail(key + "[" + std::to_string(i) + "]", &e, "a string");
        out.push_back(*e.value<std::string>());
      }
    }
    return out;
  }

  std::vector<int64_t> integer_list(const std::string& key, int64_t lo, int64_t hi) {
    std::vector<int64_t> out;
    if (const auto* a = array(key)) {
      for (size_t i = 0; i < a->size(); ++i) {
        const toml::node& e = *a->get(i);
        if (!e.is_integer() || *e.value<int64_t>() < lo || *e.value<int64_t>() > hi) {
          fail(key + "[" + std::to_string(i) + "]", &e, "an integer " + range(lo, hi));
        }
        out.push_back(*e.value<int64_t>());
      }
    }
    return out;
  }

  std::vector<int64_t> integer_list(const std::string& key) {
    const ConfigKey& k = schema_row(key, RangeKind::kIntegerList);
    return integer_list(key, static_cast<int64_t>(k.min), static_cast<int64_t>(k.max));
  }

  // Parses a value with `parse` (which throws std::invalid_argument); failures name the key.
  template <typename F>
  auto parsed(const std::string& key, const std::string& what, F parse)
      -> std::optional<decltype(parse(std::string()))> {
    auto s = string(key);
    if (!s) return std::nullopt;
    try {
      return parse(*s);
    } catch (const std::invalid_argument&) {
      fail(key, node(key), what);
    }
  }

  // Every key not in the schema's rows of this table is an error naming it.
  void reject_unknown() const {
    const std::vector<std::string> known = config_keys(schema_table_);
    for (const auto& [k, v] : t_) {
      const std::string key(k.str());
      if (std::find(known.begin(), known.end(), key) == known.end()) {
        std::string list;
        for (const auto& n : known) list += (list.empty() ? "" : ", ") + n;
        std::ostringstream os;
        os << file_ << ":" << v.source().begin.line << ": " << key_path(key)
           << ": unknown key (expected one of: " << list << ")";
        throw ConfigError(os.str());
      }
    }
  }

  std::string key_path(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }
  const std::string& file() const { return file_; }

 private:
  static std::string range(int64_t lo, int64_t hi) {
    return std::to_string(lo) + "-" + std::to_string(hi);
  }

  // The schema's row of a key of this table, whose range is of the kind the caller reads; a
  // missing row or another kind is a bug of the loader (std::logic_error), not of the file.
  const ConfigKey& schema_row(const std::string& key, RangeKind kind) const {
    const ConfigKey& k = config_key(schema_table_, key);
    if (k.range != kind) {
      throw std::logic_error("configuration schema: " + schema_table_ + "." + key + " has another range kind");
    }
    return k;
  }

  const toml::table& t_;
  std::string path_;
  std::string file_;
  std::string schema_table_;  // "ports" for "ports[2]": the schema's name of this table
};

// Iterates an array of tables ([[ports]]), giving each a Table with its path ("ports[2]").
template <typename F>
void each_table(Table& parent, const std::string& key, F f) {
  const toml::array* a = parent.array(key);
  if (!a) return;
  for (size_t i = 0; i < a->size(); ++i) {
    const toml::node& e = *a->get(i);
    const std::string path = parent.key_path(key) + "[" + std::to_string(i) + "]";
    if (!e.is_table()) {
      std::ostringstream os;
      os << parent.file() << ":" << e.source().begin.line << ": " << path << ": found "
         << describe(e) << ", expected a table ([[" << key << "]])";
      throw ConfigError(os.str());
    }
    Table t(*e.as_table(), path, parent.file());
    f(t);
  }
}

std::optional<Table> sub_table(Table& parent, const std::string& key) {
  const toml::node* n = parent.node(key);
  if (!n) return std::nullopt;
  if (!n->is_table()) parent.fail(key, n, "a table ([" + key + "])");
  return Table(*n->as_table(), parent.key_path(key), parent.file());
}

void load_ports_list(Table& t, const std::string& key, std::array<uint16_t, kMaxTunnelPorts>& ports,
                     uint8_t& count) {
  const auto list = t.integer_list(key);
  if (t.node(key) == nullptr) return;
  if (list.empty() || list.size() > kMaxTunnelPorts) {
    t.fail(key, t.node(key), "1 to " + std::to_string(kMaxTunnelPorts) + " ports");
  }
  count = 0;
  for (int64_t p : list) ports[count++] = static_cast<uint16_t>(p);
}

// "10.0.0.0/8", "2001:db8::/32", or an address alone (a /32 or /128).
IpPrefix parse_prefix(const std::string& text) {
  const size_t slash = text.find('/');
  const IpAddress a = parse_ip(text.substr(0, slash));
  IpPrefix p;
  p.v6 = a.v6;
  p.addr = a.bytes;
  const int max = a.v6 ? 128 : 32;
  p.length = static_cast<uint8_t>(max);
  if (slash != std::string::npos) {
    const std::string len = text.substr(slash + 1);
    if (len.empty() || len.size() > 3 || len.find_first_not_of("0123456789") != std::string::npos) {
      throw std::invalid_argument("bad prefix length");
    }
    const int n = std::stoi(len);
    if (n > max) throw std::invalid_argument("prefix length too long");
    p.length = static_cast<uint8_t>(n);
  }
  return p;
}

// "N" or "LO-HI", 0-65535, LO <= HI.
bool parse_port_range(const std::string& text, uint16_t& lo, uint16_t& hi) {
  const size_t dash = text.find('-');
  auto number = [](const std::string& s, uint16_t& out) {
    if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos) return false;
    const unsigned long v = std::stoul(s);
    if (v > 65535) return false;
    out = static_cast<uint16_t>(v);
    return true;
  };
  if (dash == std::string::npos) {
    if (!number(text, lo)) return false;
    hi = lo;
    return true;
  }
  return number(text.substr(0, dash), lo) && number(text.substr(dash + 1), hi) && lo <= hi;
}

// One rule of a [[filters]] table: an inline table in `rules`, as AWS's
// CreateTrafficMirrorFilterRule has its fields.
MirrorFilterRule load_filter_rule(Table& t, bool& egress) {
  MirrorFilterRule r;
  const std::string dir = t.required_string("direction", "\"ingress\" or \"egress\"");
  if (dir == "ingress") egress = false;
  else if (dir == "egress") egress = true;
  else t.fail("direction", t.node("direction"), "\"ingress\" or \"egress\"");
  const toml::node* num = t.node("number");
  if (!num) t.fail("number", nullptr, "missing; expected a rule number 1-32766");
  r.number = static_cast<uint16_t>(*t.integer("number"));
  const std::string action = t.required_string("action", "\"accept\" or \"reject\"");
  if (action == "accept") r.accept = true;
  else if (action != "reject") t.fail("action", t.node("action"), "\"accept\" or \"reject\"");
  const toml::node* proto = t.node("protocol");
  const char* protocols = "a protocol number 0-255, or \"tcp\", \"udp\", \"icmp\", \"icmpv6\" or \"all\"";
  if (!proto) t.fail("protocol", nullptr, std::string("missing; expected ") + protocols);
  if (proto->is_integer()) {
    r.protocol = static_cast<int16_t>(*t.integer("protocol"));
  } else if (proto->is_string()) {
    const std::string s = *proto->value<std::string>();
    if (s == "tcp") r.protocol = 6;
    else if (s == "udp") r.protocol = 17;
    else if (s == "icmp") r.protocol = 1;
    else if (s == "icmpv6") r.protocol = 58;
    else if (s == "all") r.protocol = -1;
    else t.fail("protocol", proto, protocols);
  } else {
    t.fail("protocol", proto, protocols);
  }
  const char* cidr = "a CIDR block (\"10.0.0.0/16\", \"::/0\")";
  if (!t.node("source")) t.fail("source", nullptr, std::string("missing; expected ") + cidr);
  if (!t.node("destination")) t.fail("destination", nullptr, std::string("missing; expected ") + cidr);
  r.source = *t.parsed("source", cidr, parse_prefix);
  r.destination = *t.parsed("destination", cidr, parse_prefix);
  if (r.source.v6 != r.destination.v6) {
    t.fail("destination", t.node("destination"), "a CIDR block of the source's family (a rule is IPv4 or IPv6)");
  }
  for (const char* key : {"source_ports", "destination_ports"}) {
    const auto text = t.string(key);
    if (!text) continue;
    if (r.protocol != 6 && r.protocol != 17) {
      t.fail(key, t.node(key), "no port range: ports go with protocol tcp or udp only");
    }
    const bool src = std::string(key) == "source_ports";
    uint16_t& lo = src ? r.source_lo : r.destination_lo;
    uint16_t& hi = src ? r.source_hi : r.destination_hi;
    if (!parse_port_range(*text, lo, hi)) t.fail(key, t.node(key), "a port \"N\" or a range \"LO-HI\" with LO <= HI, 0-65535");
    (src ? r.has_source_ports : r.has_destination_ports) = true;
  }
  t.reject_unknown();
  return r;
}

// [pools.health_check], as GWLB's target-group health checks (engine/config/health_settings.h
// has GWLB's defaults). The ranges are wider than GWLB's (interval 5-300 s, timeout 2-120 s,
// thresholds 2-10) so that a lab or a test can check every fraction of a second.
HealthCheckSettings load_health_check(Table& t) {
  HealthCheckSettings h;
  if (auto p = t.string("protocol")) {
    if (*p == "tcp") h.protocol = HealthCheckSettings::Protocol::kTcp;
    else if (*p == "http") h.protocol = HealthCheckSettings::Protocol::kHttp;
    else t.fail("protocol", t.node("protocol"), "\"tcp\" or \"http\"");
  }
  h.port = static_cast<uint16_t>(t.integer("port").value_or(h.port));
  const bool http = h.protocol == HealthCheckSettings::Protocol::kHttp;
  for (const char* k : {"path", "matcher"}) {
    if (!http && t.node(k)) t.fail(k, t.node(k), std::string(k) + " with protocol = \"http\" only");
  }
  if (auto p = t.string("path")) {
    const bool printable = std::all_of(p->begin(), p->end(), [](char ch) { return ch > 0x20 && ch < 0x7f; });
    if (p->empty() || (*p)[0] != '/' || p->size() > 1024 || !printable) {
      t.fail("path", t.node("path"), "a path starting with '/', printable, without spaces, at most 1024 bytes");
    }
    h.path = *p;
  }
  if (auto m = t.string("matcher")) {
    uint16_t lo = 0, hi = 0;
    if (!parse_port_range(*m, lo, hi) || lo < 100 || hi > 599) {
      t.fail("matcher", t.node("matcher"), "an HTTP status \"200\" or a range \"200-399\" within 100-599");
    }
    h.match_lo = lo;
    h.match_hi = hi;
  }
  h.interval_s = t.number("interval_s").value_or(h.interval_s);
  h.timeout_s = t.number("timeout_s").value_or(h.timeout_s);
  if (h.timeout_s > h.interval_s) {
    t.fail(t.node("timeout_s") ? "timeout_s" : "interval_s", t.node("timeout_s") ? t.node("timeout_s") : t.node("interval_s"),
           "a timeout no longer than the interval (timeout_s <= interval_s; GWLB's defaults are 5 and 10)");
  }
  h.healthy_threshold = static_cast<uint32_t>(t.integer("healthy_threshold").value_or(h.healthy_threshold));
  h.unhealthy_threshold = static_cast<uint32_t>(t.integer("unhealthy_threshold").value_or(h.unhealthy_threshold));
  t.reject_unknown();
  return h;
}

FilterConfig load_filter(Table& t) {
  FilterConfig f;
  f.line = t.line();
  f.name = t.required_string("name", "a filter name");
  for (size_t i = 0; const auto& s : t.string_list("network_services")) {
    if (s != "amazon-dns") {
      t.fail("network_services[" + std::to_string(i) + "]", t.array("network_services")->get(i),
             "\"amazon-dns\" (the one network service AWS offers)");
    }
    f.filter.amazon_dns = true;
    ++i;
  }
  f.filter.aws_exclusions = t.boolean("aws_exclusions").value_or(true);
  f.bpf = t.string("bpf").value_or("");
  if (!f.bpf.empty()) {
    // Compiled here only to say what is wrong before anything starts; the engine compiles it
    // again for the workers (engine/runtime/bpf_filter.h).
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, 65535);
    bpf_program prog{};
    const bool ok = dead && pcap_compile(dead, &prog, f.bpf.c_str(), 1, PCAP_NETMASK_UNKNOWN) == 0;
    const std::string why = dead ? pcap_geterr(dead) : "libpcap cannot open a handle";
    if (ok) pcap_freecode(&prog);
    if (dead) pcap_close(dead);
    if (!ok) t.fail("bpf", t.node("bpf"), "a tcpdump expression (libpcap: " + why + ")");
  }
  std::set<uint16_t> ingress_numbers, egress_numbers;
  each_table(t, "rules", [&](Table& r) {
    bool egress = false;
    const MirrorFilterRule rule = load_filter_rule(r, egress);
    if (!(egress ? egress_numbers : ingress_numbers).insert(rule.number).second) {
      r.fail("number", r.node("number"), "a rule number not used by another rule of the same direction");
    }
    (egress ? f.filter.egress : f.filter.ingress).push_back(rule);
  });
  if (f.filter.ingress.size() > kMaxRulesPerDirection || f.filter.egress.size() > kMaxRulesPerDirection) {
    t.fail("rules", t.node("rules"), "at most " + std::to_string(kMaxRulesPerDirection) + " rules per direction (AWS allows 10)");
  }
  auto by_number = [](const MirrorFilterRule& a, const MirrorFilterRule& b) { return a.number < b.number; };
  std::sort(f.filter.ingress.begin(), f.filter.ingress.end(), by_number);
  std::sort(f.filter.egress.begin(), f.filter.egress.end(), by_number);
  t.reject_unknown();
  return f;
}

std::vector<IpPrefix> prefix_list(Table& t, const std::string& key) {
  std::vector<IpPrefix> out;
  const auto list = t.string_list(key);
  for (size_t i = 0; i < list.size(); ++i) {
    try {
      out.push_back(parse_prefix(list[i]));
    } catch (const std::invalid_argument&) {
      t.fail(key + "[" + std::to_string(i) + "]", t.array(key)->get(i),
             "an IPv4 or IPv6 address or prefix (\"10.0.0.0/8\", \"2001:db8::/32\")");
    }
  }
  return out;
}

std::vector<uint32_t> vni_list(Table& t, const std::string& key) {
  std::vector<uint32_t> out;
  for (int64_t v : t.integer_list(key)) out.push_back(static_cast<uint32_t>(v));
  return out;
}

// A path in the configuration is relative to the configuration file's folder, so that
// `mirrorpipe run -c some/dir/x.toml` finds its captures wherever it is started from.
std::string relative_to_config(const std::string& file, const std::string& config_path) {
  namespace fs = std::filesystem;
  if (file.empty() || fs::path(file).is_absolute()) return file;
  const fs::path dir = fs::path(config_path).parent_path();
  return dir.empty() ? file : (dir / file).lexically_normal().string();
}

// A file the engine will create: its folder must exist.
bool folder_exists_for(const std::string& file) {
  std::error_code ec;
  const std::filesystem::path dir = std::filesystem::path(file).parent_path();
  return dir.empty() || std::filesystem::is_directory(dir, ec);
}

// net_pcap's rx_pcap= and tx_pcap= files, resolved like `file` and checked the same way.
std::string check_pcap_vdev(Table& t, std::string devargs) {
  if (devargs.rfind("net_pcap", 0) != 0) return devargs;
  size_t at = devargs.find(',');
  while (at != std::string::npos) {
    const size_t start = at + 1;
    const size_t end = devargs.find(',', start);
    const std::string kv = devargs.substr(start, end == std::string::npos ? std::string::npos : end - start);
    const size_t eq = kv.find('=');
    const std::string key = kv.substr(0, eq);
    if (eq != std::string::npos && (key == "rx_pcap" || key == "tx_pcap")) {
      const std::string file = relative_to_config(kv.substr(eq + 1), t.file());
      std::error_code ec;
      if (key == "rx_pcap" && !std::filesystem::is_regular_file(file, ec)) {
        t.fail("devargs", t.node("devargs"), "an existing capture file for rx_pcap ('" + file + "' does not exist)");
      }
      if (key == "tx_pcap" && !folder_exists_for(file)) {
        t.fail("devargs", t.node("devargs"), "a tx_pcap file in an existing folder ('" + file + "')");
      }
      devargs.replace(start, kv.size(), key + "=" + file);
      at = devargs.find(',', start + key.size() + 1 + file.size());
      continue;
    }
    at = end;
  }
  return devargs;
}

PortConfig load_port(Table& t) {
  PortConfig p;
  p.line = t.line();
  p.name = t.required_string("name", "a port name");
  const char* roles = "mirror-input, tunnel-input, appliance or output";
  const std::string role = t.required_string("role", roles);
  if (role == "mirror-input") p.role = PortRole::kMirrorInput;
  else if (role == "tunnel-input") p.role = PortRole::kTunnelInput;
  else if (role == "appliance") p.role = PortRole::kAppliance;
  else if (role == "output") p.role = PortRole::kOutput;
  else t.fail("role", t.node("role"), roles);
  p.devargs = check_pcap_vdev(t, t.string("devargs").value_or(""));
  p.file = relative_to_config(t.string("file").value_or(""), t.file());
  if (p.devargs.empty() == p.file.empty()) {
    t.fail(p.devargs.empty() ? "devargs" : "file", nullptr,
           "a port needs exactly one of devargs (a DPDK device: PCI address or vdev) or file (a capture)");
  }
  if (p.is_file() && p.role != PortRole::kOutput) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(p.file, ec)) {
      t.fail("file", t.node("file"), "an existing capture file ('" + p.file + "' does not exist)");
    }
  }
  if (p.is_file() && p.role == PortRole::kOutput && !folder_exists_for(p.file)) {
    t.fail("file", t.node("file"), "a file in an existing folder ('" +
                                       std::filesystem::path(p.file).parent_path().string() + "' does not exist)");
  }
  p.mtu = static_cast<uint32_t>(t.integer("mtu").value_or(0));
  p.queues = static_cast<uint16_t>(t.integer("queues").value_or(0));
  p.rx_ring = static_cast<uint16_t>(t.integer("rx_ring").value_or(1024));
  p.tx_ring = static_cast<uint16_t>(t.integer("tx_ring").value_or(1024));
  p.mac = t.parsed("mac", "a MAC address like 02:00:00:00:00:01", parse_mac);
  p.ip = t.parsed("ip", "an IPv4 or IPv6 address", parse_ip);
  p.next_hop_mac = t.parsed("next_hop_mac", "a MAC address like 02:00:00:00:00:01", parse_mac);
  p.next_hop_ip = t.parsed("next_hop_ip", "an IPv4 address", parse_ip);
  if (p.next_hop_ip) {
    if (p.next_hop_ip->v6) t.fail("next_hop_ip", t.node("next_hop_ip"), "an IPv4 address (ARP)");
    if (p.is_file()) t.fail("next_hop_ip", t.node("next_hop_ip"), "next_hop_ip on a DPDK port (ARP)");
    if (!p.ip || p.ip->v6) t.fail("next_hop_ip", t.node("next_hop_ip"), "next_hop_ip with an IPv4 ip on the port (the ARP sender)");
  }
  if (auto o = t.string("oversize")) {
    if (*o == "truncate") p.oversize = Oversize::kTruncate;
    else if (*o == "drop") p.oversize = Oversize::kDrop;
    else t.fail("oversize", t.node("oversize"), "\"truncate\" or \"drop\"");
  }
  if (const toml::node* n = t.node("pace")) {
    if (n->is_string() && *n->value<std::string>() == "fast") p.pace = Pace::kFast;
    else if (n->is_string() && *n->value<std::string>() == "capture") p.pace = Pace::kCapture;
    else if (n->is_number()) {
      p.pace = Pace::kRate;
      p.pace_pps = *t.number("pace");
    } else {
      t.fail("pace", n, "\"fast\", \"capture\" or a rate in packets per second");
    }
    if (!p.is_file() || p.role == PortRole::kOutput) t.fail("pace", n, "pace only on a file input");
  }
  p.exception_tap = t.string("exception_tap").value_or("");
  if (!p.exception_tap.empty()) {
    if (p.is_file()) t.fail("exception_tap", t.node("exception_tap"), "an exception TAP on a DPDK port only");
    if (!p.ip || p.ip->v6) t.fail("exception_tap", t.node("exception_tap"), "an exception TAP with an IPv4 ip on the port");
    if (p.exception_tap.size() > 15) t.fail("exception_tap", t.node("exception_tap"), "an interface name of at most 15 characters");
  }
  if (auto h = t.string("flow_hash")) {
    const toml::node* n = t.node("flow_hash");
    if (*h == "auto") p.flow_hash = FlowHashSource::kAuto;
    else if (*h == "software") p.flow_hash = FlowHashSource::kSoftware;
    else if (*h == "nic") p.flow_hash = FlowHashSource::kNic;
    else t.fail("flow_hash", n, "\"auto\", \"software\" or \"nic\"");
    if (p.role != PortRole::kMirrorInput || p.is_file()) {
      t.fail("flow_hash", n, "flow_hash on a mirror-input DPDK port (a tunnel's outer hash says nothing of the inner flow)");
    }
  }
  p.also_output = t.boolean("also_output").value_or(false);
  p.tx_chains = t.boolean("tx_chains");
  if (p.tx_chains && (p.is_file() || !p.sends())) {
    t.fail("tx_chains", t.node("tx_chains"), "tx_chains on a port that sends, on a DPDK device");
  }
  if (p.also_output) {
    const toml::node* n = t.node("also_output");
    if (p.role != PortRole::kMirrorInput && p.role != PortRole::kTunnelInput) {
      t.fail("also_output", n, "also_output on a mirror-input or tunnel-input port (an output sends already; an appliance returns on its own port)");
    }
    if (p.is_file()) t.fail("also_output", n, "also_output on a DPDK device (a capture file is read or written, not both)");
  }
  if (!p.sends()) {
    for (const char* k : {"mac", "next_hop_mac", "next_hop_ip", "oversize"}) {
      if (t.node(k)) t.fail(k, t.node(k), std::string(k) + " only on an output port (or an input with also_output = true)");
    }
  }
  if (p.role != PortRole::kOutput) {
    for (const char* k : {"rotate_mb", "rotate_seconds"}) {
      if (t.node(k)) t.fail(k, t.node(k), std::string(k) + " only on an output port");
    }
  }
  p.allow_vnis = vni_list(t, "allow_vnis");
  p.allow_sources = prefix_list(t, "allow_sources");
  if (p.role != PortRole::kTunnelInput && p.role != PortRole::kAppliance) {
    for (const char* k : {"allow_vnis", "allow_sources"}) {
      if (t.node(k)) t.fail(k, t.node(k), std::string(k) + " only on a tunnel-input or appliance port");
    }
  }
  p.returns = t.string("returns").value_or("");
  p.inject_from = t.string("inject_from").value_or("");
  if (p.role != PortRole::kAppliance) {
    for (const char* k : {"returns", "inject_from"}) {
      if (t.node(k)) t.fail(k, t.node(k), std::string(k) + " only on an appliance port");
    }
  } else if (p.is_file() && p.returns.empty()) {
    t.fail("returns", nullptr, "missing; an appliance reading a file returns its packets to an output port (returns = \"NAME\")");
  }
  if (auto mb = t.number("rotate_mb")) p.rotate_bytes = static_cast<uint64_t>(*mb * 1e6);
  p.rotate_seconds = static_cast<uint64_t>(t.integer("rotate_seconds").value_or(0));
  if ((p.rotate_bytes || p.rotate_seconds) && !p.is_pcapng()) {
    const char* k = p.rotate_bytes ? "rotate_mb" : "rotate_seconds";
    t.fail(k, t.node(k), "rotation on a pcapng file output only (file = \"NAME.pcapng\")");
  }
  t.reject_unknown();
  return p;
}

TargetConfig load_target(Table& t, const EngineConfig& cfg) {
  TargetConfig tg;
  tg.line = t.line();
  tg.name = t.required_string("name", "a target name");
  tg.output = t.required_string("output", "the name of an output port");
  const PortConfig* out = cfg.port(tg.output);
  if (!out) t.fail("output", t.node("output"), "the name of a [[ports]] entry");
  if (!out->sends()) t.fail("output", t.node("output"), "a port whose role is output, or an input with also_output = true");
  TunnelConfig& c = tg.tunnel;
  const std::string kind = t.required_string("tunnel", "vxlan, gwlb or geneve");
  if (kind == "vxlan") c.kind = TunnelKind::kVxlan;
  else if (kind == "gwlb") c.kind = TunnelKind::kGwlb;
  else if (kind == "geneve") c.kind = TunnelKind::kGeneve;
  else t.fail("tunnel", t.node("tunnel"), "vxlan, gwlb or geneve");
  const auto dst = t.parsed("dst_ip", "an IPv4 or IPv6 address", parse_ip);
  if (!dst) t.fail("dst_ip", nullptr, "missing; expected the analyzer's (or NLB's) address");
  c.dst_ip = *dst;
  const auto src = t.parsed("src_ip", "an IPv4 or IPv6 address", parse_ip);
  if (!src && !out->ip) {
    t.fail("src_ip", nullptr, "missing; expected an address here or ip on output port '" + out->name + "'");
  }
  c.src_ip = src ? *src : *out->ip;
  const auto src_mac = t.parsed("src_mac", "a MAC address like 02:00:00:00:00:01", parse_mac);
  if (src_mac) c.src_mac = *src_mac;
  else if (out->mac) c.src_mac = *out->mac;
  const auto dst_mac = t.parsed("dst_mac", "a MAC address like 02:00:00:00:00:01", parse_mac);
  if (dst_mac) c.dst_mac = *dst_mac;
  else if (out->next_hop_mac) c.dst_mac = *out->next_hop_mac;
  else if (out->next_hop_ip) tg.resolve_dst_mac = true;
  else if (!out->is_file()) {
    t.fail("dst_mac", nullptr,
           "missing; expected dst_mac here, or next_hop_mac or next_hop_ip (resolved with ARP) on "
           "output port '" + out->name + "'");
  }
  c.vni = static_cast<uint32_t>(t.integer("vni").value_or(0));
  c.dst_port = static_cast<uint16_t>(t.integer("dst_port").value_or(0));
  if (const toml::node* n = t.node("sport_range")) {
    const auto r = t.integer_list("sport_range");
    if (r.size() != 2 || r[0] > r[1]) t.fail("sport_range", n, "[LO, HI] with 1 <= LO <= HI <= 65535");
    c.sport_lo = static_cast<uint16_t>(r[0]);
    c.sport_hi = static_cast<uint16_t>(r[1]);
  }
  c.ttl = static_cast<uint8_t>(t.integer("ttl").value_or(255));
  c.dscp = static_cast<uint8_t>(t.integer("dscp").value_or(0));
  c.df = t.boolean("df").value_or(false);
  if (auto u = t.string("udp_checksum")) {
    if (*u == "auto") c.udp_checksum = UdpChecksumMode::kAuto;
    else if (*u == "on") c.udp_checksum = UdpChecksumMode::kOn;
    else if (*u == "off") c.udp_checksum = UdpChecksumMode::kOff;
    else t.fail("udp_checksum", t.node("udp_checksum"), "\"auto\", \"on\" or \"off\"");
  }
  c.packet_length = static_cast<uint32_t>(t.integer("packet_length").value_or(0));
  c.gwlb_endpoint_id = t.id("gwlb_endpoint_id").value_or(0);
  c.gwlb_attachment_id = t.id("gwlb_attachment_id").value_or(0);
  const auto opts = t.string_list("geneve_options");
  for (size_t i = 0; i < opts.size(); ++i) {
    try {
      c.geneve_options.push_back(parse_geneve_option(opts[i]));
    } catch (const std::invalid_argument& e) {
      t.fail("geneve_options[" + std::to_string(i) + "]", t.array("geneve_options")->get(i),
             std::string("CLASS:TYPE:HEXDATA (") + e.what() + ")");
    }
  }
  c.metadata_option = t.boolean("metadata_option").value_or(false);
  if (c.metadata_option && c.kind != TunnelKind::kGeneve) {
    t.fail("metadata_option", t.node("metadata_option"), "metadata_option with tunnel = \"geneve\" only");
  }
  if (c.kind != TunnelKind::kGwlb && (t.node("gwlb_endpoint_id") || t.node("gwlb_attachment_id"))) {
    t.fail(t.node("gwlb_endpoint_id") ? "gwlb_endpoint_id" : "gwlb_attachment_id", nullptr,
           "only with tunnel = \"gwlb\"");
  }
  t.reject_unknown();
  try {
    (void)build_outer_template(c);
  } catch (const std::invalid_argument& e) {
    std::ostringstream os;
    os << t.file() << ":" << tg.line << ": " << t.key_path("tunnel") << ": " << e.what();
    throw ConfigError(os.str());
  }
  return tg;
}

// What the engine derives from the ports must fit what it is built for, and each target's
// output must be able to carry it: refused here (by `check`), never found out at start.
void check_derived_sizes(const EngineConfig& cfg) {
  // The engine's own inputs and outputs: each port's, plus an exception TAP (an input and an
  // output, and a DPDK port of its own), the replies of a port that answers for its address,
  // the packets an inspection engine hands back to an appliance.
  size_t inputs = 0, outputs = 0, dpdk_ports = 0;
  for (const PortConfig& p : cfg.ports) {
    if (p.role != PortRole::kOutput) ++inputs;
    if (p.sends()) ++outputs;
    if (!p.is_file()) ++dpdk_ports;
    const bool host = !p.is_file() && p.role != PortRole::kOutput &&
                      ((p.ip && !p.ip->v6) || (p.role == PortRole::kAppliance && p.returns.empty()));
    if (host) ++outputs;
    if (host && !p.exception_tap.empty()) {
      ++inputs;
      ++outputs;
      ++dpdk_ports;
    }
    if (p.role == PortRole::kAppliance && !p.inject_from.empty()) ++inputs;
  }
  auto refuse = [&](const std::string& what, size_t n, size_t max) {
    std::ostringstream os;
    os << cfg.path << ": ports: these ports make " << n << " " << what << " (each exception TAP adds an input, an "
       << "output and a DPDK port; each port with an IPv4 ip an output for its replies); expected at most " << max;
    throw ConfigError(os.str());
  };
  if (inputs > kMaxPorts) refuse("engine inputs", inputs, kMaxPorts);
  if (outputs > kMaxPorts) refuse("engine outputs", outputs, kMaxPorts);
  if (dpdk_ports > kMaxDpdkPorts) refuse("DPDK ports", dpdk_ports, kMaxDpdkPorts);

  // A target's outer headers and a minimal inner packet must fit its output's IP MTU, or every
  // packet would end as over_mtu; IPv6 needs 1280 on every link (RFC 8200 section 5).
  for (const TargetConfig& t : cfg.targets) {
    const PortConfig* out = cfg.port(t.output);
    if (!out || !out->mtu) continue;
    const OuterTemplate tpl = build_outer_template(t.tunnel);
    const uint32_t outer_ip_bytes = tpl.length_bytes - wire::kEthernetHeaderBytes;
    const uint32_t min_inner = t.tunnel.kind == TunnelKind::kGwlb ? 20 : wire::kEthernetHeaderBytes;
    std::ostringstream os;
    if (t.tunnel.src_ip.v6 && out->mtu < 1280) {
      os << cfg.path << ":" << out->line << ": ports: '" << out->name << "': mtu: found " << out->mtu
         << ", expected at least 1280 for target '" << t.name << "', whose outer header is IPv6 (RFC 8200)";
      throw ConfigError(os.str());
    }
    if (out->mtu < outer_ip_bytes + min_inner) {
      os << cfg.path << ":" << out->line << ": ports: '" << out->name << "': mtu: found " << out->mtu
         << ", expected at least " << outer_ip_bytes + min_inner << " for target '" << t.name << "' (" << outer_ip_bytes
         << " bytes of outer IP, UDP and tunnel headers and a " << min_inner << "-byte inner "
         << (min_inner == 20 ? "IPv4 header" : "Ethernet header") << ")";
      throw ConfigError(os.str());
    }
  }
}

bool user_exists(const std::string& name) {
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  return getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) == 0 && found;
}

bool group_exists(const std::string& name) {
  std::vector<char> buf(65536);
  group gr{};
  group* found = nullptr;
  return getgrnam_r(name.c_str(), &gr, buf.data(), buf.size(), &found) == 0 && found;
}

EngineConfig load(const toml::table& root, const std::string& path) {
  EngineConfig cfg;
  cfg.path = path;
  Table top(root, "", path);
  top.reject_unknown();
  if (auto e = sub_table(top, "engine")) {
    cfg.workers = static_cast<uint32_t>(e->integer("workers").value_or(1));
    for (int64_t c : e->integer_list("worker_cores")) cfg.worker_cores.push_back(static_cast<unsigned>(c));
    if (!cfg.worker_cores.empty() && cfg.worker_cores.size() != cfg.workers) {
      e->fail("worker_cores", e->node("worker_cores"),
              "one core per worker (" + std::to_string(cfg.workers) + ")");
    }
    cfg.main_core = static_cast<unsigned>(e->integer("main_core").value_or(0));
    // CPUs this process may run on: a core outside them cannot start (checked here, not by
    // the EAL after the ports are half set up).
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0) {
      std::string cpus;
      for (int c = 0; c < CPU_SETSIZE; ++c) {
        if (!CPU_ISSET(c, &allowed)) continue;
        if (!cpus.empty()) cpus += ',';
        cpus += std::to_string(c);
      }
      for (size_t i = 0; i < cfg.worker_cores.size(); ++i) {
        if (!CPU_ISSET(cfg.worker_cores[i], &allowed)) {
          e->fail("worker_cores[" + std::to_string(i) + "]", e->array("worker_cores")->get(i),
                  "a CPU this machine lets mirrorpipe run on (" + cpus + ")");
        }
      }
      if (!CPU_ISSET(cfg.main_core, &allowed)) {
        e->fail("main_core", e->node("main_core"), "a CPU this machine lets mirrorpipe run on (" + cpus + ")");
      }
    }
    cfg.mbufs = static_cast<uint32_t>(e->integer("mbufs").value_or(0));
    cfg.tx_flush_us = static_cast<uint32_t>(e->integer("tx_flush_us").value_or(100));
    cfg.stats_interval_s = e->number("stats_interval_s").value_or(1.0);
    cfg.arp_refresh_s = static_cast<uint32_t>(e->integer("arp_refresh_s").value_or(30));
    // Who the engine runs as after start: the names must resolve here, so that a typo fails
    // `check` rather than a started engine.
    if (auto u = e->string("user")) {
      if (u->empty() || !user_exists(*u)) e->fail("user", e->node("user"), "a user of this machine");
      cfg.user = *u;
    }
    if (auto g = e->string("group")) {
      if (cfg.user.empty()) e->fail("group", e->node("group"), "group only with user (the drop to a user sets it)");
      if (g->empty() || !group_exists(*g)) e->fail("group", e->node("group"), "a group of this machine");
      cfg.group = *g;
    }
    e->reject_unknown();
  }
  if (auto e = sub_table(top, "eal")) {
    cfg.eal_args = e->string_list("args");
#if MIRRORPIPE_STATIC_DPDK
    // DPDK is linked in with its drivers (cmake/Dpdk.cmake): a driver plugin would bring the
    // shared EAL along, a second EAL in the process.
    for (const std::string& a : cfg.eal_args) {
      // -d, -dPATH, or -d after EAL's flag-only short options grouped with it (-vd).
      const size_t d = a.size() > 1 && a[0] == '-' && a[1] != '-' ? a.find_first_not_of("hv", 1) : std::string::npos;
      if (d != std::string::npos && a[d] == 'd') {
        e->fail("args", e->node("args"),
                "no -d (driver plugins): this build has DPDK and its drivers built in (`mirrorpipe --version`)");
      }
    }
#endif
    e->reject_unknown();
  }
  if (auto m = sub_table(top, "metrics")) {
    // [metrics] listen = "ADDRESS:PORT": the Prometheus endpoint (engine/runtime/metrics.h).
    if (auto l = m->string("listen")) {
      const size_t colon = l->rfind(':');
      const std::string host = colon == std::string::npos ? "" : l->substr(0, colon);
      const std::string port = colon == std::string::npos ? "" : l->substr(colon + 1);
      bool ok = !host.empty() && !port.empty() && port.size() <= 5 &&
                std::all_of(port.begin(), port.end(), [](char ch) { return ch >= '0' && ch <= '9'; }) &&
                std::stoul(port) >= 1 && std::stoul(port) <= 65535;
      if (ok) {
        try {
          const bool bracketed = host.size() > 2 && host.front() == '[' && host.back() == ']';
          const IpAddress a = parse_ip(bracketed ? host.substr(1, host.size() - 2) : host);
          ok = a.v6 == bracketed;
        } catch (const std::invalid_argument&) {
          ok = false;
        }
      }
      if (!ok) m->fail("listen", m->node("listen"), "ADDRESS:PORT, e.g. \"127.0.0.1:9464\" or \"[::1]:9464\"");
      cfg.metrics_listen = *l;
    }
    m->reject_unknown();
  }
  if (auto l = sub_table(top, "log")) {
    // [log]: the engine's events as text or JSON lines (engine/control/log.h).
    if (auto f = l->string("format")) {
      if (*f == "text") cfg.log.format = LogFormat::kText;
      else if (*f == "json") cfg.log.format = LogFormat::kJson;
      else l->fail("format", l->node("format"), "text or json");
    }
    if (auto v = l->string("level")) {
      if (*v == "debug") cfg.log.level = LogLevel::kDebug;
      else if (*v == "info") cfg.log.level = LogLevel::kInfo;
      else if (*v == "warn") cfg.log.level = LogLevel::kWarn;
      else if (*v == "error") cfg.log.level = LogLevel::kError;
      else l->fail("level", l->node("level"), "debug, info, warn or error");
    }
    l->reject_unknown();
  }
  if (auto d = sub_table(top, "decap")) {
    load_ports_list(*d, "vxlan_ports", cfg.decap.vxlan_ports, cfg.decap.vxlan_port_count);
    load_ports_list(*d, "geneve_ports", cfg.decap.geneve_ports, cfg.decap.geneve_port_count);
    cfg.decap.verify_checksums = d->boolean("verify_checksums").value_or(false);
    for (uint8_t i = 0; i < cfg.decap.vxlan_port_count; ++i) {
      for (uint8_t j = 0; j < cfg.decap.geneve_port_count; ++j) {
        if (cfg.decap.vxlan_ports[i] == cfg.decap.geneve_ports[j]) {
          d->fail("geneve_ports", d->node("geneve_ports"),
                  "ports other than the VXLAN ports (" + std::to_string(cfg.decap.vxlan_ports[i]) + " is in both)");
        }
      }
    }
    d->reject_unknown();
  }

  if (auto a = sub_table(top, "appliance")) {
    cfg.appliance.flow_table_size = static_cast<uint32_t>(a->integer("flow_table_size").value_or(65536));
    cfg.appliance.tcp_idle_timeout_s = static_cast<uint32_t>(a->integer("tcp_idle_timeout_s").value_or(350));
    cfg.appliance.idle_timeout_s = static_cast<uint32_t>(a->integer("idle_timeout_s").value_or(120));
    cfg.appliance.ttl = static_cast<uint8_t>(a->integer("ttl").value_or(64));
    const auto rules = a->string_list("drop_flows");
    for (size_t i = 0; i < rules.size(); ++i) {
      try {
        cfg.appliance.drop_flows.push_back(parse_flow_rule(rules[i]));
      } catch (const std::invalid_argument& e) {
        a->fail("drop_flows[" + std::to_string(i) + "]", a->array("drop_flows")->get(i),
                std::string("PROTO SRC[:PORT] DST[:PORT] [endpoint=ID] (") + e.what() + ")");
      }
    }
    a->reject_unknown();
  }

  std::set<std::string> names;
  each_table(top, "ports", [&](Table& t) {
    PortConfig p = load_port(t);
    if (!names.insert(p.name).second) t.fail("name", t.node("name"), "a name not used by another port");
    if (p.is_file() && p.role != PortRole::kOutput && cfg.workers != 1) {
      t.fail("file", t.node("file"), "file inputs with one worker only (engine.workers = 1; file outputs get one file per worker)");
    }
    // With several workers an output becomes one file per worker beside the named one
    // (NAME-w0.EXT...): beside a device or a pipe (/dev/full, a FIFO) those would be new regular
    // files in its folder, and the device would never be written.
    std::error_code ec;
    if (p.is_file() && p.role == PortRole::kOutput && cfg.workers != 1 && std::filesystem::exists(p.file, ec) &&
        !std::filesystem::is_regular_file(p.file, ec)) {
      t.fail("file", t.node("file"),
             "a regular file with several workers ('" + p.file +
                 "' is a device or pipe, and each worker writes its own file beside it); engine.workers = 1 to write to it");
    }
    cfg.ports.push_back(std::move(p));
  });
  if (cfg.ports.empty()) top.fail("ports", nullptr, "missing; expected at least one [[ports]] entry");
  // An output file that is an input file (also through a link) would destroy what is read.
  for (const PortConfig& out : cfg.ports) {
    if (!out.is_file() || out.role != PortRole::kOutput) continue;
    for (const PortConfig& in : cfg.ports) {
      if (!in.is_file() || in.role == PortRole::kOutput) continue;
      std::error_code ec;
      if (out.file == in.file || std::filesystem::equivalent(out.file, in.file, ec)) {
        std::ostringstream os;
        os << path << ":" << out.line << ": ports: '" << out.name << "': file: found \"" << out.file
           << "\", which is the input of port '" << in.name << "'; expected another file (writing it would destroy the input)";
        throw ConfigError(os.str());
      }
    }
  }
  if (cfg.ports.size() > 32) top.fail("ports", top.node("ports"), "at most 32 ports");

  std::set<std::string> target_names;
  size_t meta_targets = 0;
  each_table(top, "targets", [&](Table& t) {
    TargetConfig tg = load_target(t, cfg);
    if (tg.tunnel.metadata_option && ++meta_targets > kMaxMetaStreams) {
      t.fail("metadata_option", t.node("metadata_option"),
             "at most " + std::to_string(kMaxMetaStreams) + " targets with the metadata option");
    }
    if (!target_names.insert(tg.name).second) t.fail("name", t.node("name"), "a name not used by another target");
    cfg.targets.push_back(std::move(tg));
  });

  std::set<std::string> routed;
  // [[pools]]: analyzers that share flows (Maglev, engine/control/maglev.h).
  std::set<std::string> pool_names;
  each_table(top, "pools", [&](Table& t) {
    PoolConfig pc;
    pc.line = t.line();
    pc.name = t.required_string("name", "a pool name");
    if (!pool_names.insert(pc.name).second) t.fail("name", t.node("name"), "a name not used by another pool");
    if (cfg.target(pc.name) || cfg.port(pc.name)) {
      t.fail("name", t.node("name"), "a name no port or target has (a sink names a port, a target or a pool)");
    }
    pc.members = t.string_list("members");
    if (pc.members.empty()) t.fail("members", t.node("members"), "a list of one or more targets");
    if (pc.members.size() > kMaxPoolMembers) {
      t.fail("members", t.node("members"), "at most " + std::to_string(kMaxPoolMembers) + " members");
    }
    std::set<std::string> seen;
    for (size_t i = 0; i < pc.members.size(); ++i) {
      const std::string key = "members[" + std::to_string(i) + "]";
      if (!cfg.target(pc.members[i])) t.fail(key, t.array("members")->get(i), "the name of a [[targets]] entry");
      if (!seen.insert(pc.members[i]).second) t.fail(key, t.array("members")->get(i), "a target not already a member");
    }
    pc.table_size = static_cast<uint32_t>(t.integer("table_size").value_or(pc.table_size));
    bool prime = pc.table_size >= 2;
    for (uint32_t d = 2; prime && d * d <= pc.table_size; ++d) prime = pc.table_size % d != 0;
    if (!prime || pc.table_size < 100 * pc.members.size()) {
      t.fail("table_size", t.node("table_size"),
             "a prime at least 100 times the members (Maglev's lookup table; 65537 by default)");
    }
    if (auto h = sub_table(t, "health_check")) {
      pc.health = load_health_check(*h);
      // The checks leave from each member's output port, from its own address, through the
      // port itself (the engine reads what comes back on the port's receive queue).
      for (size_t i = 0; i < pc.members.size(); ++i) {
        const TargetConfig* tg = cfg.target(pc.members[i]);
        const PortConfig* out = cfg.port(tg->output);
        std::string why;
        if (out->is_file()) why = "its output '" + out->name + "' is a file";
        else if (out->also_output) why = "its output '" + out->name + "' is an input too (also_output)";
        else if (!out->ip || out->ip->v6) why = "its output '" + out->name + "' has no IPv4 `ip` to check from";
        else if (tg->tunnel.dst_ip.v6) why = "its dst_ip is IPv6 (the checks are IPv4)";
        if (!why.empty()) {
          t.fail("members[" + std::to_string(i) + "]", t.array("members")->get(i),
                 "a target that can be health-checked ([pools.health_check]): " + why);
        }
      }
    }
    t.reject_unknown();
    if (cfg.pools.size() >= kMaxPools) t.fail("name", t.node("name"), "at most " + std::to_string(kMaxPools) + " pools");
    cfg.pools.push_back(std::move(pc));
  });

  each_table(top, "routes", [&](Table& t) {
    RouteConfig r;
    r.line = t.line();
    r.input = t.required_string("input", "the name of an input port");
    const PortConfig* in = cfg.port(r.input);
    if (!in) t.fail("input", t.node("input"), "the name of a [[ports]] entry");
    if (in->role == PortRole::kOutput || in->role == PortRole::kAppliance) {
      t.fail("input", t.node("input"), "a mirror-input or tunnel-input port (an appliance returns its packets; its copies go through [[sessions]])");
    }
    if (!routed.insert(r.input).second) t.fail("input", t.node("input"), "an input not routed already");
    r.target = t.string("target").value_or("");
    r.output = t.string("output").value_or("");
    if (in->role == PortRole::kMirrorInput) {
      if (r.target.empty()) t.fail("target", nullptr, "missing; a mirror input feeds a target");
      if (!r.output.empty()) t.fail("output", t.node("output"), "no output: a mirror input feeds a target");
      if (!cfg.target(r.target) && !cfg.pool(r.target)) {
        t.fail("target", t.node("target"), "the name of a [[targets]] or [[pools]] entry");
      }
    } else {
      if (r.output.empty()) t.fail("output", nullptr, "missing; a tunnel input feeds an output port");
      if (!r.target.empty()) t.fail("target", t.node("target"), "no target: a tunnel input feeds an output port");
      const PortConfig* out = cfg.port(r.output);
      if (!out || !out->sends()) t.fail("output", t.node("output"), "the name of an output port (or of an input with also_output = true)");
    }
    t.reject_unknown();
    cfg.routes.push_back(std::move(r));
  });
  std::set<std::string> filter_names;
  each_table(top, "filters", [&](Table& t) {
    FilterConfig f = load_filter(t);
    if (!filter_names.insert(f.name).second) t.fail("name", t.node("name"), "a name not used by another filter");
    cfg.filters.push_back(std::move(f));
  });
  std::set<std::string> session_names, with_sessions;
  std::map<std::string, std::set<uint16_t>> mirror_numbers;  // input -> session numbers
  each_table(top, "sessions", [&](Table& t) {
    SessionConfig s;
    s.line = t.line();
    s.name = t.required_string("name", "a session name");
    if (!session_names.insert(s.name).second) t.fail("name", t.node("name"), "a name not used by another session");
    s.input = t.required_string("input", "the name of a mirror-input, tunnel-input or appliance port");
    const PortConfig* in = cfg.port(s.input);
    if (!in || in->role == PortRole::kOutput) {
      t.fail("input", t.node("input"), "the name of a mirror-input, tunnel-input or appliance port");
    }
    if (routed.count(s.input)) {
      t.fail("input", t.node("input"), "an input without a [[routes]] entry (an input has either sessions or a route)");
    }
    with_sessions.insert(s.input);
    s.vnis = vni_list(t, "vnis");
    s.sources = prefix_list(t, "sources");
    const bool mirror = in->role == PortRole::kMirrorInput;
    const bool receive = in->role == PortRole::kTunnelInput;
    if (mirror) {
      // A mirror session, as AWS Traffic Mirroring has it.
      for (const char* k : {"vnis", "sources"}) {
        if (t.node(k)) t.fail(k, t.node(k), std::string(k) + " on a session of a tunnel-input or appliance (a mirror session selects with filter and monitored)");
      }
      if (!t.node("number")) t.fail("number", nullptr, "missing; expected the session number 1-32766 (lower is tried first)");
      s.number = static_cast<uint16_t>(*t.integer("number"));
      if (!mirror_numbers[s.input].insert(s.number).second) {
        t.fail("number", t.node("number"), "a session number not used by another session of input '" + s.input + "'");
      }
      if (auto v = t.integer("vni")) s.vni = static_cast<uint32_t>(*v);
      s.packet_length = static_cast<uint32_t>(t.integer("packet_length").value_or(0));
    } else {
      for (const char* k : {"number", "vni", "packet_length"}) {
        if (t.node(k)) t.fail(k, t.node(k), std::string(k) + " on a session of a mirror-input only");
      }
    }
    if (mirror || receive) {
      // The selection: on a mirror input's frames, or on a tunnel input's inner frames (a
      // receive session narrows what it takes, as a packet broker).
      s.filter = t.string("filter").value_or("");
      if (!s.filter.empty() && !cfg.filter(s.filter)) t.fail("filter", t.node("filter"), "the name of a [[filters]] table");
      s.monitored = prefix_list(t, "monitored");
      if (auto d = t.string("direction")) {
        if (*d == "egress") s.egress = true;
        else if (*d != "ingress") t.fail("direction", t.node("direction"), "\"ingress\" or \"egress\"");
        if (!s.monitored.empty()) t.fail("direction", t.node("direction"), "no direction with monitored (monitored decides it)");
      }
      s.slice = static_cast<int32_t>(t.integer("slice").value_or(-1));
      s.sample_flows = static_cast<uint32_t>(t.integer("sample_flows").value_or(0));
      s.sample_packets = static_cast<uint32_t>(t.integer("sample_packets").value_or(0));
      s.max_pps = t.number("max_pps").value_or(0);
      s.dedup_us = static_cast<uint32_t>(t.integer("dedup_us").value_or(0));
    } else {
      for (const char* k : {"filter", "monitored", "direction", "slice", "sample_flows", "sample_packets", "max_pps",
                            "dedup_us"}) {
        if (t.node(k)) {
          t.fail(k, t.node(k), std::string(k) + " on a session of a mirror-input or tunnel-input (an appliance returns every packet)");
        }
      }
    }
    s.sinks = t.string_list("sinks");
    if (s.sinks.empty()) t.fail("sinks", t.node("sinks"), "a list of one or more output ports or targets");
    if (s.sinks.size() > kMaxSessionSinks) {
      t.fail("sinks", t.node("sinks"), "at most " + std::to_string(kMaxSessionSinks) + " sinks");
    }
    for (size_t i = 0; i < s.sinks.size(); ++i) {
      const PortConfig* out = cfg.port(s.sinks[i]);
      if (!cfg.target(s.sinks[i]) && !cfg.pool(s.sinks[i]) && (!out || !out->sends())) {
        t.fail("sinks[" + std::to_string(i) + "]", t.array("sinks")->get(i),
               "the name of an output port (or of an input with also_output = true), a target or a pool");
      }
    }
    if (mirror) {
      for (size_t i = 0; i < s.sinks.size(); ++i) {
        const PortConfig* out = cfg.port(s.sinks[i]);
        if (out && (s.vni || s.packet_length)) {
          t.fail("sinks[" + std::to_string(i) + "]", t.array("sinks")->get(i),
                 "a target: vni and packet_length apply to tunnel copies (this session sets them)");
        }
      }
    }
    t.reject_unknown();
    if (cfg.sessions.size() >= kMaxSessions) t.fail("name", t.node("name"), "at most " + std::to_string(kMaxSessions) + " sessions");
    cfg.sessions.push_back(std::move(s));
  });
  for (const auto& p : cfg.ports) {
    if (p.role != PortRole::kAppliance) continue;
    for (const auto& [key, name] : {std::pair<const char*, std::string>{"returns", p.returns}, {"inject_from", p.inject_from}}) {
      if (name.empty()) continue;
      const PortConfig* o = cfg.port(name);
      const bool ok = std::string(key) == "inject_from" ? o && o->role == PortRole::kOutput && !o->is_file()
                                                        : o && o->sends();
      if (!ok) {
        std::ostringstream os;
        os << path << ":" << p.line << ": ports: appliance '" << p.name << "': " << key << ": found \"" << name
           << "\", expected the name of an output port" << (std::string(key) == "inject_from" ? " on a DPDK device (a TAP)" : "");
        throw ConfigError(os.str());
      }
    }
  }
  for (const auto& p : cfg.ports) {
    if (p.role != PortRole::kOutput && p.role != PortRole::kAppliance && !routed.count(p.name) &&
        !with_sessions.count(p.name)) {
      std::ostringstream os;
      os << path << ":" << p.line << ": ports: input '" << p.name
         << "' feeds nothing; expected a [[routes]] or [[sessions]] entry with input = \"" << p.name << "\"";
      throw ConfigError(os.str());
    }
  }
  check_derived_sizes(cfg);
  return cfg;
}

}  // namespace

namespace {

bool same_port(const PortConfig& a, const PortConfig& b) {
  auto key = [](const PortConfig& p) {
    return std::tie(p.name, p.role, p.devargs, p.file, p.mtu, p.queues, p.rx_ring, p.tx_ring,
                    p.oversize, p.pace, p.pace_pps, p.exception_tap, p.returns, p.inject_from,
                    p.rotate_bytes, p.rotate_seconds, p.also_output, p.flow_hash);
  };
  auto addr = [](const std::optional<IpAddress>& ip) {
    return ip ? std::make_pair(ip->v6, ip->bytes) : std::make_pair(false, std::array<uint8_t, 16>{});
  };
  // tx_chains is read once, when the device is set up (engine/runtime/ethdev.cpp).
  return key(a) == key(b) && a.mac == b.mac && a.next_hop_mac == b.next_hop_mac && a.tx_chains == b.tx_chains &&
         addr(a.ip) == addr(b.ip) && addr(a.next_hop_ip) == addr(b.next_hop_ip);
}

}  // namespace

std::string live_change_refusal(const EngineConfig& a, const EngineConfig& b) {
  const std::string restart = " cannot change while running (restart the engine to change it)";
  if (a.eal_args != b.eal_args) return "eal.args" + restart;
  if (a.log.format != b.log.format) return "log.format" + restart;
  // The endpoint is opened once, at start (engine/runtime/engine.cpp).
  if (a.metrics_listen != b.metrics_listen) return "metrics.listen" + restart;
  if (a.workers != b.workers || a.worker_cores != b.worker_cores || a.main_core != b.main_core) {
    return "engine.workers, worker_cores and main_core" + restart;
  }
  if (a.mbufs != b.mbufs || a.tx_flush_us != b.tx_flush_us) return "engine.mbufs and tx_flush_us" + restart;
  if (a.arp_refresh_s != b.arp_refresh_s) return "engine.arp_refresh_s" + restart;
  // After the drop the engine cannot become anyone else (engine/runtime/privileges.cpp).
  if (a.user != b.user || a.group != b.group) {
    return "engine.user and group" + restart +
           (a.user.empty() ? std::string()
                           : "; running as '" + a.user + "', the engine has given up the right to change users");
  }
  if (a.ports.size() != b.ports.size()) return "the set of [[ports]]" + restart;
  for (size_t i = 0; i < a.ports.size(); ++i) {
    if (!same_port(a.ports[i], b.ports[i])) return "ports[" + std::to_string(i) + "] ('" + a.ports[i].name + "')" + restart;
  }
  if (a.targets.size() != b.targets.size()) return "the set of [[targets]]" + restart;
  for (size_t i = 0; i < a.targets.size(); ++i) {
    if (a.targets[i].name != b.targets[i].name || a.targets[i].output != b.targets[i].output) {
      return "targets[" + std::to_string(i) + "].name and output" + restart;
    }
  }
  if (a.sessions.size() != b.sessions.size()) return "the set of [[sessions]]" + restart;
  for (size_t i = 0; i < a.sessions.size(); ++i) {
    if (a.sessions[i].name != b.sessions[i].name || a.sessions[i].input != b.sessions[i].input) {
      return "sessions[" + std::to_string(i) + "].name and input" + restart;
    }
    // A deduplicating session has its tables from the start; the window may change.
    if ((a.sessions[i].dedup_us == 0) != (b.sessions[i].dedup_us == 0)) {
      return "sessions[" + std::to_string(i) + "].dedup_us on or off" + restart;
    }
  }
  if (a.appliance.flow_table_size != b.appliance.flow_table_size ||
      a.appliance.tcp_idle_timeout_s != b.appliance.tcp_idle_timeout_s ||
      a.appliance.idle_timeout_s != b.appliance.idle_timeout_s) {
    return "appliance.flow_table_size and idle timeouts" + restart;
  }
  if (a.routes.size() != b.routes.size()) return "the set of [[routes]]" + restart;
  for (size_t i = 0; i < a.routes.size(); ++i) {
    const auto& x = a.routes[i];
    const auto& y = b.routes[i];
    if (x.input != y.input || x.target != y.target || x.output != y.output) {
      return "routes[" + std::to_string(i) + "]" + restart;
    }
  }
  return "";
}

EngineConfig load_config_text(const std::string& text, const std::string& path) {
  toml::table root;
  try {
    root = toml::parse(text, path);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << path << ":" << e.source().begin.line << ": " << e.description();
    throw ConfigError(os.str());
  }
  return load(root, path);
}

EngineConfig load_config(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw ConfigError(path + ": cannot read the file");
  std::stringstream ss;
  ss << f.rdbuf();
  return load_config_text(ss.str(), path);
}

}  // namespace mirrorpipe
