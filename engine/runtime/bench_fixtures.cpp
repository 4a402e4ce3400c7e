#include "engine/runtime/bench_fixtures.h"

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_thash.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

#include "engine/pipeline/rss.h"

namespace mirrorpipe {
namespace {

// What a NIC with the engine's symmetric key computes for an untagged IPv4 TCP/UDP frame (the
// benchmark's frames), by DPDK's reference Toeplitz; 0 for anything else.
uint32_t simulated_rss_hash(const std::vector<uint8_t>& f) {
  if (f.size() < 38 || f[12] != 0x08 || f[13] != 0x00 || (f[14] >> 4) != 4 || (f[23] != 6 && f[23] != 17)) return 0;
  const size_t l4 = 14 + (f[14] & 0x0fu) * 4;
  if (f.size() < l4 + 4) return 0;
  auto be32 = [&](size_t i) { return uint32_t{f[i]} << 24 | uint32_t{f[i + 1]} << 16 | uint32_t{f[i + 2]} << 8 | f[i + 3]; };
  rte_ipv4_tuple t{};
  t.src_addr = be32(26);
  t.dst_addr = be32(30);
  t.sport = static_cast<uint16_t>(f[l4] << 8 | f[l4 + 1]);
  t.dport = static_cast<uint16_t>(f[l4 + 2] << 8 | f[l4 + 3]);
  uint8_t key[40];
  fill_symmetric_rss_key(key, sizeof key);
  return rte_softrss(reinterpret_cast<uint32_t*>(&t), RTE_THASH_V4_L4_LEN, key);
}

// Where prefill_pool keeps a buffer's frame's first bytes: the end of its data room.
uint8_t* kept_head(rte_mbuf* m) {
  return static_cast<uint8_t*>(m->buf_addr) + m->buf_len - kKeptHeadBytes;
}

// Benchmarks only: receives as EthdevRx does, then
// - kRestoreHead (RunOptions::restore_ethernet_header): writes each frame's first bytes back
//   from where prefill_pool kept them (GWLB's outer headers overwrote them the last time the
//   buffer went out);
// - kFlagHash (RunOptions::simulate_rx_rss_hash): marks each packet as carrying its RSS hash,
//   as a NIC's PMD does when it delivers one.
template <bool kRestoreHead, bool kFlagHash>
class FixtureRx final : public RxPort {
 public:
  FixtureRx(uint16_t port, uint16_t queue) : port_(port), queue_(queue) {}
  uint16_t rx_burst(rte_mbuf** pkts, uint16_t n, InputCounters&) override {
    const uint16_t got = rte_eth_rx_burst(port_, queue_, pkts, n);
    for (uint16_t i = 0; i < got; ++i) {
      rte_mbuf* m = pkts[i];
      if (kRestoreHead) std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), kept_head(m), kKeptHeadBytes);
      // A store, not |=: the allocation just reset ol_flags to 0 (no external buffers in this
      // pool), and reading it back measured 10 % slower (a load from the middle of the reset's
      // wider store) than a PMD's own descriptor-to-mbuf write would cost.
      if (kFlagHash) m->ol_flags = RTE_MBUF_F_RX_RSS_HASH;
    }
    return got;
  }
  bool finished() const override { return false; }

 private:
  uint16_t port_, queue_;
};

}  // namespace

void prefill_pool(rte_mempool* pool, const std::vector<std::vector<uint8_t>>& frames, uint32_t room, bool rss_hash,
                  bool keep_head) {
  if (keep_head) {
    for (const auto& f : frames) {
      if (f.size() < kKeptHeadBytes || f.size() + kKeptHeadBytes > room) {
        throw std::invalid_argument("bench: a frame of " + std::to_string(f.size()) +
                                    " bytes leaves no room for its kept Ethernet header in a buffer of " +
                                    std::to_string(room));
      }
    }
  }
  struct Fill {
    const std::vector<std::vector<uint8_t>>* frames;
    size_t next;
    uint32_t room;
    bool rss_hash;
    bool keep_head;
  } fill{&frames, 0, room, rss_hash, keep_head};
  rte_mempool_obj_iter(
      pool,
      [](rte_mempool*, void* arg, void* obj, unsigned) {
        auto* f = static_cast<Fill*>(arg);
        const auto& frame = (*f->frames)[f->next++ % f->frames->size()];
        auto* m = static_cast<rte_mbuf*>(obj);
        std::memcpy(static_cast<uint8_t*>(m->buf_addr) + RTE_PKTMBUF_HEADROOM, frame.data(),
                    std::min<size_t>(frame.size(), f->room));
        if (f->rss_hash) m->hash.rss = simulated_rss_hash(frame);
        if (f->keep_head) std::memcpy(kept_head(m), frame.data(), kKeptHeadBytes);
      },
      &fill);
}

std::unique_ptr<RxPort> make_fixture_rx(uint16_t port, uint16_t queue, bool restore_head, bool flag_hash) {
  if (restore_head && flag_hash) return std::make_unique<FixtureRx<true, true>>(port, queue);
  if (restore_head) return std::make_unique<FixtureRx<true, false>>(port, queue);
  if (flag_hash) return std::make_unique<FixtureRx<false, true>>(port, queue);
  throw std::invalid_argument("make_fixture_rx: neither fixture asked for");
}

}  // namespace mirrorpipe
