#include "engine/runtime/eal.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_mbuf.h>

#include <rte_version.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include <fcntl.h>
#include <unistd.h>
#include <string>

#include "engine/runtime/mbuf.h"

namespace mirrorpipe {

namespace {
bool g_eal_started = false;
}  // namespace

void eal_init(const std::vector<std::string>& args) {
  std::vector<std::string> all{"mirrorpipe"};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  // On a bad option the EAL prints its whole usage (about 100 lines) on stdout: kept out of the
  // user's face; the option it refused is on stderr already (getopt's one line).
  std::fflush(stdout);
  const int saved_stdout = ::dup(STDOUT_FILENO);
  const int devnull = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  if (saved_stdout >= 0 && devnull >= 0) ::dup2(devnull, STDOUT_FILENO);
  const int rc = rte_eal_init(static_cast<int>(all.size()), argv.data());
  const int err = rte_errno;
  std::fflush(stdout);
  if (saved_stdout >= 0) {
    ::dup2(saved_stdout, STDOUT_FILENO);
    ::close(saved_stdout);
  }
  if (devnull >= 0) ::close(devnull);
  if (rc < 0) {
    std::string args_text;
    for (const auto& a : args) args_text += " " + a;
    const std::string msg = std::string("DPDK EAL initialisation failed: ") + rte_strerror(err) +
                            " (EAL arguments:" + args_text + ")";
    // A refused option or device is the configuration's fault (exit 2); anything else
    // (memory, hugepages, permissions) the machine's.
    if (err == EINVAL || err == ENODEV) throw std::invalid_argument(msg);
    throw std::runtime_error(msg);
  }
  g_eal_started = true;
  register_mbuf_meta();
}

void eal_cleanup() noexcept {
  if (!g_eal_started) return;
  g_eal_started = false;
  // The EAL leaves its runtime folder (/var/run/dpdk/PREFIX: the shared configuration, memory
  // maps, sockets; several MB of tmpfs) behind; an engine that has stopped needs none of it.
  const std::string runtime_dir = rte_eal_get_runtime_dir();
  rte_eal_cleanup();
  std::error_code ec;
  if (!runtime_dir.empty()) std::filesystem::remove_all(runtime_dir, ec);
}

std::string dpdk_version() { return rte_version(); }

std::vector<std::string> eal_file_mode_args() {
  return {"--no-huge", "-m",           "512", "--no-pci", "--no-shconf", "--no-telemetry",
          "-l",        "0",            "--log-level", "lib.eal:error", "--log-level",
          "lib.mbuf:error"};
}

FilePools create_file_pools() {
  FilePools p;
  const unsigned small_room = kFileHeadroomBytes + 9216 + 512;
  p.small = rte_pktmbuf_pool_create("mp_file_small", 2047, 64, 0, small_room, SOCKET_ID_ANY);
  // 65535 is the largest buffer an mbuf's 16-bit buf_len can describe.
  const unsigned large_room = UINT16_MAX;
  p.large = rte_pktmbuf_pool_create("mp_file_large", 127, 0, 0, large_room, SOCKET_ID_ANY);
  if (!p.small || !p.large) {
    throw std::runtime_error(std::string("cannot create packet buffer pools: ") +
                             rte_strerror(rte_errno));
  }
  p.small_capacity_bytes = small_room - kFileHeadroomBytes;
  p.large_buffer_bytes = large_room;
  return p;
}

}  // namespace mirrorpipe
