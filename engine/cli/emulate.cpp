// The GWLB emulator. Control-path tool: plain sockets, allocation and exceptions are fine here.
//
// What it sends is what AWS documents GWLB to send (wire-formats.md): Ethernet, IPv4 (TTL 255,
// ID 0, DF clear), UDP to 6081 from a per-flow source port with its checksum, Geneve version 0,
// VNI 0, protocol 0x0800/0x86DD, the three class-0x0108 options (endpoint, attachment, cookie),
// the inner L3 packet. What it checks on each return, by the rules an appliance must follow:
//   - it arrives (within the timeout) and is the packet sent: same UDP payload (Geneve header
//     and options byte for byte, so the cookie is the latest one GWLB gave the flow, and inner);
//   - outer IPv4 source = the appliance, destination = GWLB (swapped);
//   - UDP source port kept, destination 6081;
//   - IPv4 header checksum right; UDP checksum right (or zero); TTL not zero;
//   - Ethernet destination = our MAC.
#include "engine/cli/emulate.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <pcap/pcap.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <vector>

#include "decap/decap.h"
#include "encap/tunnel.h"
#include "encap/wire/arp.h"
#include "encap/wire/checksum.h"
#include "encap/wire/ethernet.h"
#include "encap/wire/geneve.h"
#include "encap/wire/ipv4.h"
#include "encap/wire/l4.h"

namespace mirrorpipe {
namespace {

using namespace wire;
using Clock = std::chrono::steady_clock;

class RawSocket {
 public:
  explicit RawSocket(const std::string& iface) {
    fd_ = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (fd_ < 0) throw std::runtime_error("AF_PACKET socket: " + std::string(std::strerror(errno)) + " (run as root)");
    ifreq ifr{};
    std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", iface.c_str());
    if (ioctl(fd_, SIOCGIFINDEX, &ifr) < 0) throw std::invalid_argument("no interface '" + iface + "'");
    ifindex_ = ifr.ifr_ifindex;
    if (ioctl(fd_, SIOCGIFHWADDR, &ifr) < 0) throw std::runtime_error("cannot read the MAC of '" + iface + "'");
    std::memcpy(mac_.data(), ifr.ifr_hwaddr.sa_data, 6);
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = ifindex_;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&sll), sizeof sll) < 0) throw std::runtime_error("bind to '" + iface + "' failed");
  }
  ~RawSocket() { close(fd_); }
  const MacAddress& mac() const { return mac_; }

  void send(const std::vector<uint8_t>& f) {
    if (::send(fd_, f.data(), f.size(), 0) != static_cast<ssize_t>(f.size())) {
      throw std::runtime_error("send failed: " + std::string(std::strerror(errno)));
    }
  }
  // The next frame received (not one we sent), or empty after `deadline`.
  std::vector<uint8_t> receive(Clock::time_point deadline) {
    std::vector<uint8_t> buf(65536);
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return {};
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0) continue;
      sockaddr_ll from{};
      socklen_t fl = sizeof from;
      const ssize_t n = recvfrom(fd_, buf.data(), buf.size(), 0, reinterpret_cast<sockaddr*>(&from), &fl);
      if (n <= 0 || from.sll_pkttype == PACKET_OUTGOING) continue;
      buf.resize(static_cast<size_t>(n));
      return buf;
    }
  }

 private:
  int fd_ = -1;
  int ifindex_ = 0;
  MacAddress mac_{};
};

void put16(std::vector<uint8_t>& v, size_t at, uint16_t x) {
  v[at] = static_cast<uint8_t>(x >> 8);
  v[at + 1] = static_cast<uint8_t>(x);
}

// One packet GWLB sends: inner L3 packet, endpoint, attachment, cookie, source port.
struct Flow {
  std::vector<uint8_t> inner;
  uint16_t protocol;  // 0x0800 or 0x86DD
  uint64_t endpoint;
  uint64_t attachment;
  uint32_t cookie;
  uint16_t sport;
};

