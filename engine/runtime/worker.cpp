// Hot path. Invariants: no allocation, no locks, no logging, no exceptions; every packet is
// counted where it ends, against the input it came from (a packet an output refuses ends under
// that output's refusal reason: tx_full for a NIC, write_failed for a file).
#include "engine/runtime/worker.h"

#include <rte_cycles.h>
#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include "engine/runtime/bpf_filter.h"
#include "engine/runtime/mbuf.h"
#include "engine/pipeline/verdict_cache.h"

#include <cstring>
#include <memory>
#include <type_traits>

namespace mirrorpipe {
namespace {

constexpr uint16_t kPrefetchAhead = 3;
static_assert(kRuleEgressBase == kMaxRulesPerDirection, "a session's rule hits are indexed as mirror_session.h says");
constexpr uint16_t kTxBufferSize = 64;

// Packets waiting for one output, and what their accounting needs once the PMD owns them.
//
// Simple mode, the common case: every entry came from one input and none is a FanSlot copy, so
// the buffer keeps only that input and the bytes in total (the entries an output refuses are
// still ours to measure). A packet sent as several copies to this output alone may be an entry
// group (Worker::enqueue_group): its copies contiguous, all in this buffer; once the buffer
// holds one (`grouped`), `packet_of` names each entry's packet and `packets` counts them.
// `plain_input`, what enqueue() compares, is the input while the buffer is simple and ungrouped,
// else kNoInput: a lone entry in a grouped buffer makes it detailed.
// Detailed mode, entered at the first entry that breaks this: per-entry input, fan slot and
// length.
struct TxBuffer {
  static constexpr uint16_t kNoInput = 0xffff;
  rte_mbuf* pkts[kTxBufferSize];
  uint16_t count = 0;
  uint16_t first_input = 0;
  uint16_t plain_input = 0;  // first_input, or kNoInput once grouped or detailed
  bool detailed = false;
  bool grouped = false;
  uint16_t packets = 0;  // grouped
  uint64_t bytes = 0;    // simple mode
  uint8_t packet_of[kTxBufferSize];  // grouped
  uint16_t input[kTxBufferSize];  // detailed mode from here on
  uint16_t fan[kTxBufferSize];    // kNoFan, or the FanSlot of a packet sent as several copies
  uint32_t len[kTxBufferSize];
};

constexpr uint16_t kNoFan = 0xffff;

// One received packet sent as several copies: it ends (for its input) when its last copy has
// been accepted or refused by its output, as sent when at least one was accepted. A slot lives
// only while one of its copies waits in a TX buffer, so there are never more live slots than
// TX buffer entries: kFanSlots cannot run out.
struct FanSlot {
  uint16_t input;
  uint16_t pending;
  uint32_t sent_bytes;
  bool sent;
  DropReason failure;  // why the latest copy that did not go failed
};
constexpr uint32_t kFanSlots = kMaxPorts * kTxBufferSize;

// The cache lines a packet's processing touches besides its mbuf: the first line of the frame
// (every header the parse reads, for untagged IPv4) and the line before it, in the headroom,
// where the outer header is written. Both are fetched ahead; the second for writing.
inline void prefetch_packet(rte_mbuf* m) {
  const auto* data = rte_pktmbuf_mtod(m, const uint8_t*);
  rte_prefetch0(data);
  __builtin_prefetch(data - RTE_CACHE_LINE_SIZE, 1, 3);
}

// A filter's tcpdump expression on the frame a session selects on, as its verdict cache asks it.
struct TcpdumpExpression {
  const SessionSelection& sel;
  const PacketRef& ref;
  bool present() const noexcept { return sel.bpf != nullptr; }
  bool keyed() const noexcept { return sel.verdict_cacheable; }
  bool accepts() const noexcept { return bpf_accepts(sel.bpf, ref.data, ref.len, ref.wire_len); }
};

// A mirror session's state on one worker (sampling count, rate limit).
struct SessionState {
  uint64_t packets = 0;
  double tokens = 0;
  uint64_t last_tsc = 0;
};

struct Worker {
  explicit Worker(const WorkerPlan& p) : plan(p) {}

  const WorkerPlan& plan;
  WorkerStats stats{};
  SessionState session_state[kMaxSessions]{};
  SessionVerdictCache verdict_cache[kMaxSessions];
  uint32_t meta_seq[kMaxMetaStreams]{};  // the metadata option's last number, per target
  static constexpr double kHostRepliesPerSecond = 1000;  // ARP and echo answers, per worker
  SessionState host_replies_bucket{};
  TxBuffer tx[kMaxPorts];
  FanSlot fans[kFanSlots];
  uint16_t free_fans[kFanSlots];
  uint32_t free_fan_count = 0;
  uint64_t now_ns = 0;  // this burst's time, for the flow table
  // The PacketRef flags (cuts) of the copies written since a caller cleared it: a mirror
  // session counts a packet's cuts once, whatever its copies (count_cuts()).
  uint32_t copy_cuts = 0;

  void init_fans() {
    for (uint32_t i = 0; i < kFanSlots; ++i) free_fans[i] = static_cast<uint16_t>(kFanSlots - 1 - i);
    free_fan_count = kFanSlots;
  }

  // One copy of a fanned-out packet has ended, accepted or not; the packet ends with its
  // last copy.
  void fan_done(uint16_t f, bool accepted, uint32_t len, DropReason refusal = DropReason::tx_full) {
    FanSlot& s = fans[f];
    if (accepted) {
      s.sent = true;
      s.sent_bytes += len;
    } else {
      s.failure = refusal;
    }
    fan_release(f);
  }

  void fan_release(uint16_t f) {
    FanSlot& s = fans[f];
    if (--s.pending) return;
    InputCounters& ic = stats.inputs[s.input];
    if (s.sent) {
      ++ic.sent;
      ic.sent_bytes += s.sent_bytes;
    } else {
      ic.drop(s.failure);
    }
    free_fans[free_fan_count++] = f;
  }

  // Sends output `out`'s buffer and counts each packet where it ended. Out of line: once a
  // buffer, and kept out of the per-packet code that inlines enqueue().
  [[gnu::noinline]] void flush(uint16_t out) {
    TxBuffer& b = tx[out];
    if (b.count == 0) return;
    if (b.detailed) return flush_detailed(out);
    const uint16_t sent = plan.tx[out]->tx_burst(b.pkts, b.count);
    uint64_t bytes = b.bytes;
    OutputCounters& oc = stats.outputs[out];
    InputCounters& ic = stats.inputs[b.first_input];
    // A packet whose copies form a group is sent when one of them was accepted: the groups are
    // contiguous, so the packets sent are those up to the last entry's accepted.
    const uint16_t packets = b.grouped ? b.packets : b.count;
    uint16_t packets_sent = packets;
    if (sent < b.count) {
      packets_sent = !b.grouped ? sent : sent ? static_cast<uint16_t>(b.packet_of[sent - 1] + 1) : 0;
      const auto why = static_cast<size_t>(plan.tx[out]->refusal());
      for (uint16_t i = sent; i < b.count; ++i) bytes -= b.pkts[i]->pkt_len;
      oc.dropped[why] += b.count - sent;
      ic.dropped[why] += packets - packets_sent;
      rte_pktmbuf_free_bulk(b.pkts + sent, b.count - sent);
    }
    ic.sent += packets_sent;
    ic.sent_bytes += bytes;
    oc.tx += sent;
    oc.tx_bytes += bytes;
    b.count = 0;
  }

  [[gnu::noinline]] void flush_detailed(uint16_t out) {
    TxBuffer& b = tx[out];
    const uint16_t sent = plan.tx[out]->tx_burst(b.pkts, b.count);
    OutputCounters& oc = stats.outputs[out];
    for (uint16_t i = 0; i < sent; ++i) {
      oc.tx_bytes += b.len[i];
      if (b.fan[i] != kNoFan) {
        fan_done(b.fan[i], true, b.len[i]);
        continue;
      }
      InputCounters& ic = stats.inputs[b.input[i]];
      ++ic.sent;
      ic.sent_bytes += b.len[i];
    }
    oc.tx += sent;
    const DropReason why = sent < b.count ? plan.tx[out]->refusal() : DropReason::kNone;
    for (uint16_t i = sent; i < b.count; ++i) {
      oc.drop(why);
      if (b.fan[i] != kNoFan) fan_done(b.fan[i], false, 0, why);
      else stats.inputs[b.input[i]].drop(why);
    }
    if (sent < b.count) rte_pktmbuf_free_bulk(b.pkts + sent, b.count - sent);
    b.count = 0;
  }

  void copy_flow_counters() {
    if (plan.flows) stats.flows.table = plan.flows->counters();
  }

  void flush_all() {
    for (uint16_t o = 0; o < plan.tx.size(); ++o) flush(o);
  }

  // Inline: called once per packet, its common case is a handful of stores; as a call it
  // measured ~45 instructions a packet under callgrind (register saves and restores).
  [[gnu::always_inline]] void enqueue(uint16_t out, rte_mbuf* m, uint16_t input, uint16_t fan = kNoFan) {
    TxBuffer& b = tx[out];
    const uint16_t i = b.count;
    b.pkts[i] = m;
    if (i == 0) start(b, input);
    // One compare on the plain path: plain_input is kNoInput once the buffer is not simple.
    if (__builtin_expect(input == b.plain_input && fan == kNoFan, 1)) {
      b.bytes += m->pkt_len;
    } else {
      if (!b.detailed) go_detailed(b);
      b.input[i] = input;
      b.fan[i] = fan;
      b.len[i] = m->pkt_len;
    }
    if (++b.count == kTxBufferSize) flush(out);
  }

  // enqueue() of `k` packets of one input, none a copy, on output `out` (`bytes`: their
  // pkt_len summed): a few stores for them all while the buffer is simple and has room.
  void enqueue_burst(uint16_t out, rte_mbuf* const* ms, uint16_t k, uint16_t input, uint64_t bytes) {
    TxBuffer& b = tx[out];
    if (b.count + k > kTxBufferSize || (b.count != 0 && input != b.plain_input)) {
      for (uint16_t j = 0; j < k; ++j) enqueue(out, ms[j], input);
      return;
    }
    if (b.count == 0) start(b, input);
    std::memcpy(b.pkts + b.count, ms, k * sizeof(rte_mbuf*));
    b.bytes += bytes;
    b.count = static_cast<uint16_t>(b.count + k);
    if (b.count == kTxBufferSize) flush(out);
  }

  static void start(TxBuffer& b, uint16_t input) {
    b.first_input = input;
    b.plain_input = input;
    b.detailed = false;
    b.grouped = false;
    b.bytes = 0;
  }

