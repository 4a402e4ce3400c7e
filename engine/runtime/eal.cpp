#include "engine/runtime/eal.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>

#include <stdexcept>
#include <string>

#include "engine/runtime/mbuf.h"

namespace mirrorpipe {

void eal_init(const std::vector<std::string>& args) {
  std::vector<std::string> all{"mirrorpipe"};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  if (rte_eal_init(static_cast<int>(all.size()), argv.data()) < 0) {
    throw std::runtime_error(std::string("DPDK EAL initialisation failed: ") +
                             rte_strerror(rte_errno));
  }
  register_mbuf_meta();
}

void eal_cleanup() noexcept { rte_eal_cleanup(); }

std::vector<std::string> eal_file_mode_args() {
  return {"--no-huge", "-m",           "512", "--no-pci", "--no-shconf", "--no-telemetry",
          "-l",        "0",            "--log-level", "lib.eal:error", "--log-level",
          "lib.mbuf:error"};
}

FilePools create_file_pools() {
  FilePools p;
  const unsigned small_room = kFileHeadroomBytes + 9216 + 512;
  p.small = rte_pktmbuf_pool_create("mp_file_small", 2047, 64, 0, small_room, SOCKET_ID_ANY);
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