std::vector<uint8_t> build(const Flow& f, const MacAddress& src_mac, const MacAddress& dst_mac,
                           const Ipv4Address& src, const Ipv4Address& dst) {
  constexpr uint32_t kOptions = 4 + 8 + 4 + 8 + 4 + 4;  // endpoint, attachment, cookie
  const uint32_t udp_len = sizeof(UdpHeader) + kGeneveHeaderBytes + kOptions + static_cast<uint32_t>(f.inner.size());
  std::vector<uint8_t> p(sizeof(EthernetHeader) + kIpv4MinHeaderBytes + udp_len, 0);
  auto* eth = reinterpret_cast<EthernetHeader*>(p.data());
  eth->dst = dst_mac;
  eth->src = src_mac;
  eth->ether_type.set(ethertype::kIpv4);
  auto* ip = reinterpret_cast<Ipv4Header*>(eth + 1);
  ip->version_ihl = 0x45;
  ip->total_length.set(static_cast<uint16_t>(kIpv4MinHeaderBytes + udp_len));
  ip->ttl = 255;  // as AWS sends; IP ID 0, DF clear
  ip->protocol = ipproto::kUdp;
  ip->src = src;
  ip->dst = dst;
  ip->checksum.set_raw(checksum_finish(checksum_partial(reinterpret_cast<const uint8_t*>(ip), kIpv4MinHeaderBytes)));
  auto* udp = reinterpret_cast<UdpHeader*>(ip + 1);
  udp->src_port.set(f.sport);
  udp->dst_port.set(kGeneveDefaultPort);
  udp->length.set(static_cast<uint16_t>(udp_len));
  auto* g = reinterpret_cast<GeneveHeader*>(udp + 1);
  g->ver_opt_len = static_cast<uint8_t>(kOptions / 4);
  g->protocol_type.set(f.protocol);  // VNI 0
  uint8_t* at = reinterpret_cast<uint8_t*>(g + 1);
  auto option = [&](uint8_t type, uint64_t value, uint32_t bytes) {
    auto* o = reinterpret_cast<GeneveOptionHeader*>(at);
    o->option_class.set(gwlb::kOptionClass);
    o->type = type;
    o->rsvd_length = static_cast<uint8_t>(bytes / 4);
    for (uint32_t i = 0; i < bytes; ++i) at[4 + i] = static_cast<uint8_t>(value >> (8 * (bytes - 1 - i)));
    at += 4 + bytes;
  };
  option(gwlb::kTypeEndpointId, f.endpoint, 8);
  option(gwlb::kTypeAttachmentId, f.attachment, 8);
  option(gwlb::kTypeFlowCookie, f.cookie, 4);
  std::memcpy(at, f.inner.data(), f.inner.size());
  const uint64_t sum = udp_pseudo_header_partial(ip->src.data(), 8) + udp->length.raw();
  uint16_t c = checksum_finish(checksum_partial(reinterpret_cast<const uint8_t*>(udp), udp_len, sum));
  udp->checksum.set_raw(c == 0 ? 0xffff : c);
  return p;
}

// Inner packets to send: generated, or from a capture (GWLB Geneve keeps its ids and cookie;
// a plain Ethernet frame with IP is wrapped with made-up ids).
std::vector<Flow> generated_flows(unsigned n) {
  std::vector<Flow> out;
  for (unsigned i = 0; i < n; ++i) {
    Flow f{};
    f.endpoint = 0x0123456789abcdefull + (i % 2);
    f.attachment = 0x1000 + (i % 2);
    f.cookie = 0xc0000000u + i;
    f.sport = static_cast<uint16_t>(20000 + i);
    const unsigned kind = i % 5;
    if (kind == 4) {  // IPv6 UDP
      f.protocol = 0x86DD;
      f.inner.assign(40 + 8 + 32, 0);
      f.inner[0] = 0x60;
      put16(f.inner, 4, 8 + 32);
      f.inner[6] = ipproto::kUdp;
      f.inner[7] = 64;
      f.inner[8] = 0x20, f.inner[9] = 0x01, f.inner[10] = 0x0d, f.inner[11] = 0xb8, f.inner[23] = static_cast<uint8_t>(i);
      f.inner[24] = 0x20, f.inner[25] = 0x01, f.inner[26] = 0x0d, f.inner[27] = 0xb8, f.inner[39] = 0xfe;
      put16(f.inner, 40, static_cast<uint16_t>(30000 + i));
      put16(f.inner, 42, 53);
      put16(f.inner, 44, 8 + 32);
      out.push_back(std::move(f));
      continue;
    }
    f.protocol = 0x0800;
    const uint8_t proto = kind == 0 ? ipproto::kTcp : kind == 1 ? ipproto::kUdp : kind == 2 ? ipproto::kIcmp : ipproto::kGre;
    const size_t l4 = proto == ipproto::kTcp ? 20 : 8;
    f.inner.assign(20 + l4 + 24, 0);
    f.inner[0] = 0x45;
    put16(f.inner, 2, static_cast<uint16_t>(f.inner.size()));
    f.inner[8] = 64;
    f.inner[9] = proto;
    f.inner[12] = 192, f.inner[13] = 0, f.inner[14] = 2, f.inner[15] = static_cast<uint8_t>(1 + i % 250);
    f.inner[16] = 198, f.inner[17] = 51, f.inner[18] = 100, f.inner[19] = 7;
    const uint16_t s = checksum_finish(checksum_partial(f.inner.data(), 20));
    std::memcpy(&f.inner[10], &s, 2);
    if (proto == ipproto::kTcp || proto == ipproto::kUdp) {
      put16(f.inner, 20, static_cast<uint16_t>(40000 + i));
      put16(f.inner, 22, proto == ipproto::kTcp ? 443 : 53);
      if (proto == ipproto::kTcp) f.inner[32] = 0x50, f.inner[33] = 0x02;
      else put16(f.inner, 24, static_cast<uint16_t>(8 + 24));
    } else if (proto == ipproto::kIcmp) {
      f.inner[20] = 8;
      put16(f.inner, 24, static_cast<uint16_t>(i));
    } else {
      put16(f.inner, 22, 0x0800);  // GRE carrying IPv4
    }
    out.push_back(std::move(f));
  }
  return out;
}

