// A mirror filter's tcpdump expression on the data path: compiled by libpcap for the Ethernet
// link type, and run by libpcap's own classic-BPF machine (bpf_filter), so that it selects
// exactly what tcpdump selects.
//
// Why not DPDK's BPF library (rte_bpf_convert, rte_bpf_load, its JIT): in DPDK 22.11 the
// conversion of some programs is wrong. test/oracle/test_bpf.py found it: for
// "tcp[tcpflags] & tcp-syn != 0" the JIT-compiled program crashes the process on the bundled
// sample, and the interpreted one accepts 8 frames where tcpdump accepts 2. A mirror must never
// crash on traffic nor select what it was not asked to; the test keeps comparing with tcpdump,
// so a DPDK that converts correctly can take this place with the evidence in hand.
//
// Programs are compiled once per expression and live as long as the engine.
#pragma once

#include <pcap/pcap.h>

#include <cstdint>
#include <map>
#include <string>

namespace mirrorpipe {

class BpfPrograms {
 public:
  BpfPrograms() = default;
  ~BpfPrograms();
  BpfPrograms(const BpfPrograms&) = delete;
  BpfPrograms& operator=(const BpfPrograms&) = delete;

  struct Compiled {
    const bpf_insn* program = nullptr;  // stable while this object lives
    bool keyed = false;  // its answer on a keyed frame follows from the key (engine/control/bpf_analysis.h)
  };

  // The expression compiled, and analysed once. Throws std::invalid_argument with libpcap's
  // message.
  Compiled get(const std::string& expression);

 private:
  struct Entry {
    bpf_program program;
    bool keyed;
  };
  std::map<std::string, Entry> programs_;
};

// True when the program accepts the frame (`captured` bytes of a `wire_len`-byte frame).
inline bool bpf_accepts(const bpf_insn* program, const uint8_t* frame, uint32_t captured, uint32_t wire_len) noexcept {
  return bpf_filter(program, frame, wire_len, captured) != 0;
}

}  // namespace mirrorpipe
