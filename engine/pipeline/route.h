// What the workers do with the packets of each input: the route snapshot, plain data built by
// the planner (engine/control/planner.h) from the configuration and the ports the runtime
// opened, read by the workers (engine/runtime/worker.cpp) through RouteTable.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "decap/appliance.h"
#include "engine/pipeline/host.h"
#include "engine/pipeline/mirror_session.h"
#include "engine/pipeline/pipeline.h"
#include "engine/pipeline/receive.h"
#include "engine/pipeline/verdict.h"

struct bpf_insn;  // libpcap's classic BPF instruction

namespace mirrorpipe {

struct PoolSinks;

// One place a received packet, or a copy of it, goes.
struct Sink {
  uint16_t output = 0;              // index into WorkerPlan::tx
  bool encap = false;               // re-mirroring: wrapped with `outer` first
  OuterTemplate outer;
  bool tx_ip_checksum_offload = false;
  bool tx_udp_checksum_offload = false;
  bool stamp_file_meta = false;     // a file output fed by a live input: timestamp it
  bool keeps_meta = false;          // a pcapng output: the SinkMeta record goes along
  const PoolSinks* pool = nullptr;  // a pool: the member its flow maps to is the sink instead
  // A copy of a packet may go as a header buffer chained to the payload (no copy): a tunnel
  // whose outer headers need nothing of the payload (no UDP checksum computed in software, not
  // gwlb), on a port that sends chains. Else the packet is copied.
  bool chain = false;
  // A target whose template has the metadata option: its sequence counter (per worker).
  int16_t meta_stream = -1;
  // Set on the last sink of a list by the planner (share_payload() below): every copy of a
  // packet to the list can share the packet itself as its payload.
  bool share_payload = false;
};

// A sink whose tunnel is written on the packet itself, in its headroom (Worker::send_one()).
inline bool wraps_in_place(const Sink& sink) noexcept { return sink.encap && !sink.stamp_file_meta; }

// A pool of targets (config [[pools]]): each packet goes to the member its symmetric flow hash
// maps to in the Maglev table, built by the planner (engine/control/maglev.h) from the members
// in service (healthy and not drained); all of them when none is (failing open).
struct PoolSinks {
  std::vector<Sink> members;        // in the file's order
  std::vector<uint16_t> table;      // Maglev lookup table: flow hash mod size -> member index
  uint16_t index = 0;               // in [[pools]]: its counters
  bool fail_open = false;           // no member in service: the table spreads over all of them
  // Every member wraps_in_place() and sends through one output: a session's packets to the
  // pool can be written and queued a burst at a time (Worker::burst_sessions).
  bool in_place_one_output = false;

