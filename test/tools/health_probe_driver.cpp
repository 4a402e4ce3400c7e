// health_probe_driver: runs HealthProbe checks through an AF_PACKET socket, so that the Linux
// TCP stack can judge the probe's frames (test/netns/test_health_probe.sh). Test tool only:
// links mirrorpipe_control, no DPDK. The socket plays the part an engine output port plays in
// production: whole Ethernet frames in and out, and the probe's own MAC and IPv4 address,
// which no kernel interface holds.
//
//   health_probe_driver --iface IF --mac MAC --ip IP --next-hop-mac MAC --member IP
//       [--protocol tcp|http] [--port N] [--path PATH] [--match LO-HI] [--timeout S]
//       [--interval S] [--count N] [--seed N] [--linger S]
//
// Prints one line per check on stdout, "pass" or "fail", and a line of detail per check on
// stderr (outcome, HTTP status, milliseconds, source port). Answers ARP requests for its IP
// (the member's kernel asks before it sends its SYN-ACK) throughout, and keeps feeding frames
// to the probe for --linger seconds after the last check (default 0.2), so that stray
// segments of a finished check get their RST. Exit 0 when every check ran, 1 on a socket
// error, 2 on a bad command line.
#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "encap/wire/arp.h"
#include "encap/wire/bytes.h"
#include "encap/wire/ethernet.h"
#include "engine/control/health_check.h"

using namespace mirrorpipe;

namespace {

uint64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<uint64_t>(ts.tv_nsec);
}

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr,
               "health_probe_driver: %s\n"
               "usage: health_probe_driver --iface IF --mac MAC --ip IP --next-hop-mac MAC --member IP\n"
               "           [--protocol tcp|http] [--port N] [--path PATH] [--match LO-HI] [--timeout S]\n"
               "           [--interval S] [--count N] [--seed N] [--linger S]\n",
               why.c_str());
  std::exit(2);
}

std::optional<wire::MacAddress> parse_mac(const std::string& s) {
  wire::MacAddress m;
  unsigned v[6];
  char tail;
  if (std::sscanf(s.c_str(), "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6) {
    return std::nullopt;
  }
  for (int i = 0; i < 6; ++i) {
    if (v[i] > 255) return std::nullopt;
    m[i] = static_cast<uint8_t>(v[i]);
  }
  return m;
}

std::optional<wire::Ipv4Address> parse_ip(const std::string& s) {
  wire::Ipv4Address a;
  if (inet_pton(AF_INET, s.c_str(), a.data()) != 1) return std::nullopt;
  return a;
}

unsigned long long parse_uint(const std::string& s, unsigned long long max, const char* what) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(s.c_str(), &end, 10);
  if (s.empty() || *end || errno || v > max) usage(std::string(what) + ": found '" + s + "'");
  return v;
}

double parse_seconds(const std::string& s, const char* what) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end || !(v >= 0)) usage(std::string(what) + ": found '" + s + "', expected seconds");
  return v;
}

// A reply when `frame` is an ARP request for `ip`.
std::optional<std::vector<uint8_t>> arp_reply(wire::Bytes frame, const wire::MacAddress& mac,
                                              const wire::Ipv4Address& ip) {
  const auto* eth = wire::header_at<wire::EthernetHeader>(frame, 0);
  const auto* arp = wire::header_at<wire::ArpIpv4>(frame, wire::kEthernetHeaderBytes);
  if (!eth || !arp || eth->ether_type.value() != wire::ethertype::kArp || !arp->is_ethernet_ipv4() ||
      arp->oper.value() != wire::ArpIpv4::kRequest || arp->tpa != ip) {
    return std::nullopt;
  }
  std::vector<uint8_t> out(wire::kArpFrameBytes, 0);
  auto* reth = reinterpret_cast<wire::EthernetHeader*>(out.data());
  reth->dst = arp->sha;
  reth->src = mac;
  reth->ether_type.set(wire::ethertype::kArp);
  auto* rarp = reinterpret_cast<wire::ArpIpv4*>(out.data() + wire::kEthernetHeaderBytes);
  *rarp = *arp;
  rarp->oper.set(wire::ArpIpv4::kReply);
  rarp->sha = mac;
  rarp->spa = ip;
  rarp->tha = arp->sha;
  rarp->tpa = arp->spa;
  return out;
}

struct Counters {
  uint64_t frames_in = 0;
  uint64_t probe_frames_in = 0;
  uint64_t frames_out = 0;
  uint64_t arp_replies = 0;
  uint64_t partial_checksums = 0;  // TP_STATUS_CSUMNOTREADY: the sender's checksum offload
};

