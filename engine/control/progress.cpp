#include "engine/control/progress.h"

#include <algorithm>
#include <cmath>

namespace mirrorpipe {

namespace {

std::string grouped(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

std::string pps(double v) {
  char buf[32];
  if (v >= 1e6) std::snprintf(buf, sizeof buf, "%.2f Mpps", v / 1e6);
  else if (v >= 1e3) std::snprintf(buf, sizeof buf, "%.1f kpps", v / 1e3);
  else std::snprintf(buf, sizeof buf, "%.0f pps", v);
  return buf;
}

std::string duration(double s) {
  const auto t = static_cast<uint64_t>(std::llround(std::max(0.0, s)));
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%llu:%02llu:%02llu", static_cast<unsigned long long>(t / 3600),
                               static_cast<unsigned long long>(t / 60 % 60), static_cast<unsigned long long>(t % 60));
  else std::snprintf(buf, sizeof buf, "%llu:%02llu", static_cast<unsigned long long>(t / 60),
                     static_cast<unsigned long long>(t % 60));
  return buf;
}

// An ETA from the first few milliseconds says nothing.
constexpr double kMinEtaS = 0.5;

}  // namespace

std::string progress_text(const ProgressSample& s) {
  const double rate = s.elapsed_s > 0 ? static_cast<double>(s.packets) / s.elapsed_s : 0;
  const std::string counts = grouped(s.packets) + " packets  " + pps(rate);
  if (s.file_bytes == 0) return counts;
  const double frac = std::min(1.0, static_cast<double>(s.bytes_read) / static_cast<double>(s.file_bytes));
  constexpr int kBar = 16;
  const int full = static_cast<int>(frac * kBar);
  std::string bar = "[";
  for (int i = 0; i < kBar; ++i) bar += i < full ? '=' : (i == full ? '>' : ' ');
  bar += "]";
  char pct[8];
  std::snprintf(pct, sizeof pct, "%3d%%", static_cast<int>(frac * 100));
  std::string out = bar + " " + pct + "  " + counts;
  if (frac >= 1.0) {
    out += "  in " + duration(s.elapsed_s);
  } else if (s.bytes_read > 0 && s.elapsed_s >= kMinEtaS) {
    out += "  ETA " + duration(s.elapsed_s * (1.0 - frac) / frac);
  }
  return out;
}

void ProgressBar::update(const ProgressSample& s) {
  if (finished_ || (last_draw_s_ >= 0 && s.elapsed_s - last_draw_s_ < kMinRedrawS)) return;
  draw(s);
}

void ProgressBar::finish(const ProgressSample& s) {
  if (finished_) return;
  draw(s);
  std::fputc('\n', out_);
  std::fflush(out_);
  finished_ = true;
}

void ProgressBar::clear() {
  if (finished_ || last_width_ == 0) return;
  std::fputc('\r', out_);
  for (size_t i = 0; i < last_width_; ++i) std::fputc(' ', out_);
  std::fputc('\r', out_);
  std::fflush(out_);
  last_width_ = 0;
  last_draw_s_ = -1;
}

void ProgressBar::draw(const ProgressSample& s) {
  std::string line = progress_text(s);
  // Spaces over what a longer previous line left behind.
  const size_t width = line.size();
  if (width < last_width_) line.append(last_width_ - width, ' ');
  last_width_ = width;
  std::fputc('\r', out_);
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
  last_draw_s_ = s.elapsed_s;
}

}  // namespace mirrorpipe
