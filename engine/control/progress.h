// A progress bar for long file work (encap, decap, run with capture-file inputs), drawn on a
// terminal only: packets, their rate, the share of the input's bytes read and an ETA from it.
// Control path; the caller samples what the workers publish and the readers' byte counts.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

namespace mirrorpipe {

struct ProgressSample {
  uint64_t packets = 0;     // read so far
  uint64_t bytes_read = 0;  // of the inputs whose size is known
  uint64_t file_bytes = 0;  // their size; 0: unknown (standard input): no percent, no ETA
  double elapsed_s = 0;
};

// "[=======>        ]  45%  1,234,567 packets  1.23 Mpps  ETA 0:42" (at most 79 columns; the
// rate is the average since the start; the ETA from half a second on); at the end "... in
// 1:05"; without a size: "1,234,567 packets  1.23 Mpps".
std::string progress_text(const ProgressSample& s);

class ProgressBar {
 public:
  static constexpr double kMinRedrawS = 0.1;  // at most ten redraws a second

  explicit ProgressBar(std::FILE* out) : out_(out) {}
  // Redraws the line in place (\r) unless the last redraw was less than kMinRedrawS ago.
  void update(const ProgressSample& s);
  // The last state, then a newline: the shell prompt and later messages start on a line of
  // their own. Once; update() draws nothing after it.
  void finish(const ProgressSample& s);
  // Blanks the line (before something else is written to the terminal); the next update()
  // draws it again at once.
  void clear();

 private:
  void draw(const ProgressSample& s);

  std::FILE* out_;
  double last_draw_s_ = -1;
  size_t last_width_ = 0;
  bool finished_ = false;
};

}  // namespace mirrorpipe
