// A capture record as the engine receives it (engine/control/capture_read.h): the wire length a
// record may claim, and what the encapsulation makes of the longest.
#include <catch2/catch.hpp>

#include <vector>

#include "encap/encap.h"
#include "engine/control/capture_read.h"

using namespace mirrorpipe;

TEST_CASE("capture record: the wire length is the record's, at most kMaxWireBytes") {
  const std::vector<uint8_t> frame(64, 0);
  CaptureFrame f = convert_record(CaptureLink::kEthernet, frame.data(), 64, 1500, 65535);
  CHECK(f.frame_bytes == 64);
  CHECK(f.wire_bytes == 1500);
  // The original length field is 32 bits: a record claiming nearly 4 GiB is taken at the
  // bound, whatever its link.
  for (CaptureLink link : {CaptureLink::kEthernet, CaptureLink::kLinuxSll, CaptureLink::kRawIp}) {
    f = convert_record(link, frame.data(), 64, 0xffffffffu, 65535);
    CHECK(f.wire_bytes == kMaxWireBytes);
  }
  f = convert_record(CaptureLink::kEthernet, frame.data(), 64, kMaxWireBytes, 65535);
  CHECK(f.wire_bytes == kMaxWireBytes);
}

TEST_CASE("capture record: a frame of the longest wire length is too big for VXLAN, or cut to the MTU") {
  // RFC 791: the outer IPv4 total length is 16 bits. Without an MTU such a frame cannot be
  // wrapped; behind a 1500-byte MTU it is cut to fit, its outer IP length exactly 1500. (Before
  // the bound, a record claiming nearly 2^32 bytes wrapped the outer lengths to a few bytes,
  // and the frame went out with them.)
  TunnelConfig tc;
  tc.src_ip = parse_ip("10.0.0.1");
  tc.dst_ip = parse_ip("10.0.0.2");
  for (uint32_t mtu : {0u, 1500u}) {
    INFO("mtu " << mtu);
    OuterTemplate t = build_outer_template(tc);
    t.max_ip_length = mtu;
    std::vector<uint8_t> buf(256 + 64, 0);
    buf[256 + 12] = 0x08;
    PacketRef ref{buf.data() + 256, 64, kMaxWireBytes, 256};
    const FrameMeta meta = parse_frame(wire::Bytes(ref.data, ref.len));
    const DropReason r = encapsulate(t, meta, ref, nullptr);
    if (mtu == 0) {
      CHECK(r == DropReason::too_big);
      CHECK(ref.data == buf.data() + 256);
    } else {
      REQUIRE(r == DropReason::kNone);
      CHECK((ref.flags & PacketRef::kTruncatedMtu) != 0);
      CHECK(((ref.data[16] << 8) | ref.data[17]) == 1500);  // the outer IPv4 total length
      CHECK(ref.wire_len == 14 + 1500);
    }
  }
}
