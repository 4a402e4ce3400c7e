// Runs a fuzz target's LLVMFuzzerTestOneInput without libFuzzer: the regression suite's driver,
// built with the regular compiler in every build (so the inputs that once crashed a target are
// replayed by ctest without clang).
//
//   fuzz_TARGET_replay [--prefix-bytes N --variants V] [--pcap CAPTURE]... [FILE | DIR]...
//
// FILE: one input. DIR: every regular file in it, in name order. --pcap: every record of a
// capture (pcap or pcapng, through libpcap) is an input; with --prefix-bytes N and --variants V
// it is given V times, prefixed with N copies of the byte 0, 1, ..., V-1 (the selector bytes
// some targets read first). A crash, a sanitizer report or a failed check ends the process
// abnormally; otherwise it prints how many inputs ran and exits 0.
#include <pcap/pcap.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

size_t g_inputs = 0;

void run(const std::vector<uint8_t>& input) {
  // A heap copy of the exact size, as libFuzzer passes it.
  std::vector<uint8_t> copy(input);
  LLVMFuzzerTestOneInput(copy.data(), copy.size());
  ++g_inputs;
}

void run_file(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    std::fprintf(stderr, "replay: cannot read %s\n", path.c_str());
    std::exit(2);
  }
  run(std::vector<uint8_t>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>()));
}

void run_pcap(const char* path, unsigned prefix_bytes, unsigned variants) {
  char err[PCAP_ERRBUF_SIZE];
  pcap_t* p = pcap_open_offline(path, err);
  if (!p) {
    std::fprintf(stderr, "replay: %s: %s\n", path, err);
    std::exit(2);
  }
  pcap_pkthdr* h;
  const u_char* bytes;
  while (pcap_next_ex(p, &h, &bytes) == 1) {
    if (prefix_bytes == 0) {
      run(std::vector<uint8_t>(bytes, bytes + h->caplen));
      continue;
    }
    for (unsigned v = 0; v < variants; ++v) {
      std::vector<uint8_t> input(prefix_bytes, static_cast<uint8_t>(v));
      input.insert(input.end(), bytes, bytes + h->caplen);
      run(input);
    }
  }
  pcap_close(p);
}

}  // namespace

int main(int argc, char** argv) {
  unsigned prefix_bytes = 0;
  unsigned variants = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--prefix-bytes" || a == "--variants" || a == "--pcap") && i + 1 >= argc) {
      std::fprintf(stderr, "replay: %s needs a value\n", a.c_str());
      return 2;
    }
    if (a == "--prefix-bytes") {
      prefix_bytes = static_cast<unsigned>(std::stoul(argv[++i]));
    } else if (a == "--variants") {
      variants = static_cast<unsigned>(std::stoul(argv[++i]));
    } else if (a == "--pcap") {
      run_pcap(argv[++i], prefix_bytes, variants);
    } else if (std::filesystem::is_directory(a)) {
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::directory_iterator(a)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());
      for (const auto& f : files) run_file(f);
    } else {
      run_file(a);
    }
  }
  std::printf("replay: %zu inputs, no failure\n", g_inputs);
  return 0;
}
