#include "engine/control/capture_read.h"

#include <pcap/pcap.h>

#include <algorithm>
#include <cstring>

namespace mirrorpipe {
namespace {

uint16_t be16_at(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }

// pcapng block type and option code (draft-ietf-opsawg-pcapng sections 4.1, 4.2).
constexpr uint32_t kPcapngSectionHeader = 0x0a0d0d0a;
constexpr uint32_t kPcapngInterfaceDescription = 1;
constexpr uint16_t kOptEnd = 0;
constexpr uint16_t kOptIfTsresol = 9;

}  // namespace

CaptureHead sniff_capture(const uint8_t* buf, size_t n) noexcept {
  CaptureHead h;
  if (n < 4) return h;
  uint32_t magic;
  std::memcpy(&magic, buf, 4);
  const bool pcap_swapped = magic == 0xd4c3b2a1 || magic == 0x4d3cb2a1;
  if (magic == 0xa1b2c3d4 || magic == 0xa1b23c4d || pcap_swapped) {
    h.nano = magic == 0xa1b23c4d || magic == 0x4d3cb2a1;
    if (n >= 24) {
      uint32_t lt;
      std::memcpy(&lt, buf + 20, 4);
      if (pcap_swapped) lt = __builtin_bswap32(lt);
      h.linktype = static_cast<int>(lt & 0x0fffffff);  // the upper bits carry FCS information
    }
    return h;
  }
  if (magic != kPcapngSectionHeader || n < 28) return h;  // not pcapng
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
  const size_t idb = rd32(4);  // the SHB's total length: where the next block starts
  if (idb + 16 > n || rd32(idb) != kPcapngInterfaceDescription) return h;
  h.linktype = rd16(idb + 8);
  // Options run from byte 16 of the IDB to its trailing length word; a block length too small
  // to hold them (a damaged file) leaves no options to read.
  const size_t idb_len = rd32(idb + 4);
  const size_t idb_end = idb_len >= 20 ? idb + idb_len - 4 : idb + 16;
  for (size_t at = idb + 16; at + 4 <= idb_end && at + 4 <= n;) {
    const uint16_t code = rd16(at);
    const uint16_t len = rd16(at + 2);
    if (code == kOptEnd) break;
    if (code == kOptIfTsresol && len == 1 && at + 5 <= n) {
      const uint8_t r = buf[at + 4];
      // High bit set: a power of two; otherwise a power of ten (>= 9: nanoseconds or finer).
      h.nano = (r & 0x80) ? false : r >= 9;
      break;
    }
    at += 4 + ((len + 3u) & ~3u);
  }
  return h;  // default resolution: microseconds
}

std::optional<CaptureLink> capture_link(int dlt) noexcept {
  switch (dlt) {
    case DLT_EN10MB: return CaptureLink::kEthernet;
    case DLT_LINUX_SLL: return CaptureLink::kLinuxSll;
    case DLT_LINUX_SLL2: return CaptureLink::kLinuxSll2;
    case DLT_RAW:
    case DLT_IPV4:
    case DLT_IPV6: return CaptureLink::kRawIp;
    default: return std::nullopt;
  }
}

CaptureFrame convert_record(CaptureLink link, const uint8_t* data, uint32_t caplen, uint32_t len,
                            uint32_t max_frame_bytes) noexcept {
  // Anything but Ethernet: the record's own link header is replaced by an Ethernet header made
  // from what it says (destination 00:00:00:00:00:00; source the cooked header's link-layer
  // address when it is 6 bytes, else zero; EtherType the cooked header's protocol, or that of
  // the raw packet's IP version).
  CaptureFrame f;
  switch (link) {
    case CaptureLink::kEthernet: break;
    case CaptureLink::kLinuxSll:  // type(2) arphrd(2) addr_len(2) addr(8) protocol(2)
      f.link_bytes = 16;
      if (caplen < f.link_bytes) { f.bad = true; break; }
      if (be16_at(data + 4) == 6) std::memcpy(f.eth + 6, data + 6, 6);
      std::memcpy(f.eth + 12, data + 14, 2);
      break;
    case CaptureLink::kLinuxSll2:  // protocol(2) rsvd(2) ifindex(4) arphrd(2) type(1) addr_len(1) addr(8)
      f.link_bytes = 20;
      if (caplen < f.link_bytes) { f.bad = true; break; }
      if (data[11] == 6) std::memcpy(f.eth + 6, data + 12, 6);
      std::memcpy(f.eth + 12, data, 2);
      break;
    case CaptureLink::kRawIp:
      if (caplen < 1 || ((data[0] >> 4) != 4 && (data[0] >> 4) != 6)) { f.bad = true; break; }
      f.eth[12] = (data[0] >> 4) == 4 ? 0x08 : 0x86;
      f.eth[13] = (data[0] >> 4) == 4 ? 0x00 : 0xdd;
      break;
  }
  if (f.bad) {
    f.link_bytes = 0;
    f.frame_bytes = caplen;
    f.wire_bytes = std::min(std::max(caplen, len), kMaxWireBytes);
    return f;
  }
  f.made_bytes = link == CaptureLink::kEthernet ? 0 : kMadeEthernetBytes;
  const uint32_t frame = caplen - f.link_bytes + f.made_bytes;
  const uint32_t wire = len - std::min(len, f.link_bytes) + f.made_bytes;
  // An mbuf holds at most 65535 bytes (16-bit lengths). A larger frame keeps its first
  // max_frame_bytes and its true wire length, exactly like a capture cut by its snaplen: no
  // valid tunnel packet is that large (its IP length field stops at 65535), so decap drops
  // it for its lengths and encap for its size, each under their own reason.
  f.frame_bytes = std::min(frame, std::max(max_frame_bytes, kMadeEthernetBytes));
  f.wire_bytes = std::min(std::max(wire, f.frame_bytes), kMaxWireBytes);
  return f;
}

}  // namespace mirrorpipe
