// File ports: pcap/pcapng read into mbufs from the engine's pools, and pcap written from mbufs,
// with the original timestamps, at the input's timestamp resolution. Unlike DPDK's net_pcap,
// the reader knows exactly when the file ends and keeps each frame's capture time.
#pragma once

#include <pcap/pcap.h>

#include <cstdio>
#include <string>
#include <vector>

#include "engine/config/config.h"
#include "engine/runtime/eal.h"
#include "engine/runtime/port.h"

namespace mirrorpipe {

// Opening errors are the user's (missing file, wrong link type): std::invalid_argument.
class PcapReader final : public RxPort {
 public:
  // `pace`: as fast as possible, at the capture's own timing, or at `pps` packets per second.
  PcapReader(const std::string& path, const FilePools& pools, Pace pace = Pace::kFast,
             double pps = 0);
  ~PcapReader() override;
  PcapReader(const PcapReader&) = delete;
  PcapReader& operator=(const PcapReader&) = delete;

  uint16_t rx_burst(rte_mbuf** pkts, uint16_t n, InputCounters& c) override;
  bool finished() const override { return finished_ && !pending_; }
  bool nanosecond_timestamps() const { return nano_; }
  // Progress, for the control thread's summary (approximate while the worker reads).
  uint64_t bytes_read() const;
  uint64_t file_bytes() const { return file_bytes_; }

 private:
  rte_mbuf* read_one(InputCounters& c);  // next frame in an mbuf, or null (dropped or end)
  bool due(const rte_mbuf* m);           // pacing: may this frame go now?

  pcap_t* pcap_ = nullptr;
  FilePools pools_;
  Pace pace_;
  double pps_;
  bool nano_ = false;
  bool finished_ = false;
  rte_mbuf* pending_ = nullptr;  // read but not yet due (paced replay)
  uint64_t released_ = 0;
  uint64_t start_tsc_ = 0;
  uint64_t first_ts_ns_ = 0;
  uint64_t file_bytes_ = 0;
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

// pcapng out, with each received packet's tunnel metadata as its comment (opt_comment, shown
// by Wireshark and read back by `tshark -T fields -e frame.comment`) and, for an inner frame
// that AWS PacketLength cut, the length it had (the Enhanced Packet Block's original length).
// Rotated by size and by capture time: with rotation on, files are STEM-0001.pcapng, -0002...
// Nanosecond timestamps (if_tsresol 9).
class PcapngWriter final : public TxPort {
 public:
  struct Options {
    uint64_t rotate_bytes = 0;     // 0: never by size
    uint64_t rotate_seconds = 0;   // 0: never by time (packet timestamps)
    std::vector<std::string> session_names;  // by SinkMeta::session
  };
  PcapngWriter(const std::string& path, Options options);
  ~PcapngWriter() override;
  PcapngWriter(const PcapngWriter&) = delete;
  PcapngWriter& operator=(const PcapngWriter&) = delete;

  uint16_t tx_burst(rte_mbuf** pkts, uint16_t n) override;
  void flush() override;
  // The files written so far, in order.
  const std::vector<std::string>& files() const { return files_; }

 private:
  void open_next();
  void write(const void* p, size_t n);

  std::string path_;
  Options options_;
  std::FILE* f_ = nullptr;
  uint64_t file_bytes_ = 0;
  uint64_t file_first_ns_ = 0;
  bool file_has_packets_ = false;
  std::vector<std::string> files_;
};

}  // namespace mirrorpipe
