// How mirrorpipe health-checks the members of an analyzer pool (engine/control/health_check.h
// runs the checks). Plain data; the configuration loader fills it and validates it with
// health_settings_error() (engine/control/health_check.h).
//
// The defaults are Gateway Load Balancer's (AWS, "Health checks for Gateway Load Balancer
// target groups", Health check settings): HealthCheckProtocol TCP, HealthCheckPort 80,
// HealthCheckPath "/", HealthCheckTimeoutSeconds 5, HealthCheckIntervalSeconds 10,
// HealthyThresholdCount 5, UnhealthyThresholdCount 2, Matcher "200-399". A target leaves
// service after UnhealthyThresholdCount consecutive failed checks and returns after
// HealthyThresholdCount consecutive passed ones; the load balancer closes the connection after
// each check.
#pragma once

#include <cstdint>
#include <string>

namespace mirrorpipe {

struct HealthCheckSettings {
  enum class Protocol : uint8_t {
    kTcp,   // the member accepts a TCP connection on `port` (a SYN-ACK)
    kHttp,  // GET `path` on `port` answers a status in [match_lo, match_hi]
  };
  Protocol protocol = Protocol::kTcp;
  uint16_t port = 80;
  std::string path = "/";
  uint16_t match_lo = 200;  // Matcher "200-399", both ends included
  uint16_t match_hi = 399;
  double interval_s = 10;  // from the start of one check to the start of the next
  double timeout_s = 5;    // no answer within it fails the check
  uint32_t healthy_threshold = 5;
  uint32_t unhealthy_threshold = 2;
};

}  // namespace mirrorpipe
