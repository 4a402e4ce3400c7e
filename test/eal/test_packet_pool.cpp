// create_packet_pool (engine/runtime/eal.h) under a started EAL without hugepages, as file mode,
// the tests and the benches run it: every buffer there, its IO address, and where its lines
// fall in the L1 data cache.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_memory.h>
#include <rte_mempool.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <vector>

#include "engine/runtime/eal.h"

namespace {

using namespace mirrorpipe;

// The L1 data caches this runs on (x86-64 and Arm server cores alike): 64-byte lines, 64 sets
// (32 KiB, 8 ways; 48 KiB, 12 ways). A line's set is address bits 6-11.
constexpr uintptr_t kLineBytes = 64;
constexpr uintptr_t kSets = 64;
constexpr unsigned kWays = 8;
constexpr unsigned kBurst = 32;  // the workers' RX burst (engine/runtime/worker.h)

uintptr_t set_of(const void* p) { return (reinterpret_cast<uintptr_t>(p) / kLineBytes) % kSets; }

std::vector<rte_mbuf*> buffers_in_memory_order(rte_mempool* mp) {
  std::vector<rte_mbuf*> all;
  rte_mempool_obj_iter(
      mp, [](rte_mempool*, void* arg, void* obj, unsigned) { static_cast<std::vector<rte_mbuf*>*>(arg)->push_back(static_cast<rte_mbuf*>(obj)); },
      &all);
  std::sort(all.begin(), all.end());
  return all;
}

}  // namespace

TEST_CASE("the EAL of file mode has no hugepages and IO addresses that are virtual ones") {
  // The condition under which create_packet_pool packs the buffers (and the one it was written for).
  CHECK_FALSE(rte_eal_has_hugepages());
  CHECK(rte_eal_iova_mode() == RTE_IOVA_VA);
}

TEST_CASE("a packet pool without hugepages: every buffer there, whole in IO space, and packed") {
  constexpr unsigned kBuffers = 4095;
  constexpr uint16_t kRoom = RTE_PKTMBUF_HEADROOM + 2048;
  rte_mempool* mp = create_packet_pool("t_pool_layout", kBuffers, 256, kRoom, SOCKET_ID_ANY);
  REQUIRE(mp != nullptr);
  CHECK(rte_mempool_avail_count(mp) == kBuffers);
  CHECK(rte_pktmbuf_data_room_size(mp) == kRoom);
  CHECK(rte_pktmbuf_priv_size(mp) == 0);

  const std::vector<rte_mbuf*> all = buffers_in_memory_order(mp);
  REQUIRE(all.size() == kBuffers);
  unsigned bad_iova = 0, bad_init = 0, overlaps = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    rte_mbuf* m = all[i];
    auto* data = static_cast<uint8_t*>(m->buf_addr);
    // IO addresses: the buffer's first and last bytes where the memory subsystem says they are,
    // contiguous in between (what a NIC's DMA into the buffer needs).
    if (m->buf_iova != rte_mem_virt2iova(data) ||
        rte_mem_virt2iova(data + m->buf_len - 1) != m->buf_iova + m->buf_len - 1) {
      ++bad_iova;
    }
    if (m->pool != mp || m->buf_len != kRoom || data != reinterpret_cast<uint8_t*>(m) + sizeof(rte_mbuf) ||
        m->data_off != RTE_PKTMBUF_HEADROOM || rte_mbuf_refcnt_read(m) != 1 || m->nb_segs != 1) {
      ++bad_init;
    }
    if (i + 1 < all.size() && data + m->buf_len > reinterpret_cast<uint8_t*>(all[i + 1])) ++overlaps;
  }
  CHECK(bad_iova == 0);
  CHECK(bad_init == 0);
  CHECK(overlaps == 0);

  // Any 32 buffers next to each other in memory (what a burst takes from a freshly filled cache)
  // start their data in different L1 sets: at most two share one, far from the 8 ways. DPDK's
  // own layout without hugepages starts every such buffer on a page of its own: all 32 alike.
  unsigned worst = 0;
  for (size_t first = 0; first + kBurst <= all.size(); ++first) {
    std::map<uintptr_t, unsigned> per_set;
    for (size_t i = first; i < first + kBurst; ++i) {
      worst = std::max(worst, ++per_set[set_of(rte_pktmbuf_mtod(all[i], void*))]);
    }
  }
  INFO("the most buffers of 32 neighbours whose data starts in one L1 set: " << worst);
  CHECK(worst <= 2);
  CHECK(worst < kWays);

  // Buffers go out and come back, and hold what is written into them.
  std::vector<rte_mbuf*> got(kBurst);
  REQUIRE(rte_pktmbuf_alloc_bulk(mp, got.data(), kBurst) == 0);
  for (unsigned i = 0; i < kBurst; ++i) {
    char* p = rte_pktmbuf_append(got[i], 2048);
    REQUIRE(p != nullptr);
    std::memset(p, static_cast<int>(i), 2048);
  }
  for (unsigned i = 0; i < kBurst; ++i) {
    const auto* p = rte_pktmbuf_mtod(got[i], const uint8_t*);
    CHECK(std::all_of(p, p + 2048, [i](uint8_t b) { return b == static_cast<uint8_t>(i); }));
  }
  rte_pktmbuf_free_bulk(got.data(), kBurst);
  CHECK(rte_mempool_avail_count(mp) == kBuffers);
}

