// Fuzz target: the GWLB appliance's return (decap/appliance.h appliance_return) and the flow
// table path behind it (engine/pipeline/flow_table.h), as engine/runtime/worker.cpp runs them:
// handle_appliance refreshes the flow with the returned packet's header, handle_inject looks
// the flow up and wraps a packet of it with gwlb_wrap.
//
// Input: one selector byte, then the frame. Selector bit 0: the default ports or several;
// bit 1: verify checksums; bits 2-3: the flow table's capacity (4, 8, 64, 1024).
//
// Checks: the worker's fast path (return_plain_gwlb4) agrees with appliance_return wherever it
// takes a packet, and the inner flow key's inline case with the general one; nothing is
// written unless the return succeeds; on success the outer IPv4 addresses
// are swapped, the TTL is reset, the IPv4 checksum is right, the MACs are set and nothing else
// changed; a flow just refreshed is found by a lookup (by its endpoint and by any endpoint),
// with the header and cookie stored; the wrapped packet's IPv4 total length and UDP length match
// its bytes, its IPv4 checksum is right, and it parses again as the same GWLB tunnel.
#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "decap/appliance.h"
#include "encap/wire/checksum.h"
#include "encap/wire/ipv4.h"
#include "encap/wire/l4.h"
#include "engine/pipeline/flow_table.h"
#include "fuzz/fuzz_check.h"

using namespace mirrorpipe;

namespace {

constexpr uint32_t kHeadroom = 256;
constexpr uint64_t kNowNs = 1'000'000'000'000ull;
constexpr uint32_t kCapacities[4] = {4, 8, 64, 1024};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint8_t selector = fuzz::take_byte(data, size);
  if (size > 65535) return 0;
  ApplianceConfig cfg;
  if (selector & 1) {
    cfg.decap.vxlan_ports = {4789, 8472};
    cfg.decap.vxlan_port_count = 2;
    cfg.decap.geneve_ports = {6081, 6082};
    cfg.decap.geneve_port_count = 2;
  }
  cfg.decap.verify_checksums = (selector & 2) != 0;
  cfg.mac = {0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee};
  cfg.ttl = 64;

  // The frame after kHeadroom bytes; the buffer ends where the frame does.
  std::vector<uint8_t> buf(kHeadroom + size);
  std::copy(data, data + size, buf.begin() + kHeadroom);
  PacketRef ref{buf.data() + kHeadroom, static_cast<uint32_t>(size), static_cast<uint32_t>(size), kHeadroom};
  DecapResult res{};
  const DropReason r = appliance_return(ref, cfg, res);
  MIRRORPIPE_FUZZ_CHECK(ref.data == buf.data() + kHeadroom && ref.len == size && ref.wire_len == size);
  const uint8_t* out = ref.data;

  // The worker's fast path on its own copy: it takes only what appliance_return returns, and
  // leaves the same bytes and the same result; else it writes nothing.
  std::vector<uint8_t> fast_buf(kHeadroom + size);
  std::copy(data, data + size, fast_buf.begin() + kHeadroom);
  PacketRef fast{fast_buf.data() + kHeadroom, static_cast<uint32_t>(size), static_cast<uint32_t>(size), kHeadroom};
  DecapResult fast_res{};
  if (return_plain_gwlb4(fast, cfg, fast_res)) {
    MIRRORPIPE_FUZZ_CHECK(r == DropReason::kNone);
    MIRRORPIPE_FUZZ_CHECK(std::equal(out, out + size, fast.data));
    MIRRORPIPE_FUZZ_CHECK(fast_res.inner_offset == res.inner_offset && fast_res.inner_len == res.inner_len &&
                          fast_res.inner_wire_len == res.inner_wire_len && fast_res.l3_protocol == res.l3_protocol &&
                          fast_res.layer_count == res.layer_count && fast_res.outer_l3_offset == res.outer_l3_offset &&
                          fast_res.outer_src_mac == res.outer_src_mac && fast_res.outer_dst_mac == res.outer_dst_mac);
    const TunnelLayer& a = fast_res.layers[0];
    const TunnelLayer& b = res.layers[0];
    MIRRORPIPE_FUZZ_CHECK(a.type == b.type && a.ipv6 == b.ipv6 && a.gwlb_options == b.gwlb_options &&
                          a.src_port == b.src_port && a.dst_port == b.dst_port && a.geneve_protocol == b.geneve_protocol &&
                          a.vni == b.vni && a.src_ip == b.src_ip && a.dst_ip == b.dst_ip &&
                          a.gwlb_endpoint_id == b.gwlb_endpoint_id && a.gwlb_attachment_id == b.gwlb_attachment_id &&
                          a.gwlb_flow_cookie == b.gwlb_flow_cookie);
  } else {
    MIRRORPIPE_FUZZ_CHECK(std::equal(data, data + size, fast.data));
  }
  if (r != DropReason::kNone) {
    MIRRORPIPE_FUZZ_CHECK(std::equal(data, data + size, out));
    return 0;
  }

