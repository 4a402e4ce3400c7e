#!/usr/bin/env python3
"""Maglev lookup tables, written again from their specification (engine/control/maglev.h).

An independent implementation (standard library only): the oracle for test/unit/test_maglev.cpp,
so that the expected tables never come from mirrorpipe itself. It follows the paper's
Pseudocode 1 literally (Eisenbud et al., NSDI 2016, section 3.4), permutation lists included,
where the C++ walks each list by addition.

Specification:
  f        64-bit FNV-1a of the name's UTF-8 bytes: f = 0xcbf29ce484222325;
           per byte: f ^= b; f = f * 0x100000001b3 mod 2^64.
  h1, h2   SplitMix64 outputs 1 and 2 seeded with f: z = f + k * 0x9e3779b97f4a7c15 mod 2^64;
           z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9; z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
           h_k = z ^ (z >> 31) (all mod 2^64).
  offset   h1 mod M;  skip = h2 mod (M - 1) + 1;  permutation[j] = (offset + j * skip) mod M.
  populate rounds over the included members in list order, each taking its next preferred
           empty slot, until the M slots are full. An entry is the member's index in the list.
  checksum 64-bit FNV-1a over the entries as little-endian 16-bit words (the test data file
           carries it, with the first entries, instead of a whole 65537-entry table).

The test data file also lists a few TCP flows (Ethernet/IPv4 frames built as test_maglev.cpp
builds them) with their flow hash from flowhash.py, the independent flow hash, and the member a
pool's table gives them.

Usage:
  maglev.py [--size M] [--exclude NAME]... NAME...   print the table, one line of entries
  maglev.py --cases                                  print test/golden/maglev-cases.tsv
"""
import argparse
import ipaddress
import struct
import sys

import flowhash

M64 = (1 << 64) - 1
CASES_COMMAND = "/usr/bin/python3 test/golden/maglev.py --cases > test/golden/maglev-cases.tsv"
PREFIX_LEN = 64


def fnv1a64(data: bytes) -> int:
    f = 0xCBF29CE484222325
    for b in data:
        f ^= b
        f = (f * 0x100000001B3) & M64
    return f