  // The entries so far, described one by one (a group's copies share a fan slot).
  [[gnu::noinline]] void go_detailed(TxBuffer& b) {
    for (uint16_t i = 0; i < b.count; ++i) {
      b.input[i] = b.first_input;
      b.fan[i] = kNoFan;
      b.len[i] = b.pkts[i]->pkt_len;
    }
    if (b.grouped) {
      for (uint16_t i = 0, end; i < b.count; i = end) {
        for (end = static_cast<uint16_t>(i + 1); end < b.count && b.packet_of[end] == b.packet_of[i]; ++end) {
        }
        if (end - i < 2) continue;
        const uint16_t f = free_fans[--free_fan_count];
        fans[f] = FanSlot{b.first_input, static_cast<uint16_t>(end - i), 0, false, DropReason::tx_full};
        for (uint16_t k = i; k < end; ++k) b.fan[k] = f;
      }
    }
    b.detailed = true;
    b.plain_input = TxBuffer::kNoInput;
  }

  // A simple buffer's entries so far, each a packet of its own, before a group joins them.
  static void go_grouped(TxBuffer& b) {
    for (uint16_t i = 0; i < b.count; ++i) b.packet_of[i] = static_cast<uint8_t>(i);
    b.packets = b.count;
    b.grouped = true;
    b.plain_input = TxBuffer::kNoInput;
  }

  // The `n` copies of one packet from `input`, all for output `out`: a group (TxBuffer), so
  // that the packet is accounted for with the buffer, without a fan slot; in a buffer that is
  // already detailed, or holds another input's packets, each copy as a fanned entry.
  void enqueue_group(uint16_t out, rte_mbuf* const* copies, unsigned n, uint16_t input) {
    TxBuffer& b = tx[out];
    if (b.count + n > kTxBufferSize) flush(out);  // a group goes in one send
    if (b.count == 0) start(b, input);
    if (b.detailed || input != b.first_input) {
      const uint16_t fan = free_fans[--free_fan_count];
      fans[fan] = FanSlot{input, static_cast<uint16_t>(n), 0, false, DropReason::tx_full};
      for (unsigned k = 0; k < n; ++k) enqueue(out, copies[k], input, fan);
      return;
    }
    if (!b.grouped) go_grouped(b);
    for (unsigned k = 0; k < n; ++k) {
      b.pkts[b.count + k] = copies[k];
      b.packet_of[b.count + k] = static_cast<uint8_t>(b.packets);
      b.bytes += copies[k]->pkt_len;
    }
    b.count = static_cast<uint16_t>(b.count + n);
    ++b.packets;
    if (b.count == kTxBufferSize) flush(out);
  }

  // enqueue_group() of consecutive packets of `input`, `per` copies each (`total` copies in
  // all, in packet order, `bytes` their pkt_len summed): as many whole groups at once as the
  // buffer has room for.
  void enqueue_groups(uint16_t out, rte_mbuf* const* copies, unsigned total, unsigned per, uint16_t input,
                      uint64_t bytes) {
    TxBuffer& b = tx[out];
    while (total) {
      if (b.count + per > kTxBufferSize) flush(out);  // a group goes in one send
      if (b.count == 0) start(b, input);
      if (b.detailed || input != b.first_input) {
        for (; total; total -= per, copies += per) enqueue_group(out, copies, per, input);
        return;
      }
      if (!b.grouped) go_grouped(b);
      const unsigned fit = std::min(total, (kTxBufferSize - b.count) / per * per);
      std::memcpy(b.pkts + b.count, copies, fit * sizeof(rte_mbuf*));
      uint8_t* packet_of = b.packet_of + b.count;
      for (unsigned k = 0; k < fit; k += per, ++b.packets) {
        for (unsigned j = 0; j < per; ++j) packet_of[k + j] = static_cast<uint8_t>(b.packets);
      }
      uint64_t fit_bytes = bytes;
      if (fit < total) {  // the rest after a flush
        fit_bytes = 0;
        for (unsigned k = 0; k < fit; ++k) fit_bytes += copies[k]->pkt_len;
      }
      b.bytes += fit_bytes;
      bytes -= fit_bytes;
      b.count = static_cast<uint16_t>(b.count + fit);
      copies += fit;
      total -= fit;
      if (b.count == kTxBufferSize) flush(out);
    }
  }

  // Nanoseconds since the worker's TSC base, without overflowing the multiplication.
  uint64_t elapsed_ns() const {
    const uint64_t dt = rte_get_tsc_cycles() - plan.tsc_base;
    return dt / plan.tsc_hz * 1000000000ull + dt % plan.tsc_hz * 1000000000ull / plan.tsc_hz;
  }

  void stamp(rte_mbuf* m, uint32_t wire_len) {
    mbuf_meta(m) = MbufMeta{plan.wall_base_ns + elapsed_ns(), wire_len, 0};
  }

  // Makes `c` (a received packet's inner frame, or a copy of it) what `sink` sends: wrapped
  // for a re-mirroring target, timestamped for a file, with the metadata record for pcapng.
  // kNone, or why it cannot go.
  // `fm`: the frame's parse, the same for every copy of it.
  DropReason prepare_sink_copy(rte_mbuf* c, const Sink& sink, const SinkMeta* meta, bool file_meta,
                               const FrameMeta& fm, const MirrorMetadata* md) {
    if (sink.stamp_file_meta) {
      stamp(c, file_meta ? mbuf_meta(c).wire_len : c->pkt_len);
      file_meta = true;
    }
    if (sink.keeps_meta && meta) {
      std::memcpy(sink_meta_area(c), meta, sizeof *meta);
      mbuf_meta(c).flags |= MbufMeta::kHasSinkMeta;
    } else if (file_meta) {
      mbuf_meta(c).flags &= ~MbufMeta::kHasSinkMeta;
    }
    if (!sink.encap) return DropReason::kNone;
    PacketRef ref = to_packet_ref(c, file_meta);
    const DropReason r = encapsulate(sink.outer, fm, ref, md);
    if (r != DropReason::kNone) return r;
    copy_cuts |= ref.flags;
    apply_packet_ref(c, ref, file_meta);
    set_tx_offloads(c, sink.outer.ipv6, sink.tx_ip_checksum_offload, sink.tx_udp_checksum_offload);
    return DropReason::kNone;
  }

  // Below this many bytes a copy is cheaper than a header buffer, an indirect buffer and their
  // reference counts: `mirrorpipe bench --fanout 2` (one worker, 4 KiB pages) measured 11.5
  // Mpps copied and 10.5 chained at 64 B, even at 256 B, 10.7 copied and 11.3 chained at 512 B,
  // 8.5 and 10.2 at 1500 B. (Sinks that share the payload take fan_out_shared() instead.)
  static constexpr uint32_t kChainMinBytes = 256;

  // Where a chained copy's outer headers (`header` bytes, sink.outer.length_bytes) go: the start
  // of a header buffer, the cache line after the mbuf's own (the end of the buffer is a line or
  // two further, and with 4 KiB pages often in the next page), in front of a frame of `len`
  // bytes (`wire_len` on the wire) that the encapsulation reads nothing of. (GWLB, whose outer
  // headers would start after the frame's L2 header, never chains: Sink::chain.)
  static PacketRef header_buffer_ref(rte_mbuf* hdr, uint32_t len, uint32_t wire_len, uint16_t header) {
    static_assert(kMaxOuterHeaderBytes <= kHeaderBufferBytes, "a header buffer holds the largest outer header");
    return PacketRef{static_cast<uint8_t*>(hdr->buf_addr) + header, len, wire_len, header};
  }

  // Header buffers for fan_out_shared() and fan_burst(), taken from their pool a stash at a
  // time (one pool operation per kHeaderStash copies) as their last user freed them (next null,
  // one segment, one reference: DPDK's state of a free mbuf), without rte_pktmbuf_reset():
  // chain_header() writes every field a copy's first segment needs. A buffer goes back to the
  // stash only in that state; what is left goes back to the pool when the worker stops.
  static constexpr unsigned kHeaderStash = 32;
  static_assert(kMaxSessionSinks <= kHeaderStash, "a packet's copies to every sink fit the stash (fan_burst)");
  static_assert(kMaxSessionSinks <= kTxBufferSize, "a packet's copies fit one TX buffer (enqueue_groups)");
  rte_mbuf* header_stash[kHeaderStash];
  unsigned header_stash_count = 0;

  // At least `n` (<= kHeaderStash) buffers in the stash; false when the pool has too few.
  bool stash_headers(unsigned n) {
    if (header_stash_count >= n) return true;
    const unsigned want = kHeaderStash - header_stash_count;
    if (rte_mempool_get_bulk(plan.header_pool, reinterpret_cast<void**>(header_stash + header_stash_count), want) == 0) {
      header_stash_count = kHeaderStash;
      return true;
    }
    for (; header_stash_count < n; ++header_stash_count) {  // the pool is nearly empty: one at a time
      if (rte_mempool_get(plan.header_pool, reinterpret_cast<void**>(header_stash + header_stash_count)) != 0) return false;
    }
    return true;
  }

  rte_mbuf* take_header() { return stash_headers(1) ? header_stash[--header_stash_count] : nullptr; }

  void release_headers() {
    if (header_stash_count) rte_mempool_put_bulk(plan.header_pool, reinterpret_cast<void* const*>(header_stash), header_stash_count);
    header_stash_count = 0;
  }

  // Makes `hdr` (from the stash, its buffer holding `header` bytes of outer headers from
  // `data_off` on) the first segment of a copy of the single-segment `m` (`len` bytes of it,
  // after any cut) for `sink`: every field rte_pktmbuf_reset() would set, then the chain's.
  [[gnu::always_inline]] static void chain_header(rte_mbuf* hdr, rte_mbuf* m, uint16_t data_off, uint16_t header,
                                                  uint32_t len, const Sink& sink) {
    hdr->data_off = data_off;
    hdr->nb_segs = 2;
    hdr->port = RTE_MBUF_PORT_INVALID;
    hdr->ol_flags = 0;
    hdr->packet_type = 0;
    hdr->pkt_len = header + len;
    hdr->data_len = header;
    hdr->vlan_tci = 0;
    hdr->vlan_tci_outer = 0;
    hdr->next = m;
    hdr->tx_offload = 0;
    set_tx_offloads(hdr, sink.outer.ipv6, sink.tx_ip_checksum_offload, sink.tx_udp_checksum_offload);
  }

