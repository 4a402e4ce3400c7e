// The mirrorpipe command line. Exit codes: 0 success, 1 runtime failure, 2 usage or
// configuration error (bad option, unreadable or unsupported file).
#pragma once

namespace mirrorpipe {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntime = 1;
inline constexpr int kExitUsage = 2;

int run_cli(int argc, char** argv);

}  // namespace mirrorpipe