  uint16_t member_for(uint32_t flow_hash) const noexcept { return table[flow_hash % table.size()]; }
};

// What a session takes of the packets offered to it: its filter and direction, its tcpdump
// expression, and the options beyond AWS. A mirror session applies it to the mirrored frame, a
// receive session to the inner frame it decapsulated.
struct SessionSelection {
  bool active = false;           // anything below set; a session without it takes every packet
  MirrorSessionPolicy policy;
  int32_t slice = -1;            // payload bytes kept after the L4 header; -1: whole frames
  uint32_t sample_flows = 0;     // 0: every flow
  uint32_t sample_packets = 0;   // 0: every packet
  double max_pps_per_worker = 0; // 0: no limit
  uint64_t dedup_ns = 0;         // the dedup window (engine/pipeline/dedup.h); 0: off
  bool options = false;          // any of the above: more than the filter
  // The filter's tcpdump expression, compiled by the runtime (engine/runtime/bpf_filter.h) into
  // `bpf` once the planner has built the route. It is part of the filter's verdict (the session
  // verdict cache runs it), and that verdict is cached with the rules' when `verdict_cacheable`:
  // no expression, or one whose answer on a keyed frame follows from the key
  // (engine/control/bpf_analysis.h). Decided once, with the program, not per packet.
  std::string bpf_expression;
  const ::bpf_insn* bpf = nullptr;
  bool verdict_cacheable = true;
};

struct SessionSinks {
  std::vector<Sink> sinks;
  bool any_keeps_meta = false;
  // The session's index in the configuration's [[sessions]] (what a pcapng comment names, and
  // its counters); kNoSessionId for a route's implicit session.
  uint16_t config_index = kNoSessionId;
  static constexpr uint16_t kNoSessionId = 0xffff;
  SessionSelection select;       // a receive session's, on the inner frame
};

// A mirror session on a mirror input: its selection, and the sinks it wraps for (its VNI and
// PacketLength already in their templates).
struct MirrorSessionRoute {
  SessionSelection select;       // inactive only for a route to a pool (config_index kNoSessionId)
  std::vector<Sink> sinks;
  uint16_t config_index = 0;     // in [[sessions]]: its counters and per-worker state
  // One sink, or one pool (its member for the packet's flow then the sink), without the
  // metadata option: the packet itself goes, with no fan-out bookkeeping (set by the planner;
  // see single_sink()).
  bool single = false;
  // Two or more sinks that share the payload (share_payload()), none a pool, all on one output:
  // a burst's copies are written and queued together (Worker::fan_burst; set by the planner).
  bool shared_one_output = false;
  // ... and every sink's header is plain VXLAN over IPv4 (OuterTemplate::plain_vxlan4_header).
  bool shared_plain_vxlan4 = false;
};

inline bool single_sink(const std::vector<Sink>& sinks) noexcept {
  if (sinks.size() != 1 || sinks[0].meta_stream >= 0) return false;
  if (sinks[0].pool) {
    for (const Sink& m : sinks[0].pool->members) {
      if (m.meta_stream >= 0) return false;
    }
  }
  return true;
}

// Whether the copies of a packet to `sinks` (two or more) can all be chains ending in the
// packet itself (Worker::fan_out_shared): each is a chain (a pool's members all are), none
// carries the metadata option (its length field reads the packet before any cut), and each cuts
// a frame to the same length: one PacketLength, one room under the MTU (a shared payload has
// one length).
inline bool share_payload(const std::vector<Sink>& sinks) noexcept {
  if (sinks.size() < 2) return false;
  const OuterTemplate* first = nullptr;
  auto alike = [&](const Sink& s) {
    if (!s.chain || s.meta_stream >= 0) return false;
    const OuterTemplate& t = s.outer;
    if (!first) first = &t;
    return t.packet_length == first->packet_length && t.max_ip_length == first->max_ip_length &&
           t.truncate_to_mtu == first->truncate_to_mtu &&
           t.length_bytes - t.ip_offset == first->length_bytes - first->ip_offset;
  };
  for (const Sink& s : sinks) {
    if (!s.pool) {
      if (!alike(s)) return false;
      continue;
    }
    for (const Sink& m : s.pool->members) {
      if (!alike(m)) return false;
    }
  }
  return true;
}

// What the planner decided of `sinks` with share_payload() (set on the last).
inline bool shares_payload(const std::vector<Sink>& sinks) noexcept {
  return !sinks.empty() && sinks.back().share_payload;
}

// Whether a session's `sinks` (share_payload() decided) are MirrorSessionRoute::shared_one_output.
inline bool shared_one_output(const std::vector<Sink>& sinks) noexcept {
  if (!shares_payload(sinks)) return false;
  for (const Sink& s : sinks) {
    if (s.pool || s.output != sinks.front().output) return false;
  }
  return true;
}

// Whether every sink of `sinks` (none a pool) writes plain VXLAN over IPv4.
inline bool plain_vxlan4_sinks(const std::vector<Sink>& sinks) noexcept {
  for (const Sink& s : sinks) {
    if (s.pool || !s.outer.plain_vxlan4_header) return false;
  }
  return !sinks.empty();
}

// What happens to the packets of one input. Immutable while workers run.
struct Route {
  // Which snapshot this route belongs to (set by LiveRoutes when it publishes one): the tag of
  // the workers' session verdict caches (engine/pipeline/verdict_cache.h).
  uint32_t snapshot = 0;
  PipelineConfig pipeline;
  uint16_t output = 0;           // index into WorkerPlan::tx
  bool stamp_file_meta = false;  // live input to a file output: give packets a timestamp
  bool tx_ip_checksum_offload = false;  // the output NIC computes the outer IPv4 checksum
  bool tx_udp_checksum_offload = false; // ... and the outer UDP checksum
  bool nic_flow_hash = false;  // encap: the flow hash is the mbuf's RSS hash, where it has one
  // The input port's own traffic (engine/pipeline/host.h).
  HostConfig host;
  uint16_t reply_output = 0;  // the input port itself, as an output
  int host_output = -1;       // its exception TAP, as an output; -1: none

