#!/usr/bin/python3
"""Health-check conversations for test/unit/test_health_check.cpp, every frame built by scapy.

    /usr/bin/python3 test/golden/make_health_frames.py > test/golden/health-frames.tsv

The oracle of the HealthProbe unit test: each case is a script of calls to the probe (start,
a received frame, poll) and, after each call, the frames the probe must send, byte for byte.
Nothing here comes from mirrorpipe: the frames are scapy's (its own IPv4 and TCP checksums),
the source port and ISS come from the rules of engine/control/health_check.h computed again
below, the sequence numbers from RFC 9293.

The probe's frames, as health_check.h specifies them: Ethernet II own MAC -> next hop; IPv4
ID 0, DF, TTL 64; TCP window 64240 (0 on a RST), the SYN with one option, MSS 1460; the
acknowledgment field 0 when the ACK flag is off; zero padding to 60 bytes.

Rows (tab-separated; '#' lines are comments):
  case   NAME PROTOCOL PORT PATH TIMEOUT_MS SEED MATCH_LO MATCH_HI
         a new probe: own 02:00:00:00:00:01 10.0.0.1, next hop 02:00:00:00:00:02, member 10.0.0.2
  start  T_MS                 probe.start()
  in     T_MS MINE HEX NOTE   probe.on_frame() of a frame; MINE: the expected return (1/0)
  poll   T_MS                 probe.poll()
  out    HEX NOTE             a frame the previous call must send (all of them, in order)
  result OUTCOME HTTP_STATUS  probe.outcome() by health_outcome_name(), probe.http_status()
"""
import sys

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

COMMAND = "/usr/bin/python3 test/golden/make_health_frames.py > test/golden/health-frames.tsv"

OWN_MAC, OWN_IP = "02:00:00:00:00:01", "10.0.0.1"
HOP_MAC, MEMBER_IP = "02:00:00:00:00:02", "10.0.0.2"
PORT_FIRST, PORT_COUNT = 32768, 60999 - 32768 + 1
M64 = (1 << 64) - 1
M32 = (1 << 32) - 1
MEMBER_ISN = 0x50000000


def splitmix64(seed, k):
    z = (seed + k * 0x9E3779B97F4A7C15) & M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def port_of(seed, n):
    return PORT_FIRST + (splitmix64(seed, 1) % PORT_COUNT + n) % PORT_COUNT


def iss_of(seed, n):
    return splitmix64(seed, n + 2) & M32


def pad(b):
    return b + b"\0" * max(0, 60 - len(b))


def request(path, port):
    host = MEMBER_IP if port == 80 else "%s:%d" % (MEMBER_IP, port)
    return ("GET %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: mirrorpipe-health-check\r\n"
            "Connection: close\r\n\r\n" % (path, host)).encode()


