// The one adapter between rte_mbuf and the backend-free pipeline's PacketRef, and the
// per-packet metadata that file ports carry in an mbuf dynamic field.
#pragma once

#include <rte_mbuf.h>
#include <rte_ether.h>
#include <rte_mbuf_dyn.h>

#include <cstdint>

#include "encap/packet_ref.h"

namespace mirrorpipe {

// Carried with each mbuf: the capture timestamp and the frame's length on the wire (a capture
// cut short by its snaplen holds fewer bytes than the wire had).
struct MbufMeta {
  uint64_t timestamp_ns;
  uint32_t wire_len;
  uint32_t flags;  // kHasSinkMeta

  static constexpr uint32_t kHasSinkMeta = 1u << 0;  // a SinkMeta record is in the headroom
};

extern int g_mbuf_meta_offset;  // set once by register_mbuf_meta() before any worker starts

void register_mbuf_meta();

inline MbufMeta& mbuf_meta(rte_mbuf* m) noexcept {
  return *RTE_MBUF_DYNFIELD(m, g_mbuf_meta_offset, MbufMeta*);
}

// A received packet's tunnel metadata, for the sinks that keep it (pcapng), travels at the very
// start of the buffer's headroom: decapsulation moves the data forward, so the first bytes of
// the buffer are free, and a copy for another sink gets its own record. MbufMeta::flags says
// whether the record is there (a stale one from the buffer's previous use is never read).
inline constexpr uint32_t kSinkMetaBytes = 96;
static_assert(kSinkMetaBytes + 14 <= RTE_PKTMBUF_HEADROOM,
              "a copy's headroom holds the record and an Ethernet header written in front of L3");

inline void* sink_meta_area(rte_mbuf* m) noexcept { return m->buf_addr; }

// What an output that offloads the outer checksums (the planner's tx_ip_checksum_offload and
// tx_udp_checksum_offload) asks of the device for each packet: the flags and header lengths DPDK
// reads. The writer has left what the device completes: the IPv4 checksum field 0, the UDP one
// the pseudo-header sum. Over IPv6 `ip_offload` only marks the packet IPv6, which the UDP
// offload needs. The lengths are the whole tx_offload word (the other lengths 0: no TSO, no
// outer offload of our own outer headers). ol_flags 0: the output offloads nothing.
struct TxOffloads {
  uint64_t tx_offload = 0;
  uint64_t ol_flags = 0;
};

inline TxOffloads tx_offloads(bool ipv6, bool ip_offload, bool udp_offload) noexcept {
  if (!ip_offload) return {};
  return {rte_mbuf_tx_offload(RTE_ETHER_HDR_LEN, ipv6 ? 40 : 20, 0, 0, 0, 0, 0),
          (ipv6 ? RTE_MBUF_F_TX_IPV6 : (RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM)) |
              (udp_offload ? RTE_MBUF_F_TX_UDP_CKSUM : 0)};
}

// Two stores a packet, from values worked out once: burst_encap and burst_decap do it once a
// burst (handle() and the sinks, a packet). With the word and flags computed a packet from the
// output's three settings, the worker's stage took 81 instructions a packet, now 66
// (scripts/callgrind-stages --systems gwlb-offload).
inline void set_tx_offloads(rte_mbuf* m, const TxOffloads& o) noexcept {
  if (!o.ol_flags) return;
  m->tx_offload = o.tx_offload;
  m->ol_flags |= o.ol_flags;
}

inline void set_tx_offloads(rte_mbuf* m, bool ipv6, bool ip_offload, bool udp_offload) noexcept {
  set_tx_offloads(m, tx_offloads(ipv6, ip_offload, udp_offload));
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
