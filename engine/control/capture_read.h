// Reading captures: the parts of the file port's reader that are ours rather than libpcap's,
// kept free of DPDK so that the pcap fuzz target (fuzz/fuzz_pcap.cpp) drives exactly the code
// the engine runs.
//
// - sniff_capture: what a capture's first bytes say that libpcap does not tell (the file's
//   timestamp resolution, its own link-type number), read from the pcap file header or the
//   pcapng Section Header and first Interface Description Block (if_tsresol option).
// - capture_link: which link types the reader accepts.
// - convert_record: one record's bytes -> the Ethernet frame the engine receives (a made
//   Ethernet header for cooked and raw-IP captures), its captured and wire lengths.
//
// Every read is bounds-checked against the bytes given; nothing here allocates or throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

namespace mirrorpipe {

struct CaptureHead {
  bool nano = false;  // the file stores nanosecond timestamps
  int linktype = -1;  // the file's link-type number; -1: unknown
};

CaptureHead sniff_capture(const uint8_t* buf, size_t n) noexcept;

// The link types the reader accepts. Anything but Ethernet gets an Ethernet header made from
// what the record says (see convert_record).
enum class CaptureLink : uint8_t { kEthernet, kLinuxSll, kLinuxSll2, kRawIp };

// libpcap's DLT (pcap_datalink) -> the reader's link, or nothing for a link type it refuses.
std::optional<CaptureLink> capture_link(int dlt) noexcept;

inline constexpr uint32_t kMadeEthernetBytes = 14;

// The longest wire length a record may claim (its "original length" field is 32 bits): no link
// carries a longer frame, and every length derived from one (a tunnel's outer lengths, a cut)
// stays far from wrapping in 32 bits. A record that claims more is taken at this length: still
// too long for any tunnel, so encap drops it as too_big and decap for its lengths.
inline constexpr uint32_t kMaxWireBytes = 1u << 24;

// One record as the engine receives it: the frame is `eth[0, made_bytes)` followed by
// `data[link_bytes, link_bytes + frame_bytes - made_bytes)` of the record.
struct CaptureFrame {
  bool bad = false;           // the record is too short for its link header, or not IP (raw)
  uint8_t eth[kMadeEthernetBytes] = {};
  uint32_t made_bytes = 0;    // 0 (Ethernet) or 14
  uint32_t link_bytes = 0;    // the record's own link header, replaced by eth
  uint32_t frame_bytes = 0;   // bytes of the frame kept (at most max_frame_bytes)
  uint32_t wire_bytes = 0;    // the frame's length on the wire (>= frame_bytes, <= kMaxWireBytes)
};

// `caplen`: bytes in `data`; `len`: the record's original length; `max_frame_bytes`: the most
// a frame may keep (an mbuf's 16-bit length), the rest counted as cut like a snaplen.
CaptureFrame convert_record(CaptureLink link, const uint8_t* data, uint32_t caplen, uint32_t len,
                            uint32_t max_frame_bytes) noexcept;

}  // namespace mirrorpipe