def splitmix64(seed: int, k: int) -> int:
    z = (seed + k * 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def is_prime(n: int) -> bool:
    if n < 2:
        return False
    d = 2
    while d * d <= n:
        if n % d == 0:
            return False
        d += 1
    return True


def permutation(name: str, m: int) -> list:
    f = fnv1a64(name.encode("utf-8"))
    offset = splitmix64(f, 1) % m
    skip = splitmix64(f, 2) % (m - 1) + 1
    return [(offset + j * skip) % m for j in range(m)]


def table(names, included, m):
    """Pseudocode 1: entry[] filled round-robin by the included members."""
    if not is_prime(m):
        raise ValueError(f"table size {m} is not prime")
    members = [i for i, inc in enumerate(included) if inc]
    if not members:
        raise ValueError("no member is included")
    perm = {i: permutation(names[i], m) for i in members}
    nxt = {i: 0 for i in members}
    entry = [-1] * m
    n = 0
    while True:
        for i in members:
            c = perm[i][nxt[i]]
            while entry[c] >= 0:
                nxt[i] += 1
                c = perm[i][nxt[i]]
            entry[c] = i
            nxt[i] += 1
            n += 1
            if n == m:
                return entry


def checksum(entries) -> int:
    return fnv1a64(b"".join(e.to_bytes(2, "little") for e in entries))


# (table size, member names, included flags): small primes with whole tables, and the default
# size with the first entries and the checksum.
CASES = [
    (13, ["a"], [1]),
    (13, ["analyzer-1", "analyzer-2", "analyzer-3"], [1, 1, 1]),
    (13, ["analyzer-1", "analyzer-2", "analyzer-3"], [1, 0, 1]),
    (251, ["ids-a", "ids-b", "ids-c", "ids-d", "ids-e"], [1, 1, 1, 1, 1]),
    (251, ["ids-a", "ids-b", "ids-c", "ids-d", "ids-e"], [0, 1, 1, 1, 1]),
    (251, ["ids-a", "ids-b", "ids-c", "ids-d", "ids-e"], [1, 1, 0, 1, 1]),
    (251, ["ids-a", "ids-b", "ids-c", "ids-d", "ids-e"], [1, 1, 1, 1, 0]),
    (251, ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6", "10.0.0.7"],
     [1, 1, 1, 1, 1, 1, 1]),
    (65537, ["analyzer-1", "analyzer-2", "analyzer-3"], [1, 1, 1]),
    (65537, ["analyzer-1", "analyzer-2", "analyzer-3"], [1, 0, 1]),
    (65537, [f"suricata-{i:02d}" for i in range(16)], [1] * 16),
]


# (table size, member names, flows as (src, dst, protocol, source port, destination port)).
FLOW_POOLS = [
    (65537, ["analyzer-1", "analyzer-2", "analyzer-3"]),
    (65537, [f"suricata-{i:02d}" for i in range(16)]),
]
FLOWS = [
    ("10.0.0.1", "10.0.0.2", 6, 40000, 80),
    ("10.0.0.2", "10.0.0.1", 6, 443, 51234),
    ("192.168.1.10", "172.16.5.4", 6, 1024, 22),
    ("172.31.255.254", "10.200.0.7", 6, 65535, 3306),
    ("10.1.2.3", "10.1.2.3", 6, 1000, 2000),
    ("198.51.100.7", "203.0.113.9", 6, 33333, 8443),
]


def tcp_frame(src, dst, proto, sport, dport) -> bytes:
    """As build_v4 in test_maglev.cpp: Ethernet, a 20-byte IPv4 header, 8 bytes of L4."""
    eth = bytes([2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1]) + struct.pack("!H", 0x0800)
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28, 0, 0, 64, proto, 0,
                     ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    return eth + ip + struct.pack("!HH", sport, dport) + bytes(4)


def print_cases(out):
    out.write(f"# Generated by: {CASES_COMMAND}\n")
    out.write("# Maglev tables from the independent oracle test/golden/maglev.py; read by\n")
    out.write("# test/unit/test_maglev.cpp. Rows (tab-separated): table, table size, member names (comma-\n")
    out.write(f"# separated), included flags, the first min(size, {PREFIX_LEN}) entries, the checksum of the\n")
    out.write("# whole table (64-bit FNV-1a of its entries as little-endian uint16), entries per member;\n")
    out.write("# or: flow, table size, member names, source, destination, protocol, source port,\n")
    out.write("# destination port, flow hash (flowhash.py), the member the table gives it.\n")
    for m, names, inc in CASES:
        entries = table(names, inc, m)
        counts = [entries.count(i) for i in range(len(names))]
        out.write("\t".join([
            "table", str(m), ",".join(names), ",".join(map(str, inc)),
            ",".join(map(str, entries[:PREFIX_LEN])), f"{checksum(entries):016x}",
            ",".join(map(str, counts))]) + "\n")
    for m, names in FLOW_POOLS:
        entries = table(names, [1] * len(names), m)
        for src, dst, proto, sport, dport in FLOWS:
            h = flowhash.flow_hash(tcp_frame(src, dst, proto, sport, dport))
            assert h == flowhash.flow_hash(tcp_frame(dst, src, proto, dport, sport))
            out.write("\t".join(map(str, [
                "flow", m, ",".join(names), src, dst, proto, sport, dport, h, entries[h % m]])) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", action="store_true", help="print the test data file")
    ap.add_argument("--size", type=int, default=65537, help="table size M (prime)")
    ap.add_argument("--exclude", action="append", default=[], help="a member not included")
    ap.add_argument("names", nargs="*")
    a = ap.parse_args()
    if a.cases:
        print_cases(sys.stdout)
        return 0
    if not a.names:
        ap.error("member names or --cases")
    entries = table(a.names, [n not in a.exclude for n in a.names], a.size)
    print(" ".join(map(str, entries)))
    print(f"# checksum {checksum(entries):016x}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
