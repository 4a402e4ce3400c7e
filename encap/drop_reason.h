// Every reason a packet can be dropped, declared once.
//
// The enum, the counter names in --stats-json, the readable table and (later) the telemetry
// metric names all come from this one list. A packet that the engine does not send or filter
// ends under exactly one of these reasons; there is no catch-all. Add a reason here, never a
// silent drop anywhere else. The list lives in the bottom layer so that encap/, decap/ and
// engine/ all return the same type.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace mirrorpipe {

// X(name, description)
#define MIRRORPIPE_DROP_REASONS(X)                                                             \
  /* encapsulation (encap/) */                                                                 \
  X(gwlb_not_ip, "frame has no valid IPv4/IPv6 header; GWLB Geneve carries IP packets only")  \
  X(too_big, "outer packet would exceed the 65535 bytes its IP length field can say")          \
  X(no_headroom, "buffer headroom cannot hold the outer header")                               \
  X(over_mtu, "outer packet over the output's IP MTU (oversize = drop, or no room for headers)")             \
  /* decapsulation (decap/) */                                                                 \
  X(headers_truncated, "tunnel headers cut short by the end of the captured bytes")            \
  X(not_ip, "outer frame is not IPv4 or IPv6 (after up to two VLAN tags)")                     \
  X(ip_bad_header, "outer IP header malformed (version, IHL, extension header)")               \
  X(ip_fragment, "outer IP packet is a fragment; VXLAN/Geneve endpoints never fragment")       \
  X(ip_bad_length, "outer IP length shorter than its header or longer than the frame")         \
  X(ip_bad_checksum, "outer IPv4 header checksum wrong (--verify-checksums)")                  \
  X(not_udp, "outer IP packet is not UDP")                                                     \
  X(not_tunnel_port, "UDP destination port is neither a VXLAN nor a Geneve port")              \
  X(udp_bad_length, "UDP length shorter than 8 or longer than the IP payload")                 \
  X(udp_bad_checksum, "outer UDP checksum wrong (--verify-checksums)")                         \
  X(vxlan_no_vni_flag, "VXLAN I flag clear (RFC 7348 section 5)")                              \
  X(geneve_bad_version, "Geneve version is not 0 (RFC 8926 section 3.4)")                      \
  X(geneve_oam, "Geneve O bit set: control packet, not data (RFC 8926 section 3.4)")           \
  X(geneve_options_overrun, "Geneve options run past opt_len or the UDP payload")              \
  X(geneve_critical_option, "Geneve critical option not understood (RFC 8926 section 3.5)")    \
  X(geneve_bad_protocol, "Geneve protocol type is not an EtherType (below 0x0600)")           \
  X(inner_runt, "inner frame shorter than an Ethernet header, or empty L3 payload")            \
  /* receiving and the appliance (decap/, engine/pipeline) */                                  \
  X(not_gwlb, "appliance input: not GWLB Geneve (outer IPv4, Geneve with class 0x0108 options)") \
  X(no_flow, "appliance: packet to return belongs to no GWLB flow in the flow table")          \
  X(gwlb_source_bad, "appliance: GWLB Geneve from a broadcast, multicast, loopback or unspecified source (never returned)") \
  /* engine runtime (engine/) */                                                               \
  X(no_mbuf, "packet buffer pool exhausted")                                                   \
  X(tx_full, "output queue full: the port did not accept the packet")                          \
  X(write_failed, "file output: the write failed (disk full, I/O error, closed pipe)")         \
  X(sink_full, "file output's queue full: its writer thread is behind (a slow or stalled disk)") \
  X(rate_limited, "mirror session: over its max_pps (a token bucket per worker)")               \
  X(host_reply_limited, "the port's own ARP/echo answers over their rate (1000 a second per worker)") \
  X(duplicate, "session with dedup_us: the same IP packet seen within the window (both ends mirrored)") \
  X(link_header_bad, "capture record too short for its link-layer header, or raw IP neither v4 nor v6") \
  X(rx_chained, "received in more than one buffer: a frame larger than the buffers (sized for the largest port MTU)")

enum class DropReason : uint8_t {
  kNone = 0,  // not dropped
#define MIRRORPIPE_X(name, desc) name,
  MIRRORPIPE_DROP_REASONS(MIRRORPIPE_X)
#undef MIRRORPIPE_X
};

