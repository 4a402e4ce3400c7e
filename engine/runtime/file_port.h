// File ports: pcap/pcapng read into mbufs from the engine's pools, and pcap written from mbufs,
// with the original timestamps, at the input's timestamp resolution. Unlike DPDK's net_pcap,
// the reader knows exactly when the file ends and keeps each frame's capture time.
#pragma once

#include <pcap/pcap.h>

#include <string>

#include "engine/runtime/eal.h"
#include "engine/runtime/port.h"

namespace mirrorpipe {

// Opening errors are the user's (missing file, wrong link type): std::invalid_argument.
class PcapReader final : public RxPort {
 public:
  PcapReader(const std::string& path, const FilePools& pools);
  ~PcapReader() override;
  PcapReader(const PcapReader&) = delete;
  PcapReader& operator=(const PcapReader&) = delete;

  uint16_t rx_burst(rte_mbuf** pkts, uint16_t n, WorkerCounters& c) override;
  bool finished() const override { return finished_; }
  bool nanosecond_timestamps() const { return nano_; }

 private:
  pcap_t* pcap_ = nullptr;
  FilePools pools_;
  bool nano_ = false;
  bool finished_ = false;
  std::string path_;
};

class PcapWriter final : public TxPort {
 public:
  PcapWriter(const std::string& path, bool nanosecond_timestamps);
  ~PcapWriter() override;
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;

  uint16_t tx_burst(rte_mbuf** pkts, uint16_t n) override;
  void flush() override;

 private:
  pcap_t* dead_ = nullptr;
  pcap_dumper_t* dumper_ = nullptr;
  bool nano_ = false;
  std::string path_;
};

}  // namespace mirrorpipe
