// Fuzz target: a pool member's health check (engine/control/health_check.h HealthProbe), fed
// frames after start(), with the TCP and the HTTP settings.
//
// Input: one selector byte (bit 0: HTTP, else TCP; bit 1: port 8080, else 80; bit 2: a short
// timeout of 1 s), then records [length][mode][bytes]. Mode bits 0-1 advance the clock (0,
// 1 ms, 600 ms, 3 s); bits 2-3: 0 feeds the bytes as a raw frame; otherwise they are a TCP
// header and payload that the target addresses from the member to the probe's current port
// with both checksums right (bit 4: SEQ = 1000 + the input's signed byte at offset 4, so that
// a SYN-ACK and the data after it can agree; bit 5: ACK = ISS + 1 + the input's 16-bit value
// at offset 8); bit 6 calls start() first (a new check); bit 7 calls poll() only.
//
// Checks: nothing but std::bad_alloc is thrown (an exception crashes the target); a frame that
// is not the probe's changes nothing and sends nothing; every frame the probe sends is at least
// 60 bytes, IPv4/TCP from its address to the member's, with both checksums right; while a check
// runs there is no result and a timer is set.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "encap/wire/checksum.h"
#include "encap/wire/ethernet.h"
#include "encap/wire/ipv4.h"
#include "encap/wire/tcp.h"
#include "engine/control/health_check.h"
#include "fuzz/fuzz_check.h"

using namespace mirrorpipe;