  // chain_header() for a header buffer that encapsulate() wrote as `out`.
  [[gnu::always_inline]] static void chain_header(rte_mbuf* hdr, rte_mbuf* m, const PacketRef& out, uint32_t len,
                                                  const Sink& sink) {
    chain_header(hdr, m, static_cast<uint16_t>(out.data - static_cast<uint8_t*>(hdr->buf_addr)),
                 static_cast<uint16_t>(out.len - len), len, sink);
  }

  // `hdr`, chained by chain_header() but not queued, back in the state the stash keeps.
  static void unchain_header(rte_mbuf* hdr) {
    hdr->next = nullptr;
    hdr->nb_segs = 1;
  }

  // A copy of `m` for `sink` without copying its payload: the outer headers in a buffer of
  // their own, chained to an indirect buffer attached to `m`'s data. Only for sinks whose
  // headers need nothing of the payload (Sink::chain). Null, with the reason, when it cannot go
  // (`m` untouched).
  rte_mbuf* chained_copy(rte_mbuf* m, const Sink& sink, bool file_meta, const FrameMeta& fm,
                         const MirrorMetadata* md, DropReason& why) {
    rte_mbuf* hdr = rte_pktmbuf_alloc(plan.header_pool);
    if (!hdr) {
      why = DropReason::no_mbuf;
      return nullptr;
    }
    const PacketRef inner = to_packet_ref(m, file_meta);
    const auto* buf = static_cast<const uint8_t*>(hdr->buf_addr);
    PacketRef out = header_buffer_ref(hdr, inner.len, inner.wire_len, sink.outer.length_bytes);
    why = encapsulate(sink.outer, fm, out, md);
    if (why != DropReason::kNone) {
      rte_pktmbuf_free(hdr);
      return nullptr;
    }
    const uint32_t header = sink.outer.length_bytes;
    const uint32_t kept = out.len - header;  // after PacketLength or MTU truncation
    rte_mbuf* body = rte_pktmbuf_clone(m, plan.indirect_pool);
    if (!body) {
      rte_pktmbuf_free(hdr);
      why = DropReason::no_mbuf;
      return nullptr;
    }
    copy_cuts |= out.flags;  // the copy goes
    if (kept < body->data_len) rte_pktmbuf_trim(body, static_cast<uint16_t>(body->data_len - kept));
    hdr->data_off = static_cast<uint16_t>(out.data - buf);
    hdr->data_len = static_cast<uint16_t>(header);
    hdr->pkt_len = header + body->pkt_len;
    hdr->nb_segs = static_cast<uint16_t>(1 + body->nb_segs);
    hdr->next = body;
    set_tx_offloads(hdr, sink.outer.ipv6, sink.tx_ip_checksum_offload, sink.tx_udp_checksum_offload);
    return hdr;
  }

  // Sends `m` (`ref`, as the session left it) to the one sink of a session whose sinks are
  // single_sink() (route.h): what fan_out() does for one sink, without its bookkeeping, and a
  // tunnel written inline as on a route. A pool's sink is the member of the frame's flow, as in
  // fan_out(). True when queued; else `m` ended as dropped, counted at the output and the input.
  // `fm`: the frame's parse, where the caller has it.
  template <bool kFileMeta>
  [[gnu::always_inline]] bool send_one(rte_mbuf* m, PacketRef& ref, const Sink& listed, uint16_t input,
                                       InputCounters& ic, const FrameMeta* fm = nullptr) {
    FrameMeta parsed_here;
    if (listed.pool && !fm) {
      parsed_here = parse_frame(wire::Bytes(ref.data, ref.len));
      fm = &parsed_here;
    }
    const Sink& sink = listed.pool ? pool_member(listed, fm->flow_hash) : listed;
    DropReason r;
    uint32_t cuts;
    if (wraps_in_place(sink)) {
      r = wrap_in_place<kFileMeta>(m, ref, sink, fm ? *fm : parse_frame(wire::Bytes(ref.data, ref.len)));
      cuts = ref.flags;
    } else {
      FrameMeta parsed{};
      if (sink.encap) parsed = fm ? *fm : parse_frame(wire::Bytes(ref.data, ref.len));
      copy_cuts = 0;
      r = prepare_sink_copy(m, sink, nullptr, kFileMeta, parsed, nullptr);
      cuts = copy_cuts;
    }
    if (r != DropReason::kNone) {
      drop_copy(m, sink, r, ic);
      return false;
    }
    count_cuts(ic, cuts);
    enqueue(sink.output, m, input);
    return true;
  }

  // A packet sent shortened (PacketRef flags `cuts`: PacketLength, MTU), counted once on its input.
  static void count_cuts(InputCounters& ic, uint32_t cuts) {
    if (cuts) {
      ic.truncated_packet_length += (cuts & PacketRef::kTruncatedPacketLength) != 0;
      ic.truncated_mtu += (cuts & PacketRef::kTruncatedMtu) != 0;
    }
  }

  // Whether `sink`'s copy, written in place, rewrites bytes of the frame itself: GWLB carries the
  // frame's L3 packet, its outer headers over the L2 header.
  static bool overwrites_frame(const Sink& sink) noexcept { return sink.encap && sink.outer.kind == TunnelKind::kGwlb; }

  // `m` (`ref`, parsed as `fm`) wrapped in place for `sink` (wraps_in_place()); on kNone, ready
  // to queue.
  template <bool kFileMeta>
  [[gnu::always_inline]] DropReason wrap_in_place(rte_mbuf* m, PacketRef& ref, const Sink& sink, const FrameMeta& fm) {
    if (kFileMeta) mbuf_meta(m).flags &= ~MbufMeta::kHasSinkMeta;
    const DropReason r = encapsulate(sink.outer, fm, ref, nullptr);
    if (r == DropReason::kNone) {
      apply_packet_ref(m, ref, kFileMeta);
      set_tx_offloads(m, sink.outer.ipv6, sink.tx_ip_checksum_offload, sink.tx_udp_checksum_offload);
    }
    return r;
  }

  // A packet's one copy for `sink` could not go: `m` ends as dropped, counted at the output
  // and the input.
  void drop_copy(rte_mbuf* m, const Sink& sink, DropReason r, InputCounters& ic) {
    stats.outputs[sink.output].drop(r);
    ic.drop(r);
    rte_pktmbuf_free(m);
  }

  // The member of `listed` (a pool) that a flow of `flow_hash` maps to, the same for both
  // directions (symmetric hash); counted as one copy to it.
  const Sink& pool_member(const Sink& listed, uint32_t flow_hash) {
    const PoolSinks& pool = *listed.pool;
    const uint16_t member = pool.member_for(flow_hash);
    PoolCounters& pc = stats.pools[pool.index];
    ++pc.member_copies[member];
    pc.fail_open += pool.fail_open;
    return pool.members[member];
  }

  // fan_out() for sinks that share the payload (Sink::share_payload, planned once per session),
  // for a single-segment `m` (`ref`, parsed as `fm`): every copy is a header buffer from the stash chained to
  // `m` itself. Every sink cuts a frame alike (PacketLength, MTU), so `m` is cut once, first,
  // and each copy written for the frame as cut (by the plain writer, where the target is plain
  // VXLAN). `m`'s reference count is raised once, to one per copy, before any copy is queued
  // (a full TX buffer sends, and frees, at once). `extra`: as for fan_out().
  // Returns how many copies were queued; none: `m` ended as dropped, under the reason of the
  // last copy that failed.
  // Out of line: a session's single-sink path (inlined in the same caller) must not pay for it.
  [[gnu::noinline]] unsigned fan_out_shared(rte_mbuf* m, const PacketRef& ref, const FrameMeta& fm,
                                            const std::vector<Sink>& sinks, uint16_t input, InputCounters& ic,
                                            rte_mbuf* extra = nullptr, uint16_t extra_output = 0) {
    rte_mbuf* copies[kMaxSessionSinks + 1];  // and `extra`
    uint16_t outputs[kMaxSessionSinks + 1];
    unsigned made = 0;
    uint32_t len = ref.len, wire_len = ref.wire_len, cut_flags = 0;
    // Any sink's cut is every sink's (a pool's members included). One that cannot go at all
    // leaves the frame whole: each copy is then refused (and counted) by encapsulate().
    const Sink& any = sinks[0].pool ? sinks[0].pool->members[0] : sinks[0];
    if (cut_to_fit(any.outer, len, wire_len, cut_flags) && len < m->data_len) {
      rte_pktmbuf_trim(m, static_cast<uint16_t>(m->data_len - len));
    }
    DropReason failure = DropReason::no_mbuf;
    bool one_output = true;  // every copy for one output: an entry group (enqueue_group)
    for (const Sink& listed : sinks) {
      const Sink& sink = listed.pool ? pool_member(listed, fm.flow_hash) : listed;
      rte_mbuf* hdr = take_header();
      if (!hdr) {
        stats.outputs[sink.output].drop(DropReason::no_mbuf);
        failure = DropReason::no_mbuf;
        continue;
      }
      PacketRef out = header_buffer_ref(hdr, len, wire_len, sink.outer.length_bytes);
      const DropReason r = encapsulate(sink.outer, fm, out, nullptr);
      if (r != DropReason::kNone) {
        stats.outputs[sink.output].drop(r);
        failure = r;
        header_stash[header_stash_count++] = hdr;  // untouched: back to the stash
        continue;
      }
      chain_header(hdr, m, out, len, sink);
      copies[made] = hdr;
      outputs[made++] = sink.output;
      one_output &= sink.output == outputs[0];
    }
    if (made == 0) {
      rte_pktmbuf_free(m);
    } else {
      rte_mbuf_refcnt_update(m, static_cast<int16_t>(made - 1));  // a store while `m` is ours alone
      copy_cuts |= cut_flags;
    }
    if (extra) {
      copies[made] = extra;
      outputs[made] = extra_output;
      one_output &= made == 0 || extra_output == outputs[0];
      ++made;
    }
    if (made == 0) {
      ic.drop(failure);
      return 0;
    }
    if (made == 1) {  // the packet ends with its one copy
      enqueue(outputs[0], copies[0], input);
      return 1;
    }
    if (one_output) {
      enqueue_group(outputs[0], copies, made, input);
      return made;
    }
    const uint16_t fan = free_fans[--free_fan_count];
    fans[fan] = FanSlot{input, static_cast<uint16_t>(made), 0, false, failure};
    for (unsigned i = 0; i < made; ++i) enqueue(outputs[i], copies[i], input, fan);
    return made;
  }

