// The GWLB emulator. Control-path tool: plain sockets, allocation and exceptions are fine here.
//
// What it sends is what AWS documents GWLB to send (wire-formats.md): Ethernet, IPv4 (TTL 255,
// ID 0, DF clear), UDP to 6081 from a per-flow source port with its checksum, Geneve version 0,
// VNI 0, protocol 0x0800/0x86DD, the three class-0x0108 options (endpoint, attachment, cookie),
// the inner L3 packet. One flow cookie and one source port per flow, both directions alike.
//
// How a return finds its packet: by the fields that identify its inner packet (match_key), not
// by its bytes, so that a return whose Geneve header or inner payload changed is still judged
// against the packet it came from. Packets alike in those fields (the same packet sent again by
// --reuse-cookie) are told apart by order: a return goes to the latest such packet sent that has
// not come back yet, or, when all have, is one more copy of the latest.
//
// The rules, judged on every copy of every return (a packet fails a rule if one copy does):
//   not_returned                   nothing came back (within --timeout, or later in the run)
//   duplicate_return               more than one copy came back
//   ethernet_destination_not_gwlb  Ethernet destination is not our MAC
//   not_ipv4_without_options       outer IPv6, or IPv4 with options (IHL > 5)
//   addresses_not_swapped          outer IPv4 source != the appliance or destination != GWLB
//   ipv4_checksum_wrong, ttl_zero
//   udp_ports_changed              source port != the one sent, or destination != 6081
//   udp_length_changed             UDP length != the one sent
//   udp_checksum_wrong             a non-zero UDP checksum that does not verify
//   stale_cookie                   the flow cookie is one GWLB gave this flow earlier
//   geneve_header_changed          any other change to the Geneve header and options
//   inner_changed                  the inner packet is not the one sent
// and, for returns that match no packet sent, unmatched_return.
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

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "decap/decap.h"
#include "encap/flow.h"
#include "encap/tunnel.h"
#include "encap/wire/arp.h"
#include "encap/wire/checksum.h"
#include "encap/wire/ethernet.h"
#include "encap/wire/geneve.h"
#include "encap/wire/ipv4.h"
#include "encap/wire/ipv6.h"
#include "encap/wire/l4.h"

namespace mirrorpipe {
namespace {

using namespace wire;
using Clock = std::chrono::steady_clock;

// Outer IPv4 + UDP + Geneve with the three GWLB options: 68 bytes in front of the inner packet.
constexpr uint32_t kOuterOverhead = kIpv4MinHeaderBytes + sizeof(UdpHeader) + gwlb::kGeneveHeaderBytes;
constexpr size_t kGeneveAt = sizeof(EthernetHeader) + kIpv4MinHeaderBytes + sizeof(UdpHeader);
constexpr size_t kCookieAt = gwlb::kGeneveHeaderBytes - 4;  // the cookie's value, in the Geneve header
constexpr uint16_t kSportLo = 49152, kSportHi = 65535;      // encap's default --sport-range
constexpr size_t kTextListPerRule = 20;                     // packets listed per rule in the text report
constexpr size_t npos = static_cast<size_t>(-1);

uint16_t get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
uint32_t get32(const uint8_t* p) { return uint32_t{p[0]} << 24 | uint32_t{p[1]} << 16 | uint32_t{p[2]} << 8 | p[3]; }
void put16(std::vector<uint8_t>& v, size_t at, uint16_t x) {
  v[at] = static_cast<uint8_t>(x >> 8);
  v[at + 1] = static_cast<uint8_t>(x);
}
void put32(uint8_t* p, uint32_t x) {
  for (int i = 0; i < 4; ++i) p[i] = static_cast<uint8_t>(x >> (24 - 8 * i));
}
std::string hex(uint64_t v, int digits) {
  char b[32];
  std::snprintf(b, sizeof b, "0x%0*llx", digits, static_cast<unsigned long long>(v));
  return b;
}

// A received frame and the kernel's receive time (wall clock).
struct Frame {
  std::vector<uint8_t> bytes;
  timespec ts{};
};

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
    if (ioctl(fd_, SIOCGIFMTU, &ifr) < 0) throw std::runtime_error("cannot read the MTU of '" + iface + "'");
    mtu_ = static_cast<uint32_t>(ifr.ifr_mtu);
    const int on = 1;
    setsockopt(fd_, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);  // without it: the clock at receipt
    const int rcvbuf = 8 << 20;  // room for an appliance's duplicates while we send
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = ifindex_;
    if (bind(fd_, reinterpret_cast<sockaddr*>(&sll), sizeof sll) < 0) throw std::runtime_error("bind to '" + iface + "' failed");
  }
  ~RawSocket() { close(fd_); }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;
  const MacAddress& mac() const { return mac_; }
  uint32_t mtu() const { return mtu_; }

