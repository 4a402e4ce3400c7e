// Health checks of analyzer-pool members (engine/control/health_check.h has the protocol, the
// choices and their reasons). Control path: allocates (the frames it returns), never throws on
// frame input, reads frames only through wire::header_at.
#include "engine/control/health_check.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <utility>

#include "encap/wire/bytes.h"
#include "encap/wire/checksum.h"
#include "encap/wire/tcp.h"

namespace mirrorpipe {

namespace {

using wire::tcpflag::kAck;
using wire::tcpflag::kFin;
using wire::tcpflag::kPsh;
using wire::tcpflag::kRst;
using wire::tcpflag::kSyn;

constexpr uint32_t kPortCount = kHealthPortLast - kHealthPortFirst + 1;
constexpr uint32_t kTcpMssHeaderBytes = wire::kTcpMinHeaderBytes + wire::tcpopt::kMssLength;
constexpr double kMaxSeconds = 3600;

uint64_t splitmix64(uint64_t seed, uint64_t k) noexcept {
  uint64_t z = seed + k * 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Sequence-number order (RFC 9293 section 3.4: arithmetic modulo 2^32).
bool seq_lt(uint32_t a, uint32_t b) noexcept { return static_cast<int32_t>(a - b) < 0; }
bool seq_le(uint32_t a, uint32_t b) noexcept { return static_cast<int32_t>(a - b) <= 0; }

std::string dotted(const wire::Ipv4Address& a) {
  return std::to_string(a[0]) + "." + std::to_string(a[1]) + "." + std::to_string(a[2]) + "." +
         std::to_string(a[3]);
}

uint64_t seconds_to_ns(double s) noexcept { return static_cast<uint64_t>(std::llround(s * 1e9)); }

bool is_digit(uint8_t c) noexcept { return c >= '0' && c <= '9'; }

// The member's MSS option in a SYN-ACK's options (RFC 9293 section 3.2); the default when
// absent or malformed. The walk stops at the end of the options, never beyond.
uint16_t mss_option(std::span<const uint8_t> options) noexcept {
  size_t i = 0;
  while (i < options.size()) {
    const uint8_t kind = options[i];
    if (kind == wire::tcpopt::kEnd) break;
    if (kind == wire::tcpopt::kNop) {
      ++i;
      continue;
    }
    if (options.size() - i < 2) break;
    const uint8_t len = options[i + 1];
    if (len < 2 || len > options.size() - i) break;
    if (kind == wire::tcpopt::kMss && len == wire::tcpopt::kMssLength) {
      const uint16_t mss = static_cast<uint16_t>(options[i + 2] << 8 | options[i + 3]);
      return mss == 0 ? kHealthDefaultPeerMss : mss;
    }
    i += len;
  }
  return kHealthDefaultPeerMss;
}

}  // namespace

// A received segment of the member's, lengths proven.
struct HealthProbe::Segment {
  uint16_t src_port;
  uint16_t dst_port;
  uint32_t seq;
  uint32_t ack;
  uint8_t flags;
  std::span<const uint8_t> options;
  std::span<const uint8_t> payload;
  // SEG.LEN: the data plus one for each of SYN and FIN.
  uint32_t length() const noexcept {
    return static_cast<uint32_t>(payload.size()) + ((flags & kSyn) ? 1 : 0) + ((flags & kFin) ? 1 : 0);
  }
};

std::string health_settings_error(const HealthCheckSettings& s) {
  if (s.protocol != HealthCheckSettings::Protocol::kTcp && s.protocol != HealthCheckSettings::Protocol::kHttp) {
    return "health check protocol: expected TCP or HTTP";
  }
  if (s.port == 0) return "health check port: found 0, expected 1-65535";
  if (s.protocol == HealthCheckSettings::Protocol::kHttp) {
    if (s.path.empty() || s.path[0] != '/') return "health check path: found '" + s.path + "', expected a path starting with '/'";
    if (s.path.size() > kHealthMaxPathBytes) {
      return "health check path: " + std::to_string(s.path.size()) + " bytes, at most " + std::to_string(kHealthMaxPathBytes);
    }
    for (char c : s.path) {
      const auto u = static_cast<unsigned char>(c);
      if (u <= 0x20 || u >= 0x7f) return "health check path: expected visible ASCII characters only (no space or control)";
    }
  }
  if (s.match_lo < 100 || s.match_hi > 599 || s.match_lo > s.match_hi) {
    return "health check matcher: found " + std::to_string(s.match_lo) + "-" + std::to_string(s.match_hi) +
           ", expected a range within 100-599";
  }
  if (!(s.timeout_s > 0) || !(s.interval_s > 0) || s.interval_s > kMaxSeconds || !(s.timeout_s <= s.interval_s)) {
    return "health check timeout/interval: found " + std::to_string(s.timeout_s) + " s / " + std::to_string(s.interval_s) +
           " s, expected 0 < timeout <= interval <= 3600";
  }
  if (s.healthy_threshold == 0 || s.unhealthy_threshold == 0) return "health check thresholds: expected at least 1";
  return {};
}

const char* health_outcome_name(HealthOutcome outcome) noexcept {
  switch (outcome) {
    case HealthOutcome::kPending: return "pending";
    case HealthOutcome::kPass: return "pass";
    case HealthOutcome::kRefused: return "refused";
    case HealthOutcome::kTimeout: return "timeout";
    case HealthOutcome::kBadResponse: return "bad-response";
    case HealthOutcome::kStatusMismatch: return "status-mismatch";
    case HealthOutcome::kClosed: return "closed";
  }
  return "unknown";
}

HealthProbe::HealthProbe(const wire::MacAddress& own_mac, const wire::Ipv4Address& own_ip,
                         const wire::MacAddress& next_hop_mac, const wire::Ipv4Address& member_ip,
                         HealthCheckSettings settings, uint64_t seed)
    : own_mac_(own_mac),
      own_ip_(own_ip),
      next_hop_mac_(next_hop_mac),
      member_ip_(member_ip),
      settings_(std::move(settings)),
      seed_(seed) {
  if (std::string err = health_settings_error(settings_); !err.empty()) throw std::invalid_argument(err);
  timeout_ns_ = std::max<uint64_t>(1, seconds_to_ns(settings_.timeout_s));
  first_rto_ns_ = std::max<uint64_t>(1, std::min(kHealthInitialRtoNs, timeout_ns_ / 4));
  port_offset_ = static_cast<uint32_t>(splitmix64(seed_, 1) % kPortCount);
  if (settings_.protocol == HealthCheckSettings::Protocol::kHttp) {
    std::string host = dotted(member_ip_);
    if (settings_.port != 80) host.append(1, ':').append(std::to_string(settings_.port));  // not `":" + ...`: GCC 12's -Wrestrict false positive at -O3
    request_ = "GET " + settings_.path + " HTTP/1.1\r\nHost: " + host +
               "\r\nUser-Agent: mirrorpipe-health-check\r\nConnection: close\r\n\r\n";
  }
}

std::optional<bool> HealthProbe::result() const noexcept {
  if (state_ != State::kDone) return std::nullopt;
  return outcome_ == HealthOutcome::kPass;
}

uint64_t HealthProbe::next_timer_ns() const noexcept {
  if (!running()) return std::numeric_limits<uint64_t>::max();
  return retransmit_at_ns_ ? std::min(retransmit_at_ns_, deadline_ns_) : deadline_ns_;
}

void HealthProbe::start(uint64_t now_ns, HealthFrames& out) {
  if (state_ == State::kRequestSent) emit(out, kRst, snd_nxt_, 0);
  sport_ = static_cast<uint16_t>(kHealthPortFirst + (port_offset_ + checks_) % kPortCount);
  iss_ = static_cast<uint32_t>(splitmix64(seed_, checks_ + 2));
  ++checks_;
  state_ = State::kSynSent;
  outcome_ = HealthOutcome::kPending;
  snd_una_ = iss_;
  snd_nxt_ = iss_ + 1;
  rcv_nxt_ = 0;
  peer_mss_ = kHealthDefaultPeerMss;
  deadline_ns_ = now_ns + timeout_ns_;
  rto_ns_ = first_rto_ns_;
  retransmit_at_ns_ = now_ns + rto_ns_;
  retransmits_ = 0;
  status_bytes_ = 0;
  http_status_ = 0;
  emit(out, kSyn, iss_, 0, {}, true);
}

void HealthProbe::poll(uint64_t now_ns, HealthFrames& out) {
  if (!running()) return;
  if (now_ns >= deadline_ns_) {
    finish(HealthOutcome::kTimeout, out);
    return;
  }
  if (retransmit_at_ns_ == 0 || now_ns < retransmit_at_ns_) return;
  if (retransmits_ >= kHealthMaxRetransmits) {
    retransmit_at_ns_ = 0;  // wait for the timeout
    return;
  }
  ++retransmits_;
  rto_ns_ *= 2;
  retransmit_at_ns_ = now_ns + rto_ns_;
  if (state_ == State::kSynSent) {
    emit(out, kSyn, iss_, 0, {}, true);
  } else {
    send_request(out);
  }
}

bool HealthProbe::on_frame(std::span<const uint8_t> frame, uint64_t now_ns, HealthFrames& out) {
  Segment seg;
  if (!parse(frame, seg)) return false;
  if (checks_ == 0 || seg.src_port != settings_.port || seg.dst_port != sport_) return false;
  poll(now_ns, out);  // a segment after the deadline does not save a check
  switch (state_) {
    case State::kSynSent: on_syn_sent(seg, now_ns, out); break;
    case State::kRequestSent: on_synchronized(seg, out); break;
    case State::kIdle:
    case State::kDone: on_closed(seg, out); break;
  }
  return true;
}

// Validation order: Ethernet, IPv4 (fits, version, header length, total length against the
// frame, not a fragment, addresses, header checksum), TCP (fits, data offset against the
// segment, checksum over the pseudo-header). Padding after the IPv4 total length is ignored.
bool HealthProbe::parse(std::span<const uint8_t> frame, Segment& seg) const noexcept {
  const auto* eth = wire::header_at<wire::EthernetHeader>(frame, 0);
  if (!eth || eth->ether_type.value() != wire::ethertype::kIpv4 || eth->dst != own_mac_) return false;
  const wire::Bytes l3 = frame.subspan(wire::kEthernetHeaderBytes);
  const auto* ip = wire::header_at<wire::Ipv4Header>(l3, 0);
  if (!ip || ip->version() != 4) return false;
  const uint32_t ihl = ip->ihl_bytes();
  const uint32_t total = ip->total_length_bytes();
  if (ihl < wire::kIpv4MinHeaderBytes || total < ihl || total > l3.size()) return false;
  if (ip->is_fragment() || ip->protocol != wire::ipproto::kTcp) return false;
  if (ip->src != member_ip_ || ip->dst != own_ip_) return false;
  if (!wire::checksum_valid(l3.data(), ihl)) return false;
  const wire::Bytes l4 = l3.subspan(ihl, total - ihl);
  const auto* tcp = wire::header_at<wire::TcpHeader>(l4, 0);
  if (!tcp) return false;
  const uint32_t doff = tcp->data_offset_bytes();
  if (doff < wire::kTcpMinHeaderBytes || doff > l4.size()) return false;
  const uint64_t pseudo = wire::tcp_ipv4_pseudo_header_partial(ip->src.data(), static_cast<uint16_t>(l4.size()));
  if (!wire::checksum_valid(l4.data(), l4.size(), pseudo)) return false;
  seg.src_port = tcp->src_port.value();
  seg.dst_port = tcp->dst_port.value();
  seg.seq = tcp->seq.value();
  seg.ack = tcp->ack.value();
  seg.flags = tcp->flags;
  seg.options = l4.subspan(wire::kTcpMinHeaderBytes, doff - wire::kTcpMinHeaderBytes);
  seg.payload = l4.subspan(doff);
  return true;
}

// RFC 9293 section 3.10.7.3, SYN-SENT.
void HealthProbe::on_syn_sent(const Segment& seg, uint64_t now_ns, HealthFrames& out) {
  const bool has_ack = seg.flags & kAck;
  if (has_ack && seg.ack != snd_nxt_) {  // SND.UNA = ISS, SND.NXT = ISS+1: only ISS+1 is acceptable
    if (!(seg.flags & kRst)) emit(out, kRst, seg.ack, 0);
    return;
  }
  if (seg.flags & kRst) {
    if (has_ack) finish(HealthOutcome::kRefused, out);
    return;  // a RST without an ACK cannot be told from a forged one: dropped
  }
  // A SYN without ACK (a simultaneous open) is no answer from a listener: dropped.
  if (!(seg.flags & kSyn) || !has_ack) return;
  if (settings_.protocol == HealthCheckSettings::Protocol::kTcp) {
    emit(out, kRst, snd_nxt_, 0);  // half-open: the SYN-ACK is the answer
    finish(HealthOutcome::kPass, out);
    return;
  }
  // Data in a SYN-ACK is not taken (RCV.NXT stays at its SYN + 1): the member sends it again.
  rcv_nxt_ = seg.seq + 1;
  snd_una_ = seg.ack;
  peer_mss_ = mss_option(seg.options);
  state_ = State::kRequestSent;
  emit(out, kAck, snd_nxt_, rcv_nxt_);
  snd_nxt_ = snd_una_ + static_cast<uint32_t>(request_.size());
  retransmits_ = 0;
  rto_ns_ = first_rto_ns_;
  retransmit_at_ns_ = now_ns + rto_ns_;  // the RTO restarts with the request
  send_request(out);
}

// RFC 9293 section 3.10.7.4, the synchronized states (the probe is ESTABLISHED from its ACK of
// the SYN-ACK until it finishes), with RFC 5961's checks on RST and SYN.
void HealthProbe::on_synchronized(const Segment& seg, HealthFrames& out) {
  const uint32_t len = seg.length();
  const auto in_window = [this](uint32_t s) {
    return seq_le(rcv_nxt_, s) && seq_lt(s, rcv_nxt_ + kHealthWindow);
  };
  const bool acceptable = len == 0 ? in_window(seg.seq) : in_window(seg.seq) || in_window(seg.seq + len - 1);
  if (seg.flags & kRst) {
    if (seg.seq == rcv_nxt_) {
      finish(HealthOutcome::kRefused, out);
    } else if (acceptable) {
      emit(out, kAck, snd_nxt_, rcv_nxt_);  // challenge ACK
    }
    return;
  }
  // Not acceptable (e.g. the SYN-ACK again, because the ACK was lost), or a SYN: an ACK.
  if (!acceptable || (seg.flags & kSyn)) {
    emit(out, kAck, snd_nxt_, rcv_nxt_);
    return;
  }
  if (!(seg.flags & kAck)) return;
  if (seq_lt(snd_nxt_, seg.ack)) {  // acknowledges something never sent
    emit(out, kAck, snd_nxt_, rcv_nxt_);
    return;
  }
  if (seq_lt(snd_una_, seg.ack)) {
    snd_una_ = seg.ack;
    if (snd_una_ == snd_nxt_) retransmit_at_ns_ = 0;  // the request arrived whole
  }
  // Data only in order: a segment that starts beyond RCV.NXT is dropped with a duplicate ACK
  // (the member retransmits it); one that overlaps what was taken gives only its new bytes.
  if (seq_lt(rcv_nxt_, seg.seq)) {
    emit(out, kAck, snd_nxt_, rcv_nxt_);
    return;
  }
  // Acceptable and starting at or before RCV.NXT: skip <= payload size.
  const size_t skip = rcv_nxt_ - seg.seq;
  const std::span<const uint8_t> data =
      skip < seg.payload.size() ? seg.payload.subspan(skip) : std::span<const uint8_t>{};
  rcv_nxt_ += static_cast<uint32_t>(data.size());
  bool fin = false;
  if ((seg.flags & kFin) && rcv_nxt_ == seg.seq + seg.payload.size()) {
    ++rcv_nxt_;
    fin = true;
  }
  if (!take_status_bytes(data)) {
    finish(HealthOutcome::kBadResponse, out);
  } else if (status_bytes_ == status_line_.size()) {
    const bool matched = http_status_ >= settings_.match_lo && http_status_ <= settings_.match_hi;
    finish(matched ? HealthOutcome::kPass : HealthOutcome::kStatusMismatch, out);
  } else if (fin) {
    finish(HealthOutcome::kClosed, out);
  } else if (!data.empty()) {
    emit(out, kAck, snd_nxt_, rcv_nxt_);
  }
}

// RFC 9293 section 3.10.7.1, CLOSED: a RST for anything but a RST.
void HealthProbe::on_closed(const Segment& seg, HealthFrames& out) {
  if (seg.flags & kRst) return;
  if (seg.flags & kAck) {
    emit(out, kRst, seg.ack, 0);
  } else {
    emit(out, kRst | kAck, 0, seg.seq + seg.length());
  }
}

// The request from SND.UNA on, in segments of at most the member's MSS (and the probe's own).
void HealthProbe::send_request(HealthFrames& out) {
  const auto* bytes = reinterpret_cast<const uint8_t*>(request_.data());
  const uint32_t first = iss_ + 1;
  const size_t mss = std::min(peer_mss_, kHealthMss);
  size_t offset = snd_una_ - first;
  while (offset < request_.size()) {
    const size_t n = std::min(mss, request_.size() - offset);
    const bool last = offset + n == request_.size();
    emit(out, static_cast<uint8_t>(kAck | (last ? kPsh : 0)), first + static_cast<uint32_t>(offset), rcv_nxt_,
         {bytes + offset, n});
    offset += n;
  }
}

// The status line, byte by byte against "HTTP/1.D DDDE" (D a digit, E a space or a CR).
bool HealthProbe::take_status_bytes(std::span<const uint8_t> data) noexcept {
  static constexpr char kTemplate[] = "HTTP/1.D DDDE";
  static_assert(sizeof(kTemplate) - 1 == std::tuple_size_v<decltype(status_line_)>);
  for (uint8_t c : data) {
    if (status_bytes_ == status_line_.size()) break;
    const char t = kTemplate[status_bytes_];
    const bool ok = t == 'D' ? is_digit(c) : t == 'E' ? (c == ' ' || c == '\r') : c == static_cast<uint8_t>(t);
    if (!ok) return false;
    status_line_[status_bytes_++] = c;
  }
  if (status_bytes_ == status_line_.size()) {
    http_status_ = static_cast<uint16_t>((status_line_[9] - '0') * 100 + (status_line_[10] - '0') * 10 +
                                         (status_line_[11] - '0'));
  }
  return true;
}

void HealthProbe::finish(HealthOutcome outcome, HealthFrames& out) {
  // The connection is ours to abort unless the member reset it (RFC 9293 section 3.10.4).
  if (state_ == State::kRequestSent && outcome != HealthOutcome::kRefused) emit(out, kRst, snd_nxt_, 0);
  state_ = State::kDone;
  outcome_ = outcome;
  retransmit_at_ns_ = 0;
}

void HealthProbe::emit(HealthFrames& out, uint8_t flags, uint32_t seq, uint32_t ack,
                       std::span<const uint8_t> payload, bool mss_option) const {
  const uint32_t tcp_bytes =
      (mss_option ? kTcpMssHeaderBytes : wire::kTcpMinHeaderBytes) + static_cast<uint32_t>(payload.size());
  const uint32_t ip_bytes = wire::kIpv4MinHeaderBytes + tcp_bytes;
  const size_t l4_offset = wire::kEthernetHeaderBytes + wire::kIpv4MinHeaderBytes;
  std::vector<uint8_t> frame(std::max<size_t>(kHealthMinFrameBytes, wire::kEthernetHeaderBytes + ip_bytes), 0);
  const wire::MutableBytes buf(frame);

  auto* eth = wire::header_at<wire::EthernetHeader>(buf, 0);
  eth->dst = next_hop_mac_;
  eth->src = own_mac_;
  eth->ether_type.set(wire::ethertype::kIpv4);

  auto* ip = wire::header_at<wire::Ipv4Header>(buf, wire::kEthernetHeaderBytes);
  ip->version_ihl = 0x45;
  ip->tos = 0;
  ip->total_length.set(static_cast<uint16_t>(ip_bytes));
  ip->identification.set(0);  // DF set: no fragment to tell apart (RFC 6864 section 4.1)
  ip->flags_fragment.set(wire::Ipv4Header::kFlagDf);
  ip->ttl = 64;
  ip->protocol = wire::ipproto::kTcp;
  ip->checksum.set_raw(0);
  ip->src = own_ip_;
  ip->dst = member_ip_;
  ip->checksum.set_raw(wire::checksum_finish(wire::checksum_partial(buf.data() + wire::kEthernetHeaderBytes,
                                                                      wire::kIpv4MinHeaderBytes)));

  auto* tcp = wire::header_at<wire::TcpHeader>(buf, l4_offset);
  tcp->src_port.set(sport_);
  tcp->dst_port.set(settings_.port);
  tcp->seq.set(seq);
  tcp->ack.set((flags & kAck) ? ack : 0);
  tcp->set_data_offset_bytes(mss_option ? kTcpMssHeaderBytes : wire::kTcpMinHeaderBytes);
  tcp->flags = flags;
  tcp->window.set((flags & kRst) ? 0 : kHealthWindow);
  tcp->checksum.set_raw(0);
  tcp->urgent_pointer.set(0);
  uint8_t* p = buf.data() + l4_offset + wire::kTcpMinHeaderBytes;
  if (mss_option) {
    p[0] = wire::tcpopt::kMss;
    p[1] = wire::tcpopt::kMssLength;
    p[2] = static_cast<uint8_t>(kHealthMss >> 8);
    p[3] = static_cast<uint8_t>(kHealthMss & 0xff);
    p += wire::tcpopt::kMssLength;
  }
  if (!payload.empty()) std::memcpy(p, payload.data(), payload.size());
  const uint64_t pseudo = wire::tcp_ipv4_pseudo_header_partial(ip->src.data(), static_cast<uint16_t>(tcp_bytes));
  tcp->checksum.set_raw(wire::checksum_finish(wire::checksum_partial(buf.data() + l4_offset, tcp_bytes, pseudo)));
  out.push_back(std::move(frame));
}

HealthState::HealthState(uint32_t healthy_threshold, uint32_t unhealthy_threshold) noexcept
    : healthy_threshold_(std::max<uint32_t>(1, healthy_threshold)),
      unhealthy_threshold_(std::max<uint32_t>(1, unhealthy_threshold)) {}

bool HealthState::record(bool pass) noexcept {
  constexpr uint32_t kMax = std::numeric_limits<uint32_t>::max();
  if (pass) {
    ++passed_;
    if (consecutive_passes_ != kMax) ++consecutive_passes_;
    consecutive_failures_ = 0;
    if (!healthy_ && consecutive_passes_ >= healthy_threshold_) {
      healthy_ = true;
      return true;
    }
  } else {
    ++failed_;
    if (consecutive_failures_ != kMax) ++consecutive_failures_;
    consecutive_passes_ = 0;
    if (healthy_ && consecutive_failures_ >= unhealthy_threshold_) {
      healthy_ = false;
      return true;
    }
  }
  return false;
}

}  // namespace mirrorpipe