// Buffers larger than a page (the file ports' small pool) DPDK packs already; what matters there
// is that each stays whole in IO space across the pages it spans.
TEST_CASE("a buffer of no room (indirect buffers) and one larger than a page") {
  rte_mempool* small = create_packet_pool("t_pool_indirect", 1023, 0, 0, SOCKET_ID_ANY);
  REQUIRE(small != nullptr);
  CHECK(rte_mempool_avail_count(small) == 1023);
  constexpr uint16_t kLarge = 512 + 9216 + 512;  // the file pool's small buffers
  rte_mempool* large = create_packet_pool("t_pool_large", 255, 0, kLarge, SOCKET_ID_ANY);
  REQUIRE(large != nullptr);
  const std::vector<rte_mbuf*> all = buffers_in_memory_order(large);
  REQUIRE(all.size() == 255);
  unsigned bad_iova = 0;
  std::map<uintptr_t, unsigned> per_set;
  unsigned worst = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    auto* data = static_cast<uint8_t*>(all[i]->buf_addr);
    if (all[i]->buf_iova != rte_mem_virt2iova(data) ||
        rte_mem_virt2iova(data + all[i]->buf_len - 1) != all[i]->buf_iova + all[i]->buf_len - 1) {
      ++bad_iova;
    }
    if (i < kBurst) worst = std::max(worst, ++per_set[set_of(rte_pktmbuf_mtod(all[i], void*))]);
  }
  CHECK(bad_iova == 0);
  INFO("the most of the first 32 large buffers whose data starts in one L1 set: " << worst);
  CHECK(worst <= 2);
}

TEST_CASE("a pool that cannot be made: nullptr, the reason in rte_errno, its name free again") {
  rte_mempool* first = create_packet_pool("t_pool_twice", 63, 0, 2176, SOCKET_ID_ANY);
  REQUIRE(first != nullptr);
  rte_errno = 0;
  CHECK(create_packet_pool("t_pool_twice", 63, 0, 2176, SOCKET_ID_ANY) == nullptr);
  CHECK(rte_errno == EEXIST);

  // More than the EAL's 512 MB: the memory zone cannot be had, and nothing is left behind.
  rte_errno = 0;
  CHECK(create_packet_pool("t_pool_huge", 1u << 20, 0, 2176, SOCKET_ID_ANY) == nullptr);
  CHECK(rte_errno != 0);
  CHECK(rte_mempool_lookup("t_pool_huge") == nullptr);
  rte_mempool* again = create_packet_pool("t_pool_huge", 63, 0, 2176, SOCKET_ID_ANY);
  CHECK(again != nullptr);
}

int main(int argc, char** argv) {
  eal_init(eal_file_mode_args());
  const int rc = Catch::Session().run(argc, argv);
  eal_cleanup();
  return rc;
}
