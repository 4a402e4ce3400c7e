#include "engine/runtime/bpf_filter.h"

#include <stdexcept>

namespace mirrorpipe {

BpfPrograms::~BpfPrograms() {
  for (auto& [expr, p] : programs_) pcap_freecode(&p);
}

const bpf_insn* BpfPrograms::get(const std::string& expression) {
  if (auto it = programs_.find(expression); it != programs_.end()) return it->second.bf_insns;
  pcap_t* dead = pcap_open_dead(DLT_EN10MB, 262144);
  if (!dead) throw std::runtime_error("bpf: libpcap cannot open a handle");
  bpf_program prog{};
  if (pcap_compile(dead, &prog, expression.c_str(), 1, PCAP_NETMASK_UNKNOWN) != 0) {
    const std::string why = pcap_geterr(dead);
    pcap_close(dead);
    throw std::invalid_argument("bpf '" + expression + "': " + why);
  }
  pcap_close(dead);
  return programs_.emplace(expression, prog).first->second.bf_insns;
}

}  // namespace mirrorpipe