inline constexpr size_t kDropReasonCount = 0
#define MIRRORPIPE_X(name, desc) +1
    MIRRORPIPE_DROP_REASONS(MIRRORPIPE_X)
#undef MIRRORPIPE_X
    ;

// Index 0 is kNone; reasons are 1..kDropReasonCount.
inline constexpr std::array<std::string_view, kDropReasonCount + 1> kDropReasonNames = {
    "none",
#define MIRRORPIPE_X(name, desc) #name,
    MIRRORPIPE_DROP_REASONS(MIRRORPIPE_X)
#undef MIRRORPIPE_X
};

inline constexpr std::array<std::string_view, kDropReasonCount + 1> kDropReasonDescriptions = {
    "not dropped",
#define MIRRORPIPE_X(name, desc) desc,
    MIRRORPIPE_DROP_REASONS(MIRRORPIPE_X)
#undef MIRRORPIPE_X
};

constexpr std::string_view drop_reason_name(DropReason r) noexcept {
  return kDropReasonNames[static_cast<size_t>(r)];
}

// Every reason a packet can be filtered: not a fault, but the user's own policy deciding not to
// send it (allow-lists, sessions, verdicts; later the mirror sessions' filters). Declared once,
// like the drop reasons; each filtered packet is counted under exactly one.
// X(name, description)
#define MIRRORPIPE_FILTER_REASONS(X)                                                            \
  X(source_not_allowed, "outer source address not in the input's allow_sources")              \
  X(vni_not_allowed, "VNI not in the input's allow_vnis")                                      \
  X(no_session, "no session of the input takes the packet (VNI, outer source; or no sink)")   \
  X(verdict_blocked, "appliance: the flow is blocked by the verdict hook (drop_flows, mirrorpipe verdict)") \
  /* mirror sessions (engine/pipeline/mirror_session.h), as AWS Traffic Mirroring decides */   \
  X(not_monitored, "mirror session: neither address is in the session's monitored prefixes")   \
  X(rule_rejected, "mirror session: the first matching filter rule of its direction rejects")   \
  X(no_rule_matched, "mirror session: no filter rule of its direction matches")                 \
  X(never_mirrored_non_ip, "mirror session with a filter: not an IP frame (AWS never mirrors it)") \
  X(never_mirrored_dhcp, "mirror session with a filter: DHCP (AWS never mirrors it)")           \
  X(never_mirrored_metadata, "mirror session with a filter: instance metadata service (169.254.169.254, fd00:ec2::254)") \
  X(never_mirrored_time_sync, "mirror session with a filter: Amazon Time Sync (169.254.169.123, fd00:ec2::123)") \
  X(never_mirrored_windows_activation, "mirror session with a filter: Windows activation (169.254.169.250, .251)") \
  X(bpf_rejected, "mirror session: its filter's bpf expression does not accept the frame")     \
  X(not_sampled, "mirror session: left out by sample_flows or sample_packets")               \
  X(never_mirrored_amazon_dns, "mirror session with a filter: Amazon DNS (169.254.169.253, fd00:ec2::253) without network_services amazon-dns")

enum class FilterReason : uint8_t {
  kNone = 0,  // not filtered
#define MIRRORPIPE_X(name, desc) name,
  MIRRORPIPE_FILTER_REASONS(MIRRORPIPE_X)
#undef MIRRORPIPE_X
};

inline constexpr size_t kFilterReasonCount = 0
#define MIRRORPIPE_X(name, desc) +1
    MIRRORPIPE_FILTER_REASONS(MIRRORPIPE_X)
#undef MIRRORPIPE_X
    ;

inline constexpr std::array<std::string_view, kFilterReasonCount + 1> kFilterReasonNames = {
    "none",
#define MIRRORPIPE_X(name, desc) #name,
    MIRRORPIPE_FILTER_REASONS(MIRRORPIPE_X)
#undef MIRRORPIPE_X
};

inline constexpr std::array<std::string_view, kFilterReasonCount + 1> kFilterReasonDescriptions = {
    "not filtered",
#define MIRRORPIPE_X(name, desc) desc,
    MIRRORPIPE_FILTER_REASONS(MIRRORPIPE_X)
#undef MIRRORPIPE_X
};

}  // namespace mirrorpipe