  // 0, or the errno of a failed send (EMSGSIZE: larger than the interface takes).
  int send(const std::vector<uint8_t>& f) {
    if (::send(fd_, f.data(), f.size(), 0) == static_cast<ssize_t>(f.size())) return 0;
    return errno ? errno : EIO;
  }
  // The next frame received (not one we sent), or nothing after `deadline`.
  std::optional<Frame> receive(Clock::time_point deadline) {
    for (;;) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
      if (left <= 0) return std::nullopt;
      pollfd p{fd_, POLLIN, 0};
      const int ready = poll(&p, 1, static_cast<int>(left));
      if (ready < 0 && errno != EINTR) throw std::runtime_error("poll: " + std::string(std::strerror(errno)));
      if (ready <= 0) continue;
      sockaddr_ll from{};
      iovec iov{buf_.data(), buf_.size()};
      alignas(cmsghdr) char control[256];
      msghdr m{};
      m.msg_name = &from;
      m.msg_namelen = sizeof from;
      m.msg_iov = &iov;
      m.msg_iovlen = 1;
      m.msg_control = control;
      m.msg_controllen = sizeof control;
      const ssize_t n = recvmsg(fd_, &m, 0);
      if (n <= 0 || from.sll_pkttype == PACKET_OUTGOING) continue;
      Frame f;
      f.bytes.assign(buf_.begin(), buf_.begin() + n);
      bool stamped = false;
      for (cmsghdr* c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
          std::memcpy(&f.ts, CMSG_DATA(c), sizeof f.ts);
          stamped = true;
        }
      }
      if (!stamped || f.ts.tv_sec == 0) clock_gettime(CLOCK_REALTIME, &f.ts);
      return f;
    }
  }

 private:
  int fd_ = -1;
  int ifindex_ = 0;
  uint32_t mtu_ = 1500;
  MacAddress mac_{};
  std::vector<uint8_t> buf_ = std::vector<uint8_t>(65536 + 64);
};

// An output file, opened before anything is sent; every write is checked and the first failure
// kept (later writes are skipped), so that a full disk ends the run with a message, not silence.
class Output {
 public:
  Output() = default;
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;
  ~Output() {
    if (f_ && f_ != stdout) std::fclose(f_);
  }
  void open(const std::string& path, const char* option) {
    path_ = path;
    if (path == "-") {
      f_ = stdout;
      return;
    }
    f_ = std::fopen(path.c_str(), "wb");
    if (!f_) throw std::invalid_argument(std::string(option) + ": cannot write '" + path + "': " + std::strerror(errno));
  }
  bool is_open() const { return f_ != nullptr; }
  void write(const void* p, size_t n) {
    if (!f_ || !error_.empty()) return;
    errno = 0;
    if (std::fwrite(p, 1, n, f_) != n) fail(errno);
  }
  // Flushes and closes; the first failure ("" when none).
  std::string close() {
    if (f_) {
      errno = 0;
      if (std::fflush(f_) != 0) fail(errno);
      if (f_ != stdout && std::fclose(f_) != 0) fail(errno);
      f_ = nullptr;
    }
    return error_;
  }

 private:
  void fail(int e) {
    if (error_.empty()) error_ = (path_ == "-" ? std::string("stdout") : path_) + ": " + std::strerror(e ? e : EIO);
  }
  std::FILE* f_ = nullptr;
  std::string path_;
  std::string error_;
};

// The returned frames as a classic pcap (microseconds, Ethernet), in the host's byte order.
void write_pcap_header(Output& o) {
  struct {
    uint32_t magic = 0xa1b2c3d4;
    uint16_t major = 2, minor = 4;
    int32_t thiszone = 0;
    uint32_t sigfigs = 0, snaplen = 262144, linktype = 1;
  } h;
  o.write(&h, sizeof h);
}
void write_pcap_record(Output& o, const Frame& f) {
  const uint32_t r[4] = {static_cast<uint32_t>(f.ts.tv_sec), static_cast<uint32_t>(f.ts.tv_nsec / 1000),
                         static_cast<uint32_t>(f.bytes.size()), static_cast<uint32_t>(f.bytes.size())};
  o.write(r, sizeof r);
  o.write(f.bytes.data(), f.bytes.size());
}

// One packet GWLB sends: inner L3 packet, endpoint, attachment, cookie, source port.
struct Packet {
  std::vector<uint8_t> inner;
  uint16_t protocol = 0;  // 0x0800 or 0x86DD
  uint64_t endpoint = 0;
  uint64_t attachment = 0;
  uint32_t cookie = 0;
  uint16_t sport = 0;
  uint32_t flow = 0;   // the inner packet's symmetric flow hash: with the endpoint, its flow
  uint64_t frame = 0;  // its frame number in the -r capture (from 1); 0 when generated
  unsigned round = 1;  // 2: sent again by --reuse-cookie
};

struct Input {
  std::vector<Packet> packets;
  std::map<std::string, uint64_t> skipped;  // capture frames not sent, by reason
};

