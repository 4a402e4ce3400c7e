// Which tcpdump programs a verdict cache may remember (engine/control/bpf_analysis.h), judged by
// libpcap itself: pcap_compile makes the programs, and libpcap's own interpreter (bpf_filter)
// runs them on random keyed frames, frames that share their key (protocol, addresses, ports)
// and differ in everything else a keyed frame may differ in (MACs, TOS, lengths, ID, DF, TTL,
// checksum, the L4 header past the ports, the payload, the frame's length).
//   - An expression the analysis calls keyed must give one answer for every frame of a key: a
//     wrong "keyed" would make the cache answer a frame with another frame's verdict.
//   - The expressions listed as not keyed read something else (each says what): for each, some
//     key has frames with different answers, so the analysis could not have called it keyed,
//     and it does not.
//   - Through the verdict cache, with rules and an expression of either kind, every frame's
//     verdict is the rules' followed by libpcap's answer on that very frame.
#include <pcap/pcap.h>

#include <catch2/catch.hpp>

#include <random>
#include <string>
#include <vector>

#include "engine/control/bpf_analysis.h"
#include "engine/pipeline/verdict_cache.h"

using namespace mirrorpipe;

namespace {

struct Program {
  bpf_program prog{};
  explicit Program(const std::string& expr) {
    pcap_t* dead = pcap_open_dead(DLT_EN10MB, 262144);
    REQUIRE(dead);
    const int rc = pcap_compile(dead, &prog, expr.c_str(), 1, PCAP_NETMASK_UNKNOWN);
    INFO(expr << ": " << pcap_geterr(dead));
    pcap_close(dead);
    REQUIRE(rc == 0);
  }
  ~Program() { pcap_freecode(&prog); }
  bool keyed() const { return bpf_decided_by_key(prog.bf_insns, prog.bf_len); }
  bool accepts(const std::vector<uint8_t>& f) const {
    return bpf_filter(prog.bf_insns, f.data(), static_cast<u_int>(f.size()), static_cast<u_int>(f.size())) != 0;
  }
};

struct Key {
  uint8_t proto;
  uint8_t addrs[8];
  uint8_t ports[4];
};

// Keys from small pools, so that the expressions below match some of them.
Key random_key(std::mt19937& rng) {
  static const uint8_t hosts[][4] = {{10, 0, 0, 1}, {10, 1, 2, 3}, {192, 168, 1, 1}, {8, 8, 8, 8}};
  static const uint16_t ports[] = {22, 53, 80, 443, 1500, 40000};
  Key k;
  k.proto = rng() % 2 ? 6 : 17;
  for (int a = 0; a < 2; ++a) {
    const uint8_t* h = hosts[rng() % 4];
    std::copy(h, h + 4, k.addrs + 4 * a);
  }
  for (int p = 0; p < 2; ++p) {
    const uint16_t v = ports[rng() % 6];
    k.ports[2 * p] = static_cast<uint8_t>(v >> 8);
    k.ports[2 * p + 1] = static_cast<uint8_t>(v);
  }
  return k;
}

// A keyed frame of `key`, random everywhere else the shape allows.
std::vector<uint8_t> keyed_frame(std::mt19937& rng, const Key& key) {
  std::vector<uint8_t> f(38 + rng() % 160);
  for (auto& b : f) b = static_cast<uint8_t>(rng());
  f[12] = 0x08, f[13] = 0x00, f[14] = 0x45;
  f[20] &= 0xc0;  // DF and the reserved bit free; MF and the offset zero
  f[21] = 0;
  f[23] = key.proto;
  std::copy(key.addrs, key.addrs + 8, f.begin() + 26);
  std::copy(key.ports, key.ports + 4, f.begin() + 34);
  REQUIRE(inline_filter_fields(f.data(), static_cast<uint32_t>(f.size())));
  return f;
}

// How many of `keys` random keys have frames with different answers (8 frames each).
int keys_with_two_answers(const Program& p, std::mt19937& rng, int keys) {
  int split = 0;
  for (int i = 0; i < keys; ++i) {
    const Key k = random_key(rng);
    const bool first = p.accepts(keyed_frame(rng, k));
    bool differs = false;
    for (int j = 0; j < 7; ++j) differs |= p.accepts(keyed_frame(rng, k)) != first;
    split += differs;
  }
  return split;
}

}  // namespace

TEST_CASE("bpf analysis: keyed expressions give one answer per key") {
  // Each reads only the EtherType, the IPv4 header's version, length, fragment bits, protocol
  // and addresses, and the ports.
  const char* keyed[] = {
      "tcp", "udp", "ip", "ip6", "icmp", "arp", "port 22", "not port 22", "tcp port 80", "udp and dst port 53",
      "host 10.0.0.1", "src net 10.0.0.0/8", "dst host 192.168.1.1 and tcp dst portrange 1000-2000",
      "tcp port 443 or udp port 53", "(tcp and port 443) or (udp and not host 8.8.8.8)", "ip proto 47",
      "vlan and tcp", "ip[6:2] & 0x1fff = 0", "ip[6] & 0x20 != 0", "ip[9] = 6", "tcp[0:2] > 1024",
      "udp[2:2] = 53 and ip[12:4] = 0x0a000001", "portrange 1-1023", "net 10.0.0.0/8 and not net 10.1.0.0/16",
  };
  std::mt19937 rng(20261130);
  for (const char* e : keyed) {
    INFO(e);
    const Program p(e);
    CHECK(p.keyed());
    CHECK(keys_with_two_answers(p, rng, 300) == 0);
  }
}

