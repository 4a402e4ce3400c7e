// Fuzz target: decapsulation (decap/decap.h): VXLAN, Geneve with options, VXLAN inside Geneve.
//
// Input: one selector byte, then the frame. The selector's bits choose the DecapConfig (bits
// 0-1: which UDP ports are VXLAN and Geneve; bit 2: verify checksums) and how much longer the
// frame was on the wire than captured (bits 3-4: 0, 1, 100 or 60000 bytes).
//
// Checks: decap_parse and decapsulate agree; on success the inner payload it reports lies
// within the captured bytes (offset and captured length), its captured length is at most its
// wire length, the layers are 1 or 2, the outer IP header comes before the payload; after
// decapsulate the packet is a sub-span of the buffer (the 14-byte Ethernet header written for
// an L3 payload included) and only bytes before the inner payload were written; where the
// decap route's fast path (strip_plain_vxlan4) takes the frame, decapsulate() does too, with
// the same result.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "decap/decap.h"
#include "fuzz/fuzz_check.h"

using namespace mirrorpipe;

namespace {

DecapConfig config_for(uint8_t selector) {
  DecapConfig c;
  switch (selector & 3) {
    case 0:  // the defaults: VXLAN 4789, Geneve 6081
      break;
    case 1:  // several of each (the Linux VXLAN port, VXLAN-GPE's, a second Geneve port)
      c.vxlan_ports = {4789, 8472, 4790, 1, 65535};
      c.vxlan_port_count = 5;
      c.geneve_ports = {6081, 6082, 0};
      c.geneve_port_count = 3;
      break;
    case 2:  // Geneve only
      c.vxlan_port_count = 0;
      break;
    case 3:  // VXLAN only, on the Linux port as well
      c.vxlan_ports = {8472, 4789};
      c.vxlan_port_count = 2;
      c.geneve_port_count = 0;
      break;
  }
  c.verify_checksums = (selector & 4) != 0;
  return c;
}

constexpr uint32_t kWireExtra[4] = {0, 1, 100, 60000};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint8_t selector = fuzz::take_byte(data, size);
  if (size > 65535) return 0;
  const DecapConfig cfg = config_for(selector);
  const uint32_t wire_len = static_cast<uint32_t>(size) + kWireExtra[(selector >> 3) & 3];

  // Exact-size copies: a read or write past the frame is past a heap block (ASan sees it).
  std::vector<uint8_t> parsed(data, data + size);
  DecapResult a{};
  const DropReason ra = decap_parse(wire::Bytes(parsed.data(), parsed.size()), wire_len, cfg, a);
  MIRRORPIPE_FUZZ_CHECK(std::equal(data, data + size, parsed.begin()));  // parse writes nothing

  std::vector<uint8_t> buf(data, data + size);
  PacketRef pkt{buf.data(), static_cast<uint32_t>(size), wire_len, 0};
  DecapResult b{};
  const DropReason rb = decapsulate(pkt, cfg, b);
  MIRRORPIPE_FUZZ_CHECK(ra == rb);
  // The decap route's fast path: where it takes a packet, decapsulate() accepts it and leaves
  // the same frame; it changes nothing where it does not.
  PacketRef fast{parsed.data(), static_cast<uint32_t>(size), wire_len, 0};
  if (strip_plain_vxlan4(fast, cfg)) {
    MIRRORPIPE_FUZZ_CHECK(rb == DropReason::kNone);
    MIRRORPIPE_FUZZ_CHECK(fast.data - parsed.data() == pkt.data - buf.data());
    MIRRORPIPE_FUZZ_CHECK(fast.len == pkt.len && fast.wire_len == pkt.wire_len && fast.headroom == pkt.headroom);
  } else {
    MIRRORPIPE_FUZZ_CHECK(fast.data == parsed.data() && fast.len == size && fast.wire_len == wire_len && fast.headroom == 0);
  }
  if (rb != DropReason::kNone) {
    // Nothing is written unless the result is success.
    MIRRORPIPE_FUZZ_CHECK(std::equal(data, data + size, buf.begin()));
    MIRRORPIPE_FUZZ_CHECK(pkt.data == buf.data() && pkt.len == size && pkt.wire_len == wire_len);
    return 0;
  }

  MIRRORPIPE_FUZZ_CHECK(a.inner_offset == b.inner_offset);
  MIRRORPIPE_FUZZ_CHECK(a.inner_len == b.inner_len);
  MIRRORPIPE_FUZZ_CHECK(a.inner_wire_len == b.inner_wire_len);
  MIRRORPIPE_FUZZ_CHECK(a.l3_protocol == b.l3_protocol);
  MIRRORPIPE_FUZZ_CHECK(a.layer_count == b.layer_count);

  MIRRORPIPE_FUZZ_CHECK(b.layer_count == 1 || b.layer_count == 2);
  MIRRORPIPE_FUZZ_CHECK(b.inner_offset <= size);
  MIRRORPIPE_FUZZ_CHECK(b.inner_len <= size - b.inner_offset);
  MIRRORPIPE_FUZZ_CHECK(b.inner_len <= b.inner_wire_len);
  MIRRORPIPE_FUZZ_CHECK(b.inner_offset + b.inner_wire_len <= wire_len);
  MIRRORPIPE_FUZZ_CHECK(b.outer_l3_offset < b.inner_offset);
  // An inner Ethernet frame has at least its header on the wire.
  // (fuzz/regressions/decap/geneve-protocol-0-*: a Geneve protocol type below 0x0600 read as an
  // Ethernet payload of any length, until decap dropped it as geneve_bad_protocol.)
  if (b.l3_protocol == 0) MIRRORPIPE_FUZZ_CHECK(b.inner_wire_len >= 14);

  const uint32_t added = b.l3_protocol != 0 ? 14 : 0;
  MIRRORPIPE_FUZZ_CHECK(b.inner_offset >= added);
  MIRRORPIPE_FUZZ_CHECK(pkt.data == buf.data() + b.inner_offset - added);
  MIRRORPIPE_FUZZ_CHECK(pkt.len == b.inner_len + added);
  MIRRORPIPE_FUZZ_CHECK(pkt.wire_len == b.inner_wire_len + added);
  MIRRORPIPE_FUZZ_CHECK(pkt.headroom == b.inner_offset - added);
  MIRRORPIPE_FUZZ_CHECK(pkt.len <= pkt.wire_len);
  // The payload itself is untouched.
  MIRRORPIPE_FUZZ_CHECK(std::equal(data + b.inner_offset, data + b.inner_offset + b.inner_len, buf.begin() + b.inner_offset));
  return 0;
}