// The symmetric flow hash of an inner L3 packet: the one encap gives the frame that carried it.
uint32_t inner_flow_hash(const std::vector<uint8_t>& inner, uint16_t protocol) {
  std::vector<uint8_t> f(kEthernetHeaderBytes + inner.size(), 0);
  f[12] = static_cast<uint8_t>(protocol >> 8);
  f[13] = static_cast<uint8_t>(protocol);
  std::memcpy(f.data() + kEthernetHeaderBytes, inner.data(), inner.size());
  return parse_frame(Bytes(f.data(), f.size())).flow_hash;
}

// The fields that identify an inner packet, whatever an appliance may wrongly change around
// them (TTL, DSCP, checksums, payload): IPv4 total length, identification, flags and fragment
// offset, protocol, addresses; IPv6 flow label, payload length, next header, addresses; then
// (not in a later fragment) TCP ports, sequence and acknowledgement numbers; UDP ports and
// length; SCTP ports and verification tag; ICMP/ICMPv6 type, code, identifier and sequence.
std::vector<uint8_t> match_key(const uint8_t* p, size_t n) {
  std::vector<uint8_t> k;
  auto take = [&](size_t at, size_t len) {
    for (size_t i = at; i < at + len && i < n; ++i) k.push_back(p[i]);
  };
  if (n == 0) return k;
  const unsigned version = p[0] >> 4;
  k.push_back(static_cast<uint8_t>(version));
  size_t l4 = npos;
  uint8_t proto = 0;
  if (version == 4 && n >= kIpv4MinHeaderBytes) {
    take(2, 6);    // total length, identification, flags and fragment offset
    take(9, 1);    // protocol
    take(12, 8);   // addresses
    const size_t ihl = (p[0] & 0x0fu) * 4u;
    if (ihl >= kIpv4MinHeaderBytes && (get16(p + 6) & Ipv4Header::kFragmentOffsetMask) == 0) l4 = ihl;
    proto = p[9];
  } else if (version == 6 && n >= kIpv6HeaderBytes) {
    k.push_back(p[1] & 0x0f);  // the flow label, without the traffic class
    take(2, 2);
    take(4, 3);   // payload length, next header
    take(8, 32);  // addresses
    l4 = kIpv6HeaderBytes;
    proto = p[6];
  } else {
    take(0, 40);  // not an IP packet we know: its first bytes
    return k;
  }
  if (l4 == npos) return k;
  switch (proto) {
    case ipproto::kTcp: take(l4, 12); break;
    case ipproto::kUdp: take(l4, 6); break;
    case ipproto::kSctp: take(l4, 8); break;
    case ipproto::kIcmp:
    case ipproto::kIcmpv6:
      take(l4, 2);
      take(l4 + 4, 4);
      break;
    default: break;
  }
  return k;
}
std::vector<uint8_t> match_key(const std::vector<uint8_t>& v) { return match_key(v.data(), v.size()); }

// "tcp 192.0.2.1:40000 > 198.51.100.7:443", "udp [2001:db8::1]:53 > [2001:db8::2]:40000", ...
std::string describe(const uint8_t* p, size_t n) {
  char a[INET6_ADDRSTRLEN] = "?", b[INET6_ADDRSTRLEN] = "?";
  uint8_t proto;
  size_t l4 = npos;
  bool v6 = false;
  if (n >= kIpv4MinHeaderBytes && p[0] >> 4 == 4) {
    inet_ntop(AF_INET, p + 12, a, sizeof a);
    inet_ntop(AF_INET, p + 16, b, sizeof b);
    proto = p[9];
    if ((get16(p + 6) & Ipv4Header::kFragmentOffsetMask) == 0) l4 = (p[0] & 0x0fu) * 4u;
  } else if (n >= kIpv6HeaderBytes && p[0] >> 4 == 6) {
    inet_ntop(AF_INET6, p + 8, a, sizeof a);
    inet_ntop(AF_INET6, p + 24, b, sizeof b);
    proto = p[6];
    l4 = kIpv6HeaderBytes;
    v6 = true;
  } else {
    return "not an IP packet (" + std::to_string(n) + " bytes)";
  }
  std::string name;
  switch (proto) {
    case ipproto::kTcp: name = "tcp"; break;
    case ipproto::kUdp: name = "udp"; break;
    case ipproto::kSctp: name = "sctp"; break;
    case ipproto::kIcmp: name = "icmp"; break;
    case ipproto::kIcmpv6: name = "icmpv6"; break;
    case ipproto::kGre: name = "gre"; break;
    default: name = "ip-proto-" + std::to_string(proto); break;
  }
  const bool ports = (proto == ipproto::kTcp || proto == ipproto::kUdp || proto == ipproto::kSctp) && l4 != npos && l4 + 4 <= n;
  if (ports) {
    const std::string sa = v6 ? "[" + std::string(a) + "]" : std::string(a);
    const std::string sb = v6 ? "[" + std::string(b) + "]" : std::string(b);
    return name + " " + sa + ":" + std::to_string(get16(p + l4)) + " > " + sb + ":" + std::to_string(get16(p + l4 + 2));
  }
  std::string out = name + " " + a + " > " + b;
  if ((proto == ipproto::kIcmp || proto == ipproto::kIcmpv6) && l4 != npos && l4 + 8 <= n) {
    out += " type " + std::to_string(p[l4]) + " id " + std::to_string(get16(p + l4 + 4));
  }
  return out;
}
std::string describe(const std::vector<uint8_t>& v) { return describe(v.data(), v.size()); }

