#include "engine/control/next_hop.h"

namespace mirrorpipe {

void NextHopState::requested(double now_s) {
  last_request_s_ = now_s;
  outstanding_ = true;
  ++requests_;
}

NextHopState::Change NextHopState::replied(double now_s, wire::MacAddress mac) {
  Change c;
  outstanding_ = false;
  if (!answering_) {
    answering_ = true;
    c.answers_again = true;
    c.silent_for_s = now_s - last_reply_s_;
    // Back to the refresh period, counted from this reply.
    last_request_s_ = now_s;
  }
  last_reply_s_ = now_s;
  if (mac != mac_) {
    mac_ = mac;
    c.moved = true;
  }
  return c;
}

NextHopState::Change NextHopState::tick(double now_s) {
  Change c;
  if (!outstanding_ || now_s - last_request_s_ < retry_s()) return c;
  outstanding_ = false;
  ++unanswered_;
  if (answering_) {
    answering_ = false;
    c.silent = true;
  }
  return c;
}

}  // namespace mirrorpipe
