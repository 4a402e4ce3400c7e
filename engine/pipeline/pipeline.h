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

}  // namespace mirrorpipe
