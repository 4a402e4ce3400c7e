#include "engine/control/bpf_analysis.h"

#include <array>
#include <cstdint>
#include <vector>

namespace mirrorpipe {
namespace {

// What is known of a 32-bit value, bit by bit: constant (in `cmask`, with its value in `cval`),
// tainted (in `tmask`: it depends on bytes other than the key's), or else a function of the key.
struct Val {
  uint32_t cmask = ~0u;
  uint32_t cval = 0;
  uint32_t tmask = 0;
  bool constant() const { return cmask == ~0u; }
};

constexpr Val constant(uint32_t v) { return {~0u, v, 0}; }
constexpr Val kTainted{0, 0, ~0u};

// The bytes of a keyed frame (inline_filter_fields): 12-13 EtherType 0x0800; 14 version 4 and
// IHL 5; 20-21 flags and fragment offset, with MF and the offset zero (DF and the reserved bit
// are free); 23 the protocol, 26-33 the addresses and 34-37 the ports (the key). A keyed frame
// has at least kKeyedBytes bytes, so no load below that can fail.
constexpr uint32_t kKeyedBytes = 38;

struct Byte {
  uint8_t cmask, cval, tmask;
};

Byte keyed_byte(uint32_t off) {
  switch (off) {
    case 12: return {0xff, 0x08, 0};
    case 13: return {0xff, 0x00, 0};
    case 14: return {0xff, 0x45, 0};
    case 20: return {0x3f, 0x00, 0xc0};
    case 21: return {0xff, 0x00, 0};
    case 23: return {0, 0, 0};
    default: break;
  }
  if (off >= 26 && off < kKeyedBytes) return {0, 0, 0};
  return {0, 0, 0xff};
}

// A load of `size` bytes at `off`, big-endian as BPF loads; false when it may leave the frame.
bool load(uint64_t off, uint32_t size, Val& out) {
  if (off + size > kKeyedBytes) return false;
  Val v{0, 0, 0};
  for (uint32_t i = 0; i < size; ++i) {
    const Byte b = keyed_byte(static_cast<uint32_t>(off) + i);
    v.cmask = (v.cmask << 8) | b.cmask;
    v.cval = (v.cval << 8) | b.cval;
    v.tmask = (v.tmask << 8) | b.tmask;
  }
  if (size < 4) v.cmask |= ~0u << (8 * size);  // the high bytes are zero
  out = v;
  return true;
}

Val op_and(Val a, Val b) {
  const uint32_t zero = (a.cmask & ~a.cval) | (b.cmask & ~b.cval);
  const uint32_t one = a.cmask & a.cval & b.cmask & b.cval;
  Val r{zero | one, one, 0};
  r.tmask = (a.tmask | b.tmask) & ~r.cmask;
  return r;
}

Val op_or(Val a, Val b) {
  const uint32_t one = (a.cmask & a.cval) | (b.cmask & b.cval);
  const uint32_t zero = a.cmask & ~a.cval & b.cmask & ~b.cval;
  Val r{zero | one, one, 0};
  r.tmask = (a.tmask | b.tmask) & ~r.cmask;
  return r;
}

Val op_xor(Val a, Val b) {
  const uint32_t c = a.cmask & b.cmask;
  return {c, (a.cval ^ b.cval) & c, a.tmask | b.tmask};
}

// Addition, subtraction, multiplication and negation carry upward only: a tainted bit taints
// itself and every bit above it.
Val op_upward(Val a, Val b) {
  const uint32_t t = a.tmask | b.tmask;
  return {0, 0, t ? ~((t & (0u - t)) - 1) : 0u};
}

enum class Branch { kTrue, kFalse, kBoth, kTainted };

Branch compare(uint16_t op, Val a, Val b) {
  if (a.constant() && b.constant()) {
    bool r = false;
    switch (op) {
      case BPF_JEQ: r = a.cval == b.cval; break;
      case BPF_JGT: r = a.cval > b.cval; break;
      case BPF_JGE: r = a.cval >= b.cval; break;
      case BPF_JSET: r = (a.cval & b.cval) != 0; break;
      default: return Branch::kTainted;
    }
    return r ? Branch::kTrue : Branch::kFalse;
  }
  switch (op) {
    case BPF_JEQ:
      if (a.cmask & b.cmask & (a.cval ^ b.cval)) return Branch::kFalse;  // a known bit differs
      return (a.tmask | b.tmask) ? Branch::kTainted : Branch::kBoth;
    case BPF_JSET: {
      const Val r = op_and(a, b);
      if (r.cmask & r.cval) return Branch::kTrue;
      if (r.constant()) return Branch::kFalse;
      return r.tmask ? Branch::kTainted : Branch::kBoth;
    }
    case BPF_JGT:
    case BPF_JGE:
      return (a.tmask | b.tmask) ? Branch::kTainted : Branch::kBoth;
    default:
      return Branch::kTainted;
  }
}

struct State {
  size_t pc = 0;
  Val a = constant(0);  // libpcap's machine starts with A = X = 0
  Val x = constant(0);
  std::array<Val, BPF_MEMWORDS> mem;  // scratch memory starts undefined: tainted
  State() { mem.fill(kTainted); }
};

// One step of `s` at its pc. Returns false when the program's answer may depend on more than the
// key; pushes the states to follow next onto `next` (none after a return).
bool step(const bpf_insn* prog, size_t count, State s, std::vector<State>& next) {
  const bpf_insn& in = prog[s.pc];
  const uint16_t cls = BPF_CLASS(in.code);
  const uint32_t k = in.k;
  auto go = [&](size_t offset) {
    if (s.pc + 1 + offset >= count) return false;
    State n = s;
    n.pc = s.pc + 1 + offset;
    next.push_back(n);
    return true;
  };
  auto size_of = [](uint16_t code) -> uint32_t {
    switch (BPF_SIZE(code)) {
      case BPF_W: return 4;
      case BPF_H: return 2;
      case BPF_B: return 1;
      default: return 0;
    }
  };
  switch (cls) {
    case BPF_LD:
    case BPF_LDX: {
      Val& dst = cls == BPF_LD ? s.a : s.x;
      switch (BPF_MODE(in.code)) {
        case BPF_IMM: dst = constant(k); break;
        case BPF_LEN: dst = kTainted; break;  // the frame's length varies within a key
        case BPF_MEM:
          if (k >= BPF_MEMWORDS) return false;
          dst = s.mem[k];
          break;
        case BPF_ABS:
        case BPF_IND: {
          if (cls != BPF_LD) return false;
          const uint32_t size = size_of(in.code);
          if (!size) return false;
          uint64_t off = k;
          if (BPF_MODE(in.code) == BPF_IND) {
            if (!s.x.constant()) return false;  // where it reads would depend on the frame
            off += s.x.cval;
          }
          if (!load(off, size, dst)) return false;
          break;
        }
        case BPF_MSH: {  // X = 4 * (P[k] & 0xf), the IPv4 header's length
          if (cls != BPF_LDX || BPF_SIZE(in.code) != BPF_B) return false;
          Val b;
          if (!load(k, 1, b)) return false;
          dst = {~0x3cu | ((b.cmask & 0xf) << 2), (b.cval & 0xf) << 2, (b.tmask & 0xf) << 2};
          break;
        }
        default: return false;
      }
      return go(0);
    }
    case BPF_ST:
    case BPF_STX:
      if (k >= BPF_MEMWORDS) return false;
      s.mem[k] = cls == BPF_ST ? s.a : s.x;
      return go(0);
    case BPF_ALU: {
      const Val b = BPF_SRC(in.code) == BPF_X ? s.x : constant(k);
      const Val a = s.a;
      const uint16_t op = BPF_OP(in.code);
      if (op == BPF_NEG) {
        s.a = a.constant() ? constant(0u - a.cval) : op_upward(a, constant(0));
        return go(0);
      }
      if (a.constant() && b.constant()) {
        uint32_t r = 0;
        switch (op) {
          case BPF_ADD: r = a.cval + b.cval; break;
          case BPF_SUB: r = a.cval - b.cval; break;
          case BPF_MUL: r = a.cval * b.cval; break;
          case BPF_DIV:
          case BPF_MOD:
            if (b.cval == 0) return true;  // the machine returns 0 here: the same for every frame
            r = op == BPF_DIV ? a.cval / b.cval : a.cval % b.cval;
            break;
          case BPF_AND: r = a.cval & b.cval; break;
          case BPF_OR: r = a.cval | b.cval; break;
          case BPF_XOR: r = a.cval ^ b.cval; break;
          case BPF_LSH:
          case BPF_RSH:
            if (b.cval >= 32) return false;
            r = op == BPF_LSH ? a.cval << b.cval : a.cval >> b.cval;
            break;
          default: return false;
        }
        s.a = constant(r);
        return go(0);
      }
      switch (op) {
        case BPF_AND: s.a = op_and(a, b); break;
        case BPF_OR: s.a = op_or(a, b); break;
        case BPF_XOR: s.a = op_xor(a, b); break;
        case BPF_ADD:
        case BPF_SUB:
        case BPF_MUL: s.a = op_upward(a, b); break;
        case BPF_DIV:
        case BPF_MOD:
          // A divisor that may be zero ends the program: only a divisor the key decides keeps
          // that decision the key's.
          if (b.tmask) return false;
          s.a = (a.tmask || b.tmask) ? kTainted : Val{0, 0, 0};
          break;
        case BPF_LSH:
        case BPF_RSH:
          if (b.constant()) {
            if (b.cval >= 32) return false;
            const uint32_t n = b.cval;
            if (op == BPF_LSH) {
              s.a = {(a.cmask << n) | ((1u << n) - 1), a.cval << n, a.tmask << n};
            } else {
              s.a = {(a.cmask >> n) | ~(~0u >> n), a.cval >> n, a.tmask >> n};
            }
          } else {
            s.a = (a.tmask || b.tmask) ? kTainted : Val{0, 0, 0};
          }
          break;
        default: return false;
      }
      return go(0);
    }
    case BPF_JMP: {
      const uint16_t op = BPF_OP(in.code);
      if (op == BPF_JA) return go(k);
      const Val b = BPF_SRC(in.code) == BPF_X ? s.x : constant(k);
      switch (compare(op, s.a, b)) {
        case Branch::kTrue: return go(in.jt);
        case Branch::kFalse: return go(in.jf);
        case Branch::kBoth: return go(in.jt) && go(in.jf);
        case Branch::kTainted: return false;
      }
      return false;
    }
    case BPF_RET:
      switch (BPF_RVAL(in.code)) {
        case BPF_K: return true;
        case BPF_A: return s.a.tmask == 0;
        case BPF_X: return s.x.tmask == 0;
        default: return false;
      }
    case BPF_MISC:
      if (BPF_MISCOP(in.code) == BPF_TAX) {
        s.x = s.a;
      } else if (BPF_MISCOP(in.code) == BPF_TXA) {
        s.a = s.x;
      } else {
        return false;
      }
      return go(0);
    default:
      return false;
  }
}

}  // namespace

bool bpf_decided_by_key(const bpf_insn* program, size_t count) noexcept {
  if (!program || count == 0) return false;
  try {
    // Every path through the program, depth first. Jumps go forward only, so each path ends; a
    // program with more paths than the budget is not analysed (it simply runs every time).
    constexpr size_t kBudget = 1u << 16;
    std::vector<State> todo(1);
    size_t steps = 0;
    while (!todo.empty()) {
      if (++steps > kBudget) return false;
      const State s = todo.back();
      todo.pop_back();
      if (!step(program, count, s, todo)) return false;
    }
    return true;
  } catch (...) {  // std::bad_alloc from the path stack: no proof, no cache
    return false;
  }
}

}  // namespace mirrorpipe
