#include "engine/control/log.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <ctime>

namespace mirrorpipe {

namespace {

uint64_t steady_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count());
}

uint64_t system_ns() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

bool unlimited(std::string_view kind) { return kind == "summary" || kind == "start"; }

bool reserved(const std::string& key) {
  return key == "ts" || key == "level" || key == "kind" || key == "msg" || key == "suppressed";
}

// Text mode keeps one event on one line: a control character in a message (a newline in a
// parser's error, a byte of a file name) is written as an escape.
void append_printable(std::string& out, std::string_view s) {
  for (const char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += ch;
    }
  }
}

}  // namespace

LogRateLimiter::Admission LogRateLimiter::admit(std::string_view kind, uint64_t now_ns) {
  auto it = buckets_.find(kind);
  if (it == buckets_.end()) it = buckets_.emplace(std::string(kind), Bucket{burst_, now_ns, 0}).first;
  Bucket& b = it->second;
  if (now_ns > b.last_ns) {
    b.tokens = std::min(burst_, b.tokens + static_cast<double>(now_ns - b.last_ns) * 1e-9 * per_s_);
    b.last_ns = now_ns;
  }
  if (b.tokens < 1.0) {
    ++b.suppressed;
    return {false, 0};
  }
  b.tokens -= 1.0;
  const uint64_t before = b.suppressed;
  b.suppressed = 0;
  return {true, before};
}

std::vector<std::pair<std::string, uint64_t>> LogRateLimiter::take_suppressed() {
  std::vector<std::pair<std::string, uint64_t>> out;
  for (auto& [kind, b] : buckets_) {
    if (b.suppressed == 0) continue;
    out.emplace_back(kind, b.suppressed);
    b.suppressed = 0;
  }
  return out;
}

std::string rfc3339_utc_ms(uint64_t unix_ns) {
  const auto secs = static_cast<std::time_t>(unix_ns / 1000000000u);
  const auto ms = static_cast<unsigned>((unix_ns / 1000000u) % 1000u);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[80];  // room for any int the compiler cannot rule out
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
  return buf;
}

const char* log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
  }
  return "info";
}

Logger::Logger() : sink_(stream_sink(stdout)), monotonic_ns_(steady_ns), wall_ns_(system_ns) {}

std::function<void(std::string_view)> Logger::stream_sink(std::FILE* f) {
  return [f](std::string_view line) {
    std::fwrite(line.data(), 1, line.size(), f);
    std::fflush(f);
  };
}

void Logger::configure(const LogSettings& settings) {
  std::lock_guard lock(mutex_);
  settings_ = settings;
}

void Logger::set_level(LogLevel level) {
  std::lock_guard lock(mutex_);
  settings_.level = level;
}

LogLevel Logger::level() const {
  std::lock_guard lock(mutex_);
  return settings_.level;
}

LogFormat Logger::format() const {
  std::lock_guard lock(mutex_);
  return settings_.format;
}

void Logger::set_sink(std::function<void(std::string_view)> sink) {
  std::lock_guard lock(mutex_);
  sink_ = std::move(sink);
}

void Logger::set_clocks(std::function<uint64_t()> monotonic_ns, std::function<uint64_t()> wall_ns) {
  std::lock_guard lock(mutex_);
  monotonic_ns_ = std::move(monotonic_ns);
  wall_ns_ = std::move(wall_ns);
}

bool Logger::log(LogLevel level, std::string_view kind, std::string_view msg, const LogFields& fields) {
  std::lock_guard lock(mutex_);
  if (level < settings_.level) return false;
  uint64_t suppressed = 0;
  if (!unlimited(kind)) {
    const auto a = limiter_.admit(kind, monotonic_ns_());
    if (!a.pass) return false;
    suppressed = a.suppressed_before;
  }
  std::string line = format_line(wall_ns_(), level, kind, msg, fields, suppressed);
  line += '\n';
  sink_(line);
  return true;
}

void Logger::report_suppressed() {
  std::vector<std::pair<std::string, uint64_t>> held;
  {
    std::lock_guard lock(mutex_);
    held = limiter_.take_suppressed();
  }
  for (const auto& [kind, n] : held) {
    std::lock_guard lock(mutex_);
    const std::string msg = std::to_string(n) + " '" + kind + "' lines suppressed by the rate limit since its last line";
    sink_(format_line(wall_ns_(), LogLevel::kInfo, "log_suppressed", msg,
                      {{"of_kind", kind}, {"count", n}}, 0) + "\n");
  }
}

std::string Logger::format_line(uint64_t wall_ns, LogLevel level, std::string_view kind, std::string_view msg,
                                const LogFields& fields, uint64_t suppressed) const {
  const std::string ts = rfc3339_utc_ms(wall_ns);
  if (settings_.format == LogFormat::kText) {
    std::string out = ts;
    out += ' ';
    const char* name = log_level_name(level);
    out += name;
    out.append(6 - std::string_view(name).size(), ' ');  // levels line up: "info  ", "error "
    append_printable(out, kind);
    out += ": ";
    append_printable(out, msg);
    if (suppressed) {
      out += " (" + std::to_string(suppressed) + " earlier '";
      append_printable(out, kind);
      out += "' lines suppressed by the rate limit)";
    }
    return out;
  }
  // JSON: keys in this order; nlohmann escapes quotes, backslashes and control characters, and
  // writes a byte that is not UTF-8 (a file name may hold one) as U+FFFD rather than failing.
  nlohmann::ordered_json j;
  j["ts"] = ts;
  j["level"] = log_level_name(level);
  j["kind"] = std::string(kind);
  j["msg"] = std::string(msg);
  if (suppressed) j["suppressed"] = suppressed;
  for (const LogField& f : fields) {
    if (reserved(f.key)) continue;
    std::visit([&](const auto& v) { j[f.key] = v; }, f.value);
  }
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

Logger& logger() {
  static Logger instance;
  return instance;
}

}  // namespace mirrorpipe
