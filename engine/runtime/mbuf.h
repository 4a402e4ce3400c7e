// The one adapter between rte_mbuf and the backend-free pipeline's PacketRef, and the
// per-packet metadata that file ports carry in an mbuf dynamic field.
#pragma once

#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include <cstdint>

#include "encap/packet_ref.h"

namespace mirrorpipe {

// Carried with each mbuf: the capture timestamp and the frame's length on the wire (a capture
// cut short by its snaplen holds fewer bytes than the wire had).
struct MbufMeta {
  uint64_t timestamp_ns;
  uint32_t wire_len;
};

extern int g_mbuf_meta_offset;  // set once by register_mbuf_meta() before any worker starts

void register_mbuf_meta();

inline MbufMeta& mbuf_meta(rte_mbuf* m) noexcept {
  return *RTE_MBUF_DYNFIELD(m, g_mbuf_meta_offset, MbufMeta*);
}

// Single-segment mbufs only: file ports and the live RX path both produce them. Only file
// ports fill MbufMeta (it lives in the mbuf's second cache line, which the live path leaves
// alone): `file_meta` says which kind this mbuf is.
inline PacketRef to_packet_ref(rte_mbuf* m, bool file_meta) noexcept {
  return PacketRef{rte_pktmbuf_mtod(m, uint8_t*), m->data_len,
                   file_meta ? mbuf_meta(m).wire_len : m->data_len, m->data_off};
}

inline void apply_packet_ref(rte_mbuf* m, const PacketRef& p, bool file_meta) noexcept {
  m->data_off = static_cast<uint16_t>(p.headroom);
  m->data_len = static_cast<uint16_t>(p.len);
  m->pkt_len = p.len;
  if (file_meta) mbuf_meta(m).wire_len = p.wire_len;
}

}  // namespace mirrorpipe
