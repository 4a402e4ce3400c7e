// Which tcpdump programs a session's verdict cache may remember.
//
// The verdict cache (engine/pipeline/verdict_cache.h) keys a frame by its addresses, ports and
// protocol, and only frames of one shape have a key: untagged IPv4 with a 20-byte header, TCP or
// UDP, not a fragment, at least 38 bytes (inline_filter_fields, engine/pipeline/mirror_session.h).
// A filter's tcpdump expression may read any byte of the frame, its length, or compute with
// them, so in general its answer is not a function of the key. Most expressions users write are
// ("port 22", "net 10.0.0.0/8", "udp and not host 10.1.2.3"): for those, the answer for a keyed
// frame can be cached with the rules' verdict, and libpcap's interpreter runs once per flow
// instead of once per packet.
//
// bpf_decided_by_key() proves it, or says no: it runs the classic-BPF program on an abstract
// keyed frame, where each bit of every value is known constant (the shape fixes the EtherType,
// version and header length, and the fragment bits), follows from the key (protocol, addresses,
// ports), or is tainted (anything else: MAC addresses, TTL, lengths, TCP flags, the payload, the
// frame's length). Both ways of every branch the key decides are followed. The answer is yes
// only when no branch and no returned value depends on a tainted bit and every load stays in the
// 38 bytes a keyed frame always has; anything it cannot follow (a load at a computed offset, a
// jump out of the program, too many paths) is a no. A no costs speed only: the program then
// runs on every packet, as it did before.
#pragma once

#include <pcap/pcap.h>  // bpf_insn and the opcodes (pcap/bpf.h needs the types pcap.h defines first)

#include <cstddef>

namespace mirrorpipe {

bool bpf_decided_by_key(const bpf_insn* program, size_t count) noexcept;

}  // namespace mirrorpipe
