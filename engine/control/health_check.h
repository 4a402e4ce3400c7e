// Health checks of analyzer-pool members, as Gateway Load Balancer does them (AWS, "Health
// checks for Gateway Load Balancer target groups"; defaults in engine/config/health_settings.h).
// Control path, no DPDK: the checks leave through an engine output port, from that port's own
// IPv4 address and MAC, with no kernel socket, so mirrorpipe carries the minimal TCP client
// below. The runtime glue moves its frames through a DPDK queue: it calls start() every
// interval_s, hands every frame received on the port to on_frame() (which says whether the
// frame was the probe's) and calls poll() no later than next_timer_ns(); it sends whatever the
// calls append to `out`, in order, and reads result() once running() is false.
//
// One check, TCP (RFC 9293 section 3.5, "Establishing a Connection"):
//   probe  SYN <SEQ=ISS> with an MSS option
//   member SYN-ACK <ACK=ISS+1>                     -> pass, and the probe answers
//   probe  RST <SEQ=ISS+1>                          (the connection is never completed)
//   member RST,ACK <ACK=ISS+1> (nothing listens)    -> fail (refused)
//   nothing within timeout_s                        -> fail (timeout)
// A half-open check: the SYN-ACK alone proves that a listening socket accepts connections,
// which is all a TCP check asks. Completing the handshake would hand the member's application
// a connection to accept() and close on every check, and put one line in its log each time;
// the RST instead removes the embryonic connection from the member's SYN queue at once (Linux
// counts it in TcpAttemptFails), so the member spends no work beyond its kernel.
//
// One check, HTTP: the handshake as above, then the probe ACKs the SYN-ACK and sends
//   GET <path> HTTP/1.1\r\nHost: <member ip>[:<port> unless 80]\r\n
//   User-Agent: mirrorpipe-health-check\r\nConnection: close\r\n\r\n
// (Host carries the port when it is not 80: RFC 9110 section 7.2), split at the member's MSS.
// It ACKs each in-order data segment, answers out-of-order ones with a duplicate ACK and drops
// them (the member retransmits; nothing is queued), reads the status line (RFC 9112 section 4:
// "HTTP/1.x NNN " or "HTTP/1.x NNN\r"), and finishes as soon as the status code is known:
// pass iff NNN is in [match_lo, match_hi]. Anything else that is not a status line fails
// (bad response); a FIN before it fails (closed); a RST fails (refused).
//
// Closing: the probe ends every connection it opened with a RST <SEQ=SND.NXT> (RFC 9293
// section 3.10.4, ABORT), never with FIN. A check's answer is complete once the status line
// is read; a FIN close would keep state on both sides for nothing: the probe would have to
// wait for and retransmit its FIN, and since the member closes first (Connection: close), the
// member would hold the connection in TIME-WAIT for 2 MSL after every check. With the RST
// neither side keeps anything. The cost: a member's server may log a reset connection.
//
// Retransmission: the first frame of a check may be lost while the neighbours' ARP settles,
// so the SYN, and the request when the member has not acknowledged it, are sent again after
// an RTO of min(1 s, timeout_s / 4) (RFC 6298's initial 1 s), doubling, at most
// kHealthMaxRetransmits times each, all within timeout_s. With the defaults: SYN at 0, 1 and
// 3 s, fail at 5 s. Segments of the member's are acknowledged as RFC 9293 section 3.10.7.4
// says: an unacceptable segment or a SYN in the synchronized state gets an ACK (so a SYN-ACK
// repeated because the probe's ACK was lost is answered), a RST counts only with exactly
// SEQ=RCV.NXT (RFC 5961 section 3.2; in the window otherwise: challenge ACK).
//
// Source ports and initial sequence numbers: check n of a probe (n = 0, 1, ...) leaves from
// port 32768 + (splitmix64(seed, 1) + n) mod 28232, i.e. it walks Linux's default ephemeral
// range 32768-60999 from a seeded start, and uses ISS = the low 32 bits of
// splitmix64(seed, n + 2), where splitmix64(s, k) is the k-th SplitMix64 output seeded with s:
// z = s + k * 0x9e3779b97f4a7c15; z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
// z = (z ^ (z >> 27)) * 0x94d049bb133111eb; z ^ (z >> 31) (all mod 2^64).
// A fresh port per check keeps a late segment of one check (a repeated SYN-ACK, the rest of a
// response) out of the next; the same port comes back only after 28232 checks (39 hours at a
// 5 s interval), far beyond 2 MSL, so a random ISS per check needs none of RFC 9293's clock
// (the clock protects the reuse of a connection's 4-tuple within MSL). Seed each probe with an
// unpredictable value (getrandom()) so that an off-path host cannot guess port and ISS and
// forge a pass (RFC 6528's concern); the tests use fixed seeds, and
// test/golden/make_health_frames.py computes the same sequence independently.
//
// After a check has finished, a segment of its connection (same ports) is answered as a
// CLOSED TCP answers (RFC 9293 section 3.10.7.1): a RST, unless it is one. So a SYN-ACK that
// arrives after the timeout, or the rest of a response after the probe's RST, leaves the member
// with nothing half-open. Such frames are the probe's: on_frame() returns true.
//
// Frames: Ethernet II to the next hop's MAC, IPv4 (DF, ID 0, TTL 64, no options), TCP with
// window 64240 (0 on a RST) and no window scaling, padded with zeros to the 60-byte Ethernet
// minimum. Received frames count only when untagged IPv4 to the probe's MAC and IP from the
// member, not fragments, with correct IPv4 and TCP checksums (the pseudo-header included) and
// lengths that fit the frame; anything else returns false and changes nothing. Every read goes
// through wire::header_at: no input reads beyond the frame or throws.
//
// Not implemented, because one check needs none of it: reassembly of out-of-order data, the
// member's receive window (the request, at most 1.2 KB, is sent whole), TCP options other than
// MSS, interim 1xx responses (they fail the check unless the matcher takes them), HTTPS.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "encap/wire/ethernet.h"
#include "encap/wire/ipv4.h"
#include "engine/config/health_settings.h"

