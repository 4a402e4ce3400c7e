// What an encapsulated packet asks of a device that offloads the outer checksums, checked
// against DPDK's own preparation of such a packet: rte_net_intel_cksum_flags_prepare() (what
// Intel's PMDs run in tx_prepare) reads the mbuf's flags and header lengths and writes the IPv4
// checksum field and the UDP pseudo-header sum the device completes. With both fields scribbled
// over first, it must write back exactly what the engine's writer wrote: wrong flags or lengths
// leave the scribble or write elsewhere, a wrong pseudo-header sum differs. No EAL: the mbuf is
// a bare struct over the test's buffer.
#include <rte_mbuf.h>
#include <rte_net.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "engine/pipeline/pipeline.h"
#include "engine/runtime/mbuf.h"
#include "pcap_file.h"

using namespace mirrorpipe;
using namespace mirrorpipe::test;

namespace {

struct Case {
  const char* name;
  TunnelKind kind;
  const char* src;
  const char* dst;
};

}  // namespace

TEST_CASE("tx offload: the flags, lengths and fields agree with DPDK's preparation") {
  const auto input = read_pcap(source_path("pcaps/sample-mix.pcap"));
  for (const Case& k : {Case{"gwlb", TunnelKind::kGwlb, "10.0.10.74", "10.0.8.64"},
                        Case{"vxlan", TunnelKind::kVxlan, "172.31.0.238", "172.31.17.188"},
                        Case{"vxlan-ipv6", TunnelKind::kVxlan, "fd00::1", "fd00::2"},
                        Case{"geneve-ipv6", TunnelKind::kGeneve, "2001:db8::1", "2001:db8::2"}}) {
    TunnelConfig c;
    c.kind = k.kind;
    c.src_ip = parse_ip(k.src);
    c.dst_ip = parse_ip(k.dst);
    PipelineConfig cfg;
    cfg.outer = build_outer_template(c);
    OuterTemplate& t = cfg.outer;
    use_checksum_offload(t, true, true);  // an output that offers both, as the planner asks
    const bool ip_offload = t.ip_checksum_offload || t.udp_checksum_offload;  // make_sink's rule
    const uint32_t l3 = 14, l4 = l3 + (t.ipv6 ? 40 : 20);
    size_t checked = 0;
    for (size_t i = 0; i < input.size(); ++i) {
      Buffer buf(input[i]);
      if (process_packet(cfg, buf.ref) != DropReason::kNone) continue;
      INFO(k.name << ": input frame " << i + 1);
      alignas(RTE_CACHE_LINE_SIZE) rte_mbuf m;
      std::memset(&m, 0, sizeof m);
      m.buf_addr = buf.mem.data();
      m.buf_len = static_cast<uint16_t>(buf.mem.size());
      m.data_off = static_cast<uint16_t>(buf.ref.data - buf.mem.data());
      m.data_len = static_cast<uint16_t>(buf.ref.len);
      m.pkt_len = buf.ref.len;
      m.nb_segs = 1;
      m.tx_offload = ~uint64_t{0};  // what an earlier use of the mbuf may have left
      set_tx_offloads(&m, t.ipv6, ip_offload, t.udp_checksum_offload);
      // Our outer headers' lengths, and nothing else asked of the device: no TSO, no outer
      // (tunnel) offload. (Every case here offloads: the IPv4 checksum, or IPv6's UDP one.)
      REQUIRE(ip_offload);
      CHECK(m.l2_len == 14);
      CHECK(m.l3_len == (t.ipv6 ? 40u : 20u));
      CHECK((m.l4_len | m.tso_segsz | m.outer_l2_len | m.outer_l3_len) == 0);
      const std::vector<uint8_t> written = buf.bytes();
      uint8_t* p = buf.ref.data;
      if (!t.ipv6) std::memset(p + l3 + 10, 0xa5, 2);
      if (t.udp_checksum) std::memset(p + l4 + 6, 0xa5, 2);
      REQUIRE(rte_net_intel_cksum_flags_prepare(&m, m.ol_flags) == 0);
      CHECK(to_hex(buf.ref.data, buf.ref.len) == to_hex(written.data(), written.size()));
      if (!t.ipv6) CHECK((written[l3 + 10] | written[l3 + 11]) == 0);  // DPDK's rule for TX_IP_CKSUM
      if (!t.udp_checksum) CHECK((written[l4 + 6] | written[l4 + 7]) == 0);  // no checksum sent
      ++checked;
    }
    INFO(k.name);
    CHECK(checked >= 20);  // the sample's frames the tunnel carries
  }
}
