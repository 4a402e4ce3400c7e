// The port's own traffic: ARP and ICMP echo answered in place, the rest to the exception TAP,
// tunnel packets left to the data path. Requests are built here byte by byte; the replies are
// checked field by field, and their checksums by a full recomputation.
#include <catch2/catch.hpp>

#include "encap/wire/checksum.h"
#include "engine/pipeline/host.h"
#include "pcap_file.h"

using namespace mirrorpipe;

namespace {

const wire::MacAddress kPortMac{0x02, 0xaa, 0, 0, 0, 1};
const wire::MacAddress kPeerMac{0x02, 0xbb, 0, 0, 0, 2};

HostConfig host(bool tap) {
  HostConfig h;
  h.enabled = true;
  h.has_tap = tap;
  h.ip = {10, 199, 0, 1};
  h.mac = kPortMac;
  h.tunnel_ports = {4789};
  h.tunnel_port_count = 1;
  return h;
}

std::vector<uint8_t> arp_request(wire::Ipv4Address target) {
  std::vector<uint8_t> f(60, 0);
  std::fill(f.begin(), f.begin() + 6, 0xff);
  std::copy(kPeerMac.begin(), kPeerMac.end(), f.begin() + 6);
  f[12] = 0x08; f[13] = 0x06;
  const uint8_t arp[] = {0, 1, 8, 0, 6, 4, 0, 1};
  std::copy(arp, arp + 8, f.begin() + 14);
  std::copy(kPeerMac.begin(), kPeerMac.end(), f.begin() + 22);
  f[28] = 10; f[29] = 199; f[30] = 0; f[31] = 2;
  std::copy(target.begin(), target.end(), f.begin() + 38);
  return f;
}

// IPv4 to 10.199.0.1 from 10.199.0.2: ICMP echo request (with a payload), or UDP/TCP to a port.
std::vector<uint8_t> ipv4_to_port(uint8_t proto, uint16_t dport) {
  std::vector<uint8_t> f(14 + 20 + 8 + 16, 0);
  std::copy(kPortMac.begin(), kPortMac.end(), f.begin());
  std::copy(kPeerMac.begin(), kPeerMac.end(), f.begin() + 6);
  f[12] = 0x08;
  f[14] = 0x45;
  f[17] = 20 + 8 + 16;
  f[22] = 63;
  f[23] = proto;
  f[26] = 10; f[27] = 199; f[28] = 0; f[29] = 2;
  f[30] = 10; f[31] = 199; f[32] = 0; f[33] = 1;
  wire::Be16 c;
  c.set_raw(wire::checksum_finish(wire::checksum_partial(f.data() + 14, 20)));
  std::memcpy(f.data() + 24, c.bytes, 2);
  if (proto == 1) {
    f[34] = 8;       // echo request
    f[38] = 0x12; f[39] = 0x34; f[40] = 0; f[41] = 7;
    for (int i = 0; i < 16; ++i) f[42 + i] = static_cast<uint8_t>(i * 3);
    c.set_raw(wire::checksum_finish(wire::checksum_partial(f.data() + 34, 24)));
    std::memcpy(f.data() + 36, c.bytes, 2);
  } else {
    f[36] = static_cast<uint8_t>(dport >> 8);
    f[37] = static_cast<uint8_t>(dport);
  }
  return f;
}

test::Buffer buffer(const std::vector<uint8_t>& f) {
  return test::Buffer(test::Record{f, static_cast<uint32_t>(f.size())}, 64);
}

}  // namespace

TEST_CASE("host: an ARP request for the port's address becomes the reply") {
  auto b = buffer(arp_request({10, 199, 0, 1}));
  REQUIRE(host_classify(host(false), b.ref) == HostVerdict::kReply);
  const auto r = b.bytes();
  CHECK(std::equal(kPeerMac.begin(), kPeerMac.end(), r.begin()));        // to the asker
  CHECK(std::equal(kPortMac.begin(), kPortMac.end(), r.begin() + 6));    // from the port
  CHECK(r[20] == 0); CHECK(r[21] == 2);                                  // oper: reply
  CHECK(std::equal(kPortMac.begin(), kPortMac.end(), r.begin() + 22));   // sender: the port
  CHECK((r[28] == 10 && r[29] == 199 && r[30] == 0 && r[31] == 1));
  CHECK(std::equal(kPeerMac.begin(), kPeerMac.end(), r.begin() + 32));   // target: the asker
  CHECK((r[38] == 10 && r[39] == 199 && r[40] == 0 && r[41] == 2));
}

TEST_CASE("host: ARP for another address is not answered") {
  auto b = buffer(arp_request({10, 199, 0, 9}));
  CHECK(host_classify(host(true), b.ref) == HostVerdict::kDataPath);
}

TEST_CASE("host: an ICMP echo request to the port's address becomes a valid reply") {
  auto req = ipv4_to_port(1, 0);
  auto b = buffer(req);
  REQUIRE(host_classify(host(false), b.ref) == HostVerdict::kReply);
  const auto r = b.bytes();
  REQUIRE(r.size() == req.size());
  CHECK(std::equal(kPeerMac.begin(), kPeerMac.end(), r.begin()));
  CHECK((r[26] == 10 && r[29] == 1 && r[33] == 2));                      // addresses swapped
  CHECK(r[34] == 0);                                                     // echo reply
  CHECK(wire::checksum_valid(r.data() + 14, 20));                        // IPv4 header
  CHECK(wire::checksum_valid(r.data() + 34, r.size() - 34));             // ICMP
  CHECK(std::equal(req.begin() + 38, req.end(), r.begin() + 38));        // id, seq, data kept
}

