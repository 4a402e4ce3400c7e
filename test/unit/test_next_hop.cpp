// An output's next hop while the engine runs (engine/control/next_hop.h): asked every refresh
// period while it answers; a request left unanswered for the answer window makes it silent
// (once), keeps its last MAC and asks every window; a reply ends the silence; another MAC moves.
#include <catch2/catch.hpp>

#include "engine/control/next_hop.h"

using mirrorpipe::NextHopState;
using mirrorpipe::wire::MacAddress;

namespace {
const MacAddress kRouter{0x02, 0, 0, 0, 0, 1};
const MacAddress kOther{0x02, 0, 0, 0, 0, 2};

bool nothing(const NextHopState::Change& c) { return !c.silent && !c.answers_again && !c.moved; }
}  // namespace

TEST_CASE("next hop: an answering next hop is asked once a refresh period") {
  NextHopState h(kRouter, 30, 100.0);
  CHECK_FALSE(h.request_due(129.9));
  REQUIRE(h.request_due(130.0));
  h.requested(130.0);
  CHECK(nothing(h.tick(131.0)));
  CHECK(nothing(h.replied(131.5, kRouter)));
  CHECK(nothing(h.tick(200.0)));  // answered: the window passing changes nothing
  CHECK_FALSE(h.request_due(159.9));
  CHECK(h.request_due(160.0));
  CHECK(h.requests() == 1);
  CHECK(h.unanswered() == 0);
  CHECK(h.answering());
  CHECK(h.mac() == kRouter);
}

TEST_CASE("next hop: a request unanswered for 3 s makes it silent once; its last MAC stays") {
  NextHopState h(kRouter, 30, 0.0);
  h.requested(30.0);
  CHECK(nothing(h.tick(32.9)));
  const auto c = h.tick(33.0);
  CHECK(c.silent);
  CHECK_FALSE(c.moved);
  CHECK_FALSE(h.answering());
  CHECK(h.unanswered() == 1);
  CHECK(h.mac() == kRouter);
  // Silent: asked every 3 s, not every 30.
  CHECK(h.request_due(33.0));
  h.requested(33.0);
  CHECK_FALSE(h.request_due(35.9));
  CHECK(nothing(h.tick(36.0)));  // a second unanswered request is counted, not said again
  CHECK(h.unanswered() == 2);
  CHECK(h.request_due(36.0));
  CHECK(nothing(h.tick(100.0)));  // nothing outstanding: nothing to count
  CHECK(h.unanswered() == 2);
  CHECK(h.requests() == 2);
}

TEST_CASE("next hop: its next reply ends the silence, with how long it lasted") {
  NextHopState h(kRouter, 30, 0.0);
  h.requested(10.0);
  h.replied(10.5, kRouter);
  h.requested(40.5);
  REQUIRE(h.tick(43.5).silent);
  h.requested(43.5);
  const auto c = h.replied(44.0, kRouter);
  CHECK(c.answers_again);
  CHECK_FALSE(c.moved);
  CHECK(c.silent_for_s == Approx(33.5));  // since the last reply
  CHECK(h.answering());
  // Back to the refresh period, from the reply.
  CHECK_FALSE(h.request_due(73.9));
  CHECK(h.request_due(74.0));
  CHECK(nothing(h.replied(50.0, kRouter)));  // a second reply is nothing new
}

TEST_CASE("next hop: a reply with another MAC moves the outputs to it, silent or not") {
  NextHopState h(kRouter, 30, 0.0);
  auto c = h.replied(5.0, kOther);  // gratuitous: no request outstanding
  CHECK(c.moved);
  CHECK_FALSE(c.answers_again);
  CHECK(h.mac() == kOther);
  h.requested(35.0);
  REQUIRE(h.tick(38.0).silent);
  c = h.replied(40.0, kRouter);
  CHECK(c.answers_again);
  CHECK(c.moved);
  CHECK(h.mac() == kRouter);
}

TEST_CASE("next hop: a refresh period shorter than 3 s is also the answer window") {
  NextHopState h(kRouter, 1, 0.0);
  REQUIRE(h.request_due(1.0));
  h.requested(1.0);
  CHECK(nothing(h.tick(1.9)));
  CHECK(h.tick(2.0).silent);
  CHECK(h.request_due(2.0));
}
