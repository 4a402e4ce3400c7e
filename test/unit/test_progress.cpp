// The progress bar of file work (engine/control/progress.h): its text, and how often and how
// it draws (in place with \r, at most ten times a second, a newline at the end).
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <string>

#include "engine/control/progress.h"

using namespace mirrorpipe;

TEST_CASE("progress: the bar's text") {
  CHECK(progress_text({1234567, 45, 100, 1.0}) ==
        "[=======>        ]  45%  1,234,567 packets  1.23 Mpps  ETA 0:01");
  CHECK(progress_text({0, 0, 100, 0}) == "[>               ]   0%  0 packets  0 pps");
  CHECK(progress_text({540000, 300, 300, 125.4}) ==
        "[================] 100%  540,000 packets  4.3 kpps  in 2:05");
  CHECK(progress_text({999, 1, 4, 3600}) == "[====>           ]  25%  999 packets  0 pps  ETA 3:00:00");
  CHECK(progress_text({100, 10, 100, 0.4}) == "[=>              ]  10%  100 packets  250 pps");  // too soon for an ETA
  // Standard input: no size, so no percent and no ETA.
  CHECK(progress_text({1500, 0, 0, 0.5}) == "1,500 packets  3.0 kpps");
  // A day at 100 Mpps still fits 79 columns.
  CHECK(progress_text({8640000000000, 1, 3, 86400}).size() <= 79);
}

TEST_CASE("progress: at most ten redraws a second, in place, ended by a newline") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f);
  {
    ProgressBar bar(f);
    bar.update({10, 10, 100, 0.0});
    bar.update({20, 20, 100, 0.05});  // too soon: not drawn
    bar.update({30, 30, 100, 0.11});
    bar.clear();
    bar.update({40, 40, 100, 0.12});  // drawn at once after a clear
    bar.finish({100, 100, 100, 0.2});
    bar.update({100, 100, 100, 5});   // nothing after finish
  }
  std::rewind(f);
  std::string out;
  for (int ch; (ch = std::fgetc(f)) != EOF;) out += static_cast<char>(ch);
  std::fclose(f);
  INFO(out);
  size_t draws = 0;
  for (char ch : out) draws += ch == '\r';
  CHECK(draws == 6);  // four draws, and a clear's two
  CHECK(out.find(" 20 packets") == std::string::npos);
  CHECK(out.find(" 10%  10 packets") != std::string::npos);
  CHECK(out.find(" 30%  30 packets") != std::string::npos);
  CHECK(out.find(" 40%  40 packets") != std::string::npos);
  CHECK(out.find("100%  100 packets") != std::string::npos);
  CHECK(out.back() == '\n');
  CHECK(std::count(out.begin(), out.end(), '\n') == 1);
}