namespace mirrorpipe {

inline constexpr uint16_t kHealthPortFirst = 32768;  // Linux's ip_local_port_range
inline constexpr uint16_t kHealthPortLast = 60999;
inline constexpr uint16_t kHealthWindow = 64240;      // 44 * 1460, what Linux offers on Ethernet
inline constexpr uint16_t kHealthMss = 1460;          // Ethernet MTU 1500 - 20 - 20
inline constexpr uint16_t kHealthDefaultPeerMss = 536;  // no MSS option (RFC 9293 section 3.7.1)
inline constexpr uint32_t kHealthMaxRetransmits = 2;    // per segment (SYN, request)
inline constexpr uint64_t kHealthInitialRtoNs = 1'000'000'000;  // RFC 6298 section 2.1
inline constexpr size_t kHealthMaxPathBytes = 1024;     // AWS's HealthCheckPath limit
inline constexpr size_t kHealthMinFrameBytes = 60;      // Ethernet minimum without the FCS

// Empty when `s` can be used, else what is wrong with it (for the configuration loader, which
// adds the file and line): port 1-65535; HTTP path starting with '/', at most
// kHealthMaxPathBytes visible ASCII characters (no space or control: it goes into the request
// line as is); 100 <= match_lo <= match_hi <= 599; 0 < timeout_s <= interval_s <= 3600;
// thresholds at least 1.
std::string health_settings_error(const HealthCheckSettings& s);

// Why a check ended.
enum class HealthOutcome : uint8_t {
  kPending,         // not started yet, or running
  kPass,
  kRefused,         // the member reset the connection (nothing listens on the port)
  kTimeout,         // no decision within timeout_s
  kBadResponse,     // HTTP: what came is not a status line
  kStatusMismatch,  // HTTP: a status outside [match_lo, match_hi]
  kClosed,          // HTTP: the member closed (FIN) before a whole status line
};
const char* health_outcome_name(HealthOutcome outcome) noexcept;

using HealthFrames = std::vector<std::vector<uint8_t>>;

// One member's checks, one at a time. Not thread-safe: one control thread owns it. start(),
// on_frame() and poll() append the frames to send to `out`; they throw nothing but
// std::bad_alloc (from `out`), whatever the input.
class HealthProbe {
 public:
  // Throws std::invalid_argument with health_settings_error()'s message for unusable settings.
  HealthProbe(const wire::MacAddress& own_mac, const wire::Ipv4Address& own_ip,
              const wire::MacAddress& next_hop_mac, const wire::Ipv4Address& member_ip,
              HealthCheckSettings settings, uint64_t seed);

  // Begins check number checks_started() (fresh port and ISS) and sends its SYN. A check still
  // running is abandoned first (with a RST if its connection was established); it gets no result.
  void start(uint64_t now_ns, HealthFrames& out);

  // Any frame received on the port. True when it was this probe's (its current or last check's
  // connection, checksums right), false for anything else, which changes nothing. Handles the
  // timeout first, as poll() would.
  bool on_frame(std::span<const uint8_t> frame, uint64_t now_ns, HealthFrames& out);

