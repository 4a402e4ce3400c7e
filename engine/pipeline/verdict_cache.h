// A per-worker cache of one session's filter verdicts, keyed by what the verdict depends on.
//
// A session's verdict (engine/pipeline/mirror_session.h, evaluate_session) is a pure function of
// the frame's FilterFields and the session's policy, and the policy changes only with a new
// route snapshot. Traffic comes in flows, so the same fields recur: a direct-mapped table keyed
// by the fields and tagged with the snapshot answers a recurring IPv4 flow in one lookup, where
// evaluating AWS's ten rules per direction costs ten rule tests. A filter's tcpdump expression
// whose answer follows from the key is cached with the rules (engine/control/bpf_analysis.h).
// Only the common frame is cached (untagged IPv4, TCP or UDP, see verdict_key); every other is
// evaluated each time. Counters stay exact: the cached verdict names the rule that decided, and
// the caller counts it as if it had been evaluated.
//
// Invariants (hot path): no allocation after construction, no exceptions. One worker owns a
// cache; nothing is shared.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>

#include "encap/flow.h"
#include "engine/pipeline/mirror_session.h"

namespace mirrorpipe {

// The fields of a frame, read on first use: a cached verdict needs none of them.
class LazyFilterFields {
 public:
  LazyFilterFields(const uint8_t* frame, uint32_t len) noexcept : frame_(frame), len_(len) {}
  const FilterFields& get() noexcept {
    if (!read_) {
      storage_.fields = read_filter_fields(frame_, len_);  // trivial assignment: begins its lifetime
      read_ = true;
    }
    return storage_.fields;
  }

 private:
  static_assert(std::is_trivially_copy_assignable_v<FilterFields> && std::is_trivially_destructible_v<FilterFields>);
  const uint8_t* frame_;
  uint32_t len_;
  bool read_ = false;
  union Storage {
    Storage() noexcept {}  // left unwritten until get(): most frames are answered by a key
    FilterFields fields;
  } storage_;
};

// The cache's key: the frame's addresses, ports and protocol as they are on the wire, for the
// frames read_filter_fields() reads inline (untagged IPv4 with a 20-byte header, TCP or UDP,
// not a fragment), whose FilterFields are exactly these values. Every other frame has no key
// (k1 == 0) and is evaluated each time.
struct VerdictKey {
  uint64_t k0 = 0;  // source and destination addresses
  uint64_t k1 = 0;  // ports, protocol, and a set bit
};

inline VerdictKey verdict_key(const uint8_t* p, uint32_t len) noexcept {
  VerdictKey k;
  if (inline_filter_fields(p, len)) {
    std::memcpy(&k.k0, p + 26, 8);
    uint32_t ports;
    std::memcpy(&ports, p + 34, 4);
    k.k1 = (uint64_t{ports} << 32) | (uint64_t{p[23]} << 8) | 1u;
  }
  return k;
}

// parse_frame() (encap/flow.h) and verdict_key() of one frame, in one pass over its headers:
// what a mirror session's burst reads of each packet before it decides and sends. The key is
// verdict_key()'s, but for a frame whose IPv4 total length is 1-19 (malformed), which has none
// and is evaluated each time.
[[gnu::always_inline]] inline FrameMeta parse_frame_keyed(const uint8_t* p, uint32_t len, VerdictKey& key) noexcept {
  if (is_plain_ipv4_ports(p, len)) {
    const uint8_t proto = p[23];
    if (proto != 132) {
      std::memcpy(&key.k0, p + 26, 8);
      uint32_t ports;
      std::memcpy(&ports, p + 34, 4);
      key.k1 = (uint64_t{ports} << 32) | (uint64_t{proto} << 8) | 1u;
    }
    return parse_ipv4_ports(p);
  }
  return parse_frame_general(wire::Bytes(p, len));
}

class SessionVerdictCache {
 public:
  // A filter without a tcpdump expression.
  struct NoExpression {
    static constexpr bool present() noexcept { return false; }
    static constexpr bool keyed() noexcept { return true; }
    static constexpr bool accepts() noexcept { return true; }
  };

  static constexpr uint32_t kEntries = 1024;  // 24 KiB; the OS gives the pages on first use

  SessionVerdictCache() {
    // calloc: a session that never sees a packet on this worker costs no memory.
    entries_.reset(static_cast<Entry*>(std::calloc(kEntries, sizeof(Entry))));
    if (!entries_) throw std::bad_alloc();
  }

  // The verdict for the frame under `policy`: from the table when this snapshot (`tag`) already
  // decided the frame's key, else evaluated on its fields and remembered. A frame without a key
  // is evaluated.
  SessionVerdict evaluate(const MirrorSessionPolicy& policy, const VerdictKey& key, uint32_t tag,
                          LazyFilterFields& fields) noexcept {
    return evaluate(policy, key, tag, fields, NoExpression{});
  }