  // Stage 2 of burst_sessions() for a session whose sinks share the payload on one output
  // (MirrorSessionRoute::shared_one_output): the copies fan_out_shared() would make, written a
  // burst at a time and queued together, each packet's copies a group. kPlain: every sink's
  // header is plain VXLAN over IPv4 (MirrorSessionRoute::shared_plain_vxlan4), written with no
  // per-copy check once the packet is cut. A packet this loop does not take (more than one
  // segment, refused by its targets, no header buffer left) goes through send_session(), after
  // the packets before it are queued: the output keeps the input's order. `take`, parsed as
  // `meta`: the session's packets. Returns how many were mirrored.
  template <bool kFileMeta, bool kPlain>
  [[gnu::noinline]] uint32_t fan_burst(const MirrorSessionRoute& s, rte_mbuf* const* take, const FrameMeta* meta,
                                       uint16_t n, uint16_t input, InputCounters& ic) {
    const Sink* sinks = s.sinks.data();
    const auto per = static_cast<unsigned>(s.sinks.size());
    const uint16_t output = sinks[0].output;
    rte_mbuf* ready[kTxBufferSize];
    unsigned nready = 0;
    uint64_t ready_bytes = 0;
    uint32_t mirrored = 0;
    for (uint16_t k = 0; k < n; ++k) {
      rte_mbuf* m = take[k];
      const PacketRef ref = to_packet_ref(m, kFileMeta);
      // Every sink cuts alike (share_payload()): the first one's cut is every copy's.
      uint32_t len = ref.len, wire_len = ref.wire_len, cuts = 0;
      constexpr uint32_t kIpOverhead = kPlainVxlan4HeaderBytes - wire::kEthernetHeaderBytes;
      if (m->nb_segs == 1 && cut_to_fit(sinks[0].outer, len, wire_len, cuts) &&
          (!kPlain || wire_len + kIpOverhead <= wire::kIpv4MaxTotalLengthBytes) &&
          (header_stash_count >= per || stash_headers(per))) {  // (the common case without a call)
        if (nready + per > kTxBufferSize) {
          enqueue_groups(output, ready, nready, per, input, ready_bytes);
          nready = 0;
          ready_bytes = 0;
        }
        rte_mbuf** hdrs = header_stash + header_stash_count - per;
        uint64_t bytes = 0;  // the copies' pkt_len
        unsigned i = 0;
        for (; i < per; ++i) {
          rte_mbuf* hdr = hdrs[i];
          if (kPlain) {
            write_plain_vxlan4(sinks[i].outer, meta[k].flow_hash, static_cast<uint8_t*>(hdr->buf_addr),
                               wire_len + kIpOverhead);
            chain_header(hdr, m, 0, kPlainVxlan4HeaderBytes, len, sinks[i]);
            bytes += kPlainVxlan4HeaderBytes + len;
          } else {
            PacketRef out = header_buffer_ref(hdr, len, wire_len, sinks[i].outer.length_bytes);
            if (encapsulate(sinks[i].outer, meta[k], out, nullptr) != DropReason::kNone) break;
            chain_header(hdr, m, out, len, sinks[i]);
            bytes += out.len;
          }
          ready[nready + i] = hdr;
        }
        if (i == per) {
          if (len < m->data_len) {  // one segment: trimmed in place
            m->data_len = static_cast<uint16_t>(len);
            m->pkt_len = len;
          }
          RTE_ASSERT(rte_mbuf_refcnt_read(m) == 1);
          rte_mbuf_refcnt_set(m, static_cast<uint16_t>(per));  // `m` is ours alone until queued
          nready += per;
          ready_bytes += bytes;
          header_stash_count -= per;
          count_cuts(ic, cuts);
          ++mirrored;
          continue;
        }
        // A target refused it. Defensive: sinks that share the payload cut alike and have one
        // overhead, so they accept or refuse a packet together. fan_out_shared() says why.
        while (i) unchain_header(hdrs[--i]);
      }
      if (nready) {
        enqueue_groups(output, ready, nready, per, input, ready_bytes);
        nready = 0;
        ready_bytes = 0;
      }
      mirrored += fan_one<kFileMeta>(s, m, input, ic, meta[k]);
    }
    if (nready) enqueue_groups(output, ready, nready, per, input, ready_bytes);
    return mirrored;
  }

  // A packet fan_burst() does not take, sent the general way. Out of line: the burst's loop
  // keeps its registers.
  template <bool kFileMeta>
  [[gnu::noinline]] bool fan_one(const MirrorSessionRoute& s, rte_mbuf* m, uint16_t input, InputCounters& ic,
                                 const FrameMeta& fm) {
    PacketRef ref = to_packet_ref(m, kFileMeta);
    return send_session<kFileMeta>(s, m, ref, input, ic, &fm);
  }

  // Sends `m` to every sink of `sinks` (a copy to each but the last, which takes `m`), plus
  // `extra` (an already prepared packet for `extra_output`, e.g. the appliance's return) when
  // given. The input's packet ends once: sent when one copy was accepted; else dropped under
  // the reason of the last copy that failed.
  // Copies are chains where the sinks allow (chained_copy), else copies; the last sink rewrites
  // `m` in place, but for a GWLB sink after a chained copy (its outer headers would overwrite
  // the frame the chains share: overwrites_frame()), which gets a copy, `m` then freed.
  // (Sinks that share the payload take fan_out_shared() instead.)
  // Returns how many copies were queued.
  unsigned fan_out(rte_mbuf* m, const std::vector<Sink>& sinks, const SinkMeta* meta, bool file_meta,
                   uint16_t input, InputCounters& ic, rte_mbuf* extra = nullptr, uint16_t extra_output = 0) {
    const size_t n = sinks.size() + (extra ? 1 : 0);
    if (n == 0) {  // nowhere to go (an appliance session with no sinks and no return)
      ic.filter(FilterReason::no_session);
      rte_pktmbuf_free(m);
      return 0;
    }
    unsigned queued = 0;
    uint16_t fan = kNoFan;
    if (n > 1) {
      fan = free_fans[--free_fan_count];
      fans[fan] = FanSlot{input, 1, 0, false, DropReason::no_mbuf};  // one pending until every copy is queued
    }
    DropReason last_failure = DropReason::kNone;
    // The frame's parse, once for all its copies (read before any copy rewrites `m`).
    FrameMeta fm{};
    bool parsed = false;
    auto parse = [&]() -> const FrameMeta& {
      if (!parsed) {
        const PacketRef ref = to_packet_ref(m, file_meta);
        fm = parse_frame(wire::Bytes(ref.data, ref.len));
        parsed = true;
      }
      return fm;
    };
    const bool chains = m->data_len >= kChainMinBytes;
    bool cloned = false;  // a chained copy shares `m`'s frame
    bool m_used = false;  // the last sink took `m` itself
    for (size_t i = 0; i < sinks.size(); ++i) {
      const Sink& sink = sinks[i].pool ? pool_member(sinks[i], parse().flow_hash) : sinks[i];
      // The last sink takes `m` itself, rewritten in place; but GWLB's outer headers take the
      // place of the frame's L2 header, which the chained copies share: it gets a copy then.
      const bool last = i + 1 == sinks.size() && !(cloned && overwrites_frame(sink));
      // The metadata option's fields: the next number of this target's stream (taken only when
      // the copy is made), the capture time and the frame's length before any truncation.
      MirrorMetadata md_fields;
      const MirrorMetadata* md = nullptr;
      if (sink.meta_stream >= 0) {
        const PacketRef orig = to_packet_ref(m, file_meta);
        md_fields = {meta_seq[sink.meta_stream] + 1, plan.worker_id,
                     file_meta ? mbuf_meta(m).timestamp_ns : plan.wall_base_ns + elapsed_ns(), orig.wire_len};
        md = &md_fields;
      }
      if (sink.chain && chains && !last) {
        DropReason why;
        rte_mbuf* c = chained_copy(m, sink, file_meta, parse(), md, why);
        if (!c) {
          stats.outputs[sink.output].drop(why);
          last_failure = why;
          if (fan != kNoFan) fans[fan].failure = last_failure;
          continue;
        }
        if (md) ++meta_seq[sink.meta_stream];
        if (fan != kNoFan) ++fans[fan].pending;
        enqueue(sink.output, c, input, fan);
        ++queued;
        cloned = true;
        continue;
      }
      m_used = last;
      rte_mbuf* c = last ? m : rte_pktmbuf_copy(m, plan.copy_pool, 0, UINT32_MAX);
      if (!c) {
        stats.outputs[sink.output].drop(DropReason::no_mbuf);
        last_failure = DropReason::no_mbuf;
        if (fan != kNoFan) fans[fan].failure = last_failure;
        continue;
      }
      const DropReason r = sink.encap ? prepare_sink_copy(c, sink, meta, file_meta, parse(), md)
                                      : prepare_sink_copy(c, sink, meta, file_meta, fm, nullptr);
      if (r != DropReason::kNone) {
        stats.outputs[sink.output].drop(r);
        last_failure = r;
        if (fan != kNoFan) fans[fan].failure = last_failure;
        rte_pktmbuf_free(c);
        continue;
      }
      if (md) ++meta_seq[sink.meta_stream];
      if (fan != kNoFan) ++fans[fan].pending;
      enqueue(sink.output, c, input, fan);
      ++queued;
    }
    if (!m_used) rte_pktmbuf_free(m);  // no sink, or none took it itself (its clones keep their share)
    if (extra) {
      if (fan != kNoFan) ++fans[fan].pending;
      enqueue(extra_output, extra, input, fan);
      ++queued;
    }
    if (fan == kNoFan) {
      if (last_failure != DropReason::kNone) ic.drop(last_failure);
      return queued;
    }
    // Release the slot's own pending count: the packet ends now if every copy already has.
    fan_release(fan);
    return queued;
  }

  // What a session's selection made of a packet offered to it.
  enum class Selected : uint8_t {
    kTaken,     // mirror it to the session's sinks (sliced if the session slices)
    kPassed,    // its filter did not take it: the next session may (`why` says what it was)
    kEnded,     // the session took it and then left it (sampling, rate): counted and freed
  };