std::vector<uint8_t> build(const Packet& f, const MacAddress& src_mac, const MacAddress& dst_mac,
                           const Ipv4Address& src, const Ipv4Address& dst) {
  constexpr uint32_t kOptions = gwlb::kGeneveHeaderBytes - kGeneveHeaderBytes;  // endpoint, attachment, cookie
  const uint32_t udp_len = sizeof(UdpHeader) + gwlb::kGeneveHeaderBytes + static_cast<uint32_t>(f.inner.size());
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

// Generated flows: one packet each, its own cookie and source port.
Input generated_flows(unsigned n) {
  Input in;
  for (unsigned i = 0; i < n; ++i) {
    Packet f{};
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
    } else {
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
    }
    f.flow = inner_flow_hash(f.inner, f.protocol);
    in.packets.push_back(std::move(f));
  }
  return in;
}

// Packets from a capture. GWLB Geneve keeps its ids, cookie and source port. A plain frame's IP
// packet (after any 802.1Q/802.1ad tags, without Ethernet padding or trailer) is sent as GWLB
// would: the cookie is the frame's symmetric flow hash and the source port is taken from it,
// exactly as `encap --tunnel gwlb` does, so both directions of a flow share them. Other frames
// are skipped and counted by reason.
Input flows_from_capture(const std::string& path) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline(path.c_str(), err);
  if (!p) throw std::invalid_argument("cannot read '" + path + "': " + err);
  if (pcap_datalink(p) != DLT_EN10MB) {
    pcap_close(p);
    throw std::invalid_argument("'" + path + "': not an Ethernet capture");
  }
  Input in;
  pcap_pkthdr* h;
  const u_char* d;
  DecapConfig dc;
  uint64_t number = 0;
  int rc;
  while ((rc = pcap_next_ex(p, &h, &d)) == 1) {
    ++number;
    Packet f{};
    f.frame = number;
    DecapResult r;
    const Bytes frame(d, h->caplen);
    if (decap_parse(frame, h->len, dc, r) == DropReason::kNone && r.layer_count == 1 &&
        r.layers[0].gwlb_options == kGwlbAllOptions && r.l3_protocol != 0) {
      if (r.inner_len < r.inner_wire_len) {
        ++in.skipped["truncated"];
        continue;
      }
      const TunnelLayer& g = r.layers[0];
      f.endpoint = g.gwlb_endpoint_id;
      f.attachment = g.gwlb_attachment_id;
      f.cookie = g.gwlb_flow_cookie;
      f.sport = g.src_port;
      f.protocol = r.l3_protocol;
      f.inner.assign(d + r.inner_offset, d + r.inner_offset + r.inner_len);
      f.flow = inner_flow_hash(f.inner, f.protocol);
    } else {
      const FrameMeta m = parse_frame(frame);
      if (m.l3_ethertype != ethertype::kIpv4 && m.l3_ethertype != ethertype::kIpv6) {
        ++in.skipped["not_ip"];
        continue;
      }
      if (m.ip_version == 0) {
        ++in.skipped["bad_ip_header"];
        continue;
      }
      size_t end = h->caplen;
      if (m.l3_length != 0) {
        end = size_t{m.l3_offset} + m.l3_length;  // drops Ethernet padding and trailers
        if (end > h->caplen) {
          ++in.skipped["truncated"];
          continue;
        }
      } else if (h->caplen < h->len) {
        ++in.skipped["truncated"];
        continue;
      }
      f.protocol = m.ip_version == 4 ? ethertype::kIpv4 : ethertype::kIpv6;
      f.endpoint = 0x0123456789abcdefull;
      f.attachment = 0x1000;
      f.flow = m.flow_hash;
      f.cookie = m.flow_hash;
      f.sport = hash_to_port(m.flow_hash, kSportLo, kSportHi);
      f.inner.assign(d + m.l3_offset, d + end);
    }
    if (kOuterOverhead + f.inner.size() > kIpv4MaxTotalLengthBytes) {
      ++in.skipped["too_big_for_geneve"];
      continue;
    }
    in.packets.push_back(std::move(f));
  }
  const std::string read_error = rc == -1 ? pcap_geterr(p) : "";
  pcap_close(p);
  if (!read_error.empty()) throw std::invalid_argument("'" + path + "': " + read_error);
  return in;
}