  // The same, with the filter's tcpdump expression, which must also accept what the rules accept
  // (else FilterReason::bpf_rejected, naming the rule that had accepted). `Expression` answers
  // present() (the filter has one), keyed() (its answer on a keyed frame follows from the key:
  // cached with the rules'; else it runs on every frame the rules accept) and accepts().
  // A hit is answered here, inline (most packets); anything else out of line.
  template <class Expression>
  [[gnu::always_inline]] SessionVerdict evaluate(const MirrorSessionPolicy& policy, const VerdictKey& key,
                                                 uint32_t tag, LazyFilterFields& fields,
                                                 const Expression& expression) noexcept {
    if (key.k1) {
      const Entry& e = entries_.get()[slot(key)];
      // One test for the three words (a zeroed entry never matches: a key's k1 has a set bit).
      const uint64_t differ = (e.k0 ^ key.k0) | (e.k1 ^ key.k1) | (e.tag ^ tag);
      if (differ == 0 && expression.keyed()) return SessionVerdict{static_cast<FilterReason>(e.filtered), e.rule};
    }
    return evaluate_uncached(policy, key, tag, fields, expression);
  }

  // The table as one snapshot (`tag`) sees it, for many lookups in a row: hit() answers from
  // it alone, with nothing to load again between packets.
  struct Probe {
    const void* entries;
    uint32_t tag;
  };
  Probe probe(uint32_t tag) const noexcept { return {entries_.get(), tag}; }

  // The verdict the table holds for `key` (a frame's, or none: k1 == 0) under `p`'s snapshot,
  // if it holds one. For a filter whose expression, if any, is keyed; evaluate() otherwise,
  // and for every frame this does not answer.
  [[gnu::always_inline]] static bool hit(const Probe& p, const VerdictKey& key, SessionVerdict& v) noexcept {
    if (!key.k1) return false;
    const Entry& e = static_cast<const Entry*>(p.entries)[slot(key)];
    if (((e.k0 ^ key.k0) | (e.k1 ^ key.k1) | (e.tag ^ p.tag)) != 0) return false;
    v = SessionVerdict{static_cast<FilterReason>(e.filtered), e.rule};
    return true;
  }

  // How many times the rules were evaluated (every lookup the table did not answer).
  uint64_t evaluations() const noexcept { return evaluations_; }

 private:
  struct Entry {
    uint64_t k0;
    uint64_t k1;        // its set bit: a zeroed entry matches nothing
    uint32_t tag;       // the route snapshot that decided
    int16_t rule;
    uint8_t filtered;   // FilterReason
    uint8_t pad;
  };
  static_assert(sizeof(Entry) == 24);
  static_assert(sizeof(FilterReason) == 1, "the entry keeps a FilterReason in one byte");

  // k1 is multiplied before the words meet: a plain k0 ^ k1 cancels when an address's bytes
  // equal the port beside them (as in the benchmark's generated flows), and puts them all in one slot.
  static uint32_t slot(const VerdictKey& k) noexcept {
    const uint64_t h = (k.k0 ^ (k.k1 * 0x9e3779b97f4a7c15ull)) * 0xff51afd7ed558ccdull;
    return static_cast<uint32_t>(h >> 54);  // the top 10 bits: kEntries = 1024
  }

  template <class Expression>
  [[gnu::noinline]] SessionVerdict evaluate_uncached(const MirrorSessionPolicy& policy, const VerdictKey& key,
                                                     uint32_t tag, LazyFilterFields& fields,
                                                     const Expression& expression) noexcept {
    auto with_expression = [&](SessionVerdict v) {
      if (v.filtered == FilterReason::kNone && expression.present() && !expression.accepts())
        v.filtered = FilterReason::bpf_rejected;
      return v;
    };
    if (!key.k1) {
      ++evaluations_;
      return with_expression(evaluate_session(policy, fields.get()));
    }
    Entry& e = entries_.get()[slot(key)];
    if (e.k0 == key.k0 && e.k1 == key.k1 && e.tag == tag) {  // the rules' verdict; the expression runs
      return with_expression(SessionVerdict{static_cast<FilterReason>(e.filtered), e.rule});
    }
    ++evaluations_;
    SessionVerdict v = evaluate_session(policy, fields.get());
    if (expression.keyed()) v = with_expression(v);
    e.k0 = key.k0;
    e.k1 = key.k1;
    e.tag = tag;
    e.filtered = static_cast<uint8_t>(v.filtered);
    e.rule = v.rule;
    return expression.keyed() ? v : with_expression(v);
  }
  static_assert(kEntries == 1u << 10);

  struct Free {
    void operator()(Entry* p) const noexcept { std::free(p); }
  };
  std::unique_ptr<Entry, Free> entries_;
  uint64_t evaluations_ = 0;
};

}  // namespace mirrorpipe