  // One session's selection (engine/pipeline/route.h) on `ref`, the frame it selects on: the
  // mirrored frame, or the inner frame a receive session decapsulated. `fields` are that
  // frame's, read when some session of the route has a filter.
  template <bool kFileMeta>
  Selected select(const SessionSelection& sel, uint16_t config_index, uint32_t snapshot, const VerdictKey& key,
                  LazyFilterFields& fields, rte_mbuf* m, PacketRef& ref, InputCounters& ic, FilterReason& why) {
    SessionCounters& sc = stats.sessions[config_index];
    ++sc.tried;
    if (sel.policy.has_filter) {  // no filter: everything, as a route would
      const SessionVerdict v =
          verdict_cache[config_index].evaluate(sel.policy, key, snapshot, fields, TcpdumpExpression{sel, ref});
      if (v.rule >= 0) ++sc.rule_hits[static_cast<size_t>(v.rule)];
      if (v.filtered != FilterReason::kNone) {
        why = v.filtered;
        return Selected::kPassed;
      }
    }
    if (!sel.options) {  // the filter alone decides: taken
      ++sc.matched;
      sc.bytes += ref.len;
      return Selected::kTaken;
    }
    ++sc.matched;
    sc.bytes += ref.len;
    // Beyond AWS: the session takes the packet, drops it if it saw it within its dedup window
    // (time: the capture's for a file, arrival for a port), then mirrors a sample of it, within
    // its rate.
    if (sel.dedup_ns && config_index < plan.dedup.size() && plan.dedup[config_index]) {
      const uint64_t sig = dedup_signature(ref.data, ref.len);
      const uint64_t t = kFileMeta ? mbuf_meta(m).timestamp_ns : elapsed_ns();
      if (sig && plan.dedup[config_index]->seen(sig, t, sel.dedup_ns)) {
        ic.drop(DropReason::duplicate);
        rte_pktmbuf_free(m);
        return Selected::kEnded;
      }
    }
    SessionState& st = session_state[config_index];
    if (sel.sample_flows) {
      const uint32_t hash = flow_hash_of(wire::Bytes(ref.data, ref.len));
      // Both directions share the hash: whole flows are kept or left.
      if (hash > UINT32_MAX / sel.sample_flows) {
        end_filtered(m, ic, FilterReason::not_sampled);
        return Selected::kEnded;
      }
    }
    if (sel.sample_packets && st.packets++ % sel.sample_packets != 0) {
      end_filtered(m, ic, FilterReason::not_sampled);
      return Selected::kEnded;
    }
    if (sel.max_pps_per_worker > 0 && !take_token(st, sel.max_pps_per_worker)) {
      ic.drop(DropReason::rate_limited);
      rte_pktmbuf_free(m);
      return Selected::kEnded;
    }
    if (sel.slice >= 0) {
      const uint32_t keep = slice_length(ref.data, ref.len, static_cast<uint32_t>(sel.slice));
      if (keep < ref.len) {
        ref.len = keep;
        // A file's frame keeps its wire length (the copies say what was cut); a live frame's is
        // its length (to_packet_ref), so that a tunnel's outer lengths count what it carries.
        if (!kFileMeta) ref.wire_len = keep;
        apply_packet_ref(m, ref, kFileMeta);
        ++ic.truncated_slice;
      }
    }
    return Selected::kTaken;
  }

  // A mirror input with sessions: the first session (ascending number) whose filter takes the
  // packet mirrors it to its sinks; a packet none takes is filtered once, under the reason of
  // the last session that tried it (engine/pipeline/mirror_session.h).
  template <bool kFileMeta>
  [[gnu::always_inline]] void handle_mirror_sessions(rte_mbuf* m, PacketRef& ref, const WorkerPlan::Rx& rx,
                                                     const Route& route, InputCounters& ic) {
    // Read once for every session: the verdict caches' key, and the fields on a miss.
    const VerdictKey key = route.any_session_filter ? verdict_key(ref.data, ref.len) : VerdictKey{};
    LazyFilterFields fields(ref.data, ref.len);
    FilterReason last = FilterReason::no_session;
    for (const MirrorSessionRoute& s : route.mirror_sessions) {
      if (!s.select.active) {  // a route to a pool: every packet, no session of its own
        send_session<kFileMeta>(s, m, ref, rx.input, ic);
        return;
      }
      if (!s.select.options) {
        // The filter alone decides (most sessions): select() without its options, inline.
        SessionCounters& sc = stats.sessions[s.config_index];
        ++sc.tried;
        if (s.select.policy.has_filter) {
          const SessionVerdict v = verdict_cache[s.config_index].evaluate(s.select.policy, key, route.snapshot, fields,
                                                                          TcpdumpExpression{s.select, ref});
          if (v.rule >= 0) ++sc.rule_hits[static_cast<size_t>(v.rule)];
          if (v.filtered != FilterReason::kNone) {
            last = v.filtered;
            continue;
          }
        }
        ++sc.matched;
        sc.bytes += ref.len;
      } else {
        const Selected r = select<kFileMeta>(s.select, s.config_index, route.snapshot, key, fields, m, ref, ic, last);
        if (r == Selected::kPassed) continue;
        if (r == Selected::kEnded) return;
      }
      if (send_session<kFileMeta>(s, m, ref, rx.input, ic)) ++stats.sessions[s.config_index].mirrored;
      return;
    }
    end_filtered(m, ic, last);
  }

  // Sends `m` (`ref`; parsed as `fm`, where the caller has it) to the sinks of mirror session
  // `s`, which took it, and counts its cuts once. True when a copy was queued; else `m` ended as
  // dropped.
  template <bool kFileMeta>
  [[gnu::always_inline]] bool send_session(const MirrorSessionRoute& s, rte_mbuf* m, PacketRef& ref, uint16_t input,
                                           InputCounters& ic, const FrameMeta* fm = nullptr) {
    if (s.single) return send_one<kFileMeta>(m, ref, s.sinks[0], input, ic, fm);
    copy_cuts = 0;
    const bool sent =
        shares_payload(s.sinks) && m->nb_segs == 1
            ? fan_out_shared(m, ref, fm ? *fm : parse_frame(wire::Bytes(ref.data, ref.len)), s.sinks, input, ic) != 0
            : fan_out(m, s.sinks, nullptr, kFileMeta, input, ic) != 0;
    if (sent) count_cuts(ic, copy_cuts);
    return sent;
  }

  static void end_filtered(rte_mbuf* m, InputCounters& ic, FilterReason why) {
    ic.filter(why);
    rte_pktmbuf_free(m);
  }

  // A token bucket per session and worker: `rate` tokens a second, bursts of 10 ms (at least 1).
  bool take_token(SessionState& st, double rate) {
    const uint64_t now = rte_get_tsc_cycles();
    const double burst = rate * 0.01 > 1.0 ? rate * 0.01 : 1.0;
    if (st.last_tsc == 0) {
      st.tokens = burst;
    } else {
      st.tokens += static_cast<double>(now - st.last_tsc) * rate / static_cast<double>(plan.tsc_hz);
      if (st.tokens > burst) st.tokens = burst;
    }
    st.last_tsc = now;
    if (st.tokens < 1.0) return false;
    st.tokens -= 1.0;
    return true;
  }

  // Not tunnel traffic, on a port with an exception TAP: the host's (unchanged: a failed
  // parse writes nothing). True when handed over.
  bool to_host(DropReason r, const Route& route, rte_mbuf* m, uint16_t input, InputCounters& ic) {
    if (route.host_output >= 0 &&
        (r == DropReason::not_ip || r == DropReason::not_udp || r == DropReason::not_tunnel_port)) {
      ++ic.to_host;
      enqueue(static_cast<uint16_t>(route.host_output), m, input);
      return true;
    }
    return false;
  }

  // A tunnel input with sessions: decapsulate, allow-lists, session, its sinks.
  template <bool kFileMeta>
  void handle_receive(rte_mbuf* m, PacketRef& ref, const WorkerPlan::Rx& rx, const Route& route,
                      InputCounters& ic) {
    DecapResult res;
    DropReason r = decapsulate(ref, route.pipeline.decap, res);
    if (r != DropReason::kNone) {
      if (to_host(r, route, m, rx.input, ic)) return;
      ic.drop(r);
      rte_pktmbuf_free(m);
      return;
    }
    account_metadata<kFileMeta>(res, m, ic);
    // Cut upstream (AWS PacketLength: the inner IP length says more than the frame holds),
    // read before a session's slice shortens the frame too.
    const bool cut_upstream = inner_original_length(ref.data, ref.len) != 0;
    uint16_t session = 0;
    FilterReason f = classify_received(route.policy, res, session);
    if (f == FilterReason::kNone && route.any_receive_selection) {
      // Sessions that select on the inner frame: the first matching session whose selection
      // takes it mirrors it; one that passes leaves it to the next match, as mirror sessions do.
      const VerdictKey key = verdict_key(ref.data, ref.len);
      LazyFilterFields fields(ref.data, ref.len);
      for (;;) {
        const SessionSinks& cand = route.sessions[session];
        if (!cand.select.active) break;
        FilterReason why = FilterReason::kNone;
        const Selected r = select<kFileMeta>(cand.select, cand.config_index, route.snapshot, key, fields, m, ref, ic, why);
        if (r == Selected::kEnded) return;
        if (r == Selected::kTaken) break;
        if (classify_received(route.policy, res, session, static_cast<uint16_t>(session + 1)) != FilterReason::kNone) {
          f = why;  // no later session matches: filtered under the last one's reason
          break;
        }
      }
    }
    if (f != FilterReason::kNone) {
      ic.filter(f);
      rte_pktmbuf_free(m);
      return;
    }
    apply_packet_ref(m, ref, kFileMeta);
    const SessionSinks& ss = route.sessions[session];
    SinkMeta meta;
    // The length before any cut, upstream or by a slice (the IP header's length still says it).
    if (ss.any_keeps_meta) meta = make_sink_meta(res, ss.config_index, inner_original_length(ref.data, ref.len));
    // A packet sent shortened is counted once: cut upstream or by a sink here (a target's
    // packet_length, the MTU); a slice is counted apart (truncated.slice).
    copy_cuts = cut_upstream ? PacketRef::kTruncatedPacketLength : 0;
    // Sinks that share the payload are tunnels: none keeps the metadata record.
    const unsigned queued = shares_payload(ss.sinks) && m->nb_segs == 1
                                ? fan_out_shared(m, ref, parse_frame(wire::Bytes(ref.data, ref.len)), ss.sinks, rx.input, ic)
                                : fan_out(m, ss.sinks, ss.any_keeps_meta ? &meta : nullptr, kFileMeta, rx.input, ic);
    if (queued) count_cuts(ic, copy_cuts);
    if (ss.config_index != SessionSinks::kNoSessionId) {
      SessionCounters& sc = stats.sessions[ss.config_index];
      if (!ss.select.active) {  // select() counted the others
        ++sc.tried;
        ++sc.matched;
        sc.bytes += ref.len;
      }
      sc.mirrored += queued != 0;
    }
  }

