#include "engine/runtime/eal.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>
#include <rte_mbuf_pool_ops.h>
#include <rte_memzone.h>
#include <rte_mempool.h>

#include <rte_version.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include <fcntl.h>
#include <unistd.h>
#include <string>

#include "engine/control/log.h"
#include "engine/runtime/mbuf.h"

namespace mirrorpipe {

namespace {
bool g_eal_started = false;
}  // namespace

void eal_init(const std::vector<std::string>& args) {
  std::vector<std::string> all{"mirrorpipe"};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  // On a bad option the EAL prints its whole usage (about 100 lines) on stdout: kept out of the
  // user's face; the option it refused is on stderr already (getopt's one line).
  std::fflush(stdout);
  const int saved_stdout = ::dup(STDOUT_FILENO);
  const int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (saved_stdout >= 0 && devnull >= 0) ::dup2(devnull, STDOUT_FILENO);
  const int rc = rte_eal_init(static_cast<int>(all.size()), argv.data());
  const int err = rte_errno;
  std::fflush(stdout);
  if (saved_stdout >= 0) {
    ::dup2(saved_stdout, STDOUT_FILENO);
    ::close(saved_stdout);
  }
  if (devnull >= 0) ::close(devnull);
  if (rc < 0) {
    std::string args_text;
    for (const auto& a : args) args_text += " " + a;
    const std::string msg = std::string("DPDK EAL initialisation failed: ") + rte_strerror(err) +
                            " (EAL arguments:" + args_text + ")";
    // A refused option or device is the configuration's fault (exit 2); anything else
    // (memory, hugepages, permissions) the machine's.
    if (err == EINVAL || err == ENODEV) throw std::invalid_argument(msg);
    throw std::runtime_error(msg);
  }
  g_eal_started = true;
  register_mbuf_meta();
}

void eal_cleanup() noexcept {
  if (!g_eal_started) return;
  g_eal_started = false;
  // The EAL leaves its runtime folder (/var/run/dpdk/PREFIX: the shared configuration, memory
  // maps, sockets; several MB of tmpfs) behind; an engine that has stopped needs none of it.
  const std::string runtime_dir = rte_eal_get_runtime_dir();
  rte_eal_cleanup();
  std::error_code ec;
  if (!runtime_dir.empty()) std::filesystem::remove_all(runtime_dir, ec);
}

std::string dpdk_version() { return rte_version(); }

std::vector<std::string> eal_file_mode_args() {
  return {"--no-huge", "-m",           "512", "--no-pci", "--no-shconf", "--no-telemetry",
          "-l",        "0",            "--log-level", "lib.eal:error", "--log-level",
          "lib.mbuf:error"};
}

namespace {

// The packed pool of create_packet_pool: nullptr and rte_errno on failure, nothing left behind
// (neither the pool nor its memory zone: both names free again).
rte_mempool* create_packed_pool(const char* name, unsigned n, unsigned cache, uint16_t room, int socket) {
  rte_mempool* mp = rte_mempool_create_empty(name, n, sizeof(rte_mbuf) + room, cache,
                                             sizeof(rte_pktmbuf_pool_private), socket,
                                             RTE_MEMPOOL_F_NO_IOVA_CONTIG);
  if (!mp) return nullptr;
  auto fail = [mp](int err) -> rte_mempool* {
    rte_mempool_free(mp);  // and the memory zone, once populate added it (its free callback)
    rte_errno = err;
    return nullptr;
  };
  int rc = rte_mempool_set_ops_byname(mp, rte_mbuf_best_mempool_ops(), nullptr);
  if (rc != 0) return fail(-rc);
  rte_pktmbuf_pool_private priv{};  // no private area a buffer, no flags
  priv.mbuf_data_room_size = room;
  rte_pktmbuf_pool_init(mp, &priv);
  // One zone for every buffer, sized as the default handler sizes an unpaged pool. A handler
  // that wants more (one that aligns its objects) finds too little room: fewer than n buffers,
  // a failure, and the caller's fallback.
  const size_t object_bytes = size_t{mp->header_size} + mp->elt_size + mp->trailer_size;
  char zone_name[RTE_MEMZONE_NAMESIZE];
  // Named as DPDK names a pool's memory ("MP_<pool>_0"), so that a dump of the zones shows whose.
  if (std::snprintf(zone_name, sizeof zone_name, RTE_MEMPOOL_MZ_FORMAT "_0", name) >= static_cast<int>(sizeof zone_name)) {
    return fail(ENAMETOOLONG);
  }
  const rte_memzone* mz = rte_memzone_reserve_aligned(zone_name, object_bytes * n, socket, RTE_MEMZONE_IOVA_CONTIG,
                                                      RTE_MEMPOOL_ALIGN);
  if (!mz) return fail(rte_errno);
  rc = rte_mempool_populate_iova(
      mp, static_cast<char*>(mz->addr), mz->iova, mz->len,
      [](rte_mempool_memhdr*, void* zone) { rte_memzone_free(static_cast<const rte_memzone*>(zone)); },
      const_cast<rte_memzone*>(mz));
  if (rc <= 0) {  // the zone was not added to the pool: its callback will not free it
    rte_memzone_free(mz);
    return fail(rc < 0 ? -rc : ENOBUFS);
  }
  if (mp->populated_size != n) return fail(ENOBUFS);
  rte_mempool_obj_iter(mp, rte_pktmbuf_init, nullptr);
  return mp;
}

}  // namespace

rte_mempool* create_packet_pool(const char* name, unsigned n, unsigned cache, uint16_t room, int socket) {
  // Without hugepages, DPDK keeps each buffer that needs contiguous IO addresses within one
  // 4 KiB page: a buffer of more than 2 KiB starts a page of its own, so line k of every buffer
  // falls in the same set of the L1 data cache (address bits 6-11 alike), and a burst of 32
  // buffers contends for that set's 8 ways at each line it touches. Packed one after the other
  // instead (a stride of 37 cache lines for 2 KiB of room), under three conditions:
  // - no hugepages (with them DPDK packs the buffers itself);
  // - no PCI bus (--no-pci: file mode, the tests, the benches, the examples without hugepages):
  //   only virtual devices, which copy frames and do no DMA. DPDK marks a pool built this way
  //   as not for IO (RTE_MEMPOOL_F_NON_IO), and a PMD that does DMA (mlx5, for one) refuses to
  //   register such a pool;
  // - IO addresses that are the virtual ones (IOVA as VA, what the EAL picks here), contiguous
  //   across pages, so that every buffer's IO address is right all the same.
  if (!rte_eal_has_hugepages() && !rte_eal_has_pci() && rte_eal_iova_mode() == RTE_IOVA_VA) {
    if (rte_mempool* mp = create_packed_pool(name, n, cache, room, socket)) return mp;
    // A pool (or its memory zone) of that name exists: DPDK's layout would be refused the same.
    if (rte_errno == EEXIST) return nullptr;
    logger().warn("start", std::string("packet pool ") + name + ": cannot pack its buffers (" +
                               rte_strerror(rte_errno) + "); DPDK's layout instead, a buffer a page",
                  {{"pool", name}});
  }
  return rte_pktmbuf_pool_create(name, n, cache, 0, room, socket);
}

FilePools create_file_pools() {
  FilePools p;
  const unsigned small_room = kFileHeadroomBytes + 9216 + 512;
  p.small = create_packet_pool("mp_file_small", 2047, 64, small_room, SOCKET_ID_ANY);
  // 65535 is the largest buffer an mbuf's 16-bit buf_len can describe.
  const unsigned large_room = UINT16_MAX;
  p.large = rte_pktmbuf_pool_create("mp_file_large", 127, 0, 0, large_room, SOCKET_ID_ANY);
  if (!p.small || !p.large) {
    throw std::runtime_error(std::string("cannot create packet buffer pools: ") +
                             rte_strerror(rte_errno));
  }
  p.small_capacity_bytes = small_room - kFileHeadroomBytes;
  p.large_buffer_bytes = large_room;
  return p;
}

}  // namespace mirrorpipe
