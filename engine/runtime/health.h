// Health checks of analyzer-pool members, run by the control thread from an output port: the
// probes (engine/control/health_check.h) send through the port's control TX queue (the one
// after the workers' queues) and read its RX queues, which no worker polls. The checks leave
// from the port's own address and MAC, and the port answers ARP (and echo) for that address
// itself, so that a member's kernel can answer (engine/pipeline/host.h). A next-hop resolver on
// the same port (next_hop_ip) gets its replies from here.
#pragma once

#include <rte_mempool.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/control/health_check.h"
#include "engine/pipeline/host.h"

namespace mirrorpipe {

class ArpResolver;

class HealthChecker {
 public:
  HealthChecker(std::string port_name, uint16_t port_id, uint16_t tx_queue, uint16_t rx_queues, rte_mempool* pool,
                const wire::MacAddress& own_mac, const wire::Ipv4Address& own_ip, ArpResolver* resolver);

  // A member to check every `s.interval_s`, the first check at `first_ns`.
  void add(size_t pool, size_t member, const wire::Ipv4Address& member_ip, const wire::MacAddress& next_hop,
           const HealthCheckSettings& s, uint64_t seed, uint64_t first_ns);

  struct Result {
    size_t pool, member;
    bool passed;
    HealthOutcome outcome;
    uint16_t http_status;
  };
  // Reads the port, runs the probes' timers, starts the checks that are due; finished checks
  // are appended to `done`.
  void step(uint64_t now_ns, std::vector<Result>& done);

  const std::string& port_name() const { return name_; }
  uint64_t frames_sent() const { return sent_; }
  uint64_t frames_unsent() const { return unsent_; }  // the TX queue or the pool was full

 private:
  void send(HealthFrames& frames);

  struct Member {
    size_t pool, member;
    std::unique_ptr<HealthProbe> probe;
    uint64_t interval_ns;
    uint64_t next_start_ns;
    bool reported;  // the finished check's result was handed out
  };
  std::string name_;
  uint16_t port_, txq_, rxqs_;
  rte_mempool* pool_;
  HostConfig host_;
  std::vector<Member> members_;
  HealthFrames out_;
  uint64_t sent_ = 0, unsent_ = 0;
};

}  // namespace mirrorpipe
