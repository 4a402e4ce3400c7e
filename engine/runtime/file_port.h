// File ports: pcap/pcapng read into mbufs from the engine's pools, and pcap or pcapng written
// from mbufs, with the original timestamps. Unlike DPDK's net_pcap, the reader knows exactly
// when the file ends and keeps each frame's capture time.
//
// Nothing is lost without a word:
// - the reader processes every complete record; a capture that ends inside a record
//   (InputEnd::kTruncated) or is damaged further on (kDamaged) stops there and says where;
// - the writers check every write. A burst is written with one write(2); a burst that does not
//   go in whole is taken back (a regular file is cut back to its last whole record), and its
//   packets are refused, so the worker counts each of them as dropped (write_failed) against
//   the input it came from: received = sent + filtered + dropped holds for files too.
#pragma once

#include <pcap/pcap.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <vector>

#include "engine/config/config.h"
#include "engine/control/capture_read.h"
#include "engine/runtime/eal.h"
#include "engine/runtime/port.h"

namespace mirrorpipe {

// How a capture input ended (read by the control thread once the worker has stopped).
enum class InputEnd : uint8_t {
  kReading,    // not at its end (still reading, or stopped by a signal)
  kComplete,   // every record read
  kTruncated,  // the last record is cut short (a capture stopped by a full disk or a kill)
  kDamaged,    // a record or block further on cannot be read: the file is corrupt there
};


class PcapReader final : public RxPort {
 public:
  // `path` "-" reads standard input. Opening errors are the user's (missing file, not a
  // capture, unsupported link type): std::invalid_argument.
  // `pace`: as fast as possible, at the capture's own timing, or at `pps` packets per second.
  PcapReader(const std::string& path, const FilePools& pools, Pace pace = Pace::kFast,
             double pps = 0);
  ~PcapReader() override;
  PcapReader(const PcapReader&) = delete;
  PcapReader& operator=(const PcapReader&) = delete;

  uint16_t rx_burst(rte_mbuf** pkts, uint16_t n, InputCounters& c) override;
  bool finished() const override { return finished_ && !pending_; }
  bool nanosecond_timestamps() const { return nano_; }
  // Progress, for the control thread's summary (updated by the worker every few records).
  uint64_t bytes_read() const { return bytes_read_.load(std::memory_order_relaxed); }
  uint64_t file_bytes() const { return file_bytes_; }
  const std::string& path() const { return path_; }

  InputEnd end() const { return end_; }
  // What went wrong and where (kTruncated, kDamaged); empty otherwise.
  const std::string& end_message() const { return end_message_; }
  uint64_t records() const { return records_; }  // complete records read

 private:
  rte_mbuf* read_one(InputCounters& c);  // next frame in an mbuf, or null (dropped or end)
  bool due(const rte_mbuf* m);           // pacing: may this frame go now?
  void stop_reading(int rc);             // end of file, or an error: say which

  pcap_t* pcap_ = nullptr;
  FILE* file_ = nullptr;  // owned by pcap_ once opened
  FilePools pools_;
  Pace pace_;
  double pps_;
  CaptureLink link_ = CaptureLink::kEthernet;
  bool nano_ = false;
  bool finished_ = false;
  InputEnd end_ = InputEnd::kReading;
  std::string end_message_;
  rte_mbuf* pending_ = nullptr;  // read but not yet due (paced replay)
  uint64_t released_ = 0;
  uint64_t records_ = 0;
  uint64_t good_offset_ = 0;     // where the last complete record ends
  std::atomic<uint64_t> bytes_read_{0};
  uint64_t start_tsc_ = 0;
  uint64_t first_ts_ns_ = 0;
  uint64_t file_bytes_ = 0;      // 0 when unknown (standard input)
  std::string path_;
};

// A file being written: the part both writers share. Every write is checked; a failed one is
// remembered (the first message) for the control thread, and the file is kept ending on a
// whole record where it can be (regular files are cut back; a pipe or device cannot be).
class CaptureFileWriter : public TxPort {
 public:
  ~CaptureFileWriter() override;
  CaptureFileWriter(const CaptureFileWriter&) = delete;
  CaptureFileWriter& operator=(const CaptureFileWriter&) = delete;