class Case:
    """One probe: writes the rows, knows the current check's port and sequence numbers."""

    def __init__(self, name, protocol, port, path="/", timeout_ms=5000, seed=1, match=(200, 399)):
        self.port, self.path, self.seed, self.checks = port, path, seed, 0
        print("\t".join(str(x) for x in ("case", name, protocol, port, path, timeout_ms, seed, *match)))

    # The probe's frames.
    def probe(self, flags, seq, ack=0, payload=b"", mss=False):
        tcp = TCP(sport=self.sport, dport=self.port, seq=seq & M32, ack=(ack & M32) if "A" in flags else 0,
                  flags=flags, window=0 if "R" in flags else 64240, options=[("MSS", 1460)] if mss else [])
        pkt = Ether(src=OWN_MAC, dst=HOP_MAC) / IP(src=OWN_IP, dst=MEMBER_IP, id=0, flags="DF", ttl=64) / tcp
        if payload:
            pkt = pkt / Raw(payload)
        return pad(bytes(pkt))

    # The member's frames (as a Linux member would send them, IP ID and all).
    def member(self, flags, seq, ack=0, payload=b"", options=None, sport=None, dport=None,
               src=MEMBER_IP, dst=OWN_IP, dst_mac=OWN_MAC, ip_flags="DF"):
        tcp = TCP(sport=sport or self.port, dport=dport or self.sport, seq=seq & M32, ack=ack & M32, flags=flags,
                  window=65160, options=options or [])
        pkt = Ether(src=HOP_MAC, dst=dst_mac) / IP(src=src, dst=dst, id=0x1234, flags=ip_flags, ttl=64) / tcp
        if payload:
            pkt = pkt / Raw(payload)
        return bytes(pkt)

    def start(self, t_ms):
        self.sport = port_of(self.seed, self.checks)
        self.iss = iss_of(self.seed, self.checks)
        self.checks += 1
        self.req = request(self.path, self.port)
        print("start\t%d" % t_ms)
        self.out(self.probe("S", self.iss, mss=True), "SYN, MSS 1460")

    def feed(self, t_ms, frame, note, mine=True):
        print("in\t%d\t%d\t%s\t%s" % (t_ms, 1 if mine else 0, frame.hex(), note))

    def poll(self, t_ms):
        print("poll\t%d" % t_ms)

    def out(self, frame, note):
        print("out\t%s\t%s" % (frame.hex(), note))

    def result(self, outcome, status=0):
        print("result\t%s\t%d" % (outcome, status))

    # Frequent steps.
    def syn_ack(self, t_ms, mss=1460, note="SYN-ACK"):
        self.feed(t_ms, self.member("SA", MEMBER_ISN, self.iss + 1, options=[("MSS", mss)]), note)
        self.rcv_nxt = MEMBER_ISN + 1

    def handshake_http(self, t_ms, mss=1460):
        """SYN-ACK in; the probe's ACK and its request out (split at `mss`)."""
        self.syn_ack(t_ms, mss)
        self.out(self.probe("A", self.iss + 1, self.rcv_nxt), "ACK of the SYN-ACK")
        self.out_request()
        self.snd_nxt = self.iss + 1 + len(self.req)

    def out_request(self):
        step = getattr(self, "mss", 1460)
        for off in range(0, len(self.req), step):
            chunk = self.req[off:off + step]
            last = off + len(chunk) == len(self.req)
            self.out(self.probe("PA" if last else "A", self.iss + 1 + off, self.rcv_nxt, chunk),
                     "request bytes %d-%d" % (off, off + len(chunk)))

    def data(self, t_ms, payload, flags="PA", seq=None, note="data"):
        seq = self.rcv_nxt if seq is None else seq
        self.feed(t_ms, self.member(flags, seq, self.snd_nxt, payload), note)

    def ack_out(self, note="ACK"):
        self.out(self.probe("A", self.snd_nxt, self.rcv_nxt), note)

    def rst_out(self, note="RST (abort)"):
        self.out(self.probe("R", self.snd_nxt), note)