MacAddress resolve(RawSocket& s, const Ipv4Address& local, const Ipv4Address& target, double timeout_s) {
  std::vector<uint8_t> req(kArpFrameBytes);
  write_arp_request(req.data(), s.mac(), local, target);
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (const int e = s.send(req)) throw std::runtime_error("ARP request not sent: " + std::string(std::strerror(e)));
    const auto deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(timeout_s));
    while (auto f = s.receive(deadline)) {
      if (auto mac = arp_reply_from(Bytes(f->bytes.data(), f->bytes.size()), target, local)) return *mac;
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

// Where a GWLB return's parts are in a received frame. A frame is taken for one when it is
// untagged Ethernet, IPv4 (any header length, not a later fragment) or IPv6 (no extension
// header) carrying UDP from or to 6081 with a whole Geneve header; anything else (ARP, the
// appliance's own traffic) is not looked at.
struct ReturnView {
  bool ipv4 = false;
  size_t ip_header = 0;  // IPv4 header length
  size_t udp = 0;
  size_t udp_length = 0;  // the field
  bool udp_length_fits = false;
  size_t geneve = 0, geneve_len = 0;
  size_t inner = 0, inner_len = 0;
};

std::optional<ReturnView> view_return(const std::vector<uint8_t>& f) {
  const size_t n = f.size();
  const uint8_t* p = f.data();
  constexpr size_t ip = kEthernetHeaderBytes;
  if (n < ip + kIpv4MinHeaderBytes + sizeof(UdpHeader)) return std::nullopt;
  ReturnView v;
  size_t ip_end;
  const uint16_t type = get16(p + 12);
  if (type == ethertype::kIpv4) {
    v.ipv4 = true;
    v.ip_header = (p[ip] & 0x0fu) * 4u;
    if (p[ip] >> 4 != 4 || v.ip_header < kIpv4MinHeaderBytes || p[ip + 9] != ipproto::kUdp) return std::nullopt;
    if ((get16(p + ip + 6) & Ipv4Header::kFragmentOffsetMask) != 0) return std::nullopt;
    v.udp = ip + v.ip_header;
    const size_t total = get16(p + ip + 2);
    ip_end = total >= v.ip_header + sizeof(UdpHeader) && ip + total <= n ? ip + total : n;
  } else if (type == ethertype::kIpv6) {
    if (n < ip + kIpv6HeaderBytes + sizeof(UdpHeader) || p[ip] >> 4 != 6 || p[ip + 6] != ipproto::kUdp) return std::nullopt;
    v.udp = ip + kIpv6HeaderBytes;
    const size_t payload = get16(p + ip + 4);
    ip_end = payload >= sizeof(UdpHeader) && v.udp + payload <= n ? v.udp + payload : n;
  } else {
    return std::nullopt;
  }
  if (v.udp + sizeof(UdpHeader) > ip_end) return std::nullopt;
  if (get16(p + v.udp) != kGeneveDefaultPort && get16(p + v.udp + 2) != kGeneveDefaultPort) return std::nullopt;
  v.udp_length = get16(p + v.udp + 4);
  v.udp_length_fits = v.udp_length >= sizeof(UdpHeader) && v.udp + v.udp_length <= ip_end;
  const size_t udp_end = v.udp_length_fits ? v.udp + v.udp_length : ip_end;
  v.geneve = v.udp + sizeof(UdpHeader);
  if (v.geneve + kGeneveHeaderBytes > udp_end) return std::nullopt;
  v.geneve_len = kGeneveHeaderBytes + (p[v.geneve] & 0x3fu) * 4u;
  if (v.geneve + v.geneve_len > udp_end) return std::nullopt;
  v.inner = v.geneve + v.geneve_len;
  v.inner_len = udp_end - v.inner;
  return v;
}

// The flow cookie option's value in a Geneve header, if there is one.
std::optional<uint32_t> find_cookie(const uint8_t* g, size_t len) {
  for (size_t at = kGeneveHeaderBytes; at + sizeof(GeneveOptionHeader) <= len;) {
    const size_t data = (g[at + 3] & 0x1fu) * 4u;
    if (get16(g + at) == gwlb::kOptionClass && (g[at + 2] & 0x7f) == gwlb::kTypeFlowCookie && data == 4 &&
        at + 8 <= len) {
      return get32(g + at + 4);
    }
    at += 4 + data;
  }
  return std::nullopt;
}

struct Received {
  Frame frame;
  ReturnView view;
  size_t packet = npos;  // the packet it was matched to
};

// What became of one packet.
struct Outcome {
  bool sent = false;
  std::string not_sent;         // the reason, when not sent
  std::vector<size_t> returns;  // indices into the received returns, in arrival order
  std::set<std::string> rules;  // rules it failed
  std::optional<uint32_t> returned_cookie;  // a cookie that came back instead of the one sent
};

struct Judge {
  MacAddress our_mac;
  Ipv4Address local, appliance;

  // The rules on one copy of a return of `p` (sent as `sent`); `earlier` holds the cookies GWLB
  // gave the packet's flow before it.
  void operator()(const Packet& p, const std::vector<uint8_t>& sent, const Received& r,
                  const std::set<uint32_t>& earlier, Outcome& o) const {
    const std::vector<uint8_t>& f = r.frame.bytes;
    const ReturnView& v = r.view;
    auto rule = [&](bool ok, const char* name) {
      if (!ok) o.rules.insert(name);
    };
    rule(std::memcmp(f.data(), our_mac.data(), 6) == 0, "ethernet_destination_not_gwlb");
    rule(v.ipv4 && v.ip_header == kIpv4MinHeaderBytes, "not_ipv4_without_options");
    if (v.ipv4) {
      const uint8_t* ip = f.data() + kEthernetHeaderBytes;
      rule(std::memcmp(ip + 12, appliance.data(), 4) == 0 && std::memcmp(ip + 16, local.data(), 4) == 0,
           "addresses_not_swapped");
      rule(checksum_valid(ip, v.ip_header), "ipv4_checksum_wrong");
      rule(ip[8] != 0, "ttl_zero");
    }
    rule(get16(f.data() + v.udp) == p.sport && get16(f.data() + v.udp + 2) == kGeneveDefaultPort, "udp_ports_changed");
    rule(v.udp_length == sizeof(UdpHeader) + gwlb::kGeneveHeaderBytes + p.inner.size(), "udp_length_changed");
    if (v.udp_length_fits && get16(f.data() + v.udp + 6) != 0) {
      const uint8_t* ip = f.data() + kEthernetHeaderBytes;
      const uint64_t pseudo = v.ipv4 ? udp_pseudo_header_partial(ip + 12, 8) : udp_pseudo_header_partial(ip + 8, 32);
      const uint16_t length_raw = htons(static_cast<uint16_t>(v.udp_length));
      rule(checksum_valid(f.data() + v.udp, v.udp_length, pseudo + length_raw), "udp_checksum_wrong");
    }
    // The Geneve header: as sent, but for a cookie; a cookie this flow had before is stale.
    std::vector<uint8_t> expected(sent.begin() + kGeneveAt, sent.begin() + kGeneveAt + gwlb::kGeneveHeaderBytes);
    const std::optional<uint32_t> cookie = find_cookie(f.data() + v.geneve, v.geneve_len);
    if (cookie && *cookie != p.cookie) {
      o.returned_cookie = *cookie;
      if (earlier.count(*cookie)) {
        o.rules.insert("stale_cookie");
        put32(expected.data() + kCookieAt, *cookie);
      }
    }
    rule(v.geneve_len == expected.size() && std::memcmp(f.data() + v.geneve, expected.data(), expected.size()) == 0,
         "geneve_header_changed");
    rule(v.inner_len == p.inner.size() && std::memcmp(f.data() + v.inner, p.inner.data(), p.inner.size()) == 0,
         "inner_changed");
  }
};

std::string seconds_text(double s) {
  std::ostringstream o;
  o << s;
  return o.str();
}

}  // namespace

