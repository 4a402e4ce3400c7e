// create_packet_pool (engine/runtime/eal.h) under a started EAL without hugepages, as file mode,
// the tests and the benches run it: every buffer there, its IO address, and where its lines
// fall in the L1 data cache.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_memory.h>
#include <rte_memzone.h>
#include <rte_mempool.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "engine/runtime/eal.h"
#include "engine/runtime/worker.h"

namespace {

using namespace mirrorpipe;

// The L1 data caches this runs on (x86-64 and Arm server cores alike): 64-byte lines, 64 sets
// (32 KiB, 8 ways; 48 KiB, 12 ways). A line's set is address bits 6-11.
constexpr uintptr_t kLineBytes = 64;
constexpr uintptr_t kSets = 64;
constexpr unsigned kWays = 8;
constexpr unsigned kBurst = kBurstSize;  // the workers' RX burst

uintptr_t set_of(const void* p) { return (reinterpret_cast<uintptr_t>(p) / kLineBytes) % kSets; }

// With IOVA as VA a buffer's IO address is its virtual one (which is also all rte_mem_virt2iova
// says there; the pool's memory was given its zone's IO address).
bool iova_is_virtual(const rte_mbuf* m) { return rte_mbuf_iova_get(m) == reinterpret_cast<rte_iova_t>(m->buf_addr); }

std::vector<rte_mbuf*> buffers_in_memory_order(rte_mempool* mp) {
  std::vector<rte_mbuf*> all;
  rte_mempool_obj_iter(
      mp, [](rte_mempool*, void* arg, void* obj, unsigned) { static_cast<std::vector<rte_mbuf*>*>(arg)->push_back(static_cast<rte_mbuf*>(obj)); },
      &all);
  std::sort(all.begin(), all.end());
  return all;
}

}  // namespace

TEST_CASE("the EAL of file mode has no hugepages, no PCI bus and IO addresses that are virtual ones") {
  // The conditions under which create_packet_pool packs the buffers.
  CHECK_FALSE(rte_eal_has_hugepages());
  CHECK_FALSE(rte_eal_has_pci());
  CHECK(rte_eal_iova_mode() == RTE_IOVA_VA);
}

TEST_CASE("a packet pool without hugepages: every buffer there, its IO address, and packed") {
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
    if (!iova_is_virtual(m)) ++bad_iova;
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

// Buffers larger than a page (the file ports' small pool) DPDK packs already.
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
    if (!iova_is_virtual(all[i])) ++bad_iova;
    if (i < kBurst) worst = std::max(worst, ++per_set[set_of(rte_pktmbuf_mtod(all[i], void*))]);
  }
  CHECK(bad_iova == 0);
  INFO("the most of the first 32 large buffers whose data starts in one L1 set: " << worst);
  CHECK(worst <= 2);
}

TEST_CASE("a pool that cannot be made: nullptr, the reason in rte_errno, its names free again") {
  rte_mempool* first = create_packet_pool("t_pool_twice", 63, 0, 2176, SOCKET_ID_ANY);
  REQUIRE(first != nullptr);
  rte_errno = 0;
  CHECK(create_packet_pool("t_pool_twice", 63, 0, 2176, SOCKET_ID_ANY) == nullptr);
  CHECK(rte_errno == EEXIST);

  // Freed, a pool gives back its memory zone (the populate callback's work) and its names.
  rte_mempool_free(first);
  CHECK(rte_mempool_lookup("t_pool_twice") == nullptr);
  CHECK(rte_memzone_lookup("MP_t_pool_twice_0") == nullptr);
  CHECK(create_packet_pool("t_pool_twice", 63, 0, 2176, SOCKET_ID_ANY) != nullptr);

  // Its memory zone's name taken: refused, and the pool's name free again.
  const rte_memzone* squatter = rte_memzone_reserve("MP_t_pool_zone_0", 4096, SOCKET_ID_ANY, 0);
  REQUIRE(squatter != nullptr);
  rte_errno = 0;
  CHECK(create_packet_pool("t_pool_zone", 63, 0, 2176, SOCKET_ID_ANY) == nullptr);
  CHECK(rte_errno == EEXIST);
  CHECK(rte_mempool_lookup("t_pool_zone") == nullptr);
  rte_memzone_free(squatter);
  CHECK(create_packet_pool("t_pool_zone", 63, 0, 2176, SOCKET_ID_ANY) != nullptr);

  // 2.4 GB against the EAL's 512 MB (eal_file_mode_args' -m 512): no memory, nothing left behind.
  rte_errno = 0;
  CHECK(create_packet_pool("t_pool_huge", 1u << 20, 0, 2176, SOCKET_ID_ANY) == nullptr);
  CHECK(rte_errno == ENOMEM);
  CHECK(rte_mempool_lookup("t_pool_huge") == nullptr);
  CHECK(rte_memzone_lookup("MP_t_pool_huge_0") == nullptr);
  CHECK(create_packet_pool("t_pool_huge", 63, 0, 2176, SOCKET_ID_ANY) != nullptr);
}

// Last: it fragments the EAL's memory while it runs.
TEST_CASE("no contiguous room for a packed pool: DPDK's layout instead, every buffer there") {
  // Memory taken a megabyte at a time, then every other megabyte given back: room in plenty,
  // none of it contiguous beyond a megabyte.
  std::vector<const rte_memzone*> zones;
  for (unsigned i = 0; i < 4096; ++i) {
    const std::string name = "t_frag_" + std::to_string(i);
    const rte_memzone* z = rte_memzone_reserve(name.c_str(), 1u << 20, SOCKET_ID_ANY, 0);
    if (!z) break;
    zones.push_back(z);
  }
  REQUIRE(zones.size() >= 64);
  for (size_t i = 0; i < zones.size(); i += 2) rte_memzone_free(zones[i]);

  // 1024 buffers packed would need 2.3 MB in one piece; a buffer a page, 4 KiB pieces.
  rte_mempool* mp = create_packet_pool("t_pool_fallback", 1024, 0, 2176, SOCKET_ID_ANY);
  REQUIRE(mp != nullptr);
  CHECK(rte_mempool_avail_count(mp) == 1024);
  const std::vector<rte_mbuf*> all = buffers_in_memory_order(mp);
  REQUIRE(all.size() == 1024);
  // DPDK's layout: each buffer within one 4 KiB page (packed, most would cross one).
  unsigned within_a_page = 0;
  for (rte_mbuf* m : all) {
    const uintptr_t first = reinterpret_cast<uintptr_t>(m);
    const uintptr_t last = reinterpret_cast<uintptr_t>(m->buf_addr) + m->buf_len - 1;
    if (first / 4096 == last / 4096) ++within_a_page;
    if (!iova_is_virtual(m)) FAIL("a buffer's IO address");
  }
  CHECK(within_a_page == all.size());
  for (size_t i = 1; i < zones.size(); i += 2) rte_memzone_free(zones[i]);
}

int main(int argc, char** argv) {
  eal_init(eal_file_mode_args());
  const int rc = Catch::Session().run(argc, argv);
  eal_cleanup();
  return rc;
}
