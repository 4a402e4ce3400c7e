// Dropping privileges once the engine is set up ([engine] user and group).
//
// The EAL (hugepages, /dev/vfio/*, the telemetry socket), the ports (af_packet sockets, TAP
// devices), the file outputs and the metrics listener are opened as the user the engine started
// as, usually root. Everything the workers and the control loop do afterwards goes through
// those open descriptors and mappings, so the engine then becomes `user` (its groups, or
// `group` as the primary one) and keeps no capability: setgroups/initgroups, setgid, setuid,
// which glibc applies to every thread of the process, DPDK's own included.
//
// What a dropped engine can no longer do, and therefore refuses or checks before the workers
// start (docs/privileges.md):
// - open a device, a port or a file again: a reload that would (a new port, another file) is
//   already refused by live_change_refusal, as is a change of user or group;
// - write into a directory the user may not write: file outputs that create files later
//   (rotation, or the temporary file renamed at the end) need their directory writable by the
//   user, checked right after the drop;
// - read a configuration the user may not read: a warning at the drop (a SIGHUP would fail).
#pragma once

#include <string>
#include <vector>

#include "engine/config/config.h"

namespace mirrorpipe {

// Before anything is set up: fails (std::runtime_error) when a drop is asked for that cannot
// happen, i.e. the engine runs neither as root nor already as that user.
void check_privilege_drop(const EngineConfig& cfg);

// After the set-up, before the workers start: becomes cfg.user / cfg.group, keeps no
// capability, checks that it cannot get root back and that `dirs_written_later` are writable,
// and logs what it did. Throws std::runtime_error when any step fails (the engine must not go
// on as root when a user was asked for). Does nothing without cfg.user.
void drop_privileges(const EngineConfig& cfg, const std::vector<std::string>& dirs_written_later);

}  // namespace mirrorpipe