std::vector<Flow> flows_from_capture(const std::string& path) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline(path.c_str(), err);
  if (!p) throw std::invalid_argument("cannot read '" + path + "': " + err);
  std::vector<Flow> out;
  pcap_pkthdr* h;
  const u_char* d;
  DecapConfig dc;
  unsigned i = 0;
  while (pcap_next_ex(p, &h, &d) == 1) {
    ++i;
    DecapResult r;
    Flow f{};
    f.sport = static_cast<uint16_t>(20000 + i);
    if (decap_parse(Bytes(d, h->caplen), h->len, dc, r) == DropReason::kNone && r.layer_count == 1 &&
        r.layers[0].gwlb_options == kGwlbAllOptions && r.l3_protocol != 0) {
      const TunnelLayer& g = r.layers[0];
      f.endpoint = g.gwlb_endpoint_id;
      f.attachment = g.gwlb_attachment_id;
      f.cookie = g.gwlb_flow_cookie;
      f.sport = g.src_port;
      f.protocol = r.l3_protocol;
      f.inner.assign(d + r.inner_offset, d + r.inner_offset + r.inner_len);
    } else if (h->caplen > 14 && ((d[12] == 0x08 && d[13] == 0x00) || (d[12] == 0x86 && d[13] == 0xdd))) {
      f.protocol = static_cast<uint16_t>(d[12] << 8 | d[13]);
      f.endpoint = 0x0123456789abcdefull;
      f.attachment = 0x1000;
      f.cookie = 0xc0000000u + i;
      f.inner.assign(d + 14, d + h->caplen);
    } else {
      continue;
    }
    out.push_back(std::move(f));
  }
  pcap_close(p);
  return out;
}

MacAddress resolve(RawSocket& s, const Ipv4Address& local, const Ipv4Address& target, double timeout_s) {
  std::vector<uint8_t> req(kArpFrameBytes);
  write_arp_request(req.data(), s.mac(), local, target);
  for (int attempt = 0; attempt < 3; ++attempt) {
    s.send(req);
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
    for (;;) {
      const auto f = s.receive(deadline);
      if (f.empty()) break;
      if (auto mac = arp_reply_from(Bytes(f.data(), f.size()), target, local)) return *mac;
    }
  }
  throw std::runtime_error("no ARP reply from the appliance");
}

Ipv4Address v4(const std::string& text, const char* what) {
  const IpAddress a = parse_ip(text);
  if (a.v6) throw std::invalid_argument(std::string(what) + ": GWLB speaks IPv4 only");
  Ipv4Address out;
  std::memcpy(out.data(), a.bytes.data(), 4);
  return out;
}

}  // namespace

