// Fuzz target: the capture reader's own code around libpcap (engine/control/capture_read.h), on
// the input as a whole capture file (pcap or pcapng), driven the way PcapReader drives it: the
// first 512 bytes sniffed (sniff_capture: pcap header, pcapng SHB/IDB and its if_tsresol
// option), libpcap opened on the bytes with nanosecond precision, the link type accepted or
// refused (capture_link), then every record converted to the frame the engine receives
// (convert_record) and copied out as file_port.cpp copies it into an mbuf.
//
// Checks: the sniffed link type of a classic pcap file is the header's; a record too short for
// its link header is refused, never read; an accepted record's frame is its made Ethernet header
// plus bytes that lie within the record, no longer than the frame limit, with a wire length no
// shorter than what was kept; an Ethernet record is kept as it is (up to the limit); a raw-IP
// record's made EtherType matches its IP version. Each record is an exact-size heap copy and
// the sniffed head is too, so any read past either is seen by ASan.
#include <pcap/pcap.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#include "engine/control/capture_read.h"
#include "fuzz/fuzz_check.h"

using namespace mirrorpipe;

namespace {

constexpr size_t kSniffBytes = 512;       // what PcapReader reads ahead
constexpr uint32_t kMbufFrameBytes = 65535;
constexpr int kMaxRecords = 4096;         // bounds a run on inputs of many empty records

void check_record(CaptureLink link, const pcap_pkthdr& h, const u_char* bytes, uint32_t limit) {
  const std::vector<uint8_t> rec(bytes, bytes + h.caplen);
  const CaptureFrame f = convert_record(link, rec.data(), h.caplen, h.len, limit);
  if (f.bad) {
    MIRRORPIPE_FUZZ_CHECK(link != CaptureLink::kEthernet);
    MIRRORPIPE_FUZZ_CHECK(f.frame_bytes == h.caplen);
    if (link == CaptureLink::kLinuxSll) MIRRORPIPE_FUZZ_CHECK(h.caplen < 16);
    if (link == CaptureLink::kLinuxSll2) MIRRORPIPE_FUZZ_CHECK(h.caplen < 20);
    if (link == CaptureLink::kRawIp)
      MIRRORPIPE_FUZZ_CHECK(h.caplen == 0 || ((rec[0] >> 4) != 4 && (rec[0] >> 4) != 6));
    return;
  }
  MIRRORPIPE_FUZZ_CHECK(f.made_bytes == (link == CaptureLink::kEthernet ? 0u : kMadeEthernetBytes));
  MIRRORPIPE_FUZZ_CHECK(f.wire_bytes <= kMaxWireBytes);
  MIRRORPIPE_FUZZ_CHECK(f.link_bytes <= h.caplen);
  MIRRORPIPE_FUZZ_CHECK(f.frame_bytes >= f.made_bytes);
  MIRRORPIPE_FUZZ_CHECK(f.frame_bytes <= std::max(limit, kMadeEthernetBytes));
  MIRRORPIPE_FUZZ_CHECK(f.frame_bytes - f.made_bytes <= h.caplen - f.link_bytes);
  MIRRORPIPE_FUZZ_CHECK(f.wire_bytes >= f.frame_bytes);
  if (link == CaptureLink::kEthernet) {
    MIRRORPIPE_FUZZ_CHECK(f.link_bytes == 0);
    MIRRORPIPE_FUZZ_CHECK(f.frame_bytes == std::min(h.caplen, limit));
    MIRRORPIPE_FUZZ_CHECK(f.wire_bytes == std::max(h.len, f.frame_bytes));
  }
  if (link == CaptureLink::kRawIp) {
    const uint16_t type = static_cast<uint16_t>(f.eth[12] << 8 | f.eth[13]);
    MIRRORPIPE_FUZZ_CHECK(type == ((rec[0] >> 4) == 4 ? 0x0800 : 0x86dd));
  }
  // The copy file_port.cpp makes into an mbuf, into a buffer of exactly the frame's size.
  std::vector<uint8_t> frame(f.frame_bytes);
  if (f.made_bytes) std::memcpy(frame.data(), f.eth, f.made_bytes);
  if (f.frame_bytes > f.made_bytes)
    std::memcpy(frame.data() + f.made_bytes, rec.data() + f.link_bytes, f.frame_bytes - f.made_bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::vector<uint8_t> head(data, data + std::min(size, kSniffBytes));
  const CaptureHead sniffed = sniff_capture(head.data(), head.size());
  if (size >= 24) {
    uint32_t magic;
    std::memcpy(&magic, data, 4);
    const bool pcap = magic == 0xa1b2c3d4 || magic == 0xa1b23c4d;
    if (pcap) {
      uint32_t lt;
      std::memcpy(&lt, data + 20, 4);
      MIRRORPIPE_FUZZ_CHECK(sniffed.linktype == static_cast<int>(lt & 0x0fffffff));
      MIRRORPIPE_FUZZ_CHECK(sniffed.nano == (magic == 0xa1b23c4d));
    }
  }

  // libpcap reads the bytes as the file: fmemopen on a private copy (it wants a writable buffer).
  std::vector<uint8_t> file(data, data + size);
  FILE* f = fmemopen(file.data(), file.size(), "rb");
  if (!f) return 0;
  char err[PCAP_ERRBUF_SIZE] = {};
  pcap_t* p = pcap_fopen_offline_with_tstamp_precision(f, PCAP_TSTAMP_PRECISION_NANO, err);
  if (!p) {
    std::fclose(f);
    return 0;
  }
  const std::optional<CaptureLink> link = capture_link(pcap_datalink(p));
  if (link) {
    pcap_pkthdr* h = nullptr;
    const u_char* bytes = nullptr;
    for (int i = 0; i < kMaxRecords && pcap_next_ex(p, &h, &bytes) == 1; ++i) {
      check_record(*link, *h, bytes, kMbufFrameBytes);
      check_record(*link, *h, bytes, 60);  // a limit below most frames: the snaplen path
    }
  }
  pcap_close(p);  // closes f
  return 0;
}