def tcp_cases():
    c = Case("tcp_pass", "tcp", 8080, seed=1)
    c.start(0)
    c.syn_ack(2)
    c.out(c.probe("R", c.iss + 1), "RST <SEQ=ISS+1>: half-open check")
    c.result("pass")
    c.feed(1000, c.member("SA", MEMBER_ISN, c.iss + 1, options=[("MSS", 1460)]), "the SYN-ACK again, after the check")
    c.out(c.probe("R", c.iss + 1), "CLOSED: RST <SEQ=SEG.ACK>")
    c.result("pass")
    c.start(10000)  # the next check: the next port, a new ISS
    c.syn_ack(10001)
    c.out(c.probe("R", c.iss + 1), "RST")
    c.result("pass")

    c = Case("tcp_refused", "tcp", 8081, seed=2)
    c.start(0)
    c.feed(1, c.member("RA", 0, c.iss + 1), "RST,ACK <ACK=ISS+1>: nothing listens")
    c.result("refused")

    c = Case("tcp_timeout", "tcp", 8080, seed=3)
    c.start(0)
    c.poll(999)
    c.poll(1000)
    c.out(c.probe("S", c.iss, mss=True), "SYN again after 1 s")
    c.poll(2999)
    c.poll(3000)
    c.out(c.probe("S", c.iss, mss=True), "SYN again after 2 s more")
    c.poll(4999)
    c.result("pending")
    c.feed(5000, c.member("SA", MEMBER_ISN, c.iss + 1, options=[("MSS", 1460)]),
           "SYN-ACK at the deadline: too late, reset as CLOSED")
    c.out(c.probe("R", c.iss + 1), "CLOSED: RST <SEQ=SEG.ACK>")
    c.result("timeout")
    c.poll(6000)

    c = Case("tcp_timeout_short", "tcp", 8080, timeout_ms=2000, seed=3)
    c.start(0)  # RTO min(1 s, 2 s / 4) = 500 ms
    c.poll(500)
    c.out(c.probe("S", c.iss, mss=True), "SYN again after 500 ms")
    c.poll(1500)
    c.out(c.probe("S", c.iss, mss=True), "SYN again after 1 s more")
    c.poll(1999)
    c.poll(2000)
    c.result("timeout")

    c = Case("tcp_ignored", "tcp", 8080, seed=4)
    c.start(0)
    good = dict(flags="SA", seq=MEMBER_ISN, ack=c.iss + 1, options=[("MSS", 1460)])
    c.feed(1, c.member(sport=8081, **good), "from another port", mine=False)
    c.feed(1, c.member(dport=c.sport + 1 if c.sport < 60999 else 32768, **good), "to another port", mine=False)
    c.feed(1, c.member(src="10.0.0.3", **good), "from another member", mine=False)
    c.feed(1, c.member(dst="10.0.0.9", **good), "to another address", mine=False)
    c.feed(1, c.member(dst_mac="02:00:00:00:00:09", **good), "to another MAC", mine=False)
    f = bytearray(c.member(**good))
    f[14 + 20 + 16] ^= 0x01
    c.feed(1, bytes(f), "TCP checksum wrong", mine=False)
    f = bytearray(c.member(**good))
    f[14 + 10] ^= 0x01
    c.feed(1, bytes(f), "IPv4 checksum wrong", mine=False)
    c.feed(1, c.member(**good)[:-1], "one byte short of the IPv4 total length", mine=False)
    c.feed(1, c.member(**good)[:30], "cut inside the IPv4 header", mine=False)
    c.feed(1, c.member(**good)[:14 + 20 + 10], "cut inside the TCP header", mine=False)
    c.feed(1, c.member(ip_flags="MF", **good), "a first fragment (MF)", mine=False)
    c.feed(1, bytes(Ether(src=HOP_MAC, dst=OWN_MAC) / IP(src=MEMBER_IP, dst=OWN_IP) /
                    UDP(sport=8080, dport=c.sport)), "UDP", mine=False)
    c.feed(1, bytes(Ether(src=HOP_MAC, dst="ff:ff:ff:ff:ff:ff") /
                    ARP(op=1, hwsrc=HOP_MAC, psrc=MEMBER_IP, pdst=OWN_IP)), "ARP", mine=False)
    c.feed(1, bytes(Ether(src=HOP_MAC, dst=OWN_MAC) / IPv6() / TCP(sport=8080, dport=c.sport, flags="SA")),
           "IPv6", mine=False)
    c.feed(1, c.member("R", 0), "RST without ACK: dropped in SYN-SENT")
    c.feed(1, c.member("SA", MEMBER_ISN, c.iss + 7), "SYN-ACK with a wrong ACK")
    c.out(c.probe("R", c.iss + 7), "RST <SEQ=SEG.ACK>")
    c.feed(1, c.member("S", MEMBER_ISN), "a SYN alone: dropped")
    c.result("pending")
    c.feed(2, c.member(**good) + b"\0" * 6, "the right SYN-ACK, with Ethernet padding")
    c.out(c.probe("R", c.iss + 1), "RST")
    c.result("pass")