  // Receiving (a tunnel input with sessions or allow-lists): decapsulate, check the
  // allow-lists, pick the session, deliver to each of its sinks. `output` is unused.
  bool receive = false;
  ReceivePolicy policy;
  std::vector<SessionSinks> sessions;  // parallel to policy.sessions
  bool any_receive_selection = false;  // some session has a SessionSelection: read the inner frame

  // The GWLB appliance: return each packet on `return_output`, copies of its inner packet to
  // the session's sinks (sessions are optional here), the flow table refreshed.
  bool appliance = false;
  ApplianceConfig appliance_cfg;
  uint16_t return_output = 0;
  VerdictSet verdicts;  // blocked flows: neither returned nor copied (filtered)
  // Mirror sessions (a mirror input with [[sessions]]): tried in ascending number, the first
  // that takes the packet mirrors it to its sinks; `pipeline` is unused.
  std::vector<MirrorSessionRoute> mirror_sessions;
  bool any_session_filter = false;  // read the filter fields only when some session has a filter
  // Every session's filter alone decides (no options, no pool route) and the port has no host
  // traffic: the worker takes a burst at a time, in stages (staged_sessions()).
  bool staged_sessions = false;
  // An appliance whose packets only return (no allowed sources, no verdicts, no sessions to
  // copy to): the worker takes a burst at a time, in stages (staged_appliance()).
  bool staged_appliance = false;

  // The pools its sinks name (Sink::pool points into them), shared between routes.
  std::vector<std::shared_ptr<const PoolSinks>> pools;

  // Packets an inspection engine hands back (a TAP's RX): wrapped with the return header of
  // their flow, from any worker's flow table, and sent on `return_output`.
  bool inject = false;
};

// Whether a mirror input's sessions can be taken a burst at a time (Worker::burst_sessions):
// each session's filter alone decides, so the session of a packet follows from the packet and
// the verdict caches, and nothing on the port is the host's.
inline bool staged_sessions(const Route& r) noexcept {
  if (r.mirror_sessions.empty() || r.host.enabled) return false;
  for (const MirrorSessionRoute& s : r.mirror_sessions) {
    if (!s.select.active || s.select.options) return false;
  }
  return true;
}

// Whether an appliance's bursts can be taken in stages (Worker::burst_appliance): a packet GWLB
// sent returns, or is dropped, by itself alone; nothing decides per packet beyond that. With an
// address of its own, the port's host traffic is told apart per packet (host_classify), first;
// a packet the stages take (return_plain_gwlb4: untagged IPv4 UDP, not a fragment, to the first
// Geneve port) is never the host's when that port is one of the host's tunnel ports, so the
// stages may take it before asking (what they do not take goes through handle(), host first).
inline bool staged_appliance(const Route& r) noexcept {
  if (!r.appliance || !r.policy.allow_sources.empty() || !r.verdicts.empty() || !r.sessions.empty()) return false;
  if (!r.host.enabled) return true;
  const uint16_t geneve = r.appliance_cfg.decap.geneve_ports[0];
  for (uint8_t i = 0; i < r.host.tunnel_port_count; ++i) {
    if (r.host.tunnel_ports[i] == geneve) return r.appliance_cfg.decap.geneve_port_count > 0;
  }
  return false;
}

// The routes the workers use, replaced as a whole on reload (SIGHUP).
//
// Publication: the control thread stores a new `current` (release) and then increments
// `generation`. Adoption: a worker loads `current` (acquire) once per RX burst and uses that
// snapshot for the whole burst; between bursts (its quiescent point) it stores the generation
// it has seen into its `seen_generation`. Once every running worker has seen the new
// generation, no worker can still hold the old snapshot and the control thread frees it.
struct RouteTable {
  std::atomic<const std::vector<Route>*> current{nullptr};
  std::atomic<uint64_t> generation{0};
};

}  // namespace mirrorpipe
