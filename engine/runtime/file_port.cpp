#include "engine/runtime/file_port.h"

#include <rte_cycles.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stdexcept>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/pipeline/receive.h"
#include "engine/runtime/mbuf.h"

namespace mirrorpipe {
namespace {

// Standard input with its first bytes already read (to sniff them): a FILE that gives those
// bytes back first, then the rest of the stream.
struct PeekedStdin {
  std::vector<uint8_t> head;
  size_t at = 0;
};

ssize_t peeked_read(void* cookie, char* out, size_t n) {
  auto* p = static_cast<PeekedStdin*>(cookie);
  if (p->at < p->head.size()) {
    const size_t k = std::min(n, p->head.size() - p->at);
    std::memcpy(out, p->head.data() + p->at, k);
    p->at += k;
    return static_cast<ssize_t>(k);
  }
  // A signal (SIGINT, SIGTERM) interrupts a read that waits on a pipe: the reader then stops
  // as interrupted, never as at the end of its input.
  return ::read(STDIN_FILENO, out, n);
}

int peeked_close(void* cookie) {
  delete static_cast<PeekedStdin*>(cookie);
  return 0;
}

}  // namespace

PcapReader::PcapReader(const std::string& path, const FilePools& pools, Pace pace, double pps)
    : pools_(pools), pace_(pace), pps_(pps), path_(path) {
  uint8_t head[512];
  size_t head_n = 0;
  if (path == "-") {
    auto* peek = new PeekedStdin;
    peek->head.resize(sizeof head);
    size_t got = 0;
    while (got < sizeof head) {
      const ssize_t r = ::read(STDIN_FILENO, peek->head.data() + got, sizeof head - got);
      if (r < 0 && errno == EINTR) continue;
      if (r <= 0) break;
      got += static_cast<size_t>(r);
    }
    peek->head.resize(got);
    std::memcpy(head, peek->head.data(), got);
    head_n = got;
    file_ = fopencookie(peek, "rb", cookie_io_functions_t{peeked_read, nullptr, nullptr, peeked_close});
    if (!file_) {
      delete peek;
      throw std::runtime_error("cannot read standard input");
    }
  } else {
    file_ = std::fopen(path.c_str(), "rb");
    if (!file_) throw std::invalid_argument("cannot read '" + path + "': " + std::strerror(errno));
    head_n = std::fread(head, 1, sizeof head, file_);
    std::rewind(file_);
    std::error_code ec;
    file_bytes_ = std::filesystem::is_regular_file(path, ec) ? std::filesystem::file_size(path, ec) : 0;
  }
  const CaptureHead sniffed = sniff_capture(head, head_n);
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_ = pcap_fopen_offline_with_tstamp_precision(file_, PCAP_TSTAMP_PRECISION_NANO, err);
  if (!pcap_) {
    std::fclose(file_);
    file_ = nullptr;
    throw std::invalid_argument("cannot read '" + path + "': " + err);
  }
  const int dlt = pcap_datalink(pcap_);
  const std::optional<CaptureLink> link = capture_link(dlt);
  if (!link) {
    const char* name = pcap_datalink_val_to_name(dlt);
    const int number = sniffed.linktype >= 0 ? sniffed.linktype : dlt;
    pcap_close(pcap_);
    pcap_ = nullptr;
    throw std::invalid_argument("'" + path + "' has link type " + std::to_string(number) + " (" +
                                (name ? name : "unknown") +
                                "); mirrorpipe reads Ethernet (1), Linux cooked SLL (113) and SLL2 (276), "
                                "and raw IP (101, 228, 229)");
  }
  link_ = *link;
  nano_ = sniffed.nano;
}

PcapReader::~PcapReader() {
  // A frame read ahead for pacing was never received by the engine: not counted, just freed.
  if (pending_) rte_pktmbuf_free(pending_);
  if (pcap_) pcap_close(pcap_);  // closes file_
}

uint16_t PcapReader::rx_burst(rte_mbuf** pkts, uint16_t n, InputCounters& c) {
  uint16_t got = 0;
  while (got < n) {
    rte_mbuf* m = pending_;
    pending_ = nullptr;
    if (!m) {
      if (finished_) break;
      m = read_one(c);
      if (!m) continue;  // dropped (counted) or end of file
    }
    if (pace_ != Pace::kFast && !due(m)) {
      pending_ = m;
      break;
    }
    ++released_;
    pkts[got++] = m;
  }
  bytes_read_.store(good_offset_, std::memory_order_relaxed);
  return got;
}

bool PcapReader::due(const rte_mbuf* m) {
  const uint64_t now = rte_get_tsc_cycles();
  const uint64_t hz = rte_get_tsc_hz();
  if (released_ == 0 && start_tsc_ == 0) {
    start_tsc_ = now;
    first_ts_ns_ = mbuf_meta(const_cast<rte_mbuf*>(m)).timestamp_ns;
    return true;
  }
  const double elapsed_s = static_cast<double>(now - start_tsc_) / static_cast<double>(hz);
  if (pace_ == Pace::kRate) return static_cast<double>(released_) < elapsed_s * pps_;
  const uint64_t ts = mbuf_meta(const_cast<rte_mbuf*>(m)).timestamp_ns;
  const double offset_s = ts > first_ts_ns_ ? static_cast<double>(ts - first_ts_ns_) / 1e9 : 0.0;
  return offset_s <= elapsed_s;
}

void PcapReader::stop_reading(int rc) {
  finished_ = true;
  if (rc == PCAP_ERROR_BREAK) {
    end_ = InputEnd::kComplete;
    return;
  }
  // libpcap says "truncated dump file" when the file ends inside a record; a regular file
  // read up to its end says the same by its position.
  const std::string why = pcap_geterr(pcap_);
  if (why.find(std::strerror(EINTR)) != std::string::npos) return;  // stopped by a signal: not ended
  const long pos = path_ == "-" ? -1 : std::ftell(pcap_file(pcap_));
  const bool at_end = file_bytes_ && pos >= 0 && static_cast<uint64_t>(pos) >= file_bytes_;
  const bool truncated = at_end || why.find("truncated") != std::string::npos;
  end_ = truncated ? InputEnd::kTruncated : InputEnd::kDamaged;
  char where[160];
  std::snprintf(where, sizeof where, "after %llu complete records (byte %llu%s)",
                static_cast<unsigned long long>(records_), static_cast<unsigned long long>(good_offset_),
                file_bytes_ ? (" of " + std::to_string(file_bytes_)).c_str() : "");
  end_message_ = "'" + path_ + "' " +
                 (truncated ? std::string("ends inside a record ") : std::string("cannot be read further ")) +
                 where + ": " + why;
}

rte_mbuf* PcapReader::read_one(InputCounters& c) {
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  const int r = pcap_next_ex(pcap_, &hdr, &data);
  if (r != 1) {
    stop_reading(r);
    return nullptr;
  }
  ++records_;
  if (path_ != "-") {
    const long pos = std::ftell(pcap_file(pcap_));
    if (pos > 0) good_offset_ = static_cast<uint64_t>(pos);
  }
  const CaptureFrame f = convert_record(link_, data, hdr->caplen, hdr->len, pools_.large_buffer_bytes);
  if (f.bad) {
    ++c.rx;
    c.rx_bytes += f.frame_bytes;
    c.drop(DropReason::link_header_bad);
    return nullptr;
  }
  const uint32_t caplen = f.frame_bytes;
  const bool small = caplen <= pools_.small_capacity_bytes;
  rte_mbuf* m = rte_pktmbuf_alloc(small ? pools_.small : pools_.large);
  if (!m) {
    ++c.rx;
    c.rx_bytes += caplen;
    c.drop(DropReason::no_mbuf);
    return nullptr;
  }
  // Headroom for the outer header; a frame near the mbuf limit gets what is left, and encap
  // drops it as no_headroom if that is too little.
  m->data_off = static_cast<uint16_t>(std::min<uint32_t>(kFileHeadroomBytes, m->buf_len - caplen));
  uint8_t* out = rte_pktmbuf_mtod(m, uint8_t*);
  if (f.made_bytes) std::memcpy(out, f.eth, f.made_bytes);
  std::memcpy(out + f.made_bytes, data + f.link_bytes, caplen - f.made_bytes);
  m->data_len = static_cast<uint16_t>(caplen);
  m->pkt_len = caplen;
  auto& meta = mbuf_meta(m);
  meta.timestamp_ns = static_cast<uint64_t>(hdr->ts.tv_sec) * 1000000000ull +
                      static_cast<uint64_t>(hdr->ts.tv_usec);  // nanoseconds: see the open
  meta.wire_len = f.wire_bytes;
  meta.flags = 0;
  return m;
}

// --- writing -------------------------------------------------------------------------------

bool same_file(const std::string& a, const std::string& b) {
  struct stat sa {}, sb {};
  if (a == "-" || b == "-") return false;
  if (::stat(a.c_str(), &sa) != 0 || ::stat(b.c_str(), &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

CaptureFileWriter::CaptureFileWriter(std::string path, bool atomic) : path_(std::move(path)), atomic_(atomic) {
  if (path_ == "-") atomic_ = false;
  struct stat st {};
  // A device or a pipe (/dev/full, a FIFO) is written in place: it cannot be renamed onto.
  if (atomic_ && ::stat(path_.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) atomic_ = false;
}

CaptureFileWriter::~CaptureFileWriter() {
  if (fd_ >= 0 && fd_ != STDOUT_FILENO) ::close(fd_);
  // Never finished (an error before the end): no temporary file is left behind.
  for (const auto& t : temporaries_) ::unlink(t.c_str());
}

void CaptureFileWriter::fail(const std::string& what, int err) {
  if (failed_.load(std::memory_order_relaxed)) return;
  error_ = "write failed: '" + what + "': " + std::strerror(err);
  if (partial_record_) error_ += " (the output ends inside a record)";
  failed_.store(true, std::memory_order_release);
}

void CaptureFileWriter::open_file(const std::string& name, std::vector<uint8_t> header) {
  close_file();
  final_name_ = name;
  files_.push_back(name);
  header_ = std::move(header);
  file_bytes_ = 0;
  if (name == "-") {
    fd_ = STDOUT_FILENO;
    regular_ = false;
    return;
  }
  if (atomic_) {
    const size_t slash = name.rfind('/');
    const std::string dir = slash == std::string::npos ? "" : name.substr(0, slash + 1);
    std::string tmpl = dir + "." + name.substr(slash == std::string::npos ? 0 : slash + 1) + ".mirrorpipe-XXXXXX";
    fd_ = ::mkstemp(tmpl.data());
    if (fd_ >= 0) {
      const mode_t mask = ::umask(0);
      ::umask(mask);
      ::fchmod(fd_, 0666 & ~mask);
      open_name_ = tmpl;
      temporaries_.push_back(tmpl);
    }
  } else {
    fd_ = ::open(name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    open_name_ = name;
  }
  if (fd_ < 0) {
    const int err = errno;
    if (files_.size() == 1) throw std::invalid_argument("cannot write '" + name + "': " + std::strerror(err));
    fail(name, err);
    return;
  }
  struct stat st {};
  regular_ = ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode);
}

void CaptureFileWriter::close_file() {
  if (fd_ < 0) return;
  if (!header_.empty()) {  // a file that got no record still gets its header
    buf_.clear();
    ends_.clear();
    write_records();
  }
  if (fd_ != STDOUT_FILENO && ::close(fd_) != 0) fail(final_name_, errno);
  fd_ = -1;
}

uint16_t CaptureFileWriter::write_records() {
  const size_t records = ends_.size();
  if (fd_ < 0) {  // a rotation that could not open its file
    buf_.clear();
    ends_.clear();
    return 0;
  }
  // The header of a new file goes with its first records, so that it is taken back with them.
  const size_t head = header_.size();
  if (head) buf_.insert(buf_.begin(), header_.begin(), header_.end());
  size_t done = 0;
  int err = 0;
  while (done < buf_.size()) {
    const ssize_t w = ::write(fd_, buf_.data() + done, buf_.size() - done);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) {
      err = w < 0 ? errno : EIO;
      break;
    }
    done += static_cast<size_t>(w);
  }
  uint16_t whole = static_cast<uint16_t>(records);
  if (err) {
    if (regular_ && ::ftruncate(fd_, static_cast<off_t>(file_bytes_)) == 0 &&
        ::lseek(fd_, static_cast<off_t>(file_bytes_), SEEK_SET) >= 0) {
      whole = 0;  // taken back: the file ends on its last whole record
      done = 0;
    } else {
      // A pipe or a device keeps what went: the records written whole count as written.
      whole = 0;
      while (whole < records && head + ends_[whole] <= done) ++whole;
      if (done != 0 && done != head + (whole ? ends_[whole - 1] : 0)) partial_record_ = true;
    }
    fail(final_name_, err);
  }
  if (done >= head) header_.clear();
  file_bytes_ += done;
  buf_.clear();
  ends_.clear();
  return whole;
}

bool CaptureFileWriter::finish(bool keep) {
  close_file();
  bool ok = !failed();
  for (size_t i = 0; i < temporaries_.size(); ++i) {
    const std::string& t = temporaries_[i];
    if (keep && ok) {
      if (::rename(t.c_str(), files_[i].c_str()) != 0) {
        fail(files_[i], errno);
        ok = false;
        ::unlink(t.c_str());
      }
    } else {
      ::unlink(t.c_str());
    }
  }
  temporaries_.clear();
  return ok;
}

PcapWriter::PcapWriter(const std::string& path, bool nano, bool atomic)
    : CaptureFileWriter(path, atomic), nano_(nano) {
  // The pcap global header (LINKTYPE_ETHERNET, snaplen 262144), in host byte order as libpcap
  // writes it: readers take the byte order from the magic number.
  struct {
    uint32_t magic;
    uint16_t major, minor;
    int32_t thiszone;
    uint32_t sigfigs, snaplen, linktype;
  } h{nano ? 0xa1b23c4du : 0xa1b2c3d4u, 2, 4, 0, 0, 262144, 1};
  static_assert(sizeof h == 24);
  std::vector<uint8_t> header(sizeof h);
  std::memcpy(header.data(), &h, sizeof h);
  open_file(path, std::move(header));
}

uint16_t PcapWriter::tx_burst(rte_mbuf** pkts, uint16_t n) {
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    const auto& meta = mbuf_meta(m);
    const uint64_t frac = meta.timestamp_ns % 1000000000ull;
    const uint32_t rec[4] = {static_cast<uint32_t>(meta.timestamp_ns / 1000000000ull),
                             static_cast<uint32_t>(nano_ ? frac : frac / 1000), rte_pktmbuf_pkt_len(m),
                             std::max(meta.wire_len, rte_pktmbuf_pkt_len(m))};
    add_record(rec, sizeof rec);
    for (const rte_mbuf* seg = m; seg; seg = seg->next) {
      add_record(rte_pktmbuf_mtod(seg, const uint8_t*), seg->data_len);
    }
    end_record();
  }
  const uint16_t written = write_records();
  rte_pktmbuf_free_bulk(pkts, written);
  return written;
}

}  // namespace mirrorpipe


namespace mirrorpipe {
namespace {

// pcapng block and option codes (draft-ietf-opsawg-pcapng).
constexpr uint32_t kSectionHeaderBlock = 0x0A0D0D0A;
constexpr uint32_t kInterfaceDescriptionBlock = 1;
constexpr uint32_t kEnhancedPacketBlock = 6;
constexpr uint32_t kByteOrderMagic = 0x1A2B3C4D;
constexpr uint16_t kOptEnd = 0;
constexpr uint16_t kOptComment = 1;
constexpr uint16_t kOptShbUserAppl = 4;
constexpr uint16_t kOptIfName = 2;
constexpr uint16_t kOptIfTsresol = 9;

constexpr uint32_t pad4(uint32_t n) { return (n + 3u) & ~3u; }

// Appends one option (code, length, value, padding) to `out`.
void put_option(std::vector<uint8_t>& out, uint16_t code, const void* value, uint16_t len) {
  const size_t at = out.size();
  out.resize(at + 4 + pad4(len), 0);
  std::memcpy(&out[at], &code, 2);
  std::memcpy(&out[at + 2], &len, 2);
  if (len) std::memcpy(&out[at + 4], value, len);
}

void put32(std::vector<uint8_t>& out, uint32_t v) {
  const size_t at = out.size();
  out.resize(at + 4);
  std::memcpy(&out[at], &v, 4);
}

// Closes a block whose body is `body`: total length before and after.
std::vector<uint8_t> block(uint32_t type, const std::vector<uint8_t>& body) {
  std::vector<uint8_t> b;
  const uint32_t total = static_cast<uint32_t>(12 + body.size());
  put32(b, type);
  put32(b, total);
  b.insert(b.end(), body.begin(), body.end());
  put32(b, total);
  return b;
}

}  // namespace

PcapngWriter::PcapngWriter(const std::string& path, Options options, bool atomic)
    : CaptureFileWriter(path, atomic), options_(std::move(options)) {
  open_next();
}

void PcapngWriter::open_next() {
  std::string name = path();
  if (options_.rotate_bytes || options_.rotate_seconds) {
    const size_t dot = name.rfind('.');
    const size_t slash = name.rfind('/');
    const bool ext = dot != std::string::npos && (slash == std::string::npos || dot > slash);
    char seq[16];
    std::snprintf(seq, sizeof seq, "-%04u", ++sequence_);
    name = (ext ? name.substr(0, dot) : name) + seq + (ext ? name.substr(dot) : ".pcapng");
  }
  std::vector<uint8_t> shb;
  put32(shb, kByteOrderMagic);
  const uint16_t version[2] = {1, 0};
  shb.resize(shb.size() + 4);
  std::memcpy(&shb[shb.size() - 4], version, 4);
  const int64_t section_length = -1;
  shb.resize(shb.size() + 8);
  std::memcpy(&shb[shb.size() - 8], &section_length, 8);
  const char appl[] = "mirrorpipe";
  put_option(shb, kOptShbUserAppl, appl, sizeof appl - 1);
  put_option(shb, kOptEnd, nullptr, 0);
  std::vector<uint8_t> header = block(kSectionHeaderBlock, shb);
  std::vector<uint8_t> idb;
  const uint16_t linktype[2] = {1, 0};  // LINKTYPE_ETHERNET, reserved
  idb.resize(4);
  std::memcpy(idb.data(), linktype, 4);
  put32(idb, 262144);  // snaplen
  const char ifname[] = "mirrorpipe";
  put_option(idb, kOptIfName, ifname, sizeof ifname - 1);
  const uint8_t tsresol = 9;  // nanoseconds
  put_option(idb, kOptIfTsresol, &tsresol, 1);
  put_option(idb, kOptEnd, nullptr, 0);
  const auto i = block(kInterfaceDescriptionBlock, idb);
  header.insert(header.end(), i.begin(), i.end());
  file_has_packets_ = false;
  open_file(name, std::move(header));
}

uint16_t PcapngWriter::tx_burst(rte_mbuf** pkts, uint16_t n) {
  char comment[512];
  static const uint8_t zeros[8] = {};
  uint16_t written = 0;  // records of this burst in files already
  uint16_t queued = 0;   // records assembled since
  for (uint16_t k = 0; k < n; ++k) {
    rte_mbuf* m = pkts[k];
    const MbufMeta& meta = mbuf_meta(m);
    if (file_has_packets_ &&
        ((options_.rotate_bytes && file_bytes() >= options_.rotate_bytes) ||
         (options_.rotate_seconds && meta.timestamp_ns >= file_first_ns_ &&
          meta.timestamp_ns - file_first_ns_ >= options_.rotate_seconds * 1000000000ull))) {
      const uint16_t w = write_records();
      written += w;
      if (w < queued) break;  // the write failed: the rest of the burst is refused
      queued = 0;
      open_next();
    }
    if (!file_has_packets_) {
      file_first_ns_ = meta.timestamp_ns;
      file_has_packets_ = true;
    }
    const uint32_t caplen = rte_pktmbuf_pkt_len(m);
    uint32_t orig = std::max(meta.wire_len, caplen);
    size_t clen = 0;
    if (meta.flags & MbufMeta::kHasSinkMeta) {
      SinkMeta sm;
      std::memcpy(&sm, sink_meta_area(m), sizeof sm);
      orig = std::max(orig, sm.inner_original_length);
      const char* session = sm.session < options_.session_names.size() ? options_.session_names[sm.session].c_str() : "-";
      clen = format_sink_meta(sm, session, comment, sizeof comment);
    }
    const uint32_t opts = clen ? 4 + pad4(static_cast<uint32_t>(clen)) + 4 : 0;
    const uint32_t total = 12 + 20 + pad4(caplen) + opts;
    const uint32_t head[7] = {kEnhancedPacketBlock, total, 0,
                              static_cast<uint32_t>(meta.timestamp_ns >> 32),
                              static_cast<uint32_t>(meta.timestamp_ns), caplen, orig};
    add_record(head, sizeof head);
    for (const rte_mbuf* seg = m; seg; seg = seg->next) {
      add_record(rte_pktmbuf_mtod(seg, const uint8_t*), seg->data_len);
    }
    add_record(zeros, pad4(caplen) - caplen);
    if (clen) {
      const uint16_t opt[2] = {kOptComment, static_cast<uint16_t>(clen)};
      add_record(opt, sizeof opt);
      add_record(comment, clen);
      add_record(zeros, pad4(static_cast<uint32_t>(clen)) - clen);
      const uint32_t end = 0;
      add_record(&end, 4);
    }
    add_record(&total, 4);
    end_record();
    ++queued;
  }
  if (queued) written += write_records();
  rte_pktmbuf_free_bulk(pkts, written);
  return written;
}

}  // namespace mirrorpipe
