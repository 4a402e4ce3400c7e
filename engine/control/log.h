// The engine's events as log lines: reloads and refusals, next hops that moved, pool members
// that changed state, write errors, the periodic summary, the start-up lines. Control path
// only: the workers never log (they count; the control loop says what the counts mean).
//
// One line per event, with a timestamp (RFC 3339, UTC, milliseconds), a level, a kind (a short
// stable name a log query can select on: "reload", "pool_member_state", ...), the message, and
// optional fields (key -> string or number) that JSON mode writes as keys of their own:
//
//   text: 2026-01-05T10:11:12.345Z info  reload: reloaded /etc/mirrorpipe/a.toml (generation 2)
//   json: {"ts":"2026-01-05T10:11:12.345Z","level":"info","kind":"reload","msg":"reloaded ...",
//          "path":"/etc/mirrorpipe/a.toml","generation":2}
//
// Each kind has its own token bucket (kLogBurst lines, then kLogPerSecond a second), so that
// a flapping next hop cannot bury the other events; the first line of a kind that passes after
// some were held back says how many ("suppressed" in JSON). "summary" (it has its own period)
// and "start" (a bounded number of lines, once) are not limited.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "engine/config/log_settings.h"

namespace mirrorpipe {

inline constexpr double kLogBurst = 10;       // lines of one kind at once
inline constexpr double kLogPerSecond = 1.0;  // then this many a second

struct LogField {
  std::string key;
  std::variant<std::string, int64_t, uint64_t, double, bool> value;
};
using LogFields = std::vector<LogField>;

// A token bucket per kind. Time comes from the caller (a monotonic clock, in nanoseconds).
class LogRateLimiter {
 public:
  LogRateLimiter(double burst, double per_s) : burst_(burst), per_s_(per_s) {}

  struct Admission {
    bool pass = false;
    uint64_t suppressed_before = 0;  // lines of this kind held back since the last that passed
  };
  // A line of `kind` at `now_ns`: passes if its bucket has a token (and takes it).
  Admission admit(std::string_view kind, uint64_t now_ns);
  // Kinds with lines held back since their last line that passed, and how many; resets them.
  std::vector<std::pair<std::string, uint64_t>> take_suppressed();

 private:
  struct Bucket {
    double tokens = 0;
    uint64_t last_ns = 0;
    uint64_t suppressed = 0;
  };
  double burst_, per_s_;
  std::map<std::string, Bucket, std::less<>> buckets_;
};

// "2026-01-05T10:11:12.345Z" for nanoseconds since the Unix epoch.
std::string rfc3339_utc_ms(uint64_t unix_ns);
const char* log_level_name(LogLevel level);

class Logger {
 public:
  Logger();

  void configure(const LogSettings& settings);
  void set_level(LogLevel level);
  LogLevel level() const;
  LogFormat format() const;
  // Where whole lines go (each ends with '\n'); default: stdout, flushed after every line.
  void set_sink(std::function<void(std::string_view)> sink);
  static std::function<void(std::string_view)> stream_sink(std::FILE* f);
  // Tests: a monotonic clock (rate limits) and a wall clock (timestamps), both in ns.
  void set_clocks(std::function<uint64_t()> monotonic_ns, std::function<uint64_t()> wall_ns);

  // Writes the event unless its level is below the configured one or its kind is over its
  // rate. Returns whether a line was written. Field keys ts, level, kind, msg and suppressed
  // belong to the line itself: a field of that name is not written.
  bool log(LogLevel level, std::string_view kind, std::string_view msg, const LogFields& fields = {});
  bool debug(std::string_view kind, std::string_view msg, const LogFields& f = {}) { return log(LogLevel::kDebug, kind, msg, f); }
  bool info(std::string_view kind, std::string_view msg, const LogFields& f = {}) { return log(LogLevel::kInfo, kind, msg, f); }
  bool warn(std::string_view kind, std::string_view msg, const LogFields& f = {}) { return log(LogLevel::kWarn, kind, msg, f); }
  bool error(std::string_view kind, std::string_view msg, const LogFields& f = {}) { return log(LogLevel::kError, kind, msg, f); }

  // Says, per kind, how many lines are held back and were never reported by a later line of
  // their kind (at the engine's stop).
  void report_suppressed();

  // The line itself (no '\n'), for the given time and suppressed count.
  std::string format_line(uint64_t wall_ns, LogLevel level, std::string_view kind, std::string_view msg,
                          const LogFields& fields, uint64_t suppressed) const;

 private:
  mutable std::mutex mutex_;
  LogSettings settings_;
  LogRateLimiter limiter_{kLogBurst, kLogPerSecond};
  std::function<void(std::string_view)> sink_;
  std::function<uint64_t()> monotonic_ns_, wall_ns_;
};

// The engine's logger (one per process).
Logger& logger();

}  // namespace mirrorpipe