  // Retransmissions and the timeout; call it no later than next_timer_ns().
  void poll(uint64_t now_ns, HealthFrames& out);

  bool running() const noexcept { return state_ == State::kSynSent || state_ == State::kRequestSent; }
  // Once the check has finished: true = pass. Empty before the first check and while running.
  std::optional<bool> result() const noexcept;
  HealthOutcome outcome() const noexcept { return outcome_; }
  // HTTP: the status code read (0 when none was).
  uint16_t http_status() const noexcept { return http_status_; }
  // When poll() has something to do next (a retransmission or the timeout); UINT64_MAX when
  // no check runs.
  uint64_t next_timer_ns() const noexcept;

  uint64_t checks_started() const noexcept { return checks_; }
  uint16_t source_port() const noexcept { return sport_; }  // of the current or last check
  uint32_t iss() const noexcept { return iss_; }
  const HealthCheckSettings& settings() const noexcept { return settings_; }
  void set_next_hop_mac(const wire::MacAddress& mac) noexcept { next_hop_mac_ = mac; }

 private:
  enum class State : uint8_t { kIdle, kSynSent, kRequestSent, kDone };
  struct Segment;

  bool parse(std::span<const uint8_t> frame, Segment& seg) const noexcept;
  void on_syn_sent(const Segment& seg, uint64_t now_ns, HealthFrames& out);
  void on_synchronized(const Segment& seg, HealthFrames& out);
  void on_closed(const Segment& seg, HealthFrames& out);
  void send_request(HealthFrames& out);
  // Reads response bytes into the status line; false when they cannot be one.
  bool take_status_bytes(std::span<const uint8_t> data) noexcept;
  void finish(HealthOutcome outcome, HealthFrames& out);
  void emit(HealthFrames& out, uint8_t flags, uint32_t seq, uint32_t ack,
            std::span<const uint8_t> payload = {}, bool mss_option = false) const;

  wire::MacAddress own_mac_;
  wire::Ipv4Address own_ip_;
  wire::MacAddress next_hop_mac_;
  wire::Ipv4Address member_ip_;
  HealthCheckSettings settings_;
  std::string request_;
  uint64_t seed_;
  uint64_t timeout_ns_;
  uint64_t first_rto_ns_;
  uint32_t port_offset_;

  uint64_t checks_ = 0;
  State state_ = State::kIdle;
  HealthOutcome outcome_ = HealthOutcome::kPending;
  uint16_t sport_ = 0;
  uint32_t iss_ = 0;
  uint32_t snd_una_ = 0;
  uint32_t snd_nxt_ = 0;
  uint32_t rcv_nxt_ = 0;
  uint16_t peer_mss_ = kHealthDefaultPeerMss;
  uint64_t deadline_ns_ = 0;
  uint64_t rto_ns_ = 0;
  uint64_t retransmit_at_ns_ = 0;  // 0: nothing to retransmit
  uint32_t retransmits_ = 0;
  // "HTTP/1.x NNN" and the byte after it: 13 bytes decide a status line.
  std::array<uint8_t, 13> status_line_{};
  size_t status_bytes_ = 0;
  uint16_t http_status_ = 0;
};

// A member's health from its checks' results, as GWLB counts them: it leaves service after
// unhealthy_threshold consecutive failures and returns after healthy_threshold consecutive
// passes. A member starts healthy, so that a pool carries traffic from the engine's start while
// the first checks run (GWLB itself routes to a newly registered target before its first
// check too). A threshold of 0 counts as 1.
class HealthState {
 public:
  HealthState(uint32_t healthy_threshold, uint32_t unhealthy_threshold) noexcept;
  explicit HealthState(const HealthCheckSettings& s) noexcept
      : HealthState(s.healthy_threshold, s.unhealthy_threshold) {}

  // One check's result; true when the member changed state (healthy <-> unhealthy).
  bool record(bool pass) noexcept;

  bool healthy() const noexcept { return healthy_; }
  uint64_t passed() const noexcept { return passed_; }  // checks, in all
  uint64_t failed() const noexcept { return failed_; }
  uint32_t consecutive_passes() const noexcept { return consecutive_passes_; }
  uint32_t consecutive_failures() const noexcept { return consecutive_failures_; }

 private:
  uint32_t healthy_threshold_;
  uint32_t unhealthy_threshold_;
  bool healthy_ = true;
  uint64_t passed_ = 0;
  uint64_t failed_ = 0;
  uint32_t consecutive_passes_ = 0;
  uint32_t consecutive_failures_ = 0;
};

}  // namespace mirrorpipe
