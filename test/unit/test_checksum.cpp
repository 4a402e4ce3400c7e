#include <catch2/catch.hpp>
#include <cstring>
#include <random>
#include <vector>

#include "encap/wire/checksum.h"
#include "encap/wire/endian.h"

using namespace mirrorpipe::wire;

TEST_CASE("checksum: RFC 1071 section 3 example") {
  // Bytes 00 01 f2 03 f4 f5 f6 f7 sum to 0xddf2 (RFC 1071, numerical example).
  const uint8_t data[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  Be16 folded;
  folded.set_raw(checksum_fold(checksum_partial(data, sizeof data)));
  CHECK(folded.value() == 0xddf2);
  Be16 c;
  c.set_raw(checksum_finish(checksum_partial(data, sizeof data)));
  CHECK(c.value() == 0x220d);
}

TEST_CASE("checksum: a known IPv4 header validates and its checksum recomputes") {
  // IPv4 header from the Wikipedia "IPv4 header checksum" example: checksum 0xb861.
  uint8_t h[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
                 0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
  CHECK(checksum_valid(h, sizeof h));
  h[10] = h[11] = 0;
  Be16 c;
  c.set_raw(checksum_finish(checksum_partial(h, sizeof h)));
  CHECK(c.value() == 0xb861);
}

TEST_CASE("checksum: odd length pads with a zero byte") {
  const uint8_t odd[] = {0x12, 0x34, 0x56};
  const uint8_t even[] = {0x12, 0x34, 0x56, 0x00};
  CHECK(checksum_fold(checksum_partial(odd, 3)) == checksum_fold(checksum_partial(even, 4)));
}

TEST_CASE("checksum: RFC 1624 incremental update equals a full recomputation") {
  std::mt19937 rng(1624);
  for (int iter = 0; iter < 2000; ++iter) {
    std::vector<uint8_t> buf(2 * (1 + rng() % 40));
    for (auto& b : buf) b = static_cast<uint8_t>(rng());
    const uint16_t before = checksum_finish(checksum_partial(buf.data(), buf.size()));
    const size_t word = (rng() % (buf.size() / 2)) * 2;
    uint16_t old_word, new_word;
    std::memcpy(&old_word, &buf[word], 2);
    new_word = static_cast<uint16_t>(rng());
    std::memcpy(&buf[word], &new_word, 2);
    const uint16_t full = checksum_finish(checksum_partial(buf.data(), buf.size()));
    const uint16_t incremental = checksum_update16(before, old_word, new_word);
    INFO("iteration " << iter);
    CHECK(incremental == full);
    std::memcpy(&buf[word], &old_word, 2);
  }
}

namespace {

// RFC 1071's fold as written: add the carries back until 16 bits are left.
uint16_t fold_loop(uint64_t x) {
  while (x >> 16) x = (x & 0xffff) + (x >> 16);
  return static_cast<uint16_t>(x);
}

// RFC 1071 as written: 16-bit big-endian words, the carries folded back at the end.
uint16_t reference_sum(const std::vector<uint8_t>& b, size_t from, size_t len, uint32_t start) {
  uint64_t sum = start;
  for (size_t i = 0; i < len; i += 2) {
    sum += (uint32_t{b[from + i]} << 8) | (i + 1 < len ? b[from + i + 1] : 0);
  }
  return fold_loop(sum);
}

// The forms of checksum_partial this build has: the one callers use (which picks one of the
// others by length), the portable one (a build without SSE4.1 has only it) and the SSE4.1 one.
struct PartialForm {
  const char* name;
  uint64_t (*sum)(const uint8_t*, size_t, uint64_t) noexcept;
};
const std::vector<PartialForm> kPartialForms = {
    {"checksum_partial", &checksum_partial},
    {"checksum_partial_scalar", &checksum_partial_scalar},
#if defined(__SSE4_1__)
    {"checksum_partial_sse41", &checksum_partial_sse41},  // also below the length that picks it
#endif
};

}  // namespace

TEST_CASE("checksum: every length and alignment against RFC 1071 word by word, sums kept small") {
  // Random bytes and all-ones bytes (every word a carry), every length from 0 to 300 at each of
  // 8 alignments, with a start sum of 0 or a large one; and long all-ones buffers. The partial
  // sum must fold to the reference's sum and stay below 2^34, so that callers may add to it.
  std::mt19937 rng(1071);
  std::vector<uint8_t> random(400), ones(400, 0xff);
  for (auto& b : random) b = static_cast<uint8_t>(rng());
  for (const auto& form : kPartialForms) {
    for (const auto* buf : {&random, &ones}) {
      for (size_t len = 0; len <= 300; ++len) {
        for (size_t align = 0; align < 8; ++align) {
          for (const uint32_t start16 : {0u, 0xfffeu}) {
            // The start sum as callers pass it: host-order words, here one word in its raw form.
            Be16 start;
            start.set(static_cast<uint16_t>(start16));
            const uint64_t partial = form.sum(buf->data() + align, len, uint64_t{start.raw()} * 0x100010001ull);
            INFO(form.name << ": len " << len << ", align " << align << ", start " << start16);
            CHECK(partial < (uint64_t{1} << 34));
            Be16 folded;
            folded.set_raw(checksum_fold(partial));
            // (2^32 + 2^16 + 1) * w = 3 * w modulo 0xffff: a start sum of 33 bits and more.
            const uint16_t want = reference_sum(*buf, align, len, 3 * start16);
            CHECK(folded.value() % 0xffff == want % 0xffff);
          }
        }
      }
    }
    const std::vector<uint8_t> big(65536, 0xff);
    Be16 folded;
    folded.set_raw(checksum_fold(form.sum(big.data(), big.size(), 0)));
    CHECK(folded.value() == 0xffff);
  }
}

TEST_CASE("checksum: long buffers, across the SSE4.1 form's 128 KiB passes, with start sums up to 2^63") {
  // Lengths about 64 KiB, on both sides of one 128 KiB pass and past two, all-ones (every
  // lane at its largest) and random, with the largest start sum the contract allows: the
  // partial sum still folds to the reference's and stays below 2^34.
  std::mt19937 rng(7);
  // All-ones sums to 0 modulo 0xffff: it catches a lane that overflows; the random bytes catch
  // a word skipped or summed twice.
  std::vector<uint8_t> random(300000), ones(300000, 0xff);
  for (auto& b : random) b = static_cast<uint8_t>(rng());
  for (const auto& form : kPartialForms) {
    for (const auto* buf : {&random, &ones}) {
      for (const size_t len : {65527u, 65528u, 65535u, 65536u, 65537u, 65544u, 65560u, 131071u, 131072u,
                               131080u, 299999u, 300000u}) {
        for (const uint64_t start : {uint64_t{0}, (uint64_t{1} << 63) - 1}) {
          const uint64_t partial = form.sum(buf->data(), len, start);
          INFO(form.name << ": len " << len << ", start " << start);
          CHECK(partial < (uint64_t{1} << 34));
          Be16 folded;
          folded.set_raw(checksum_fold(partial));
          // The start is in the host's reading of network-order words: folded to 16 bits as
          // RFC 1071 says, then read as a network-order word, as the reference reads them.
          Be16 start_word;
          start_word.set_raw(fold_loop(start));
          const uint16_t want = reference_sum(*buf, 0, len, start_word.value());
          CHECK(folded.value() % 0xffff == want % 0xffff);
        }
      }
    }
  }
}

TEST_CASE("checksum: checksum_fold gives the repeated 16-bit fold's value exactly") {
  // Against RFC 1071's fold as written (fold_loop). Exact equality, not equality modulo 0xffff:
  // 0 only for 0, and never 0xffff for 0 or 0 for 0xffff.
  std::mt19937_64 rng(1624);
  std::vector<uint64_t> values = {0, 1, 0xffff, 0x10000, 0x1fffe, 0xffffffff, 0x100000000, 0x1ffffffff,
                                  0xfffffffffffffffe, 0xffffffffffffffff, 0x8000000000000000, 0xffff0000ffff};
  for (int i = 0; i < 100000; ++i) {
    const uint64_t r = rng();
    values.push_back(r);
    values.push_back(r >> (r % 64));  // every width
  }
  for (int k = 0; k < 64; ++k) values.push_back((uint64_t{1} << k) - 1);
  for (const uint64_t v : values) {
    INFO("sum " << v);
    CHECK(checksum_fold(v) == fold_loop(v));
  }
}