  void flush() override {}
  DropReason refusal() const noexcept override { return DropReason::write_failed; }

  // Closes the file. With `atomic` outputs, the temporary file becomes `path` when `keep`, and
  // is removed otherwise. Returns false (and error()) when the close or the rename failed.
  bool finish(bool keep);
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  // "write failed: 'PATH': REASON" (the first failure), once failed().
  const std::string& error() const { return error_; }
  const std::string& path() const { return path_; }
  // The files this writer produced, in order (one, or several when rotated).
  const std::vector<std::string>& files() const { return files_; }

 protected:
  // `path` "-" is standard output. `atomic`: write into a temporary file beside `path` and
  // rename it at finish() (only where `path` is, or will be, a regular file).
  CaptureFileWriter(std::string path, bool atomic);

  // Starts a new file at `name` (rotation): `header` goes in front of its first record.
  void open_file(const std::string& name, std::vector<uint8_t> header);
  void close_file();
  // Adds one record to the burst being assembled.
  void add_record(const void* p, size_t n) { buf_.insert(buf_.end(), static_cast<const uint8_t*>(p), static_cast<const uint8_t*>(p) + n); }
  void end_record() { ends_.push_back(buf_.size()); }
  // Writes the assembled records; returns how many went in whole (all, or none on a regular
  // file whose write failed; on a pipe, those before the failure). Clears the burst.
  uint16_t write_records();
  uint64_t file_bytes() const { return file_bytes_ + buf_.size(); }
  void fail(const std::string& what, int err);

 private:
  std::string path_;
  bool atomic_ = false;
  int fd_ = -1;
  bool regular_ = false;       // ftruncate works: a failed burst is taken back
  std::string open_name_;      // the file written now (a temporary name when atomic)
  std::string final_name_;     // what it becomes
  uint64_t file_bytes_ = 0;    // whole records (and header) in the current file
  std::vector<uint8_t> header_;  // not yet written to the current file
  std::vector<uint8_t> buf_;
  std::vector<size_t> ends_;
  bool partial_record_ = false;  // a pipe or device took part of a record before failing
  std::atomic<bool> failed_{false};
  std::string error_;
  std::vector<std::string> files_;
  std::vector<std::string> temporaries_;  // atomic: open_name_ per file, renamed at finish
};

// pcap out (LINKTYPE_ETHERNET), microsecond or nanosecond timestamps as the input had them.
class PcapWriter final : public CaptureFileWriter {
 public:
  PcapWriter(const std::string& path, bool nanosecond_timestamps, bool atomic = false);
  uint16_t tx_burst(rte_mbuf** pkts, uint16_t n) override;

 private:
  bool nano_ = false;
};

// pcapng out, with each received packet's tunnel metadata as its comment (opt_comment, shown
// by Wireshark and read back by `tshark -T fields -e frame.comment`) and, for an inner frame
// that AWS PacketLength cut, the length it had (the Enhanced Packet Block's original length).
// Rotated by size and by capture time: with rotation on, files are STEM-0001.pcapng, -0002...
// Nanosecond timestamps (if_tsresol 9).
class PcapngWriter final : public CaptureFileWriter {
 public:
  struct Options {
    uint64_t rotate_bytes = 0;     // 0: never by size
    uint64_t rotate_seconds = 0;   // 0: never by time (packet timestamps)
    std::vector<std::string> session_names;  // by SinkMeta::session
  };
  PcapngWriter(const std::string& path, Options options, bool atomic = false);
  uint16_t tx_burst(rte_mbuf** pkts, uint16_t n) override;

 private:
  void open_next();

  Options options_;
  uint64_t file_first_ns_ = 0;
  bool file_has_packets_ = false;
  unsigned sequence_ = 0;
};

// True when `a` and `b` name the same existing file (same device and inode: through a link,
// a symlink or another spelling of the path).
bool same_file(const std::string& a, const std::string& b);

}  // namespace mirrorpipe
