// Test helper: a whole capture read with libpcap (an independent reader, not our file port).
#pragma once

#include <pcap/pcap.h>

#include "encap/packet_ref.h"

#include <cstdint>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace mirrorpipe::test {

struct Record {
  std::vector<uint8_t> bytes;
  uint32_t wire_len;
};

inline std::vector<Record> read_pcap(const std::string& path) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline(path.c_str(), err);
  if (!p) throw std::runtime_error(path + ": " + err);
  std::vector<Record> out;
  pcap_pkthdr* h;
  const u_char* d;
  while (pcap_next_ex(p, &h, &d) == 1) out.push_back({{d, d + h->caplen}, h->len});
  pcap_close(p);
  return out;
}

inline std::string source_path(const std::string& rel) {
  return std::string(MIRRORPIPE_SOURCE_DIR) + "/" + rel;
}

// Tab-separated rows, '#' lines skipped.
inline std::vector<std::vector<std::string>> read_tsv(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw std::runtime_error("cannot read " + path);
  std::vector<std::vector<std::string>> rows;
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols;
    std::stringstream ss(line);
    std::string col;
    while (std::getline(ss, col, '\t')) cols.push_back(col);
    rows.push_back(cols);
  }
  return rows;
}

inline std::string to_hex(const uint8_t* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}

// A frame copied behind `headroom` writable bytes, as an mbuf would hold it.
struct Buffer {
  std::vector<uint8_t> mem;
  PacketRef ref;
  // Exactly headroom + frame: a sanitizer build catches any read past the frame.
  Buffer(const Record& r, uint32_t headroom = 512) : mem(headroom + r.bytes.size()) {
    std::copy(r.bytes.begin(), r.bytes.end(), mem.begin() + headroom);
    ref = PacketRef{mem.data() + headroom, static_cast<uint32_t>(r.bytes.size()), r.wire_len, headroom};
  }
  std::vector<uint8_t> bytes() const { return {ref.data, ref.data + ref.len}; }
};

}  // namespace mirrorpipe::test
