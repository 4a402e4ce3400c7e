#include "engine/runtime/file_port.h"

#include <rte_cycles.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "engine/pipeline/receive.h"
#include "engine/runtime/mbuf.h"

namespace mirrorpipe {
namespace {

// libpcap converts every timestamp to the precision a handle was opened with and does not say
// which the file had; the pcap magic number and the pcapng if_tsresol option do.
bool file_has_nanosecond_timestamps(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return false;
  uint8_t buf[512];
  const size_t n = std::fread(buf, 1, sizeof(buf), f);
  std::fclose(f);
  if (n < 4) return false;
  uint32_t magic;
  std::memcpy(&magic, buf, 4);
  if (magic == 0xa1b23c4d || magic == 0x4d3cb2a1) return true;  // pcap, nanosecond
  if (magic != 0x0a0d0d0a || n < 28) return false;                // not pcapng
  // pcapng: Section Header Block, then the first Interface Description Block.
  uint32_t bom;
  std::memcpy(&bom, buf + 8, 4);
  const bool swapped = bom == 0x4d3c2b1a;
  auto rd32 = [&](size_t at) {
    uint32_t v;
    std::memcpy(&v, buf + at, 4);
    return swapped ? __builtin_bswap32(v) : v;
  };
  auto rd16 = [&](size_t at) {
    uint16_t v;
    std::memcpy(&v, buf + at, 2);
    return swapped ? __builtin_bswap16(v) : v;
  };
  const size_t idb = rd32(4);
  if (idb + 16 > n || rd32(idb) != 1) return false;
  const size_t idb_end = idb + rd32(idb + 4) - 4;
  for (size_t at = idb + 16; at + 4 <= idb_end && at + 4 <= n;) {
    const uint16_t code = rd16(at);
    const uint16_t len = rd16(at + 2);
    if (code == 0) break;
    if (code == 9 && len == 1 && at + 5 <= n) {  // if_tsresol
      const uint8_t r = buf[at + 4];
      return (r & 0x80) ? false : r >= 9;
    }
    at += 4 + ((len + 3u) & ~3u);
  }
  return false;  // default resolution: microseconds
}

}  // namespace

PcapReader::PcapReader(const std::string& path, const FilePools& pools, Pace pace, double pps)
    : pools_(pools), pace_(pace), pps_(pps), path_(path) {
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_ = pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
  if (!pcap_) throw std::invalid_argument("cannot read '" + path + "': " + err);
  const int dlt = pcap_datalink(pcap_);
  if (dlt != DLT_EN10MB) {
    const char* name = pcap_datalink_val_to_name(dlt);
    pcap_close(pcap_);
    pcap_ = nullptr;
    throw std::invalid_argument("'" + path + "' has link type " + (name ? name : "?") + " (" +
                                std::to_string(dlt) + "); mirrorpipe reads Ethernet (EN10MB) only");
  }
  nano_ = file_has_nanosecond_timestamps(path);
  std::error_code ec;
  file_bytes_ = std::filesystem::file_size(path, ec);
}

uint64_t PcapReader::bytes_read() const {
  FILE* f = pcap_ ? pcap_file(pcap_) : nullptr;
  const long pos = f ? std::ftell(f) : -1;
  return pos < 0 ? 0 : static_cast<uint64_t>(pos);
}

PcapReader::~PcapReader() {
  // A frame read ahead for pacing was never received by the engine: not counted, just freed.
  if (pending_) rte_pktmbuf_free(pending_);
  if (pcap_) pcap_close(pcap_);
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

rte_mbuf* PcapReader::read_one(InputCounters& c) {
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  const int r = pcap_next_ex(pcap_, &hdr, &data);
  if (r == PCAP_ERROR_BREAK) {
    finished_ = true;
    return nullptr;
  }
  if (r != 1) throw std::runtime_error("reading '" + path_ + "': " + pcap_geterr(pcap_));
  // An mbuf holds at most 65535 bytes (16-bit lengths). A larger frame keeps its first
  // 65535 bytes and its true wire length, exactly like a capture cut by its snaplen: no
  // valid tunnel packet is that large (its IP length field stops at 65535), so decap drops
  // it for its lengths and encap for its size, each under their own reason.
  const uint32_t caplen = std::min<uint32_t>(hdr->caplen, pools_.large_buffer_bytes);
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
  std::memcpy(rte_pktmbuf_mtod(m, uint8_t*), data, caplen);
  m->data_len = static_cast<uint16_t>(caplen);
  m->pkt_len = caplen;
  auto& meta = mbuf_meta(m);
  meta.timestamp_ns = static_cast<uint64_t>(hdr->ts.tv_sec) * 1000000000ull +
                      static_cast<uint64_t>(hdr->ts.tv_usec);  // nanoseconds: see the open
  meta.wire_len = hdr->len > caplen ? hdr->len : caplen;
  meta.flags = 0;
  return m;
}

PcapWriter::PcapWriter(const std::string& path, bool nano) : nano_(nano), path_(path) {
  dead_ = pcap_open_dead_with_tstamp_precision(
      DLT_EN10MB, 262144, nano ? PCAP_TSTAMP_PRECISION_NANO : PCAP_TSTAMP_PRECISION_MICRO);
  if (!dead_) throw std::runtime_error("libpcap: cannot create a capture handle");
  dumper_ = pcap_dump_open(dead_, path.c_str());
  if (!dumper_) {
    const std::string err = pcap_geterr(dead_);
    pcap_close(dead_);
    dead_ = nullptr;
    throw std::invalid_argument("cannot write '" + path + "': " + err);
  }
}

PcapWriter::~PcapWriter() {
  if (dumper_) pcap_dump_close(dumper_);
  if (dead_) pcap_close(dead_);
}

uint16_t PcapWriter::tx_burst(rte_mbuf** pkts, uint16_t n) {
  for (uint16_t i = 0; i < n; ++i) {
    rte_mbuf* m = pkts[i];
    const auto& meta = mbuf_meta(m);
    pcap_pkthdr hdr{};
    hdr.ts.tv_sec = static_cast<time_t>(meta.timestamp_ns / 1000000000ull);
    const uint64_t frac = meta.timestamp_ns % 1000000000ull;
    hdr.ts.tv_usec = static_cast<suseconds_t>(nano_ ? frac : frac / 1000);
    hdr.caplen = rte_pktmbuf_data_len(m);
    hdr.len = meta.wire_len;
    pcap_dump(reinterpret_cast<u_char*>(dumper_), &hdr, rte_pktmbuf_mtod(m, const u_char*));
  }
  rte_pktmbuf_free_bulk(pkts, n);
  return n;
}

void PcapWriter::flush() {
  if (pcap_dump_flush(dumper_) != 0) {
    throw std::runtime_error("writing '" + path_ + "' failed");
  }
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

PcapngWriter::PcapngWriter(const std::string& path, Options options) : path_(path), options_(std::move(options)) {
  open_next();
}

PcapngWriter::~PcapngWriter() {
  if (f_) std::fclose(f_);
}

void PcapngWriter::write(const void* p, size_t n) {
  if (std::fwrite(p, 1, n, f_) != n) throw std::runtime_error("writing '" + files_.back() + "' failed");
  file_bytes_ += n;
}

void PcapngWriter::open_next() {
  if (f_) {
    if (std::fclose(f_) != 0) throw std::runtime_error("writing '" + files_.back() + "' failed");
    f_ = nullptr;
  }
  std::string name = path_;
  if (options_.rotate_bytes || options_.rotate_seconds) {
    const size_t dot = path_.rfind('.');
    const size_t slash = path_.rfind('/');
    const bool ext = dot != std::string::npos && (slash == std::string::npos || dot > slash);
    char seq[16];
    std::snprintf(seq, sizeof seq, "-%04zu", files_.size() + 1);
    name = (ext ? path_.substr(0, dot) : path_) + seq + (ext ? path_.substr(dot) : ".pcapng");
  }
  f_ = std::fopen(name.c_str(), "wb");
  if (!f_) {
    if (files_.empty()) throw std::invalid_argument("cannot write '" + name + "': " + std::strerror(errno));
    throw std::runtime_error("cannot write '" + name + "': " + std::strerror(errno));
  }
  files_.push_back(name);
  file_bytes_ = 0;
  file_has_packets_ = false;
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
  const auto s = block(kSectionHeaderBlock, shb);
  write(s.data(), s.size());
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
  write(i.data(), i.size());
}

uint16_t PcapngWriter::tx_burst(rte_mbuf** pkts, uint16_t n) {
  char comment[512];
  for (uint16_t k = 0; k < n; ++k) {
    rte_mbuf* m = pkts[k];
    const MbufMeta& meta = mbuf_meta(m);
    if (file_has_packets_ &&
        ((options_.rotate_bytes && file_bytes_ >= options_.rotate_bytes) ||
         (options_.rotate_seconds && meta.timestamp_ns >= file_first_ns_ &&
          meta.timestamp_ns - file_first_ns_ >= options_.rotate_seconds * 1000000000ull))) {
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
    uint32_t head[7] = {kEnhancedPacketBlock, total, 0,
                        static_cast<uint32_t>(meta.timestamp_ns >> 32),
                        static_cast<uint32_t>(meta.timestamp_ns), caplen, orig};
    write(head, sizeof head);
    for (const rte_mbuf* seg = m; seg; seg = seg->next) {
      write(rte_pktmbuf_mtod(seg, const uint8_t*), seg->data_len);
    }
    static const uint8_t zeros[8] = {};
    write(zeros, pad4(caplen) - caplen);
    if (clen) {
      const uint16_t code = kOptComment, len = static_cast<uint16_t>(clen);
      write(&code, 2);
      write(&len, 2);
      write(comment, clen);
      write(zeros, pad4(static_cast<uint32_t>(clen)) - clen);
      const uint32_t end = 0;
      write(&end, 4);
    }
    write(&total, 4);
  }
  rte_pktmbuf_free_bulk(pkts, n);
  return n;
}

void PcapngWriter::flush() {
  if (std::fflush(f_) != 0) throw std::runtime_error("writing '" + files_.back() + "' failed");
}

}  // namespace mirrorpipe
