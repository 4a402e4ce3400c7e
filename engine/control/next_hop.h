// What the control thread knows of one output's next hop once the engine runs, between ARP
// requests (RFC 826): plain data and clock values, so that it is tested without DPDK
// (engine/runtime/arp.h sends and reads the frames; engine/runtime/control_loop.cpp drives it).
//
// A next hop that answers is asked again every refresh period. A request that gets no reply
// within the answer window (3 s, or the period if shorter) is counted as unanswered, and the
// first one makes the next hop silent: that is said once, the outputs keep sending to the last
// MAC it gave (on AWS the next hop is the subnet's router, whose MAC does not change; a mirror
// that stops on one lost ARP reply loses more than one that keeps going), and it is asked
// again at every answer window instead of every period. Its next reply, or any gratuitous one,
// ends the silence (said once, with how long it lasted); a reply with another MAC moves the
// outputs to it.
#pragma once

#include <cstdint>

#include "encap/wire/ethernet.h"

namespace mirrorpipe {

class NextHopState {
 public:
  static constexpr double kAnswerWindowS = 3.0;

  NextHopState(wire::MacAddress resolved, double refresh_s, double now_s)
      : mac_(resolved), refresh_s_(refresh_s), last_request_s_(now_s), last_reply_s_(now_s) {}

  // Whether a request is due at `now_s`; requested() when one has left.
  bool request_due(double now_s) const { return now_s - last_request_s_ >= (answering_ ? refresh_s_ : retry_s()); }
  void requested(double now_s);

  // What a reply, or the passing of time, changed.
  struct Change {
    bool silent = false;         // a request went unanswered: the next hop is silent from now
    bool answers_again = false;  // the first reply after a silence
    bool moved = false;          // the reply names another MAC: mac() is the new one
    double silent_for_s = 0;     // with answers_again: from the last reply before the silence
  };
  Change replied(double now_s, wire::MacAddress mac);
  Change tick(double now_s);

  wire::MacAddress mac() const { return mac_; }
  bool answering() const { return answering_; }
  uint64_t requests() const { return requests_; }
  uint64_t unanswered() const { return unanswered_; }
  // The answer window, and the period between requests while silent.
  double retry_s() const { return refresh_s_ < kAnswerWindowS ? refresh_s_ : kAnswerWindowS; }

 private:
  wire::MacAddress mac_;
  double refresh_s_;
  double last_request_s_;
  double last_reply_s_;
  bool outstanding_ = false;  // the last request has had neither a reply nor its window's end
  bool answering_ = true;
  uint64_t requests_ = 0;
  uint64_t unanswered_ = 0;
};

}  // namespace mirrorpipe
