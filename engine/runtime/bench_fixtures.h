// Benchmark fixtures, kept out of the engine's production path: the RX buffers of a net_null
// input filled once with frames, and a NIC's RSS hash simulated (net_null delivers none). Used
// by `mirrorpipe bench` only, through RunOptions.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "engine/runtime/port.h"

struct rte_mempool;

namespace mirrorpipe {

// Writes the frames, in turn, into every buffer of `pool` (`room` bytes each at most); with
// `rss_hash`, also the hash a NIC with the engine's symmetric key computes for each; with
// `keep_head`, also each frame's first kKeptHeadBytes at the end of its buffer's data room,
// for make_fixture_rx (the frame must leave room for them: else std::invalid_argument).
void prefill_pool(rte_mempool* pool, const std::vector<std::vector<uint8_t>>& frames, uint32_t room, bool rss_hash,
                  bool keep_head = false);

inline constexpr uint32_t kKeptHeadBytes = 14;

// Receives as EthdevRx does, then, as asked:
// - `restore_head`: writes each packet's first kKeptHeadBytes back from the end of its buffer,
//   where prefill_pool kept them: GWLB's outer headers overwrote them the last time the buffer
//   went out. What a NIC's DMA does to the whole frame, for 14 bytes.
// - `flag_hash`: marks each packet as carrying its RSS hash, as a NIC's PMD does.
// Neither: std::invalid_argument (EthdevRx is the RX then).
std::unique_ptr<RxPort> make_fixture_rx(uint16_t port, uint16_t queue, bool restore_head, bool flag_hash);

}  // namespace mirrorpipe