int run_gwlb_emulator(const EmulateOptions& o) {
  const Ipv4Address local = v4(o.local_ip, "--local-ip");
  const Ipv4Address appliance = v4(o.appliance_ip, "--appliance-ip");
  std::vector<Flow> flows = o.read.empty() ? generated_flows(o.generate) : flows_from_capture(o.read);
  if (flows.empty()) throw std::invalid_argument("nothing to send (--read a capture with IP or GWLB packets, or --generate N)");
  if (o.reuse_cookie) {
    // The same 5-tuples again after the first round, each with a new cookie: an appliance that
    // kept the old cookie would send what GWLB drops.
    const size_t n = flows.size();
    for (size_t i = 0; i < n; ++i) {
      Flow f = flows[i];
      f.cookie ^= 0x5a5a0000u;
      flows.push_back(f);
    }
  }
  RawSocket sock(o.iface);
  const MacAddress appliance_mac = o.appliance_mac.empty() ? resolve(sock, local, appliance, o.timeout_s)
                                                           : parse_mac(o.appliance_mac);
  pcap_t* dead = nullptr;
  pcap_dumper_t* dump = nullptr;
  if (!o.write.empty()) {
    dead = pcap_open_dead(DLT_EN10MB, 65535);
    dump = pcap_dump_open(dead, o.write.c_str());
    if (!dump) throw std::invalid_argument("cannot write '" + o.write + "'");
  }
  std::map<std::string, uint64_t> failures;
  uint64_t returned = 0, correct = 0;
  for (const Flow& f : flows) {
    const std::vector<uint8_t> pkt = build(f, sock.mac(), appliance_mac, local, appliance);
    sock.send(pkt);
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.timeout_s));
    std::vector<uint8_t> r;
    for (;;) {
      r = sock.receive(deadline);
      if (r.empty()) break;
      // Ours if it carries the same UDP payload (the appliance may send other things: ARP...).
      constexpr size_t kUdpPayload = sizeof(EthernetHeader) + kIpv4MinHeaderBytes + sizeof(UdpHeader);
      if (r.size() == pkt.size() && std::memcmp(&r[kUdpPayload], &pkt[kUdpPayload], pkt.size() - kUdpPayload) == 0) break;
    }
    if (r.empty()) {
      ++failures["not_returned"];
      continue;
    }
    ++returned;
    if (dump) {
      pcap_pkthdr h{};
      h.caplen = h.len = static_cast<bpf_u_int32>(r.size());
      pcap_dump(reinterpret_cast<u_char*>(dump), &h, r.data());
    }
    bool ok = true;
    auto rule = [&](bool cond, const char* name) {
      if (!cond) {
        ++failures[name];
        ok = false;
      }
    };
    // Same size and same UDP payload as sent, so the headers below are all present.
    const auto* reth = reinterpret_cast<const EthernetHeader*>(r.data());
    const auto* rip = reinterpret_cast<const Ipv4Header*>(reth + 1);
    const auto* sip = reinterpret_cast<const Ipv4Header*>(pkt.data() + sizeof(EthernetHeader));
    rule(reth->dst == sock.mac(), "ethernet_destination_not_gwlb");
    const bool v4 = reth->ether_type.value() == ethertype::kIpv4 && rip->version_ihl == 0x45;
    rule(v4, "not_ipv4_without_options");
    if (v4) {
      const auto* rudp = reinterpret_cast<const UdpHeader*>(rip + 1);
      const auto* sudp = reinterpret_cast<const UdpHeader*>(sip + 1);
      rule(rip->src == appliance && rip->dst == local, "addresses_not_swapped");
      rule(checksum_valid(reinterpret_cast<const uint8_t*>(rip), kIpv4MinHeaderBytes), "ipv4_checksum_wrong");
      rule(rip->ttl != 0, "ttl_zero");
      rule(rip->protocol == ipproto::kUdp && rudp->src_port.raw() == sudp->src_port.raw() &&
               rudp->dst_port.value() == kGeneveDefaultPort,
           "udp_ports_changed");
      const bool same_length = rudp->length.raw() == sudp->length.raw();
      rule(same_length, "udp_length_changed");
      if (same_length && rudp->checksum.raw() != 0) {
        const uint64_t sum = udp_pseudo_header_partial(rip->src.data(), 8) + rudp->length.raw();
        rule(checksum_valid(reinterpret_cast<const uint8_t*>(rudp), rudp->length_bytes(), sum), "udp_checksum_wrong");
      }
    }
    correct += ok;
  }
  if (dump) pcap_dump_close(dump);
  if (dead) pcap_close(dead);
  nlohmann::json j = {{"sent", flows.size()}, {"returned", returned}, {"correct", correct}, {"failures", failures}};
  if (o.json == "-") {
    std::cout << j.dump() << "\n";
  } else {
    if (!o.json.empty()) std::ofstream(o.json) << j.dump(2) << "\n";
    std::cout << "gwlb-emulate: sent " << flows.size() << ", returned " << returned << ", correct " << correct << "\n";
    for (const auto& [k, v] : failures) std::cout << "  " << k << ": " << v << "\n";
  }
  return correct == flows.size() ? 0 : 1;
}

}  // namespace mirrorpipe