class Port {
 public:
  Port(const std::string& iface) {
    ifindex_ = if_nametoindex(iface.c_str());
    if (ifindex_ == 0) fail("no interface " + iface);
    // Protocol 0 until bound: no frame of another interface is queued before bind().
    fd_ = socket(AF_PACKET, SOCK_RAW, 0);
    if (fd_ < 0) fail("socket(AF_PACKET)");
    sockaddr_ll sll{};
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = static_cast<int>(ifindex_);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&sll), sizeof(sll)) != 0) fail("bind " + iface);
    // Frames to the probe's MAC, which is not the interface's (a NIC filters them otherwise).
    packet_mreq mr{};
    mr.mr_ifindex = static_cast<int>(ifindex_);
    mr.mr_type = PACKET_MR_PROMISC;
    if (setsockopt(fd_, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mr, sizeof(mr)) != 0) fail("PACKET_MR_PROMISC");
    int one = 1;
    if (setsockopt(fd_, SOL_PACKET, PACKET_AUXDATA, &one, sizeof(one)) != 0) fail("PACKET_AUXDATA");
  }
  ~Port() {
    if (fd_ >= 0) close(fd_);
  }
  Port(const Port&) = delete;
  Port& operator=(const Port&) = delete;

  void send(const std::vector<uint8_t>& frame, Counters& c) {
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_ifindex = static_cast<int>(ifindex_);
    to.sll_halen = 6;
    std::memcpy(to.sll_addr, frame.data(), 6);
    if (sendto(fd_, frame.data(), frame.size(), 0, reinterpret_cast<sockaddr*>(&to), sizeof(to)) !=
        static_cast<ssize_t>(frame.size())) {
      // A link that is down drops the frame silently; an error here is the socket's own.
      std::fprintf(stderr, "health_probe_driver: sendto: %s (frame dropped)\n", std::strerror(errno));
    }
    ++c.frames_out;
  }

  // One received frame (not one of ours going out), waiting at most timeout_ms.
  bool receive(std::vector<uint8_t>& frame, int timeout_ms, Counters& c) {
    pollfd pfd{fd_, POLLIN, 0};
    if (poll(&pfd, 1, timeout_ms) <= 0) return false;
    frame.resize(65536);
    sockaddr_ll from{};
    iovec iov{frame.data(), frame.size()};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(tpacket_auxdata))];
    msghdr msg{};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof(from);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof(control);
    const ssize_t n = recvmsg(fd_, &msg, MSG_DONTWAIT);
    if (n < 0) return false;
    frame.resize(static_cast<size_t>(n));
    if (from.sll_pkttype == PACKET_OUTGOING) return false;
    for (cmsghdr* cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
      if (cm->cmsg_level == SOL_PACKET && cm->cmsg_type == PACKET_AUXDATA) {
        tpacket_auxdata aux;
        std::memcpy(&aux, CMSG_DATA(cm), sizeof(aux));
        if (aux.tp_status & TP_STATUS_CSUMNOTREADY) ++c.partial_checksums;
      }
    }
    ++c.frames_in;
    return true;
  }

 private:
  [[noreturn]] static void fail(const std::string& what) {
    std::fprintf(stderr, "health_probe_driver: %s: %s\n", what.c_str(), std::strerror(errno));
    std::exit(1);
  }
  unsigned ifindex_ = 0;
  int fd_ = -1;
};

}  // namespace

