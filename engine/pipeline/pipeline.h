// The backend-free pipeline: what a worker does to each packet between RX and TX.
//
// It sees PacketRef (bytes + headroom), never rte_mbuf, so the unit tests and benches drive it
// without DPDK. One parse of the frame (parse_frame) feeds every later stage.
// Invariants (hot path): no allocation, no exceptions, no logging.
#pragma once

#include "decap/decap.h"
#include "encap/encap.h"
#include "encap/flow.h"
#include "encap/tunnel.h"

namespace mirrorpipe {

enum class PipelineMode : uint8_t {
  kEncap,
  kDecap,
  kForward,  // as it is (the kernel's traffic from an exception TAP back to its port)
};

// Immutable once built; workers read it by const reference.
struct PipelineConfig {
  PipelineMode mode = PipelineMode::kEncap;
  OuterTemplate outer;  // kEncap
  DecapConfig decap;    // kDecap
};

// Runs one packet through the pipeline. kNone means "send `pkt` as it now is". Forced inline
// into the worker's loop (see encap.h for the measurement).
[[gnu::always_inline]] inline DropReason process_packet(const PipelineConfig& cfg, PacketRef& pkt) noexcept {
  if (cfg.mode == PipelineMode::kForward) return DropReason::kNone;
  if (cfg.mode == PipelineMode::kEncap) {
    const FrameMeta meta = parse_frame(wire::Bytes(pkt.data, pkt.len));
    return encapsulate(cfg.outer, meta, pkt);
  }
  DecapResult result;
  return decapsulate(pkt, cfg.decap, result);
}

// What encapsulate() needs to know of a frame whose flow hash the NIC computed on receive (its
// symmetric RSS hash): the frame is parsed only where the writer needs more than the hash
// (writer_needs_frame_meta: GWLB).
[[gnu::always_inline]] inline FrameMeta nic_frame_meta(const OuterTemplate& outer, wire::Bytes frame,
                                                       uint32_t flow_hash) noexcept {
  FrameMeta meta{};
  if (writer_needs_frame_meta(outer)) meta = parse_frame(frame);
  meta.flow_hash = flow_hash;
  return meta;
}

// The encapsulation with the NIC's flow hash (nic_frame_meta()), one packet.
[[gnu::always_inline]] inline DropReason encap_with_flow_hash(const PipelineConfig& cfg, PacketRef& pkt,
                                                              uint32_t flow_hash) noexcept {
  return encapsulate(cfg.outer, nic_frame_meta(cfg.outer, wire::Bytes(pkt.data, pkt.len), flow_hash), pkt);
}

// Where a mirror input's flow hash comes from, as configured (`flow_hash` on the port).
enum class FlowHashSource : uint8_t {
  kAuto,      // the NIC's where it gives a symmetric RSS hash, else ours
  kSoftware,  // always ours (parse_frame's)
  kNic,       // the NIC's, or the engine does not start
};

struct FlowHashChoice {
  bool nic = false;   // take the mbuf's RSS hash (where the mbuf says it has one)
  bool ok = true;     // false: kNic asked for what the port cannot give; `why` says why
  const char* why = "";
};

// Decided once per port at start, from what the device offers and accepted.
constexpr FlowHashChoice choose_flow_hash(FlowHashSource want, bool rss_hash_offered, bool rss_symmetric) noexcept {
  if (want == FlowHashSource::kSoftware) return {false, true, "in software, as configured (flow_hash = \"software\")"};
  if (!rss_hash_offered) {
    return {false, want != FlowHashSource::kNic, "in software: the device gives no RSS hash with its packets"};
  }
  if (!rss_symmetric) {
    return {false, want != FlowHashSource::kNic,
            "in software: the device refused the symmetric RSS key, so its hash differs between a flow's two directions"};
  }
  return {true, true, "from the NIC's symmetric RSS hash (Toeplitz) on routes to one target, no parse for VXLAN and Geneve "
                     "(mirror sessions, pools and metadata targets hash in software)"};
}

}  // namespace mirrorpipe
