// DPDK EAL start-up and the process-wide packet-buffer pools. The EAL starts once per process.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

struct rte_mempool;

namespace mirrorpipe {

// Starts the EAL with `args` (argv[0] is added). Throws std::runtime_error on failure.
void eal_init(const std::vector<std::string>& args);
// Stops the EAL (when started) and removes its runtime folder. Safe to call more than once.
void eal_cleanup() noexcept;
std::string dpdk_version();  // "DPDK 22.11.x"

// EAL options for file mode, tests and benches: no hugepages, no PCI, no shared config, quiet.
std::vector<std::string> eal_file_mode_args();

// A pool of packet buffers: `n` buffers of `room` bytes (headroom included), `cache` of them
// kept per lcore, on `socket`; no private area a buffer. rte_pktmbuf_pool_create's pool, except
// that without hugepages and without a PCI bus its buffers are packed (see the definition).
// nullptr and rte_errno on failure.
rte_mempool* create_packet_pool(const char* name, unsigned n, unsigned cache, uint16_t room, int socket);

// Buffers for file ports: frames up to a standard jumbo frame go in the small pool; larger ones
// (GRO captures hold 9-64 KB frames) in the large pool, whose buffers are as big as an mbuf can
// be (its length fields are 16 bits).
struct FilePools {
  rte_mempool* small = nullptr;
  rte_mempool* large = nullptr;
  unsigned small_capacity_bytes = 0;  // largest frame a small buffer holds after the headroom
  unsigned large_buffer_bytes = 0;    // whole large buffer: the most a frame can keep
};
FilePools create_file_pools();

// Headroom reserved in front of every received frame: room for the largest outer header.
inline constexpr unsigned kFileHeadroomBytes = 512;

}  // namespace mirrorpipe
