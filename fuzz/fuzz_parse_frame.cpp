// Fuzz target: the inner frame's parse and flow hash (encap/flow.h), the sessions' filter
// fields and slice (engine/pipeline/mirror_session.h), and the dedup signature
// (engine/pipeline/dedup.h), on the input as one Ethernet frame.
//
// Checks: parse_frame's inline fast path computes exactly what parse_frame_general computes
// (flow.h promises it, test_flow.cpp checks it on the captures); read_filter_fields' fast path
// agrees with read_filter_fields_general; slice_length never exceeds the frame; the offsets
// the parse reports lie within the frame; the flow hash and the signature are deterministic.
#include <cstdint>
#include <cstring>
#include <vector>

#include "encap/flow.h"
#include "engine/pipeline/dedup.h"
#include "engine/pipeline/mirror_session.h"
#include "fuzz/fuzz_check.h"

using namespace mirrorpipe;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 65535) return 0;
  // An exact-size copy: any read past the frame is one past a heap block (ASan sees it).
  const std::vector<uint8_t> buf(data, data + size);
  const uint8_t* p = buf.data();
  const auto len = static_cast<uint32_t>(size);
  const wire::Bytes frame(p, size);

  const FrameMeta a = parse_frame(frame);
  const FrameMeta g = parse_frame_general(frame);
  MIRRORPIPE_FUZZ_CHECK(a.flow_hash == g.flow_hash);
  MIRRORPIPE_FUZZ_CHECK(a.l3_offset == g.l3_offset);
  MIRRORPIPE_FUZZ_CHECK(a.l3_ethertype == g.l3_ethertype);
  MIRRORPIPE_FUZZ_CHECK(a.l3_length == g.l3_length);
  MIRRORPIPE_FUZZ_CHECK(a.ip_version == g.ip_version);
  MIRRORPIPE_FUZZ_CHECK(a.l4_proto == g.l4_proto);
  MIRRORPIPE_FUZZ_CHECK(a.fragment == g.fragment);
  MIRRORPIPE_FUZZ_CHECK(a.l4_found == g.l4_found);
  if (g.ip_version != 0) {
    // A valid IP header was read at l3_offset: it lies within the frame.
    MIRRORPIPE_FUZZ_CHECK(g.ip_version == 4 || g.ip_version == 6);
    MIRRORPIPE_FUZZ_CHECK(uint32_t{g.l3_offset} + (g.ip_version == 4 ? 20u : 40u) <= len);
  }
  MIRRORPIPE_FUZZ_CHECK(parse_frame_general(frame).flow_hash == g.flow_hash);

  const FilterFields f = read_filter_fields(p, len);
  const FilterFields fg = read_filter_fields_general(p, len);
  MIRRORPIPE_FUZZ_CHECK(f.ip == fg.ip);
  MIRRORPIPE_FUZZ_CHECK(f.v6 == fg.v6);
  MIRRORPIPE_FUZZ_CHECK(f.src == fg.src);
  MIRRORPIPE_FUZZ_CHECK(f.dst == fg.dst);
  MIRRORPIPE_FUZZ_CHECK(f.protocol == fg.protocol);
  MIRRORPIPE_FUZZ_CHECK(f.has_ports == fg.has_ports);
  MIRRORPIPE_FUZZ_CHECK(f.src_port == fg.src_port);
  MIRRORPIPE_FUZZ_CHECK(f.dst_port == fg.dst_port);

  uint32_t previous = 0;
  for (uint32_t payload : {0u, 1u, 64u, 1500u, 0xffffffffu}) {
    const uint32_t s = slice_length(p, len, payload);
    MIRRORPIPE_FUZZ_CHECK(s <= len);
    MIRRORPIPE_FUZZ_CHECK(s >= previous);  // more payload never keeps fewer bytes
    previous = s;
  }
  MIRRORPIPE_FUZZ_CHECK(slice_length(p, len, 0xffffffffu) == len);

  const uint64_t sig = dedup_signature(p, len);
  MIRRORPIPE_FUZZ_CHECK(dedup_signature(p, len) == sig);
  return 0;
}