  // The returned packet: MACs, addresses swapped, TTL, checksum; every other byte as it came.
  const uint32_t l3 = res.outer_l3_offset;
  MIRRORPIPE_FUZZ_CHECK(res.layer_count >= 1 && l3 + wire::kIpv4MinHeaderBytes <= size);
  const auto* ip = reinterpret_cast<const wire::Ipv4Header*>(out + l3);
  MIRRORPIPE_FUZZ_CHECK(l3 + ip->ihl_bytes() <= size);
  MIRRORPIPE_FUZZ_CHECK(std::equal(out, out + 6, data + 6));
  MIRRORPIPE_FUZZ_CHECK(std::equal(out + 6, out + 12, cfg.mac.begin()));
  MIRRORPIPE_FUZZ_CHECK(std::equal(out + l3 + 12, out + l3 + 16, data + l3 + 16));
  MIRRORPIPE_FUZZ_CHECK(std::equal(out + l3 + 16, out + l3 + 20, data + l3 + 12));
  MIRRORPIPE_FUZZ_CHECK(ip->ttl == cfg.ttl);
  MIRRORPIPE_FUZZ_CHECK(wire::checksum_valid(out + l3, ip->ihl_bytes()));
  for (size_t i = 12; i < size; ++i) {
    const bool rewritten = i >= l3 && i < l3 + 20 && (i == l3 + 8 || i == l3 + 10 || i == l3 + 11 || i >= l3 + 12);
    if (!rewritten) MIRRORPIPE_FUZZ_CHECK(out[i] == data[i]);
  }

  // handle_appliance: the inner flow's key, and the flow table refreshed with the header.
  const TunnelLayer& g = res.layers[0];
  InnerFlowKey key, general;
  const bool keyed = res.layer_count == 1 && res.l3_protocol != 0 &&
                     inner_flow_key(out + res.inner_offset, res.inner_len, res.l3_protocol, g.gwlb_endpoint_id, key);
  // The key's inline case and the general one agree (every byte of the key is a field).
  if (res.layer_count == 1 && res.l3_protocol != 0) {
    const bool general_keyed =
        inner_flow_key_general(out + res.inner_offset, res.inner_len, res.l3_protocol, g.gwlb_endpoint_id, general);
    MIRRORPIPE_FUZZ_CHECK(keyed == general_keyed && (!keyed || std::memcmp(&key, &general, sizeof key) == 0));
  }
  if (!keyed) return 0;
  FlowTable flows(kCapacities[(selector >> 2) & 3], FlowTimeouts{});
  flows.refresh(key, out, res.inner_offset, res.outer_l3_offset, g.gwlb_flow_cookie, kNowNs);
  FlowRecord rec;
  const bool found = flows.lookup(key, false, kNowNs + 1, rec);
  if (res.inner_offset > kFlowHeaderMax) {  // too long a header to keep: not stored
    MIRRORPIPE_FUZZ_CHECK(!found);
    return 0;
  }
  MIRRORPIPE_FUZZ_CHECK(found);
  MIRRORPIPE_FUZZ_CHECK(rec.cookie == g.gwlb_flow_cookie);
  MIRRORPIPE_FUZZ_CHECK(rec.header_len == res.inner_offset && rec.l3_offset == l3);
  MIRRORPIPE_FUZZ_CHECK(std::equal(out, out + res.inner_offset, rec.header));
  InnerFlowKey any = key;
  any.endpoint_id = 0;
  FlowRecord rec_any;
  MIRRORPIPE_FUZZ_CHECK(flows.lookup(any, true, kNowNs + 1, rec_any));
  MIRRORPIPE_FUZZ_CHECK(rec_any.cookie == rec.cookie);
  // Past the idle timeout the flow is gone.
  MIRRORPIPE_FUZZ_CHECK(!flows.lookup(key, false, kNowNs + FlowTimeouts{}.for_protocol(key.protocol) + 1, rec_any));

  // handle_inject: the inner packet wrapped in the stored header.
  std::vector<uint8_t> inj(kHeadroom + res.inner_len);
  std::copy(out + res.inner_offset, out + res.inner_offset + res.inner_len, inj.begin() + kHeadroom);
  PacketRef w{inj.data() + kHeadroom, res.inner_len, res.inner_wire_len, kHeadroom};
  const DropReason wr = gwlb_wrap(w, rec.header, rec.header_len, rec.l3_offset);
  if (wr != DropReason::kNone) {
    MIRRORPIPE_FUZZ_CHECK(wr == DropReason::too_big);
    return 0;
  }
  MIRRORPIPE_FUZZ_CHECK(w.data == inj.data() + kHeadroom - rec.header_len);
  MIRRORPIPE_FUZZ_CHECK(w.len == res.inner_len + rec.header_len && w.wire_len == res.inner_wire_len + rec.header_len);
  const auto* wip = reinterpret_cast<const wire::Ipv4Header*>(w.data + rec.l3_offset);
  MIRRORPIPE_FUZZ_CHECK(wip->total_length_bytes() == w.wire_len - rec.l3_offset);
  MIRRORPIPE_FUZZ_CHECK(wire::checksum_valid(w.data + rec.l3_offset, wip->ihl_bytes()));
  const auto* udp = reinterpret_cast<const wire::UdpHeader*>(w.data + rec.l3_offset + wip->ihl_bytes());
  MIRRORPIPE_FUZZ_CHECK(udp->length.value() == w.wire_len - rec.l3_offset - wip->ihl_bytes());
  MIRRORPIPE_FUZZ_CHECK(std::equal(w.data + rec.header_len, w.data + w.len, out + res.inner_offset));
  // The same configuration as the first parse: with verify_checksums, whether an inner IPv4
  // UDP packet to a VXLAN port is a nested tunnel depends on its header checksum.
  DecapResult again{};
  MIRRORPIPE_FUZZ_CHECK(decap_parse(wire::Bytes(w.data, w.len), w.wire_len, cfg.decap, again) == DropReason::kNone);
  MIRRORPIPE_FUZZ_CHECK(again.inner_offset == rec.header_len);
  MIRRORPIPE_FUZZ_CHECK(again.inner_wire_len == res.inner_wire_len);
  MIRRORPIPE_FUZZ_CHECK(again.layers[0].gwlb_flow_cookie == g.gwlb_flow_cookie);
  return 0;
}