namespace {

const wire::MacAddress kOwnMac{2, 0, 0, 0, 0, 1};
const wire::MacAddress kHopMac{2, 0, 0, 0, 0, 2};
const wire::Ipv4Address kOwnIp{10, 0, 0, 1};
const wire::Ipv4Address kMemberIp{10, 0, 0, 2};
constexpr uint64_t kAdvanceNs[4] = {0, 1'000'000, 600'000'000, 3'000'000'000};

// Every frame the probe sends: whole, from its address to the member's, both sums right.
void check_sent(const HealthFrames& out, size_t from) {
  for (size_t i = from; i < out.size(); ++i) {
    const std::vector<uint8_t>& f = out[i];
    MIRRORPIPE_FUZZ_CHECK(f.size() >= kHealthMinFrameBytes);
    MIRRORPIPE_FUZZ_CHECK(std::equal(f.begin(), f.begin() + 6, kHopMac.begin()));
    MIRRORPIPE_FUZZ_CHECK(std::equal(f.begin() + 6, f.begin() + 12, kOwnMac.begin()));
    MIRRORPIPE_FUZZ_CHECK(f[12] == 0x08 && f[13] == 0x00);
    const uint8_t* ip = f.data() + 14;
    MIRRORPIPE_FUZZ_CHECK(ip[0] == 0x45 && ip[9] == 6);
    const size_t total = static_cast<size_t>(ip[2]) << 8 | ip[3];
    MIRRORPIPE_FUZZ_CHECK(total >= 40 && 14 + total <= f.size());
    MIRRORPIPE_FUZZ_CHECK(std::equal(ip + 12, ip + 16, kOwnIp.begin()));
    MIRRORPIPE_FUZZ_CHECK(std::equal(ip + 16, ip + 20, kMemberIp.begin()));
    MIRRORPIPE_FUZZ_CHECK(wire::checksum_valid(ip, 20));
    const uint64_t pseudo = wire::tcp_ipv4_pseudo_header_partial(ip + 12, static_cast<uint16_t>(total - 20));
    MIRRORPIPE_FUZZ_CHECK(wire::checksum_valid(ip + 20, total - 20, pseudo));
  }
}

// The bytes as a TCP segment from the member to the probe's current connection.
std::vector<uint8_t> member_segment(std::span<const uint8_t> bytes, uint8_t mode, const HealthProbe& probe) {
  std::vector<uint8_t> tcp(bytes.begin(), bytes.end());
  if (tcp.size() < wire::kTcpMinHeaderBytes) tcp.resize(wire::kTcpMinHeaderBytes);
  auto* th = reinterpret_cast<wire::TcpHeader*>(tcp.data());
  th->src_port.set(probe.settings().port);
  th->dst_port.set(probe.source_port());
  if (mode & 0x10) th->seq.set(1000u + static_cast<uint32_t>(static_cast<int8_t>(tcp[4])));
  if (mode & 0x20) th->ack.set(probe.iss() + 1u + (uint32_t{tcp[8]} << 8 | tcp[9]));
  if (th->data_offset_bytes() < wire::kTcpMinHeaderBytes || th->data_offset_bytes() > tcp.size()) {
    th->set_data_offset_bytes(wire::kTcpMinHeaderBytes);
  }
  std::vector<uint8_t> f(14 + 20 + tcp.size());
  std::copy(kOwnMac.begin(), kOwnMac.end(), f.begin());
  std::copy(kHopMac.begin(), kHopMac.end(), f.begin() + 6);
  f[12] = 0x08;
  auto* ip = reinterpret_cast<wire::Ipv4Header*>(f.data() + 14);
  ip->version_ihl = 0x45;
  ip->total_length.set(static_cast<uint16_t>(20 + tcp.size()));
  ip->ttl = 64;
  ip->protocol = 6;
  ip->src = kMemberIp;
  ip->dst = kOwnIp;
  ip->checksum.set_raw(wire::checksum_finish(wire::checksum_partial(f.data() + 14, 20)));
  th->checksum.set_raw(0);
  const uint64_t pseudo = wire::tcp_ipv4_pseudo_header_partial(ip->src.data(), static_cast<uint16_t>(tcp.size()));
  th->checksum.set_raw(wire::checksum_finish(wire::checksum_partial(tcp.data(), tcp.size(), pseudo)));
  std::copy(tcp.begin(), tcp.end(), f.begin() + 34);
  return f;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const uint8_t selector = fuzz::take_byte(data, size);
  HealthCheckSettings s;
  if (selector & 1) {
    s.protocol = HealthCheckSettings::Protocol::kHttp;
    s.path = "/health?check=1";
  }
  s.port = (selector & 2) ? 8080 : 80;
  if (selector & 4) s.timeout_s = 1;
  HealthProbe probe(kOwnMac, kOwnIp, kHopMac, kMemberIp, s, 0x5eed0000u + selector);
  HealthFrames out;
  uint64_t now = 1'000'000'000;
  probe.start(now, out);
  check_sent(out, 0);
  MIRRORPIPE_FUZZ_CHECK(probe.running() && out.size() == 1);

  for (int records = 0; size >= 2 && records < 64; ++records) {
    const size_t n = std::min<size_t>(data[0], size - 2);
    const uint8_t mode = data[1];
    const std::span<const uint8_t> bytes(data + 2, n);
    data += 2 + n;
    size -= 2 + n;
    now += kAdvanceNs[mode & 3];

    size_t sent = out.size();
    if (mode & 0x40) probe.start(now, out);
    probe.poll(now, out);
    check_sent(out, sent);
    if (mode & 0x80) continue;

    // An exact-size copy: a read past the frame is past a heap block.
    const std::vector<uint8_t> frame =
        (mode & 0x0c) == 0 ? std::vector<uint8_t>(bytes.begin(), bytes.end()) : member_segment(bytes, mode, probe);
    sent = out.size();
    const bool running = probe.running();
    const HealthOutcome outcome = probe.outcome();
    const uint64_t checks = probe.checks_started();
    const bool mine = probe.on_frame(frame, now, out);
    check_sent(out, sent);
    if (!mine) {
      MIRRORPIPE_FUZZ_CHECK(out.size() == sent);
      MIRRORPIPE_FUZZ_CHECK(probe.running() == running && probe.outcome() == outcome);
    }
    MIRRORPIPE_FUZZ_CHECK(probe.checks_started() == checks);
    if (probe.running()) {
      MIRRORPIPE_FUZZ_CHECK(!probe.result().has_value());
      MIRRORPIPE_FUZZ_CHECK(probe.next_timer_ns() != UINT64_MAX);
      MIRRORPIPE_FUZZ_CHECK(probe.outcome() == HealthOutcome::kPending);
    } else {
      MIRRORPIPE_FUZZ_CHECK(probe.outcome() != HealthOutcome::kPending);
      MIRRORPIPE_FUZZ_CHECK(probe.result().has_value() && *probe.result() == (probe.outcome() == HealthOutcome::kPass));
    }
  }
  return 0;
}
