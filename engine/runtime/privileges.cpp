#include "engine/runtime/privileges.h"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "engine/control/log.h"

namespace mirrorpipe {
namespace {

struct Identity {
  std::string user;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string group;
};

std::runtime_error failure(const std::string& what, int err) {
  return std::runtime_error("cannot drop privileges: " + what + (err ? std::string(": ") + std::strerror(err) : ""));
}

Identity resolve(const EngineConfig& cfg) {
  Identity id;
  std::vector<char> buf(65536);
  passwd pw{};
  passwd* pwp = nullptr;
  if (getpwnam_r(cfg.user.c_str(), &pw, buf.data(), buf.size(), &pwp) != 0 || !pwp) {
    throw failure("no user '" + cfg.user + "' on this machine", 0);
  }
  id.user = cfg.user;
  id.uid = pw.pw_uid;
  id.gid = pw.pw_gid;
  group gr{};
  group* grp = nullptr;
  if (!cfg.group.empty()) {
    if (getgrnam_r(cfg.group.c_str(), &gr, buf.data(), buf.size(), &grp) != 0 || !grp) {
      throw failure("no group '" + cfg.group + "' on this machine", 0);
    }
    id.gid = gr.gr_gid;
    id.group = cfg.group;
  } else if (getgrgid_r(id.gid, &gr, buf.data(), buf.size(), &grp) == 0 && grp) {
    id.group = gr.gr_name;
  } else {
    id.group = std::to_string(id.gid);
  }
  return id;
}

// The calling thread's capability sets (permitted, effective), through the raw system call
// (no libcap dependency).
bool capabilities(uint64_t& permitted, uint64_t& effective) {
  __user_cap_header_struct hdr{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (syscall(SYS_capget, &hdr, data) != 0) return false;
  permitted = data[0].permitted | static_cast<uint64_t>(data[1].permitted) << 32;
  effective = data[0].effective | static_cast<uint64_t>(data[1].effective) << 32;
  return true;
}

}  // namespace

void check_privilege_drop(const EngineConfig& cfg) {
  if (cfg.user.empty()) return;
  const Identity id = resolve(cfg);
  if (geteuid() != 0 && geteuid() != id.uid) {
    throw failure("[engine] user = \"" + cfg.user + "\" needs the engine started as root (or as that user); it runs as uid " +
                      std::to_string(geteuid()),
                  0);
  }
}

void drop_privileges(const EngineConfig& cfg, const std::vector<std::string>& dirs_written_later) {
  if (cfg.user.empty()) return;
  const Identity id = resolve(cfg);
  const uid_t was = geteuid();
  if (was == 0) {
    // Supplementary groups first (they may grant /dev/vfio or hugetlbfs access), then the
    // group, then the user: once the user is set, the others cannot be changed any more.
    // glibc applies each to every thread of the process.
    if (initgroups(id.user.c_str(), id.gid) != 0) throw failure("initgroups(" + id.user + ")", errno);
    if (setgid(id.gid) != 0) throw failure("setgid(" + std::to_string(id.gid) + ")", errno);
    if (setuid(id.uid) != 0) throw failure("setuid(" + std::to_string(id.uid) + ")", errno);
  }
  // Proof rather than trust: every uid and gid is the asked one, root cannot be regained, and
  // no capability is left (setuid from root to another user clears them all).
  uid_t ru, eu, su;
  gid_t rg, eg, sg;
  if (getresuid(&ru, &eu, &su) != 0 || getresgid(&rg, &eg, &sg) != 0) throw failure("getresuid", errno);
  if (ru != id.uid || eu != id.uid || su != id.uid) throw failure("the user ids did not all become " + std::to_string(id.uid), 0);
  if (was == 0 && (rg != id.gid || eg != id.gid || sg != id.gid)) {
    throw failure("the group ids did not all become " + std::to_string(id.gid), 0);
  }
  if (id.uid != 0 && setuid(0) == 0) throw failure("root could be regained after the drop", 0);
  uint64_t permitted = 0, effective = 0;
  if (!capabilities(permitted, effective)) throw failure("capget", errno);
  if (id.uid != 0 && (permitted | effective) != 0) {
    throw failure("capabilities remain after the drop (permitted 0x" + std::to_string(permitted) + ")", 0);
  }
  for (const std::string& dir : dirs_written_later) {
    if (access(dir.c_str(), W_OK | X_OK) != 0) {
      throw failure("'" + dir + "' is not writable by user '" + id.user +
                        "', and a file output creates or renames files there while running (make it the user's)",
                    errno);
    }
  }
  std::string groups;
  const int n = getgroups(0, nullptr);
  std::vector<gid_t> list(n > 0 ? static_cast<size_t>(n) : 0);
  if (n > 0 && getgroups(n, list.data()) == n) {
    for (gid_t g : list) groups += (groups.empty() ? "" : ",") + std::to_string(g);
  }
  logger().info("privileges",
                "now running as user '" + id.user + "' (uid " + std::to_string(id.uid) + "), group '" + id.group +
                    "' (gid " + std::to_string(id.gid) + "), groups [" + groups + "], no capabilities" +
                    (was == 0 ? "" : " (already that user: nothing to drop)"),
                {{"user", id.user}, {"uid", static_cast<uint64_t>(id.uid)}, {"gid", static_cast<uint64_t>(id.gid)}});
  if (!cfg.path.empty() && access(cfg.path.c_str(), R_OK) != 0) {
    logger().warn("privileges", "user '" + id.user + "' cannot read '" + cfg.path +
                                    "': a reload (SIGHUP) will fail until it can",
                  {{"path", cfg.path}});
  }
}

}  // namespace mirrorpipe