  // A received packet with mirrorpipe's metadata option: its stream's numbering (lost,
  // reordered, duplicated; engine/pipeline/sequence.h) and the delay from its capture to its
  // arrival (the outer packet's capture time for a file, now for a port).
  // Out of line: the plain decap path pays one test of a byte for it (an inlined body cost
  // the decap benchmark 15 % in hugepage runs).
  template <bool kFileMeta>
  [[gnu::always_inline]] void account_metadata(const DecapResult& res, rte_mbuf* m, InputCounters& ic) {
    if (__builtin_expect(res.has_meta, 0)) account_metadata_cold(res, kFileMeta ? mbuf_meta(m).timestamp_ns : 0, ic);
  }
  [[gnu::noinline, gnu::cold]] void account_metadata_cold(const DecapResult& res, uint64_t file_time_ns, InputCounters& ic) {
    if (!plan.sequences) return;
    const TunnelLayer& l = res.layers[0];
    plan.sequences->on_packet(l.src_ip, l.vni, res.meta.worker, res.meta.sequence, ic);
    const uint64_t arrival = file_time_ns ? file_time_ns : plan.wall_base_ns + elapsed_ns();
    if (arrival >= res.meta.capture_ns) {
      ic.meta_latency_ns_sum += arrival - res.meta.capture_ns;
      ++ic.meta_latency_count;
    } else {
      ++ic.meta_clock_behind;
    }
  }

  // The GWLB appliance: the packet returns to GWLB; its inner packet is copied to the
  // session's sinks; its flow's return header is kept for injected packets.
  template <bool kFileMeta>
  void handle_appliance(rte_mbuf* m, PacketRef& ref, const WorkerPlan::Rx& rx, const Route& route,
                        InputCounters& ic) {
    DecapResult res;
    const DropReason r = return_plain_gwlb4(ref, route.appliance_cfg, res)
                             ? DropReason::kNone
                             : appliance_return(ref, route.appliance_cfg, res);
    if (r != DropReason::kNone) {
      if (to_host(r, route, m, rx.input, ic)) return;
      ic.drop(r);
      rte_pktmbuf_free(m);
      return;
    }
    const TunnelLayer& g = res.layers[0];
    // The port's allow_sources name GWLB: a packet from elsewhere is not returned at all (the
    // return would go to whoever claims to be its source).
    if (!route.policy.allow_sources.empty() && !any_prefix_contains(route.policy.allow_sources, g.ipv6, g.src_ip)) {
      ic.filter(FilterReason::source_not_allowed);
      rte_pktmbuf_free(m);
      return;
    }
    InnerFlowKey key;
    uint32_t hash;
    if ((plan.flows || !route.verdicts.empty()) && res.layer_count == 1 && res.l3_protocol != 0 &&
        inner_flow_key(ref.data + res.inner_offset, res.inner_len, res.l3_protocol, g.gwlb_endpoint_id, key, hash)) {
      if (plan.flows) plan.flows->refresh(key, hash, ref.data, res.inner_offset, res.outer_l3_offset, g.gwlb_flow_cookie, now_ns);
      if (!route.verdicts.empty() && route.verdicts.blocks(key)) {
        ic.filter(FilterReason::verdict_blocked);
        rte_pktmbuf_free(m);
        return;
      }
    }
    uint16_t session = 0;
    const SessionSinks* ss = nullptr;
    if (!route.sessions.empty() && classify_received(route.policy, res, session) == FilterReason::kNone) {
      ss = &route.sessions[session];
    }
    if (!ss || ss->sinks.empty()) {  // the common inline case: no copy at all
      enqueue(route.return_output, m, rx.input);
      return;
    }
    SessionCounters* sc = ss->config_index != SessionSinks::kNoSessionId ? &stats.sessions[ss->config_index] : nullptr;
    if (sc) {
      ++sc->tried;
      ++sc->matched;
      sc->bytes += res.inner_len;
    }
    // The inner packet, copied out of the returned one, as an Ethernet frame.
    rte_mbuf* inner = rte_pktmbuf_copy(m, plan.copy_pool, res.inner_offset, res.inner_len);
    if (!inner) {
      for (const Sink& s : ss->sinks) stats.outputs[s.output].drop(DropReason::no_mbuf);
      enqueue(route.return_output, m, rx.input);
      return;
    }
    uint32_t inner_wire = res.inner_wire_len;
    if (res.l3_protocol != 0) {
      auto* eth = reinterpret_cast<wire::EthernetHeader*>(rte_pktmbuf_prepend(inner, RTE_ETHER_HDR_LEN));
      if (!eth) {  // a copy starts RTE_PKTMBUF_HEADROOM in: cannot happen, but never write blind
        for (const Sink& s : ss->sinks) stats.outputs[s.output].drop(DropReason::no_headroom);
        rte_pktmbuf_free(inner);
        enqueue(route.return_output, m, rx.input);
        return;
      }
      eth->dst = res.outer_dst_mac;
      eth->src = res.outer_src_mac;
      eth->ether_type.set(res.l3_protocol);
      inner_wire += RTE_ETHER_HDR_LEN;
    }
    if (kFileMeta) {
      mbuf_meta(inner).wire_len = inner_wire;
      mbuf_meta(inner).flags = 0;
    }
    SinkMeta meta;
    if (ss->any_keeps_meta) {
      meta = make_sink_meta(res, ss->config_index, inner_original_length(rte_pktmbuf_mtod(inner, const uint8_t*), inner->data_len));
    }
    // The copies' cuts, counted once on the input as a mirror session's are (the return itself
    // goes whole).
    copy_cuts = 0;
    const unsigned queued =
        shares_payload(ss->sinks) && inner->nb_segs == 1
            ? fan_out_shared(inner, to_packet_ref(inner, kFileMeta),
                             parse_frame(wire::Bytes(rte_pktmbuf_mtod(inner, const uint8_t*), inner->data_len)), ss->sinks,
                             rx.input, ic, m, route.return_output)
            : fan_out(inner, ss->sinks, ss->any_keeps_meta ? &meta : nullptr, kFileMeta, rx.input, ic, m,
                      route.return_output);
    if (queued > 1) count_cuts(ic, copy_cuts);  // the return is always queued: more is a copy to a sink
    if (sc) sc->mirrored += queued > 1;
  }

  // A packet from an inspection engine (an Ethernet frame on a TAP): wrapped with the return
  // header of its GWLB flow and sent to GWLB.
  template <bool kFileMeta>
  void handle_inject(rte_mbuf* m, PacketRef& ref, const WorkerPlan::Rx& rx, const Route& route,
                     InputCounters& ic) {
    ++stats.flows.lookups;
    const auto* eth = wire::header_at<wire::EthernetHeader>(wire::Bytes(ref.data, ref.len), 0);
    InnerFlowKey key;
    FlowRecord rec;
    bool found = false;
    if (eth && inner_flow_key(ref.data + RTE_ETHER_HDR_LEN, ref.len - RTE_ETHER_HDR_LEN, eth->ether_type.value(), 0, key)) {
      for (const FlowTable* t : plan.all_flows) {
        FlowRecord r;
        if (t->lookup(key, true, now_ns, r) && (!found || r.last_seen_ns > rec.last_seen_ns)) {
          rec = r;
          found = true;
        }
      }
    }
    if (!found) {
      ++stats.flows.misses;
      ic.drop(DropReason::no_flow);
      rte_pktmbuf_free(m);
      return;
    }
    ref.adjust(RTE_ETHER_HDR_LEN);
    const DropReason r = gwlb_wrap(ref, rec.header, rec.header_len, rec.l3_offset);
    if (r != DropReason::kNone) {
      ic.drop(r);
      rte_pktmbuf_free(m);
      return;
    }
    apply_packet_ref(m, ref, kFileMeta);
    enqueue(route.return_output, m, rx.input);
  }

  // One packet through its route. Written once; burst_loop() calls it per packet (a plain encap
  // route and staged sessions take their bursts in stages instead: burst_encap, burst_sessions).
  // kFileMeta: whether the port fills MbufMeta (file ports), fixed per RX port, so the live
  // path carries no test for it.
  // kSpecial: the route receives into sessions, is an appliance or injects (chosen per burst,
  // so the plain encap/decap path carries no test for them).
  template <bool kFileMeta, bool kSpecial>
  inline void handle(rte_mbuf* m, const WorkerPlan::Rx& rx, const Route& route,
                     InputCounters& ic) {
    PacketRef ref = to_packet_ref(m, kFileMeta);
    if (route.host.enabled) {
      const HostVerdict v = host_classify(route.host, ref);
      if (v == HostVerdict::kReply) {
        // Bounded: a flood of requests cannot turn the port into a source of replies.
        if (!take_token(host_replies_bucket, kHostRepliesPerSecond)) {
          ic.drop(DropReason::host_reply_limited);
          rte_pktmbuf_free(m);
          return;
        }
        apply_packet_ref(m, ref, kFileMeta);
        ++ic.host_replies;
        enqueue(route.reply_output, m, rx.input);
        return;
      }
      if (v == HostVerdict::kToHost) {
        ++ic.to_host;
        enqueue(static_cast<uint16_t>(route.host_output), m, rx.input);
        return;
      }
    }
    if constexpr (kSpecial) {
      if (!route.mirror_sessions.empty()) return handle_mirror_sessions<kFileMeta>(m, ref, rx, route, ic);
      if (route.receive) return handle_receive<kFileMeta>(m, ref, rx, route, ic);
      if (route.appliance) return handle_appliance<kFileMeta>(m, ref, rx, route, ic);
      if (route.inject) return handle_inject<kFileMeta>(m, ref, rx, route, ic);
    }
    DropReason r;
    if (route.pipeline.mode == PipelineMode::kDecap) {
      r = decap_step<kFileMeta>(m, ref, route.pipeline.decap, ic);
    } else {
      r = route.nic_flow_hash && (m->ol_flags & RTE_MBUF_F_RX_RSS_HASH)
              ? encap_with_flow_hash(route.pipeline, ref, m->hash.rss)
              : process_packet(route.pipeline, ref);
    }
    if (route_result<kFileMeta>(m, ref, r, route, tx_offloads_of(route), rx.input, ic)) {
      enqueue(route.output, m, rx.input);
    }
  }

  // A decap route's step for one packet: plain VXLAN over IPv4 inline; anything else (and every
  // drop) through decapsulate(), its metadata option accounted.
  template <bool kFileMeta>
  [[gnu::always_inline]] DropReason decap_step(rte_mbuf* m, PacketRef& ref, const DecapConfig& cfg, InputCounters& ic) {
    if (strip_plain_vxlan4(ref, cfg)) return DropReason::kNone;
    DecapResult res;
    const DropReason r = decapsulate(ref, cfg, res);
    // has_meta first: one test of a byte (a dropped packet may have it set too).
    if (__builtin_expect(res.has_meta, 0) && r == DropReason::kNone) account_metadata<kFileMeta>(res, m, ic);
    return r;
  }

