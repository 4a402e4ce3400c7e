// The dedup table's own rules (engine/pipeline/dedup.h); what counts as the same packet is
// checked against a scapy model in test/oracle/test_dedup.py.
#include <catch2/catch.hpp>

#include "engine/pipeline/dedup.h"

using namespace mirrorpipe;

TEST_CASE("dedup table: a signature is a duplicate within the window of its first sighting only") {
  DedupTable t(4);
  CHECK_FALSE(t.seen(0x1234, 1000, 100));
  CHECK(t.seen(0x1234, 1100, 100));        // at the window's edge
  CHECK_FALSE(t.seen(0x1234, 1101, 100));  // the duplicate at 1100 did not renew it: new again
  CHECK(t.seen(0x1234, 1150, 100));        // ... recorded at 1101
  CHECK_FALSE(t.seen(0x1234, 900, 100));   // earlier than what is recorded: not a copy of it
}

TEST_CASE("dedup table: a full bucket forgets its oldest signature first") {
  DedupTable t(4);  // 16 buckets: signatures that agree in the low 4 bits share one
  for (uint64_t i = 1; i <= 4; ++i) CHECK_FALSE(t.seen(i << 4, i, 1000));
  CHECK_FALSE(t.seen(5 << 4, 5, 1000));    // evicts the oldest (1 << 4, seen at 1)
  CHECK(t.seen(2 << 4, 6, 1000));
  CHECK(t.seen(5 << 4, 7, 1000));
  CHECK_FALSE(t.seen(1 << 4, 8, 1000));    // forgotten: passes as new
}

TEST_CASE("dedup signature: L2 and the fields a hop changes are left out; non-IP has none") {
  // Ethernet + IPv4 (TTL 64, checksum) + 4 bytes; the same behind other MACs, TTL 62, another
  // checksum and DSCP; and one with another IP ID.
  uint8_t a[38] = {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0x08, 0x00, 0x45, 0x00, 0x00, 0x18, 0x00, 0x07, 0x00, 0x00,
                   64, 17, 0x12, 0x34, 10, 0, 0, 1, 10, 0, 0, 2, 1, 2, 3, 4};
  uint8_t b[38];
  std::memcpy(b, a, sizeof b);
  b[5] = 9;
  b[15] = 0xb8;
  b[22] = 62;
  b[24] = 0x56;
  uint8_t c[38];
  std::memcpy(c, a, sizeof c);
  c[19] = 8;
  CHECK(dedup_signature(a, sizeof a) != 0);
  CHECK(dedup_signature(a, sizeof a) == dedup_signature(b, sizeof b));
  CHECK(dedup_signature(a, sizeof a) != dedup_signature(c, sizeof c));
  uint8_t arp[42] = {0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 2, 0x08, 0x06};
  CHECK(dedup_signature(arp, sizeof arp) == 0);
  CHECK(dedup_signature(a, 20) == 0);  // the IP header cut short
}