int run_gwlb_emulator(const EmulateOptions& o) {
  const Ipv4Address local = v4(o.local_ip, "--local-ip");
  const Ipv4Address appliance = v4(o.appliance_ip, "--appliance-ip");
  if (!(o.timeout_s > 0 && o.timeout_s <= 3600)) throw std::invalid_argument("--timeout: more than 0 and at most 3600 seconds");
  Input in = o.read.empty() ? generated_flows(o.generate) : flows_from_capture(o.read);
  std::vector<Packet>& packets = in.packets;
  if (packets.empty()) throw std::invalid_argument("nothing to send (--read a capture with IP or GWLB packets, or --generate N)");
  if (o.reuse_cookie) {
    // The same 5-tuples again after the first round, each flow with a new cookie: an appliance
    // that kept the old cookie would send what GWLB drops.
    const size_t n = packets.size();
    for (size_t i = 0; i < n; ++i) {
      Packet f = packets[i];
      f.cookie ^= 0x5a5a0000u;
      f.round = 2;
      packets.push_back(f);
    }
  }
  // The outputs: usable, or nothing is sent.
  if (!o.write.empty() && o.write == o.json) throw std::invalid_argument("-w and --json name the same file '" + o.write + "'");
  Output pcap_out, json_out;
  if (!o.write.empty()) pcap_out.open(o.write, "-w");
  if (!o.json.empty()) json_out.open(o.json, "--json");
  const bool stdout_taken = o.write == "-" || o.json == "-";
  if (pcap_out.is_open()) write_pcap_header(pcap_out);

  RawSocket sock(o.iface);
  const MacAddress appliance_mac = o.appliance_mac.empty() ? resolve(sock, local, appliance, o.timeout_s)
                                                           : parse_mac(o.appliance_mac);
  const auto timeout = std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(o.timeout_s));

  std::vector<Outcome> out(packets.size());
  std::vector<Received> received;
  std::map<std::vector<uint8_t>, std::vector<size_t>> sent_by_key;  // packets sent, in order
  std::string send_error;
  auto take = [&](Frame&& fr) {
    const auto view = view_return(fr.bytes);
    if (!view) return;
    if (pcap_out.is_open()) write_pcap_record(pcap_out, fr);
    Received r{std::move(fr), *view, npos};
    const auto it = sent_by_key.find(match_key(r.frame.bytes.data() + view->inner, view->inner_len));
    if (it != sent_by_key.end()) {
      for (auto j = it->second.rbegin(); j != it->second.rend() && r.packet == npos; ++j) {
        if (out[*j].returns.empty()) r.packet = *j;
      }
      if (r.packet == npos) r.packet = it->second.back();  // one more copy
      out[r.packet].returns.push_back(received.size());
    }
    received.push_back(std::move(r));
  };

  Clock::time_point last_sent{};
  bool any_sent = false;
  for (size_t i = 0; i < packets.size(); ++i) {
    const Packet& p = packets[i];
    if (kOuterOverhead + p.inner.size() > sock.mtu()) {
      out[i].not_sent = "too_big_for_mtu";
      continue;
    }
    const int e = sock.send(build(p, sock.mac(), appliance_mac, local, appliance));
    if (e == EMSGSIZE) {
      out[i].not_sent = "too_big_for_mtu";
      continue;
    }
    if (e != 0) {
      out[i].not_sent = "send_failed";
      if (send_error.empty()) send_error = std::strerror(e);
      continue;
    }
    out[i].sent = true;
    any_sent = true;
    sent_by_key[match_key(p.inner)].push_back(i);
    last_sent = Clock::now();
    while (out[i].returns.empty()) {
      auto fr = sock.receive(last_sent + timeout);
      if (!fr) break;
      take(std::move(*fr));
    }
  }
  // Late returns and extra copies of the last packets.
  if (any_sent) {
    while (auto fr = sock.receive(last_sent + timeout)) take(std::move(*fr));
  }

  // The verdicts, in sending order: each flow's cookies so far tell a stale one.
  const Judge judge{sock.mac(), local, appliance};
  std::map<std::pair<uint64_t, uint32_t>, std::set<uint32_t>> cookies_of_flow;
  uint64_t sent = 0, returned = 0, correct = 0, copies = 0;
  for (size_t i = 0; i < packets.size(); ++i) {
    const Packet& p = packets[i];
    Outcome& oc = out[i];
    if (!oc.sent) continue;
    ++sent;
    auto& earlier = cookies_of_flow[{p.endpoint, p.flow}];
    if (oc.returns.empty()) {
      oc.rules.insert("not_returned");
    } else {
      ++returned;
      copies += oc.returns.size();
      const std::vector<uint8_t> frame = build(p, sock.mac(), appliance_mac, local, appliance);
      for (const size_t r : oc.returns) judge(p, frame, received[r], earlier, oc);
      if (oc.returns.size() > 1) oc.rules.insert("duplicate_return");
      if (oc.rules.empty()) ++correct;
    }
    earlier.insert(p.cookie);
  }

  // The report.
  std::map<std::string, uint64_t> failures, not_sent;
  std::map<std::string, std::vector<size_t>> by_rule;
  nlohmann::json failed = nlohmann::json::array(), not_sent_list = nlohmann::json::array();
  auto packet_json = [&](size_t i) {
    const Packet& p = packets[i];
    nlohmann::json j = {{"index", i},       {"round", p.round},         {"flow", describe(p.inner)},
                        {"cookie", hex(p.cookie, 8)}, {"sport", p.sport}, {"endpoint", hex(p.endpoint, 16)}};
    if (p.frame) j["frame"] = p.frame;
    return j;
  };
  for (size_t i = 0; i < packets.size(); ++i) {
    const Outcome& oc = out[i];
    if (!oc.sent) {
      ++not_sent[oc.not_sent];
      by_rule["not sent: " + oc.not_sent].push_back(i);
      auto j = packet_json(i);
      j["reason"] = oc.not_sent;
      j["outer_ip_length"] = kOuterOverhead + packets[i].inner.size();
      not_sent_list.push_back(j);
      continue;
    }
    if (oc.rules.empty()) continue;
    auto j = packet_json(i);
    j["rules"] = oc.rules;
    j["returns"] = oc.returns.size();
    if (oc.returned_cookie) j["returned_cookie"] = hex(*oc.returned_cookie, 8);
    failed.push_back(j);
    for (const auto& rule : oc.rules) {
      ++failures[rule];
      by_rule[rule].push_back(i);
    }
  }
  nlohmann::json unmatched = nlohmann::json::array();
  uint64_t unmatched_count = 0;
  for (size_t r = 0; r < received.size(); ++r) {
    const Received& rx = received[r];
    if (rx.packet != npos) continue;
    ++unmatched_count;
    nlohmann::json j = {{"flow", describe(rx.frame.bytes.data() + rx.view.inner, rx.view.inner_len)},
                        {"sport", get16(rx.frame.bytes.data() + rx.view.udp)}};
    if (auto c = find_cookie(rx.frame.bytes.data() + rx.view.geneve, rx.view.geneve_len)) j["cookie"] = hex(*c, 8);
    unmatched.push_back(j);
  }
  if (unmatched_count) failures["unmatched_return"] = unmatched_count;

  const std::string pcap_error = pcap_out.close();
  nlohmann::json j = {{"packets", packets.size()},      {"sent", sent},
                      {"returned", returned},           {"returns", copies},
                      {"correct", correct},             {"failures", failures},
                      {"failed_packets", failed},       {"unmatched_returns", unmatched},
                      {"not_sent", not_sent},           {"not_sent_packets", not_sent_list},
                      {"skipped", in.skipped},          {"interface_mtu", sock.mtu()},
                      {"timeout_s", o.timeout_s}};
  if (!send_error.empty()) j["send_error"] = send_error;
  if (!pcap_error.empty()) j["write_error"] = pcap_error;
  if (json_out.is_open()) {
    const std::string text = o.json == "-" ? j.dump() + "\n" : j.dump(2) + "\n";
    json_out.write(text.data(), text.size());
  }
  const std::string json_error = json_out.close();

  // The text report: stdout, or stderr when stdout carries the JSON or the pcap.
  std::ostringstream t;
  t << "gwlb-emulate: sent " << sent << ", returned " << returned << ", correct " << correct;
  if (copies != returned) t << " (" << copies << " returns for " << returned << " packets)";
  t << "\n";
  if (!in.skipped.empty()) {
    t << "  skipped in the capture:";
    for (const auto& [k, v] : in.skipped) t << " " << k << " " << v;
    t << "\n";
  }
  auto list = [&](const std::vector<size_t>& idx, bool with_cookie_back) {
    for (size_t n = 0; n < idx.size() && n < kTextListPerRule; ++n) {
      const Packet& p = packets[idx[n]];
      t << "    #" << idx[n];
      if (p.frame) t << " (frame " << p.frame << ")";
      t << " " << describe(p.inner) << " cookie " << hex(p.cookie, 8) << " sport " << p.sport;
      if (with_cookie_back && out[idx[n]].returned_cookie) t << ": came back with " << hex(*out[idx[n]].returned_cookie, 8);
      t << "\n";
    }
    if (idx.size() > kTextListPerRule) t << "    ... and " << idx.size() - kTextListPerRule << " more (--json lists all)\n";
  };
  for (const auto& [reason, count] : not_sent) {
    t << "  not sent: " << reason << ": " << count;
    if (reason == "too_big_for_mtu") t << " (outer IPv4 packet over the interface MTU " << sock.mtu() << ")";
    if (reason == "send_failed") t << " (" << send_error << ")";
    t << "\n";
    list(by_rule["not sent: " + reason], false);
  }
  for (const auto& [rule, count] : failures) {
    t << "  " << rule << ": " << count << "\n";
    if (rule == "unmatched_return") {
      for (size_t n = 0; n < unmatched.size() && n < kTextListPerRule; ++n) {
        t << "    " << unmatched[n]["flow"].get<std::string>() << " sport " << unmatched[n]["sport"].get<int>();
        if (unmatched[n].contains("cookie")) t << " cookie " << unmatched[n]["cookie"].get<std::string>();
        t << "\n";
      }
      if (unmatched.size() > kTextListPerRule) t << "    ... and " << unmatched.size() - kTextListPerRule << " more (--json lists all)\n";
    } else {
      list(by_rule[rule], rule == "stale_cookie" || rule == "geneve_header_changed");
    }
  }
  if (sent == 0) t << "  nothing was sent (timeout " << seconds_text(o.timeout_s) << " s)\n";
  const std::string text = t.str();
  std::FILE* text_to = stdout_taken ? stderr : stdout;
  bool text_ok = std::fwrite(text.data(), 1, text.size(), text_to) == text.size();
  text_ok = std::fflush(text_to) == 0 && text_ok;
  const int text_errno = errno;

  bool write_failed = false;
  for (const auto& e : {pcap_error, json_error}) {
    if (e.empty()) continue;
    std::cerr << "mirrorpipe gwlb-emulate: write failed: " << e << "\n";
    write_failed = true;
  }
  if (!text_ok) {
    std::cerr << "mirrorpipe gwlb-emulate: write failed: " << (text_to == stdout ? "stdout" : "stderr") << ": "
              << std::strerror(text_errno ? text_errno : EIO) << "\n";
    write_failed = true;
  }
  if (write_failed) return 1;
  return sent > 0 && correct == sent && unmatched_count == 0 ? 0 : 1;
}

}  // namespace mirrorpipe