  static TxOffloads tx_offloads_of(const Route& route) noexcept {
    return tx_offloads(route.pipeline.outer.ipv6, route.tx_ip_checksum_offload, route.tx_udp_checksum_offload);
  }

  // A route's packet after its pipeline step (`r`): handed to the host or dropped (false), or
  // wrapped as `ref` says and ready to queue on route.output (true). `offloads`: the route's
  // (tx_offloads_of), which burst_encap and burst_decap work out once a burst.
  template <bool kFileMeta>
  [[gnu::always_inline]] bool route_result(rte_mbuf* m, const PacketRef& ref, DropReason r, const Route& route,
                                           const TxOffloads& offloads, uint16_t input, InputCounters& ic) {
    if (r != DropReason::kNone) {
      if (!to_host(r, route, m, input, ic)) {
        ic.drop(r);
        rte_pktmbuf_free(m);
      }
      return false;
    }
    count_cuts(ic, ref.flags);
    apply_packet_ref(m, ref, kFileMeta);
    if (route.stamp_file_meta) stamp(m, ref.len);
    set_tx_offloads(m, offloads);
    return true;
  }

  uint16_t poll(const WorkerPlan::Rx& rx, const std::vector<Route>& routes) {
    rte_mbuf* pkts[kBurstSize];
    InputCounters& ic = stats.inputs[rx.input];
    const uint16_t n = rx.port->rx_burst(pkts, kBurstSize, ic);
    ++stats.polls;
    if (n == 0) return 0;
    ++stats.busy_polls;
    ic.rx += n;
    const Route& route = routes[rx.input];
    if (route.appliance || route.inject) now_ns = elapsed_ns();
    if (rx.file_meta) {
      burst<true>(pkts, n, rx, route, ic);
    } else {
      burst<false>(pkts, n, rx, route, ic);
    }
    return n;
  }

  template <bool kFileMeta>
  void burst(rte_mbuf** pkts, uint16_t n, const WorkerPlan::Rx& rx, const Route& route, InputCounters& ic) {
    // A full burst's worth waiting for the route's main output: send it now (held longer, the
    // mbufs only cost cache); a smaller one waits for more, or for the timer. Sessions spread
    // over several outputs and rely on full buffers and the timer.
    if (route.receive || route.appliance || route.inject || !route.mirror_sessions.empty()) {
      if (route.staged_appliance) {
        burst_appliance<kFileMeta>(pkts, n, rx, route, ic);
      } else if (route.staged_sessions) {
        if (route.mirror_sessions.size() == 1) {
          burst_sessions<kFileMeta, true>(pkts, n, rx, route, ic);
        } else {
          burst_sessions<kFileMeta, false>(pkts, n, rx, route, ic);
        }
      } else {
        burst_loop<kFileMeta, true>(pkts, n, rx, route, ic);
      }
      if ((route.appliance || route.inject) && tx[route.return_output].count >= kBurstSize) flush(route.return_output);
      // The first mirror session's one sink, as a route's output.
      if (!route.mirror_sessions.empty() && route.mirror_sessions.front().single &&
          (!route.mirror_sessions.front().sinks[0].pool ||
           route.mirror_sessions.front().sinks[0].pool->in_place_one_output)) {
        const uint16_t out = route.mirror_sessions.front().sinks[0].output;
        if (tx[out].count >= kBurstSize) flush(out);
      }
    } else {
      if (route.pipeline.mode == PipelineMode::kEncap && !route.host.enabled) {
        burst_encap_for<kFileMeta>(pkts, n, rx, route, ic);
      } else if (route.pipeline.mode == PipelineMode::kDecap && !route.host.enabled) {
        burst_decap<kFileMeta>(pkts, n, rx, route, ic);
      } else {
        burst_loop<kFileMeta, false>(pkts, n, rx, route, ic);
      }
      if (tx[route.output].count >= kBurstSize) flush(route.output);
    }
  }

  // A mirror input routed to one target, a burst at a time: every frame parsed and hashed
  // first, then every outer header written and queued. The hash is a chain of dependent
  // steps; in a loop of its own, the chains of several packets run side by side, where
  // the whole per-packet path leaves the processor room for about one.
  // kNicHash (Route::nic_flow_hash): a packet that carries the NIC's RSS hash takes it instead,
  // as encap_with_flow_hash() does (VXLAN and Geneve then without a parse); one without it is
  // parsed and hashed.
  // kHashOnly: a writer that needs only the flow hash of the frame (!writer_needs_frame_meta:
  // VXLAN and Geneve): the first stage keeps a hash a packet, not a FrameMeta.
  template <bool kFileMeta, bool kNicHash, bool kHashOnly>
  void burst_encap(rte_mbuf** pkts, uint16_t n, const WorkerPlan::Rx& rx, const Route& route, InputCounters& ic) {
    const OuterTemplate& outer = route.pipeline.outer;
    const TxOffloads offloads = tx_offloads_of(route);
    std::conditional_t<kHashOnly, uint32_t, FrameMeta> staged[kBurstSize];  // the first stage's, a packet
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < kPrefetchAhead && i < n; ++i) prefetch_packet(pkts[i]);
    for (uint16_t i = 0; i < n; ++i) {
      if (i + kPrefetchAhead < n) prefetch_packet(pkts[i + kPrefetchAhead]);
      const rte_mbuf* m = pkts[i];
      bytes += m->data_len;
      const wire::Bytes frame(rte_pktmbuf_mtod(m, const uint8_t*), m->data_len);
      const bool nic = kNicHash && (m->ol_flags & RTE_MBUF_F_RX_RSS_HASH);
      if constexpr (kHashOnly) {
        staged[i] = nic ? m->hash.rss : flow_hash_of(frame);
      } else {
        staged[i] = nic ? nic_frame_meta(outer, frame, m->hash.rss) : parse_frame(frame);
      }
    }
    ic.rx_bytes += bytes;
    rte_mbuf* ready[kBurstSize];  // wrapped, in the input's order
    uint16_t nready = 0;
    uint64_t ready_bytes = 0;
    for (uint16_t i = 0; i < n; ++i) {
      rte_mbuf* m = pkts[i];
      PacketRef ref = to_packet_ref(m, kFileMeta);
      DropReason r;
      if constexpr (kHashOnly) {
        FrameMeta hashed{};
        hashed.flow_hash = staged[i];
        r = encapsulate(outer, hashed, ref);
      } else {
        r = encapsulate(outer, staged[i], ref);
      }
      if (!route_result<kFileMeta>(m, ref, r, route, offloads, rx.input, ic)) continue;
      ready[nready++] = m;
      ready_bytes += ref.len;
    }
    enqueue_burst(route.output, ready, nready, rx.input, ready_bytes);
  }

  // A decap route without host traffic, a burst at a time: handle()'s decap_step() for each
  // packet, with no per-packet call or configuration tests, and the packets to send queued
  // together. As a call a packet through handle(), the route cost 267 instructions a packet,
  // now 212 (scripts/callgrind-stages --systems decap).
  template <bool kFileMeta>
  [[gnu::noinline]] void burst_decap(rte_mbuf** pkts, uint16_t n, const WorkerPlan::Rx& rx, const Route& route, InputCounters& ic) {
    const TxOffloads offloads = tx_offloads_of(route);
    uint64_t bytes = 0;
    rte_mbuf* ready[kBurstSize];  // decapsulated, in the input's order
    uint16_t nready = 0;
    uint64_t ready_bytes = 0;
    for (uint16_t i = 0; i < kPrefetchAhead && i < n; ++i) prefetch_packet(pkts[i]);
    for (uint16_t i = 0; i < n; ++i) {
      if (i + kPrefetchAhead < n) prefetch_packet(pkts[i + kPrefetchAhead]);
      rte_mbuf* m = pkts[i];
      bytes += m->data_len;
      PacketRef ref = to_packet_ref(m, kFileMeta);
      const DropReason r = decap_step<kFileMeta>(m, ref, route.pipeline.decap, ic);
      if (!route_result<kFileMeta>(m, ref, r, route, offloads, rx.input, ic)) continue;
      ready[nready++] = m;
      ready_bytes += ref.len;
    }
    ic.rx_bytes += bytes;
    enqueue_burst(route.output, ready, nready, rx.input, ready_bytes);
  }

  // burst_encap() with its template arguments for this route.
  template <bool kFileMeta>
  void burst_encap_for(rte_mbuf** pkts, uint16_t n, const WorkerPlan::Rx& rx, const Route& route, InputCounters& ic) {
    const bool hash_only = !writer_needs_frame_meta(route.pipeline.outer);
    // Only a live port gives the NIC's hash (file inputs never have nic_flow_hash).
    if constexpr (!kFileMeta) {
      if (route.nic_flow_hash) {
        return hash_only ? burst_encap<false, true, true>(pkts, n, rx, route, ic)
                         : burst_encap<false, true, false>(pkts, n, rx, route, ic);
      }
    }
    return hash_only ? burst_encap<kFileMeta, false, true>(pkts, n, rx, route, ic)
                     : burst_encap<kFileMeta, false, false>(pkts, n, rx, route, ic);
  }

