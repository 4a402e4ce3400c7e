// The planner (control path, no DPDK): from a validated configuration and a plain description
// of the ports the runtime opened, the route snapshot the workers read (engine/pipeline/route.h).
// The runtime builds the topology once at start; the planner runs at start, on every reload,
// next-hop change and verdict, and its result is published to the workers (RouteTable).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "encap/wire/ethernet.h"
#include "engine/config/config.h"
#include "engine/pipeline/route.h"

namespace mirrorpipe {

// What the runtime opened, as the planner needs it: the engine's input and output indices (a
// worker's counter arrays and TX table are indexed by them) and what each output can do.
struct PortTopology {
  size_t input_count = 0;
  std::vector<int> input_index;   // by configuration port index; -1: not an input
  std::vector<int> output_index;  // by configuration port index; -1: not an output
  std::vector<bool> input_is_file;  // by input index
  std::vector<bool> nic_flow_hash;  // by input index: the NIC delivers the symmetric RSS hash
  struct Output {
    uint32_t mtu = 0;               // the device's MTU (0 for a file)
    bool tx_ip_checksum = false;    // the device offers IPv4 header checksum offload
    bool tx_udp_checksum = false;   // ... and UDP checksum offload
    wire::MacAddress mac{};         // the device's MAC (zero for a file)
    bool multi_seg = false;         // sends chained mbufs: fan-out copies share the payload
  };
  std::vector<Output> outputs;    // by output index
  // A DPDK input that answers for its own IPv4 address (or an appliance returning on itself).
  struct Host {
    size_t port = 0;                // configuration port index
    wire::MacAddress mac{};
    int reply_output = -1;          // the port itself, as an output
    int tap_input = -1;             // its exception TAP, as an input ...
    int tap_output = -1;            // ... and as an output
    std::atomic<uint64_t>* next_hop_seen = nullptr;  // an also_output port's resolver slot
  };
  std::vector<Host> hosts;
  std::map<std::string, int> inject_input;  // appliance name -> its inject input index
  std::map<std::string, wire::MacAddress> next_hop_macs;  // output name -> resolved next hop
  // Pool name -> which members are in service (healthy and not drained), by member index; a
  // pool not listed has every member in service.
  std::map<std::string, std::vector<bool>> pool_in_service;
};

// The routes, by input index. `blocked`: the flows the appliance's verdict hook blocks.
std::unique_ptr<std::vector<Route>> plan_routes(const EngineConfig& config, const PortTopology& topology,
                                                const std::vector<FlowRule>& blocked);

// The flows blocked: the file's drop_flows, plus what `mirrorpipe verdict drop` asked, less the
// file rules a live `accept` lifted.
std::vector<FlowRule> blocked_flows(const EngineConfig& config, const std::vector<FlowRule>& live_drops,
                                    const std::vector<FlowRule>& accepted);

}  // namespace mirrorpipe