TEST_CASE("bpf analysis: expressions that read more than the key are not keyed") {
  const char* more[] = {
      "tcp[tcpflags] & tcp-syn != 0",  // TCP flags
      "greater 100",                   // the frame's length
      "less 64",
      "udp and greater 100",
      "ether host 02:02:02:02:02:02 or ether src 00:00:00:00:00:00 or ether[0] & 1 = 0",  // MACs
      "ip[8] < 64",                    // TTL
      "ip[6] & 0x40 != 0",             // DF
      "ip[1] != 0",                    // TOS
      "ip[2:2] > 100",                 // IPv4 total length
      "udp[4:2] > 100",                // UDP length
      "tcp[13] = 2",                   // TCP flags by offset
      "ip[6:2] & 0x3fff != 0 or tcp[20] < 128",  // past the TCP ports
  };
  std::mt19937 rng(7);
  for (const char* e : more) {
    INFO(e);
    const Program p(e);
    CHECK_FALSE(p.keyed());
    CHECK(keys_with_two_answers(p, rng, 300) > 0);  // what makes it not keyed is real
  }
}

TEST_CASE("bpf analysis: malformed programs are not keyed") {
  bpf_insn jump_out[] = {BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12), BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0800, 5, 0),
                         BPF_STMT(BPF_RET | BPF_K, 0)};
  CHECK_FALSE(bpf_decided_by_key(jump_out, 3));
  bpf_insn no_return[] = {BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 12)};
  CHECK_FALSE(bpf_decided_by_key(no_return, 1));
  bpf_insn computed_offset[] = {BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 26), BPF_STMT(BPF_MISC | BPF_TAX, 0),
                                BPF_STMT(BPF_LD | BPF_B | BPF_IND, 0), BPF_STMT(BPF_RET | BPF_A, 0)};
  CHECK_FALSE(bpf_decided_by_key(computed_offset, 4));
  bpf_insn unset_memory[] = {BPF_STMT(BPF_LD | BPF_MEM, 3), BPF_STMT(BPF_RET | BPF_A, 0)};
  CHECK_FALSE(bpf_decided_by_key(unset_memory, 2));
  bpf_insn key_through_memory[] = {BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 36), BPF_STMT(BPF_ST, 3),
                                   BPF_STMT(BPF_LD | BPF_IMM, 9), BPF_STMT(BPF_LD | BPF_MEM, 3),
                                   BPF_STMT(BPF_RET | BPF_A, 0)};
  CHECK(bpf_decided_by_key(key_through_memory, 5));
  CHECK_FALSE(bpf_decided_by_key(nullptr, 0));
}

TEST_CASE("bpf analysis: the verdict cache with an expression answers as the rules then libpcap") {
  struct Expression {
    const Program* p;
    bool is_keyed;
    const std::vector<uint8_t>* frame;
    bool present() const { return true; }
    bool keyed() const { return is_keyed; }
    bool accepts() const { return p->accepts(*frame); }
  };
  MirrorSessionPolicy policy;
  policy.has_filter = true;
  MirrorFilterRule reject_ssh;
  reject_ssh.number = 100;
  reject_ssh.protocol = 6;
  reject_ssh.has_destination_ports = true;
  reject_ssh.destination_lo = reject_ssh.destination_hi = 22;
  MirrorFilterRule accept_all;
  accept_all.number = 200;
  accept_all.accept = true;
  policy.filter.ingress = {reject_ssh, accept_all};
  std::mt19937 rng(99);
  for (const char* e : {"udp or port 443", "tcp[tcpflags] & tcp-syn != 0", "greater 120"}) {
    INFO(e);
    const Program p(e);
    SessionVerdictCache cache;
    uint64_t rejected = 0, accepted = 0;
    for (int i = 0; i < 20000; ++i) {
      const std::vector<uint8_t> f = keyed_frame(rng, random_key(rng));
      const auto len = static_cast<uint32_t>(f.size());
      SessionVerdict want = evaluate_session(policy, read_filter_fields_general(f.data(), len));
      if (want.filtered == FilterReason::kNone && !p.accepts(f)) want.filtered = FilterReason::bpf_rejected;
      LazyFilterFields fields(f.data(), len);
      const SessionVerdict got = cache.evaluate(policy, verdict_key(f.data(), len), 1, fields, Expression{&p, p.keyed(), &f});
      REQUIRE(got.filtered == want.filtered);
      REQUIRE(got.rule == want.rule);
      rejected += got.filtered == FilterReason::bpf_rejected;
      accepted += got.filtered == FilterReason::kNone;
    }
    CHECK(rejected > 0);
    CHECK(accepted > 0);
    CHECK(cache.evaluations() < 10000);  // 1152 keys: the table answered most of the 20000 frames
  }
}
