#!/usr/bin/python3
"""Generates pcaps/sample-mix.pcap: the bundled sample that scripts/demo mirrors.

A small but realistic mix, every frame built with scapy: a TCP conversation over IPv4 (handshake,
data both ways, teardown), DNS over IPv4 and IPv6, ICMP and ICMPv6 echo both ways, 802.1Q and
802.1ad (QinQ) tagged traffic, ARP request and reply, IPv6 with extension headers, an IPv4
datagram in three fragments, SCTP, GRE, frames padded to the 60-byte minimum and a 9000-byte
jumbo frame. Timestamps are fixed so the file is reproducible byte for byte.

Run with Debian's interpreter (it owns python3-scapy): /usr/bin/python3 pcaps/make_sample.py OUT
"""
import sys

from scapy.all import (ARP, DNS, DNSQR, DNSRR, GRE, ICMP, IP, TCP, UDP, Dot1AD, Dot1Q, Ether,
                       ICMPv6EchoReply, ICMPv6EchoRequest, IPv6, IPv6ExtHdrDestOpt,
                       IPv6ExtHdrHopByHop, Padding, Raw, fragment, wrpcap)
from scapy.layers.sctp import SCTP, SCTPChunkInit

CLIENT_MAC = "02:11:22:33:44:01"
SERVER_MAC = "02:11:22:33:44:02"
C4, S4 = "172.31.5.10", "172.31.9.20"
C6, S6 = "2600:1f18:aaaa::10", "2600:1f18:bbbb::20"


def ether(src=CLIENT_MAC, dst=SERVER_MAC):
    return Ether(src=src, dst=dst)


def both(a_to_b, b_to_a):
    return [a_to_b, b_to_a]


def frames():
    out = []
    # TCP over IPv4: handshake, request, response, teardown.
    cs, ss = 1000, 5000
    out += [
        ether() / IP(src=C4, dst=S4, id=1) / TCP(sport=40000, dport=443, flags="S", seq=cs),
        ether(SERVER_MAC, CLIENT_MAC) / IP(src=S4, dst=C4, id=2) / TCP(sport=443, dport=40000, flags="SA", seq=ss, ack=cs + 1),
        ether() / IP(src=C4, dst=S4, id=3) / TCP(sport=40000, dport=443, flags="A", seq=cs + 1, ack=ss + 1),
        ether() / IP(src=C4, dst=S4, id=4) / TCP(sport=40000, dport=443, flags="PA", seq=cs + 1, ack=ss + 1) / Raw(b"GET / HTTP/1.1\r\nHost: example\r\n\r\n"),
        ether(SERVER_MAC, CLIENT_MAC) / IP(src=S4, dst=C4, id=5) / TCP(sport=443, dport=40000, flags="PA", seq=ss + 1, ack=cs + 35) / Raw(bytes(range(256)) * 5),
        ether() / IP(src=C4, dst=S4, id=6) / TCP(sport=40000, dport=443, flags="FA", seq=cs + 35, ack=ss + 1281),
        ether(SERVER_MAC, CLIENT_MAC) / IP(src=S4, dst=C4, id=7) / TCP(sport=443, dport=40000, flags="FA", seq=ss + 1281, ack=cs + 36),
    ]
    # DNS over IPv4 and IPv6, query and response.
    q = DNS(id=0x1234, rd=1, qd=DNSQR(qname="example.com"))
    r = DNS(id=0x1234, qr=1, aa=1, qd=DNSQR(qname="example.com"), an=DNSRR(rrname="example.com", rdata="93.184.215.14"))
    out += both(ether() / IP(src=C4, dst="172.31.0.2") / UDP(sport=53000, dport=53) / q,
                ether(SERVER_MAC, CLIENT_MAC) / IP(src="172.31.0.2", dst=C4) / UDP(sport=53, dport=53000) / r)
    out += both(ether() / IPv6(src=C6, dst=S6) / UDP(sport=53001, dport=53) / q,
                ether(SERVER_MAC, CLIENT_MAC) / IPv6(src=S6, dst=C6) / UDP(sport=53, dport=53001) / r)
    # ICMP echo, both families, both directions (small: padded to 60 bytes on the wire).
    out += both(ether() / IP(src=C4, dst=S4) / ICMP(type=8, id=77, seq=1),
                ether(SERVER_MAC, CLIENT_MAC) / IP(src=S4, dst=C4) / ICMP(type=0, id=77, seq=1))
    out += both(ether() / IPv6(src=C6, dst=S6) / ICMPv6EchoRequest(id=78, seq=1, data=b"ping6"),
                ether(SERVER_MAC, CLIENT_MAC) / IPv6(src=S6, dst=C6) / ICMPv6EchoReply(id=78, seq=1, data=b"ping6"))
    # 802.1Q and 802.1ad (QinQ) tagged traffic.
    out += both(ether() / Dot1Q(vlan=100, prio=5) / IP(src="10.1.0.1", dst="10.1.0.2") / UDP(sport=5555, dport=5556) / Raw(b"vlan"),
                ether(SERVER_MAC, CLIENT_MAC) / Dot1Q(vlan=100, prio=5) / IP(src="10.1.0.2", dst="10.1.0.1") / UDP(sport=5556, dport=5555) / Raw(b"vlan"))
    out += [ether() / Dot1AD(vlan=200) / Dot1Q(vlan=2001) / IP(src="10.2.0.1", dst="10.2.0.2") / TCP(sport=1234, dport=80, flags="S")]
    # ARP request and reply (not IP: GWLB cannot carry them).
    out += both(Ether(src=CLIENT_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=CLIENT_MAC, psrc=C4, pdst=S4),
                ether(SERVER_MAC, CLIENT_MAC) / ARP(op=2, hwsrc=SERVER_MAC, psrc=S4, hwdst=CLIENT_MAC, pdst=C4))
    # IPv6 with Hop-by-Hop and Destination Options before TCP.
    out += [ether() / IPv6(src=C6, dst=S6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() / TCP(sport=41000, dport=22, flags="S")]
    # An IPv4 datagram in three fragments.
    big = ether() / IP(src=C4, dst=S4, id=0x4242) / UDP(sport=7000, dport=7001) / Raw(b"F" * 3000)
    for f in fragment(big[IP], fragsize=1200):
        out.append(ether() / f)
    # SCTP INIT and GRE.
    out += [ether() / IP(src=C4, dst=S4) / SCTP(sport=3868, dport=3868) / SCTPChunkInit()]
    out += [ether() / IP(src=C4, dst=S4) / GRE() / IP(src="192.0.2.1", dst="192.0.2.2") / ICMP()]
    # A 9000-byte jumbo frame (EC2 MTU 9001).
    out += [ether() / IP(src=C4, dst=S4) / TCP(sport=40001, dport=8080, flags="A") / Raw(b"J" * (9000 - 54))]
    return out


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "pcaps/sample-mix.pcap"
    pkts = frames()
    # Frames shorter than Ethernet's 60-byte minimum are padded, as a NIC sends them: the GWLB
    # writer must strip that padding from the IP packet it carries.
    pkts = [p / Padding(b"\0" * (60 - len(p))) if len(p) < 60 else p for p in pkts]
    for i, p in enumerate(pkts):
        p.time = 1700000000 + i * 0.001  # fixed, 1 ms apart
    wrpcap(path, pkts)
    print(f"{path}: {len(pkts)} frames")


if __name__ == "__main__":
    main()
