#include "engine/runtime/bpf_filter.h"

#include <stdexcept>

#include "engine/control/bpf_analysis.h"

namespace mirrorpipe {

BpfPrograms::~BpfPrograms() {
  for (auto& [expr, e] : programs_) pcap_freecode(&e.program);
}

BpfPrograms::Compiled BpfPrograms::get(const std::string& expression) {
  if (auto it = programs_.find(expression); it != programs_.end()) return {it->second.program.bf_insns, it->second.keyed};
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 262144);
  if (!dead) throw std::runtime_error("bpf: libpcap cannot open a handle");
  bpf_program prog{};
  if (pcap_compile(dead, &prog, expression.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    const std::string why = pcap_geterr(dead);
    pcap_close(dead);
    throw std::invalid_argument("bpf '" + expression + "': " + why);
  }
  pcap_close(dead);
  const bool keyed = bpf_decided_by_key(prog.bf_insns, prog.bf_len);
  programs_.emplace(expression, Entry{prog, keyed});
  return {prog.bf_insns, keyed};
}

}  // namespace mirrorpipe
