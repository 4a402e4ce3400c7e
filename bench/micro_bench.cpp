// Micro benchmarks of the per-packet work, each beside a 64-byte memcpy baseline measured in
// the same binary and run. Items are packets; the frames are the bundled sample's (a realistic
// mix of sizes and protocols), cycled. Run: build/bench/mirrorpipe_micro_bench
#include <benchmark/benchmark.h>
#include <pcap/pcap.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "decap/decap.h"
#include "encap/encap.h"
#include "encap/flow.h"
#include "encap/wire/checksum.h"

using namespace mirrorpipe;

namespace {

constexpr uint32_t kHeadroom = 512;

struct Frame {
  std::vector<uint8_t> mem;  // headroom + frame
  uint32_t len;
  PacketRef ref() { return PacketRef{mem.data() + kHeadroom, len, len, kHeadroom}; }
};

std::vector<Frame> load(const std::string& path) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline(path.c_str(), err);
  if (!p) throw std::runtime_error(err);
  std::vector<Frame> out;
  pcap_pkthdr* h;
  const u_char* d;
  while (pcap_next_ex(p, &h, &d) == 1) {
    Frame f{std::vector<uint8_t>(kHeadroom + h->caplen), h->caplen};
    std::memcpy(f.mem.data() + kHeadroom, d, h->caplen);
    out.push_back(std::move(f));
  }
  pcap_close(p);
  return out;
}

std::vector<Frame>& sample() {
  static std::vector<Frame> frames = load(std::string(MIRRORPIPE_SOURCE_DIR) + "/pcaps/sample-mix.pcap");
  return frames;
}

OuterTemplate make_template(TunnelKind kind) {
  TunnelConfig c;
  c.kind = kind;
  c.src_ip = parse_ip("172.31.0.238");
  c.dst_ip = parse_ip("172.31.17.188");
  c.vni = kind == TunnelKind::kGwlb ? 0 : 5569041;
  c.udp_checksum = UdpChecksumMode::kOff;  // what a NIC offloads; measured separately below
  return build_outer_template(c);
}

void BM_memcpy64_baseline(benchmark::State& state) {
  alignas(64) uint8_t src[64], dst[64];
  std::memset(src, 1, sizeof src);
  for (auto _ : state) {
    benchmark::DoNotOptimize(src);
    std::memcpy(dst, src, 64);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_memcpy64_baseline);

void BM_parse_frame_flow_hash(benchmark::State& state) {
  auto& frames = sample();
  size_t i = 0;
  for (auto _ : state) {
    Frame& f = frames[i++ % frames.size()];
    benchmark::DoNotOptimize(parse_frame(wire::Bytes(f.mem.data() + kHeadroom, f.len)));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_parse_frame_flow_hash);

// Encapsulation: the writer alone (meta parsed once, outside the loop) and parse + writer.
void encap_bench(benchmark::State& state, TunnelKind kind, bool with_parse) {
  auto& frames = sample();
  const OuterTemplate t = make_template(kind);
  std::vector<FrameMeta> metas;
  for (auto& f : frames) metas.push_back(parse_frame(wire::Bytes(f.mem.data() + kHeadroom, f.len)));
  size_t i = 0;
  for (auto _ : state) {
    const size_t k = i++ % frames.size();
    PacketRef ref = frames[k].ref();
    const FrameMeta m = with_parse ? parse_frame(wire::Bytes(ref.data, ref.len)) : metas[k];
    benchmark::DoNotOptimize(encapsulate(t, m, ref));
    benchmark::DoNotOptimize(ref);
  }
  state.SetItemsProcessed(state.iterations());
}
void BM_vxlan_writer(benchmark::State& s) { encap_bench(s, TunnelKind::kVxlan, false); }
void BM_gwlb_writer(benchmark::State& s) { encap_bench(s, TunnelKind::kGwlb, false); }
void BM_geneve_writer(benchmark::State& s) { encap_bench(s, TunnelKind::kGeneve, false); }
void BM_vxlan_parse_and_write(benchmark::State& s) { encap_bench(s, TunnelKind::kVxlan, true); }
void BM_gwlb_parse_and_write(benchmark::State& s) { encap_bench(s, TunnelKind::kGwlb, true); }
BENCHMARK(BM_vxlan_writer);
BENCHMARK(BM_gwlb_writer);
BENCHMARK(BM_geneve_writer);
BENCHMARK(BM_vxlan_parse_and_write);
BENCHMARK(BM_gwlb_parse_and_write);

// Decapsulation parser over the sample encapsulated once (VXLAN, GWLB).
void decap_bench(benchmark::State& state, TunnelKind kind) {
  auto& frames = sample();
  const OuterTemplate t = make_template(kind);
  std::vector<std::vector<uint8_t>> tunneled;
  for (auto& f : frames) {
    std::vector<uint8_t> copy = f.mem;
    PacketRef ref{copy.data() + kHeadroom, f.len, f.len, kHeadroom};
    if (encapsulate(t, parse_frame(wire::Bytes(ref.data, ref.len)), ref) == DropReason::kNone) {
      tunneled.emplace_back(ref.data, ref.data + ref.len);
    }
  }
  DecapConfig cfg;
  size_t i = 0;
  for (auto _ : state) {
    const auto& p = tunneled[i++ % tunneled.size()];
    DecapResult r;
    benchmark::DoNotOptimize(decap_parse(wire::Bytes(p.data(), p.size()), static_cast<uint32_t>(p.size()), cfg, r));
    benchmark::DoNotOptimize(r);
  }
  state.SetItemsProcessed(state.iterations());
}
void BM_decap_parse_vxlan(benchmark::State& s) { decap_bench(s, TunnelKind::kVxlan); }
void BM_decap_parse_gwlb(benchmark::State& s) { decap_bench(s, TunnelKind::kGwlb); }
BENCHMARK(BM_decap_parse_vxlan);
BENCHMARK(BM_decap_parse_gwlb);

// The software UDP checksum over a 1500-byte frame: what --udp-checksum costs without offload.
void BM_checksum_1500B(benchmark::State& state) {
  std::vector<uint8_t> buf(1500, 0x5a);
  for (auto _ : state) {
    benchmark::DoNotOptimize(wire::checksum_finish(wire::checksum_partial(buf.data(), buf.size())));
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * 1500);
}
BENCHMARK(BM_checksum_1500B);

}  // namespace

BENCHMARK_MAIN();
