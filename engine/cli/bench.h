// `mirrorpipe bench`: the real workers (the same code as `run`) on net_null, timed.
#pragma once

#include <string>

namespace mirrorpipe {

struct BenchOptions {
  std::string tunnel = "vxlan";  // vxlan, gwlb, geneve or decap
  std::string rx;                // RX devargs; default: net_null with copy=0 over pre-filled buffers
  std::string tx;                // TX devargs; default: net_null with no-rx=1
  unsigned workers = 1;
  double seconds = 5;
  unsigned frame_size = 64;      // the inner frame without FCS (decap: after decapsulation)
  bool hugepages = false;        // EAL with hugepages (reserved beforehand) instead of --no-huge
  bool json = false;
  std::string sample;            // capture whose flows the frames take; default: the bundled one
};

int run_bench(const BenchOptions& o);

}  // namespace mirrorpipe