TEST_CASE("host: tunnel packets to the address stay on the data path; the rest goes to the TAP") {
  auto vx = buffer(ipv4_to_port(17, 4789));
  CHECK(host_classify(host(true), vx.ref) == HostVerdict::kDataPath);
  auto ssh = buffer(ipv4_to_port(6, 22));
  CHECK(host_classify(host(true), ssh.ref) == HostVerdict::kToHost);
  auto ssh_no_tap = buffer(ipv4_to_port(6, 22));
  CHECK(host_classify(host(false), ssh_no_tap.ref) == HostVerdict::kDataPath);
}

TEST_CASE("host: short frames are never read past their end") {
  const auto full = ipv4_to_port(1, 0);
  for (size_t n = 0; n < full.size(); ++n) {
    std::vector<uint8_t> f(full.begin(), full.begin() + n);
    auto b = buffer(f);
    const HostVerdict v = host_classify(host(true), b.ref);
    CHECK((n >= full.size() || v != HostVerdict::kReply));
  }
}

TEST_CASE("host: the next hop's ARP reply on a port that also sends leaves its MAC for the resolver") {
  std::atomic<uint64_t> slot{0};
  HostConfig h = host(false);
  h.next_hop_ip = {10, 199, 0, 2};
  h.next_hop_seen = &slot;
  // A reply from 10.199.0.2 (kPeerMac) to the port: oper 2, target the port's address.
  auto reply = [](wire::Ipv4Address sender) {
    auto f = arp_request({10, 199, 0, 1});
    f[21] = 2;
    std::copy(sender.begin(), sender.end(), f.begin() + 28);
    return f;
  };
  auto other = buffer(reply({10, 199, 0, 7}));  // someone else's reply: not the next hop
  host_classify(h, other.ref);
  CHECK(slot.load() == 0);
  auto request = buffer(arp_request({10, 199, 0, 1}));  // the next hop asking: not a reply
  CHECK(host_classify(h, request.ref) == HostVerdict::kReply);
  CHECK(slot.load() == 0);
  auto b = buffer(reply({10, 199, 0, 2}));
  CHECK(host_classify(h, b.ref) == HostVerdict::kDataPath);  // no TAP: as before
  REQUIRE(slot.load() != 0);
  CHECK(unpack_learned_mac(slot.load()) == kPeerMac);
}

TEST_CASE("host: no answer toward a group: ARP from a broadcast or multicast sender, echo from such a source") {
  // ARP request whose sender hardware address is broadcast (a spoofed request would make the
  // reply go to every host on the segment).
  auto arp = arp_request({10, 199, 0, 1});
  std::fill(arp.begin() + 22, arp.begin() + 28, 0xff);
  auto a = buffer(arp);
  CHECK(host_classify(host(false), a.ref) == HostVerdict::kDataPath);
  // ... or multicast in the Ethernet source.
  arp = arp_request({10, 199, 0, 1});
  arp[6] = 0x01;
  auto a2 = buffer(arp);
  CHECK(host_classify(host(false), a2.ref) == HostVerdict::kDataPath);
  // ARP requests whose sender protocol address is broadcast, multicast, reserved, loopback or
  // the port's own: the reply would name a host that cannot have asked.
  for (const wire::Ipv4Address spa : {wire::Ipv4Address{255, 255, 255, 255}, wire::Ipv4Address{224, 0, 0, 1},
                                      wire::Ipv4Address{240, 0, 0, 1}, wire::Ipv4Address{127, 0, 0, 1},
                                      wire::Ipv4Address{10, 199, 0, 1}}) {
    arp = arp_request({10, 199, 0, 1});
    std::copy(spa.begin(), spa.end(), arp.begin() + 28);
    auto a3 = buffer(arp);
    INFO("ARP from " << int{spa[0]} << "." << int{spa[1]} << "." << int{spa[2]} << "." << int{spa[3]});
    CHECK(host_classify(host(false), a3.ref) == HostVerdict::kDataPath);
  }
  // An address probe (sender 0.0.0.0, RFC 5227) for our address is answered, to its sender's MAC.
  arp = arp_request({10, 199, 0, 1});
  std::fill(arp.begin() + 28, arp.begin() + 32, 0);
  auto probe = buffer(arp);
  CHECK(host_classify(host(false), probe.ref) == HostVerdict::kReply);
  CHECK(std::equal(kPeerMac.begin(), kPeerMac.end(), probe.ref.data));
  // Echo requests from 255.255.255.255, 224.0.0.1, 0.0.0.0, 127.0.0.1 and the port's own address.
  for (const wire::Ipv4Address src : {wire::Ipv4Address{255, 255, 255, 255}, wire::Ipv4Address{224, 0, 0, 1},
                                      wire::Ipv4Address{0, 0, 0, 0}, wire::Ipv4Address{127, 0, 0, 1},
                                      wire::Ipv4Address{10, 199, 0, 1}}) {
    auto req = ipv4_to_port(1, 0);
    std::copy(src.begin(), src.end(), req.begin() + 26);
    auto b = buffer(req);
    INFO(int{src[0]} << "." << int{src[1]} << "." << int{src[2]} << "." << int{src[3]});
    CHECK(host_classify(host(false), b.ref) == HostVerdict::kDataPath);
  }
  // A unicast source is answered (the control case).
  auto ok = buffer(ipv4_to_port(1, 0));
  CHECK(host_classify(host(false), ok.ref) == HostVerdict::kReply);
}