  // An appliance's burst in stages (Route::staged_appliance): every packet GWLB's common layout
  // returns in place and keyed first, its flow's bucket prefetched; then the flow table
  // refreshed, in input order; then all queued at once. The per-packet path does the same
  // (handle_appliance); the flow table's hash chain and bucket load, each a wait of their own,
  // now overlap across the burst. The first packet the fast path does not take (another layout,
  // or a drop) ends the stages: it and the rest go through handle() one by one, so the return
  // keeps the input's order. Out of line, as burst_decap and burst_sessions: left to the
  // compiler, whether it went into worker_run turned on the size of unrelated paths, and out
  // of line it took 20 instructions a packet more until the byte counts left the staging loop
  // (fewer values live across it: scripts/callgrind-stages, appliance 557.6 -> 540.3).
  template <bool kFileMeta>
  [[gnu::noinline]] void burst_appliance(rte_mbuf** pkts, uint16_t n, const WorkerPlan::Rx& rx, const Route& route, InputCounters& ic) {
    FlowTable* const flows = plan.flows;
    InnerFlowKey keys[kBurstSize];
    uint32_t hashes[kBurstSize];
    uint32_t cookies[kBurstSize];
    bool keyed[kBurstSize];
    uint64_t bytes = 0, out_bytes = 0;
    for (uint16_t i = 0; i < kPrefetchAhead && i < n; ++i) prefetch_packet(pkts[i]);
    uint16_t staged = 0;
    for (; staged < n; ++staged) {
      if (staged + kPrefetchAhead < n) prefetch_packet(pkts[staged + kPrefetchAhead]);
      rte_mbuf* m = pkts[staged];
      PacketRef ref = to_packet_ref(m, kFileMeta);
      DecapResult res;
      if (!return_plain_gwlb4(ref, route.appliance_cfg, res)) break;
      if (!flows) continue;
      const TunnelLayer& g = res.layers[0];
      keyed[staged] = inner_flow_key(ref.data + res.inner_offset, res.inner_len, res.l3_protocol, g.gwlb_endpoint_id,
                                     keys[staged], hashes[staged]);
      cookies[staged] = g.gwlb_flow_cookie;
      if (keyed[staged]) flows->prefetch(hashes[staged]);
    }
    for (uint16_t i = 0; i < staged; ++i) {
      bytes += pkts[i]->data_len;
      out_bytes += pkts[i]->pkt_len;
      if (flows && keyed[i]) {
        flows->refresh(keys[i], hashes[i], rte_pktmbuf_mtod(pkts[i], const uint8_t*), kPlainGwlb4Inner,
                       kPlainGwlb4Outer, cookies[i], now_ns);
      }
    }
    if (staged) enqueue_burst(route.return_output, pkts, staged, rx.input, out_bytes);
    for (uint16_t i = staged; i < n; ++i) {
      if (i + kPrefetchAhead < n) prefetch_packet(pkts[i + kPrefetchAhead]);
      bytes += pkts[i]->data_len;
      handle<kFileMeta, true>(pkts[i], rx, route, ic);
    }
    ic.rx_bytes += bytes;
  }

  // A mirror input's sessions a burst at a time (Route::staged_sessions: each filter alone
  // decides), in two stages: first every packet is parsed, keyed and given to the first session
  // that takes it (its verdict cache answers most), the others filtered at once; then the taken
  // ones are sent, in the input's order. Each session's counters are added once per burst: the
  // packets that reached it (tried) are those the sessions before it left.
  // kOne: the input has one session (most), whose counts stay in registers.
  template <bool kFileMeta, bool kOne>
  [[gnu::noinline]] void burst_sessions(rte_mbuf** pkts, uint16_t n, const WorkerPlan::Rx& rx, const Route& route,
                                        InputCounters& ic) {
    const auto& sessions = route.mirror_sessions;
    const size_t count = kOne ? 1 : sessions.size();
    // Per session, read once for the burst.
    SessionVerdictCache::Probe probe[kOne ? 1 : kMaxSessions];
    uint64_t* rule_hits[kOne ? 1 : kMaxSessions];
    uint32_t taken[kOne ? 1 : kMaxSessions];
    uint64_t taken_bytes[kOne ? 1 : kMaxSessions];
    for (size_t j = 0; j < count; ++j) {
      const MirrorSessionRoute& s = sessions[j];
      probe[j] = verdict_cache[s.config_index].probe(route.snapshot);
      rule_hits[j] = stats.sessions[s.config_index].rule_hits.data();
      taken[j] = 0;
      taken_bytes[j] = 0;
    }
    // The packets taken, in order: the session that took each, its parse (read with the key).
    rte_mbuf* take[kBurstSize];
    FrameMeta take_meta[kBurstSize];
    uint8_t take_session[kOne ? 1 : kBurstSize];
    static_assert(kMaxSessions <= 256, "a session's place on its input fits in a byte");
    uint16_t ntake = 0;
    rte_mbuf* left[kBurstSize];  // filtered, freed together
    uint16_t nleft = 0;
    uint64_t rx_bytes = 0;

    // Stage 1: which session takes each packet.
    for (uint16_t i = 0; i < kPrefetchAhead && i < n; ++i) prefetch_packet(pkts[i]);
    for (uint16_t i = 0; i < n; ++i) {
      if (i + kPrefetchAhead < n) prefetch_packet(pkts[i + kPrefetchAhead]);
      rte_mbuf* m = pkts[i];
      const uint8_t* data = rte_pktmbuf_mtod(m, const uint8_t*);
      const uint32_t len = m->data_len;
      rx_bytes += len;
      VerdictKey key;
      take_meta[ntake] = route.any_session_filter ? parse_frame_keyed(data, len, key) : parse_frame(wire::Bytes(data, len));
      LazyFilterFields fields(data, len);
      FilterReason last = FilterReason::no_session;
      size_t j = 0;
      for (; j < count; ++j) {
        const MirrorSessionRoute& s = sessions[j];
        if (!s.select.policy.has_filter) break;
        SessionVerdict v;
        if (!s.select.verdict_cacheable || !SessionVerdictCache::hit(probe[j], key, v)) {
          const PacketRef ref = to_packet_ref(m, kFileMeta);
          v = verdict_cache[s.config_index].evaluate(s.select.policy, key, route.snapshot, fields,
                                                     TcpdumpExpression{s.select, ref});
        }
        if (v.rule >= 0) ++rule_hits[j][static_cast<size_t>(v.rule)];
        if (v.filtered == FilterReason::kNone) break;
        last = v.filtered;
      }
      if (j == count) {
        ic.filter(last);
        left[nleft++] = m;
        continue;
      }
      ++taken[j];
      taken_bytes[j] += len;
      if (!kOne) take_session[ntake] = static_cast<uint8_t>(j);
      take[ntake++] = m;
    }
    ic.rx_bytes += rx_bytes;
    if (nleft) rte_pktmbuf_free_bulk(left, nleft);

    // Stage 2: the sends, in the input's order.
    uint32_t mirrored[kOne ? 1 : kMaxSessions];
    for (size_t j = 0; j < count; ++j) mirrored[j] = 0;
    const MirrorSessionRoute& first = sessions[0];
    const Sink& listed = first.sinks[0];
    if (kOne && first.single && (listed.pool ? listed.pool->in_place_one_output : wraps_in_place(listed))) {
      // One session, one tunnel written in place (most), or a pool of such on one output (the
      // member of each packet's flow): its packets queued together.
      rte_mbuf* ready[kBurstSize];
      uint16_t nready = 0;
      uint64_t ready_bytes = 0;
      // The loop twice, with and without the member choice: a plain session's loop keeps no
      // branch on it (+4 instructions a packet with one).
      auto write_all = [&](auto pool_tag) {
        for (uint16_t k = 0; k < ntake; ++k) {
          rte_mbuf* m = take[k];
          const Sink& sink = decltype(pool_tag)::value ? pool_member(listed, take_meta[k].flow_hash) : listed;
          PacketRef ref = to_packet_ref(m, kFileMeta);
          const DropReason r = wrap_in_place<kFileMeta>(m, ref, sink, take_meta[k]);
          if (r != DropReason::kNone) {
            drop_copy(m, sink, r, ic);
            continue;
          }
          count_cuts(ic, ref.flags);
          ready[nready++] = m;
          ready_bytes += ref.len;
        }
      };
      if (listed.pool) {
        write_all(std::true_type{});
      } else {
        write_all(std::false_type{});
      }
      enqueue_burst(listed.output, ready, nready, rx.input, ready_bytes);
      mirrored[0] = nready;
    } else if (kOne && first.shared_one_output) {
      mirrored[0] = first.shared_plain_vxlan4 ? fan_burst<kFileMeta, true>(first, take, take_meta, ntake, rx.input, ic)
                                              : fan_burst<kFileMeta, false>(first, take, take_meta, ntake, rx.input, ic);
    } else {
      for (uint16_t k = 0; k < ntake; ++k) {
        const size_t j = kOne ? 0 : take_session[k];
        PacketRef ref = to_packet_ref(take[k], kFileMeta);
        mirrored[j] += send_session<kFileMeta>(sessions[j], take[k], ref, rx.input, ic, &take_meta[k]);
      }
    }

    uint32_t reached = n;
    for (size_t j = 0; j < count; ++j) {
      SessionCounters& sc = stats.sessions[sessions[j].config_index];
      sc.tried += reached;
      sc.matched += taken[j];
      sc.bytes += taken_bytes[j];
      sc.mirrored += mirrored[j];
      reached -= taken[j];
    }
  }

  template <bool kFileMeta, bool kSpecial>
  void burst_loop(rte_mbuf** pkts, uint16_t n, const WorkerPlan::Rx& rx, const Route& route, InputCounters& ic) {
    uint64_t bytes = 0;
    for (uint16_t i = 0; i < kPrefetchAhead && i < n; ++i) prefetch_packet(pkts[i]);
    for (uint16_t i = 0; i < n; ++i) {
      if (i + kPrefetchAhead < n) prefetch_packet(pkts[i + kPrefetchAhead]);
      bytes += pkts[i]->data_len;
      handle<kFileMeta, kSpecial>(pkts[i], rx, route, ic);
    }
    ic.rx_bytes += bytes;
  }
};

}  // namespace

void worker_run(const WorkerPlan& plan, WorkerStats& published, const std::atomic<bool>& stop) {
  Worker w(plan);  // about 100 KiB on the lcore's stack (8 MiB); on the heap it measured ~2% slower
  w.init_fans();
  uint64_t last_flush = rte_get_tsc_cycles();
  uint64_t last_publish = last_flush;
  for (uint64_t loop = 0;; ++loop) {
    bool all_finished = true;
    const std::vector<Route>& routes = *plan.routes->current.load(std::memory_order_acquire);
    for (const auto& rx : plan.rx) {
      if (rx.port->finished()) continue;
      all_finished = false;
      w.poll(rx, routes);
    }
    if (all_finished) break;
    // Housekeeping every 16 loops: TX buffers flushed on a timer, counters published, stop.
    if ((loop & 15) == 0) {
      const uint64_t now = rte_get_tsc_cycles();
      if (now - last_flush >= plan.flush_cycles) {
        w.flush_all();
        last_flush = now;
      }
      if (now - last_publish >= plan.publish_cycles) {
        w.copy_flow_counters();
        publish_stats(w.stats, published);
        last_publish = now;
      }
      // Quiescent point: no route snapshot is held across it (see RouteTable).
      plan.seen_generation->store(plan.routes->generation.load(std::memory_order_acquire),
                                  std::memory_order_release);
      if (stop.load(std::memory_order_relaxed)) break;
    }
  }
  w.flush_all();
  w.release_headers();
  for (TxPort* t : plan.tx) t->flush();
  w.copy_flow_counters();
  publish_stats(w.stats, published);
}

}  // namespace mirrorpipe