int main(int argc, char** argv) {
  std::string iface;
  std::optional<wire::MacAddress> mac, hop_mac;
  std::optional<wire::Ipv4Address> ip, member;
  HealthCheckSettings settings;
  unsigned long long count = 1;
  unsigned long long seed = 0;
  bool seeded = false;
  double linger_s = 0.2;
  for (int i = 1; i < argc; ++i) {
    const std::string opt = argv[i];
    if (i + 1 >= argc) usage(opt + " needs a value");
    const std::string v = argv[++i];
    if (opt == "--iface") iface = v;
    else if (opt == "--mac") { if (!(mac = parse_mac(v))) usage("--mac: found '" + v + "'"); }
    else if (opt == "--next-hop-mac") { if (!(hop_mac = parse_mac(v))) usage("--next-hop-mac: found '" + v + "'"); }
    else if (opt == "--ip") { if (!(ip = parse_ip(v))) usage("--ip: found '" + v + "'"); }
    else if (opt == "--member") { if (!(member = parse_ip(v))) usage("--member: found '" + v + "'"); }
    else if (opt == "--protocol") {
      if (v == "tcp") settings.protocol = HealthCheckSettings::Protocol::kTcp;
      else if (v == "http") settings.protocol = HealthCheckSettings::Protocol::kHttp;
      else usage("--protocol: found '" + v + "', expected tcp or http");
    }
    else if (opt == "--port") settings.port = static_cast<uint16_t>(parse_uint(v, 65535, "--port"));
    else if (opt == "--path") settings.path = v;
    else if (opt == "--match") {
      const auto dash = v.find('-');
      if (dash == std::string::npos) usage("--match: found '" + v + "', expected LO-HI");
      settings.match_lo = static_cast<uint16_t>(parse_uint(v.substr(0, dash), 999, "--match"));
      settings.match_hi = static_cast<uint16_t>(parse_uint(v.substr(dash + 1), 999, "--match"));
    }
    else if (opt == "--timeout") settings.timeout_s = parse_seconds(v, "--timeout");
    else if (opt == "--interval") settings.interval_s = parse_seconds(v, "--interval");
    else if (opt == "--count") count = parse_uint(v, 1000000, "--count");
    else if (opt == "--seed") { seed = parse_uint(v, std::numeric_limits<unsigned long long>::max(), "--seed"); seeded = true; }
    else if (opt == "--linger") linger_s = parse_seconds(v, "--linger");
    else usage("unknown option " + opt);
  }
  if (iface.empty() || !mac || !ip || !hop_mac || !member) usage("--iface, --mac, --ip, --next-hop-mac and --member are required");
  if (std::string err = health_settings_error(settings); !err.empty()) usage(err);
  if (!seeded) seed = now_ns() ^ (static_cast<uint64_t>(getpid()) << 32);

  Port port(iface);
  HealthProbe probe(*mac, *ip, *hop_mac, *member, settings, seed);
  Counters c;
  HealthFrames out;
  std::vector<uint8_t> frame;
  const auto flush = [&]() {
    for (const auto& f : out) port.send(f, c);
    out.clear();
  };
  // Until `until_ns`, or (stop_when_done) until the check has finished: ARP answered, every
  // other frame to the probe, its timers served.
  const auto serve = [&](uint64_t until_ns, bool stop_when_done) {
    for (;;) {
      const uint64_t now = now_ns();
      probe.poll(now, out);
      flush();
      if ((stop_when_done && !probe.running()) || now >= until_ns) return;
      const uint64_t wake = std::min(until_ns, probe.next_timer_ns());
      const int wait_ms = static_cast<int>(std::min<uint64_t>(50, wake > now ? (wake - now) / 1'000'000 + 1 : 0));
      if (!port.receive(frame, wait_ms, c)) continue;
      if (auto reply = arp_reply(frame, *mac, *ip)) {
        port.send(*reply, c);
        ++c.arp_replies;
        continue;
      }
      if (probe.on_frame(frame, now_ns(), out)) ++c.probe_frames_in;
      flush();
    }
  };

  const uint64_t interval_ns = static_cast<uint64_t>(settings.interval_s * 1e9);
  uint64_t next_start = now_ns();
  for (unsigned long long i = 0; i < count; ++i) {
    serve(next_start, false);
    const uint64_t t0 = now_ns();
    next_start = t0 + interval_ns;
    probe.start(t0, out);
    flush();
    serve(std::numeric_limits<uint64_t>::max(), true);
    const double ms = static_cast<double>(now_ns() - t0) / 1e6;
    const bool pass = probe.result().value_or(false);
    std::printf("%s\n", pass ? "pass" : "fail");
    std::fflush(stdout);
    std::fprintf(stderr, "check %llu: %s (%s, http status %u) in %.1f ms, source port %u\n", i + 1,
                 pass ? "pass" : "fail", health_outcome_name(probe.outcome()), probe.http_status(), ms,
                 probe.source_port());
  }
  serve(now_ns() + static_cast<uint64_t>(linger_s * 1e9), false);
  std::fprintf(stderr,
               "frames: %llu received (%llu the probe's, %llu with partial checksums), %llu sent, %llu ARP replies\n",
               static_cast<unsigned long long>(c.frames_in), static_cast<unsigned long long>(c.probe_frames_in),
               static_cast<unsigned long long>(c.partial_checksums), static_cast<unsigned long long>(c.frames_out),
               static_cast<unsigned long long>(c.arp_replies));
  return 0;
}
