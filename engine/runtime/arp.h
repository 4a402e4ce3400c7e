// ARP resolution of an output's next hop, by the control thread (RFC 826).
//
// The control thread owns one extra TX queue of the output (after the workers' queues) and the
// output's RX queues, which the workers never poll on an output.
// It asks at start, until answered or out of time, and again every refresh period; a changed
// answer is published to the workers as a new route snapshot.
// An input that is an output too (also_output) is different: its RX queues are the workers'
// once they run. The resolver reads them only at start; afterwards the worker that receives
// the next hop's reply leaves its MAC in learned_slot() (host_classify), and poll() reads it.
#pragma once

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>

#include "encap/wire/ethernet.h"
#include "encap/wire/ipv4.h"

struct rte_mempool;

namespace mirrorpipe {

class ArpResolver {
 public:
  ArpResolver(std::string port_name, uint16_t port_id, uint16_t tx_queue, uint16_t rx_queues, rte_mempool* pool,
              wire::MacAddress own_mac, wire::Ipv4Address own_ip, wire::Ipv4Address next_hop,
              bool rx_shared_with_workers = false);

  // The workers poll the RX queues from now on (shared ports): poll() reads learned_slot().
  void workers_started() { workers_running_ = true; }
  // Another reader (the port's health checker) takes the RX queues from now on and leaves the
  // next hop's replies in learned_slot(), as the workers do on a shared port.
  void rx_taken_over() {
    shared_ = true;
    workers_running_ = true;
  }
  // Where a worker leaves the next hop's MAC (pack_learned_mac), on a shared port; else null.
  std::atomic<uint64_t>* learned_slot() { return shared_ ? &learned_ : nullptr; }

  // Sends a request now. Returns false if the port did not take it.
  bool request();
  // Reads what has arrived on the RX queues; returns the next hop's MAC if a reply from it came.
  std::optional<wire::MacAddress> poll();
  // Asks and waits up to `timeout_s`, asking again every half second. Throws
  // std::runtime_error naming the port and the address when nobody answers.
  wire::MacAddress resolve(double timeout_s);

  const std::string& port_name() const { return name_; }
  std::string next_hop_text() const;
  uint64_t replies() const { return replies_; }
  uint64_t other_received() const { return other_; }  // not ARP from the next hop: freed

 private:
  std::string name_;
  uint16_t port_;
  uint16_t txq_;
  uint16_t rxqs_;
  rte_mempool* pool_;
  wire::MacAddress mac_;
  wire::Ipv4Address ip_;
  wire::Ipv4Address next_hop_;
  uint64_t replies_ = 0;
  uint64_t other_ = 0;
  bool shared_ = false;
  bool workers_running_ = false;
  std::atomic<uint64_t> learned_{0};
};

}  // namespace mirrorpipe