def http_cases():
    c = Case("http_200_two_segments", "http", 8080, "/health", seed=5)
    c.start(0)
    c.handshake_http(3)
    c.feed(4, c.member("A", c.rcv_nxt, c.snd_nxt), "ACK of the request")
    part1, part2 = b"HTTP/1.1 2", b"00 OK\r\nContent-Length: 2\r\n\r\nok"
    c.data(5, part1, note="the status line's first 10 bytes")
    c.rcv_nxt += len(part1)
    c.ack_out()
    c.result("pending")
    c.data(6, part2, flags="FPA", note="the rest, and FIN")
    c.rcv_nxt += len(part2) + 1
    c.rst_out()
    c.result("pass", 200)
    c.feed(7, c.member("FA", c.rcv_nxt - 1, c.snd_nxt), "the FIN again, after the RST")
    c.out(c.probe("R", c.snd_nxt), "CLOSED: RST <SEQ=SEG.ACK>")

    c = Case("http_503", "http", 80, "/", seed=6)
    c.start(0)
    c.handshake_http(1)
    body = b"HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n"
    c.data(2, body, flags="FPA", note="503 and FIN")
    c.rst_out()
    c.result("status-mismatch", 503)

    c = Case("http_matcher_edges", "http", 8080, "/", seed=7, match=(200, 204))
    c.start(0)
    c.handshake_http(1)
    c.data(2, b"HTTP/1.1 204\r\n\r\n", note="204 without a reason phrase")
    c.rst_out()
    c.result("pass", 204)

    c = Case("http_out_of_order", "http", 8080, "/", seed=8)
    c.start(0)
    c.handshake_http(1)
    seg1, seg2 = b"HTTP/1.1 ", b"302 Found\r\n\r\n"
    c.data(2, seg2, seq=c.rcv_nxt + len(seg1), note="the second segment first: dropped")
    c.ack_out("duplicate ACK")
    c.data(3, seg1 + b"30", note="the first, with 2 bytes of the second")
    c.rcv_nxt += len(seg1) + 2
    c.ack_out()
    c.data(4, seg2, seq=c.rcv_nxt - 2, note="the second again, overlapping by 2 bytes")
    c.rst_out()
    c.result("pass", 302)

    c = Case("http_bad_response", "http", 8080, "/", seed=9)
    c.start(0)
    c.handshake_http(1)
    c.data(2, b"SSH-2.0-OpenSSH_9.2\r\n", note="not HTTP")
    c.rst_out()
    c.result("bad-response")

    c = Case("http_closed_early", "http", 8080, "/", seed=10)
    c.start(0)
    c.handshake_http(1)
    c.data(2, b"HTTP/1.1", flags="FPA", note="8 bytes, then FIN")
    c.rst_out()
    c.result("closed")

    c = Case("http_reset", "http", 8080, "/", seed=11)
    c.start(0)
    c.handshake_http(1)
    c.feed(2, c.member("R", c.rcv_nxt + 100), "RST in the window, not at RCV.NXT")
    c.ack_out("challenge ACK")
    c.feed(2, c.member("R", c.rcv_nxt - 5), "RST before the window: dropped")
    c.feed(3, c.member("RA", c.rcv_nxt, c.snd_nxt), "RST at RCV.NXT")
    c.result("refused")

    c = Case("http_retransmit", "http", 8080, "/", seed=12)
    c.start(0)
    c.poll(1000)
    c.out(c.probe("S", c.iss, mss=True), "SYN again (the first was lost)")
    c.handshake_http(1500)
    c.feed(1600, c.member("SA", MEMBER_ISN, c.iss + 1, options=[("MSS", 1460)]), "the SYN-ACK again")
    c.ack_out("ACK (the SYN-ACK is not acceptable now)")
    c.poll(2499)
    c.poll(2500)
    c.out_request()
    c.feed(2600, c.member("A", c.rcv_nxt, c.snd_nxt + 10), "ACK of bytes never sent")
    c.ack_out("ACK, segment dropped")
    c.data(2700, b"HTTP/1.1 200 OK\r\n\r\n")
    c.rst_out()
    c.result("pass", 200)

    c = Case("http_small_mss", "http", 8080, "/" + "a" * 150, seed=13)
    c.mss = 64
    c.start(0)
    c.handshake_http(1, mss=64)
    c.feed(2, c.member("A", c.rcv_nxt, c.iss + 1 + 128), "ACK of the first two segments")
    c.poll(1002)
    step = 64
    for off in range(128, len(c.req), step):
        chunk = c.req[off:off + step]
        last = off + len(chunk) == len(c.req)
        c.out(c.probe("PA" if last else "A", c.iss + 1 + off, c.rcv_nxt, chunk),
              "request bytes %d-%d again" % (off, off + len(chunk)))
    c.data(1003, b"HTTP/1.1 200 OK\r\n\r\n")
    c.rst_out()
    c.result("pass", 200)

    c = Case("http_timeout", "http", 8080, "/", seed=14)
    c.start(0)
    c.handshake_http(1)
    c.feed(2, c.member("A", c.rcv_nxt, c.snd_nxt), "ACK of the request, then nothing")
    c.poll(4999)
    c.result("pending")
    c.poll(5000)
    c.rst_out()
    c.result("timeout")

    c = Case("http_restart", "http", 8080, "/", seed=15)
    c.start(0)
    c.handshake_http(1)
    c.result("pending")
    old_snd_nxt = c.snd_nxt
    print("start\t100")
    c.out(c.probe("R", old_snd_nxt), "the running check is abandoned with a RST")
    c.sport = port_of(c.seed, 1)
    c.iss = iss_of(c.seed, 1)
    c.checks = 2
    c.out(c.probe("S", c.iss, mss=True), "the next check's SYN")
    c.result("pending")


def main():
    print("# " + COMMAND)
    print("# test/golden/make_health_frames.py says what each row means.")
    tcp_cases()
    http_cases()


if __name__ == "__main__":
    sys.exit(main())
