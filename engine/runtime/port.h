// What a worker reads from and writes to. File ports (libpcap) implement these today; DPDK
// ethdev ports implement the same calls. The calls are per burst, never per packet.
#pragma once

#include <cstdint>

#include "encap/drop_reason.h"
#include "engine/pipeline/counters.h"

struct rte_mbuf;

namespace mirrorpipe {

class RxPort {
 public:
  virtual ~RxPort() = default;
  // Fills up to `n` mbufs. Frames the port had to drop itself are counted in `c` (rx and the
  // reason); returned mbufs are counted by the caller.
  virtual uint16_t rx_burst(rte_mbuf** pkts, uint16_t n, InputCounters& c) = 0;
  // True once the source can give no more packets (end of file); a live port never ends.
  virtual bool finished() const = 0;
};

class TxPort {
 public:
  virtual ~TxPort() = default;
  // Takes ownership of the first k mbufs it accepts and returns k; the caller keeps the rest.
  virtual uint16_t tx_burst(rte_mbuf** pkts, uint16_t n) = 0;
  virtual void flush() = 0;
  // Why the packets tx_burst did not take were refused: a NIC's queue is full; a file's write
  // failed.
  virtual DropReason refusal() const noexcept { return DropReason::tx_full; }
};

}  // namespace mirrorpipe
