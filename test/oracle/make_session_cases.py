#!/usr/bin/python3
"""Filter cases for mirror sessions, written from AWS VPC Traffic Mirroring's documented
semantics (see aws_mirror_model.py for the sources): each case is a few frames (scapy), a
configuration fragment ([[filters]] and [[sessions]]), and what the model says of each frame.
The expectations are computed by aws_mirror_model, never written by hand (the hand-checked
asserts of --self-test check the model itself).

usage: make_session_cases.py [--self-test] [OUTDIR]
  OUTDIR: writes OUTDIR/CASE.pcap (one per case) and OUTDIR/cases.json (fragments, expectations)
  --self-test: checks the model against hand-worked answers, and the case table's coverage

Session S of a case sends to the target "zeek-S" (test_sessions.py writes the output port
"out-S" and that target); every session has its own VNI.
"""
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import aws_mirror_model as model  # noqa: E402

from scapy.layers.inet import GRE, ICMP, IP, TCP, UDP  # noqa: E402
from scapy.layers.inet6 import (ICMPv6EchoReply, ICMPv6EchoRequest, IPv6, IPv6ExtHdrDestOpt,  # noqa: E402
                                IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting)
from scapy.layers.l2 import ARP, LLC, STP, Dot1AD, Dot1Q, Ether  # noqa: E402
from scapy.layers.sctp import SCTP, SCTPChunkInit  # noqa: E402
from scapy.packet import Raw  # noqa: E402
from scapy.utils import wrpcap  # noqa: E402

SEED = 20240612
MAC_A, MAC_B = "02:00:00:00:aa:01", "02:00:00:00:bb:01"

# The monitored instance(s) live in 10.0.0.0/16 and 2001:db8:1::/48; peers are outside.
INST, INST2, INST3 = "10.0.1.10", "10.0.2.20", "10.0.3.30"
PEER, PEER2, PEER3 = "198.51.100.7", "203.0.113.9", "192.0.2.77"
INST6, INST6B = "2001:db8:1::10", "2001:db8:1::20"
PEER6, PEER6B = "2001:db8:ff::7", "2001:db8:fe::9"
VPC, VPC6 = "10.0.0.0/16", "2001:db8:1::/48"
ANY4, ANY6 = "0.0.0.0/0", "::/0"

rng = random.Random(SEED)


def eph():
    """An ephemeral source port (seeded), away from every port a case's rules name."""
    return rng.randint(49152, 60999)


def payload(n=None):
    n = n if n is not None else rng.randint(8, 40)
    return Raw(bytes(rng.randint(0, 255) for _ in range(n)))


def eth():
    return Ether(src=MAC_A, dst=MAC_B)


def tcp4(src, dst, dport, sport=None, **kw):
    return eth() / IP(src=src, dst=dst, **kw) / TCP(sport=sport or eph(), dport=dport, flags="S") / payload()


def udp4(src, dst, dport, sport=None, **kw):
    return eth() / IP(src=src, dst=dst, **kw) / UDP(sport=sport or eph(), dport=dport) / payload()


def icmp4(src, dst):
    return eth() / IP(src=src, dst=dst) / ICMP(type=8, id=rng.randint(1, 65535), seq=1) / payload()


def tcp6(src, dst, dport, sport=None):
    return eth() / IPv6(src=src, dst=dst) / TCP(sport=sport or eph(), dport=dport, flags="S") / payload()


def udp6(src, dst, dport, sport=None):
    return eth() / IPv6(src=src, dst=dst) / UDP(sport=sport or eph(), dport=dport) / payload()


def icmp6(src, dst, reply=False):
    echo = ICMPv6EchoReply if reply else ICMPv6EchoRequest
    return eth() / IPv6(src=src, dst=dst) / echo(id=rng.randint(1, 65535), seq=1) / payload()


def proto4(src, dst, proto, n=24):
    return eth() / IP(src=src, dst=dst, proto=proto) / payload(n)


def arp():
    return eth() / ARP(op=1, hwsrc=MAC_A, psrc=INST, pdst="10.0.0.1")


def fragments4(src, dst, l4, frag_size=16):
    """[first, later...] IPv4 fragments of one datagram carrying `l4` (TCP/UDP layer+payload)."""
    whole = bytes(IP(src=src, dst=dst, id=rng.randint(1, 65535)) / l4)
    ip = IP(whole)
    data = bytes(ip.payload)
    out = []
    for off in range(0, len(data), frag_size):
        chunk = data[off:off + frag_size]
        more = off + frag_size < len(data)
        out.append(eth() / IP(src=src, dst=dst, id=ip.id, proto=ip.proto, flags="MF" if more else 0,
                              frag=off // 8) / Raw(chunk))
    return out


def fragments6(src, dst, l4, frag_size=16, ext=()):
    """[first, later...] IPv6 fragments (a Fragment header, after `ext` headers) of `l4`."""
    whole = bytes(IPv6(src=src, dst=dst) / l4)
    nh = IPv6(whole).nh
    data = whole[40:]
    ident = rng.randint(1, 2 ** 32 - 1)
    out = []
    for off in range(0, len(data), frag_size):
        chunk = data[off:off + frag_size]
        more = 1 if off + frag_size < len(data) else 0
        p = IPv6(src=src, dst=dst)
        for h in ext:
            p = p / h.copy()
        out.append(eth() / p / IPv6ExtHdrFragment(nh=nh, offset=off // 8, m=more, id=ident) / Raw(chunk))
    return out


def vlan(pkt, *tags):
    """Re-wraps an Ethernet frame with tags: each (tpid, vid), outermost first."""
    inner = pkt.payload.copy()
    out = Ether(src=pkt.src, dst=pkt.dst)
    layers = []
    for tpid, vid in tags:
        layers.append(Dot1AD(vlan=vid) if tpid == 0x88A8 else Dot1Q(vlan=vid))
    p = out
    for l in layers:
        p = p / l
    return p / inner


def R(direction, number, action, protocol="all", source=ANY4, destination=ANY4, sp=None, dp=None):
    r = {"direction": direction, "number": number, "action": action, "protocol": protocol,
         "source": source, "destination": destination}
    if sp is not None:
        r["source_ports"] = sp
    if dp is not None:
        r["destination_ports"] = dp
    return r


def F(name, rules, network_services=None, aws_exclusions=None):
    f = {"name": name, "rules": rules}
    if network_services is not None:
        f["network_services"] = network_services
    if aws_exclusions is not None:
        f["aws_exclusions"] = aws_exclusions
    return f


def S(name, number, flt=None, monitored=None, direction=None):
    s = {"name": name, "number": number}
    if flt is not None:
        s["filter"] = flt
    if monitored is not None:
        s["monitored"] = monitored
    if direction is not None:
        s["direction"] = direction
    return s


# ------------------------------------------------------------------ TOML fragment

def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join("%s = %s" % (k, toml_value(x)) for k, x in v.items()) + " }"
    raise TypeError(v)


def fragment(filters, sessions):
    lines = []
    for f in filters:
        lines.append("[[filters]]")
        lines.append("name = %s" % toml_value(f["name"]))
        if "network_services" in f:
            lines.append("network_services = %s" % toml_value(f["network_services"]))
        if "aws_exclusions" in f:
            lines.append("aws_exclusions = %s" % toml_value(f["aws_exclusions"]))
        if f["rules"]:
            lines.append("rules = [")
            for r in f["rules"]:
                lines.append("  %s," % toml_value(r))
            lines.append("]")
        else:
            lines.append("rules = []")
    for s in sessions:
        lines.append("[[sessions]]")
        lines.append("name = %s" % toml_value(s["name"]))
        lines.append('input = "mirrored"')
        lines.append("number = %d" % s["number"])
        for key in ("filter", "monitored", "direction"):
            if key in s:
                lines.append("%s = %s" % (key, toml_value(s[key])))
        lines.append("sinks = [%s]" % toml_value("zeek-" + s["name"]))
        lines.append("vni = %d" % s["vni"])
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ the cases

class Case:
    def __init__(self, name, what, frames, filters, sessions):
        self.name = name
        self.what = what
        self.frames = [bytes(p) for p in frames]
        self.summaries = [p.summary() for p in frames]
        self.filters = filters
        self.sessions = sessions
        for i, s in enumerate(sessions):
            s["vni"] = 5569041 + 1000 * i + s["number"] % 1000   # distinct per session
        self.expected = [model.decide(f, sessions, filters) for f in self.frames]
        self.toml = fragment(filters, sessions)

    def as_json(self):
        return {"name": self.name, "what": self.what, "frames": len(self.frames),
                "summaries": self.summaries, "toml": self.toml,
                "sessions": [{"name": s["name"], "vni": s["vni"]} for s in self.sessions],
                "expected": [list(e) for e in self.expected]}


def build_cases():
    rng.seed(SEED)
    cases = []

    def add(name, what, frames, filters, sessions):
        cases.append(Case(name, what, frames, filters, sessions))

    one = lambda flt="f", **kw: [S("s1", 1, flt, **kw)]  # noqa: E731

    # --- rule order, actions -----------------------------------------------------------------
    add("reject_before_accept", "100 rejects TCP to 22, 200 accepts all: SSH rejected, the rest mirrored",
        [tcp4(PEER, INST, 22), tcp4(PEER, INST, 80), udp4(PEER, INST, 22), icmp4(PEER, INST)],
        [F("f", [R("ingress", 100, "reject", "tcp", dp="22"), R("ingress", 200, "accept")])], one())
    add("order_by_number_not_by_listing", "rules listed 200-accept first, 100-reject second: 100 decides",
        [tcp4(PEER, INST, 22), tcp4(PEER, INST, 443), udp4(PEER, INST, 22)],
        [F("f", [R("ingress", 200, "accept"), R("ingress", 100, "reject", "tcp", dp="22")])], one())
    add("accept_before_reject", "10 accepts TCP, 20 rejects all: TCP mirrored, UDP/ICMP rejected",
        [tcp4(PEER, INST, 22), udp4(PEER, INST, 53), icmp4(PEER, INST)],
        [F("f", [R("ingress", 20, "reject"), R("ingress", 10, "accept", "tcp")])], one())
    add("first_match_overlapping_cidrs", "10 accepts from 198.51.100.0/24, 20 rejects 0.0.0.0/0",
        [tcp4(PEER, INST, 80), tcp4(PEER2, INST, 80), udp4("198.51.100.250", INST, 9999)],
        [F("f", [R("ingress", 10, "accept", source="198.51.100.0/24"), R("ingress", 20, "reject")])], one())
    add("no_rule_matches", "only an ingress TCP accept: UDP and ICMP match nothing",
        [tcp4(PEER, INST, 80), udp4(PEER, INST, 80), icmp4(PEER, INST)],
        [F("f", [R("ingress", 100, "accept", "tcp")])], one())
    add("filter_without_rules", "a filter with no rules mirrors nothing",
        [tcp4(PEER, INST, 80), udp4(INST, PEER, 443), icmp4(INST, PEER)],
        [F("f", [])], one(monitored=[VPC]))
    add("rule_numbers_extremes", "rules 1 and 32766: 1 rejects UDP first, 32766 accepts the rest",
        [udp4(PEER, INST, 5000), tcp4(PEER, INST, 5000), icmp4(PEER, INST)],
        [F("f", [R("ingress", 32766, "accept"), R("ingress", 1, "reject", "udp")])], one())
    add("ten_rules_per_direction", "ten rules per direction (AWS's limit), the accepting rule last",
        [tcp4(PEER, INST, p) for p in (21, 25, 80, 8080)] + [tcp4(INST, PEER, 25), tcp4(INST, PEER, 443)],
        [F("f", [R("ingress", 10 * i, "reject", "tcp", dp=str(20 + i)) for i in range(1, 10)] +
           [R("ingress", 100, "accept", "tcp", dp="1-1024")] +
           [R("egress", 10 * i, "reject", "tcp", dp=str(20 + i)) for i in range(1, 10)] +
           [R("egress", 100, "accept")])], one(monitored=[VPC]))

    # --- CIDR blocks -------------------------------------------------------------------------
    add("cidr_prefix_boundaries", "source 198.51.100.0/25, destination 10.0.1.0/24: .127 in, .128 out",
        [tcp4("198.51.100.0", INST, 80), tcp4("198.51.100.127", INST, 80), tcp4("198.51.100.128", INST, 80),
         tcp4("198.51.100.5", "10.0.2.1", 80), tcp4("198.51.100.5", "10.0.1.255", 80)],
        [F("f", [R("ingress", 100, "accept", source="198.51.100.0/25", destination="10.0.1.0/24")])], one())
    add("cidr_host_routes", "a /32 source and a /128 source",
        [udp4(PEER, INST, 514), udp4(PEER2, INST, 514), udp6(PEER6, INST6, 514), udp6(PEER6B, INST6, 514)],
        [F("f", [R("ingress", 1, "accept", source=PEER + "/32"),
                 R("ingress", 2, "accept", source=PEER6 + "/128", destination=ANY6)])], one())
    add("cidr_source_and_destination_both_needed", "the rule's source and destination are both checked",
        [tcp4(PEER, INST, 80), tcp4(INST, PEER, 80), tcp4(PEER, PEER2, 80)],
        [F("f", [R("ingress", 100, "accept", source="198.51.100.0/24", destination="10.0.0.0/8")])], one())

    # --- direction ---------------------------------------------------------------------------
    add("direction_from_monitored", "monitored 10.0.0.0/16: out of it egress (accepted), into it ingress (rejected)",
        [tcp4(INST, PEER, 443), tcp4(PEER, INST, 443), udp4(INST, PEER, 53), udp4(PEER, INST, 53)],
        [F("f", [R("egress", 100, "accept"), R("ingress", 100, "reject")])], one(monitored=[VPC]))
    add("direction_source_wins", "both ends monitored: the source decides (egress)",
        [tcp4(INST, INST2, 80), tcp4(INST2, INST, 80), tcp4(PEER, INST, 80)],
        [F("f", [R("ingress", 100, "accept")])], one(monitored=[VPC]))
    add("direction_not_monitored", "neither end monitored: not_monitored",
        [tcp4(PEER, PEER2, 80), tcp4(INST, PEER, 80), tcp6(PEER6, PEER6B, 80)],
        [F("f", [R("egress", 100, "accept"), R("ingress", 100, "accept")])], one(monitored=[VPC]))
    add("direction_default_ingress", "no monitored: all ingress; egress rules never apply",
        [tcp4(INST, PEER, 80), udp4(INST, PEER, 53), tcp4(PEER, INST, 80)],
        [F("f", [R("ingress", 100, "accept", "tcp"), R("egress", 100, "accept", "udp")])], one())
    add("direction_egress_session", "direction = egress: all egress; ingress rules never apply",
        [tcp4(INST, PEER, 80), udp4(INST, PEER, 53), udp4(PEER, INST, 53)],
        [F("f", [R("ingress", 100, "accept", "tcp"), R("egress", 100, "accept", "udp")])],
        one(direction="egress"))
    add("direction_empty_egress", "no egress rules: nothing leaving the monitored range is mirrored",
        [tcp4(INST, PEER, 80), tcp4(PEER, INST, 80), icmp4(INST, PEER), icmp4(PEER, INST)],
        [F("f", [R("ingress", 100, "accept")])], one(monitored=[VPC]))
    add("direction_empty_ingress", "no ingress rules: nothing entering the monitored range is mirrored",
        [tcp4(INST, PEER, 80), tcp4(PEER, INST, 80), udp6(INST6, PEER6, 123), udp6(PEER6, INST6, 123)],
        [F("f", [R("egress", 100, "accept"), R("egress", 200, "accept", source=ANY6, destination=ANY6)])],
        one(monitored=[VPC, VPC6]))
    add("direction_ipv6_monitored", "monitored only 2001:db8:1::/48: IPv4 is not monitored",
        [tcp6(INST6, PEER6, 443), tcp6(PEER6, INST6, 443), tcp4(INST, PEER, 443)],
        [F("f", [R("egress", 1, "accept", source=ANY6, destination=ANY6),
                 R("ingress", 1, "reject", source=ANY6, destination=ANY6),
                 R("egress", 2, "accept")])], one(monitored=[VPC6]))
    add("direction_several_monitored_ranges", "monitored 10.0.1.0/24 and 10.0.3.0/24, not 10.0.2.0/24",
        [tcp4(INST, PEER, 80), tcp4(INST3, PEER, 80), tcp4(INST2, PEER, 80), tcp4(PEER, INST2, 80),
         tcp4(INST2, INST3, 80)],
        [F("f", [R("egress", 100, "accept"), R("ingress", 100, "reject")])],
        one(monitored=["10.0.1.0/24", "10.0.3.0/24"]))

    # --- port ranges -------------------------------------------------------------------------
    add("destination_port_range_ends", "TCP destination 1000-2000: 999 and 2001 out, 1000 and 2000 in",
        [tcp4(PEER, INST, p) for p in (999, 1000, 1500, 2000, 2001)],
        [F("f", [R("ingress", 100, "accept", "tcp", dp="1000-2000")])], one())
    add("source_port_range_ends", "UDP (protocol 17) source 1024-65535: 1023 out, 1024 and 65535 in",
        [udp4(INST, PEER, 514, sport=p) for p in (1023, 1024, 40000, 65535)],
        [F("f", [R("egress", 100, "accept", 17, source=VPC, sp="1024-65535")])], one(monitored=[VPC]))
    add("single_port", "UDP destination 53 alone: 52 and 54 out",
        [udp4(PEER, INST, p) for p in (52, 53, 54)] + [tcp4(PEER, INST, 53)],
        [F("f", [R("ingress", 100, "accept", "udp", dp="53")])], one())
    add("both_port_ranges", "TCP source 40000-40010 and destination 443: both must match",
        [tcp4(PEER, INST, 443, sport=40000), tcp4(PEER, INST, 443, sport=40010), tcp4(PEER, INST, 443, sport=39999),
         tcp4(PEER, INST, 443, sport=40011), tcp4(PEER, INST, 444, sport=40005), tcp4(PEER, INST, 442, sport=40005)],
        [F("f", [R("ingress", 100, "accept", "tcp", sp="40000-40010", dp="443")])], one())
    add("port_rule_is_protocol_bound", "a UDP port rule does not match TCP on that port, nor the reverse",
        [tcp4(PEER, INST, 161), udp4(PEER, INST, 161), tcp4(PEER, INST, 179), udp4(PEER, INST, 179)],
        [F("f", [R("ingress", 1, "accept", "udp", dp="161"), R("ingress", 2, "accept", 6, dp="179")])], one())
    add("port_reject_range_then_accept", "reject TCP destination 1-1023, accept all TCP",
        [tcp4(PEER, INST, p) for p in (1, 1023, 1024, 65535)] + [udp4(PEER, INST, 1)],
        [F("f", [R("ingress", 5, "reject", "tcp", dp="1-1023"), R("ingress", 6, "accept", "tcp")])], one())
    add("port_ranges_ipv6", "IPv6 TCP destination 8000-8080: ends and beyond",
        [tcp6(PEER6, INST6, p) for p in (7999, 8000, 8080, 8081)],
        [F("f", [R("ingress", 100, "accept", "tcp", ANY6, ANY6, dp="8000-8080")])], one())

    # --- address family ----------------------------------------------------------------------
    add("ipv4_rule_ipv6_packet", "an IPv4 accept-all never matches IPv6",
        [tcp4(PEER, INST, 80), tcp6(PEER6, INST6, 80), icmp6(PEER6, INST6)],
        [F("f", [R("ingress", 100, "accept")])], one())
    add("ipv6_rule_ipv4_packet", "an IPv6 accept-all never matches IPv4",
        [tcp4(PEER, INST, 80), tcp6(PEER6, INST6, 80), udp6(PEER6, INST6, 53)],
        [F("f", [R("ingress", 100, "accept", source=ANY6, destination=ANY6)])], one())
    add("ipv4_mapped_is_ipv6", "an IPv6 packet from ::ffff:198.51.100.7 is IPv6; an IPv4 rule ignores it",
        [eth() / IPv6(src="::ffff:198.51.100.7", dst=INST6) / TCP(sport=eph(), dport=80) / payload(),
         tcp4(PEER, INST, 80)],
        [F("f", [R("ingress", 1, "accept", source="198.51.100.0/24"),
                 R("ingress", 2, "reject", source="::ffff:0:0/96", destination=ANY6)])], one())
    add("families_side_by_side", "reject IPv6 TCP, accept the rest of IPv6, accept IPv4 UDP",
        [tcp6(PEER6, INST6, 22), udp6(PEER6, INST6, 22), tcp4(PEER, INST, 22), udp4(PEER, INST, 22)],
        [F("f", [R("ingress", 1, "reject", "tcp", ANY6, ANY6), R("ingress", 2, "accept", "all", ANY6, ANY6),
                 R("ingress", 3, "accept", "udp")])], one())

    # --- protocol numbers --------------------------------------------------------------------
    add("protocol_gre_47", "protocol 47 matches GRE only",
        [eth() / IP(src=PEER, dst=INST) / GRE() / IP(src="172.16.0.1", dst="172.16.0.2") / ICMP(),
         tcp4(PEER, INST, 47), proto4(PEER, INST, 46)],
        [F("f", [R("ingress", 100, "accept", 47)])], one())
    add("protocol_sctp_132", "protocol 132 matches SCTP (IPv4 and IPv6 rules)",
        [eth() / IP(src=PEER, dst=INST) / SCTP(sport=5000, dport=38412) / SCTPChunkInit(),
         eth() / IPv6(src=PEER6, dst=INST6) / SCTP(sport=5000, dport=38412) / SCTPChunkInit(),
         udp4(PEER, INST, 38412)],
        [F("f", [R("ingress", 1, "accept", 132), R("ingress", 2, "accept", 132, ANY6, ANY6)])], one())
    add("protocol_icmp_1_vs_58", "icmp (1) is not icmpv6 (58): each matches its own",
        [icmp4(PEER, INST), icmp6(PEER6, INST6), icmp6(INST6, PEER6, reply=True)],
        [F("f", [R("ingress", 1, "accept", "icmp"), R("ingress", 2, "accept", "icmp", ANY6, ANY6),
                 R("egress", 1, "accept", 58, ANY6, ANY6)])], one(monitored=[VPC, VPC6]))
    add("protocol_icmpv6_name", "icmpv6 by name on IPv6; protocol 1 by number on IPv4",
        [icmp6(PEER6, INST6), icmp4(PEER, INST), tcp6(PEER6, INST6, 80)],
        [F("f", [R("ingress", 1, "accept", "icmpv6", ANY6, ANY6), R("ingress", 2, "accept", 1)])], one())
    add("protocol_all", "all matches GRE, ESP, TCP, UDP, ICMP and protocol 255",
        [eth() / IP(src=PEER, dst=INST) / GRE() / payload(), proto4(PEER, INST, 50), tcp4(PEER, INST, 1),
         udp4(PEER, INST, 2), icmp4(PEER, INST), proto4(PEER, INST, 255)],
        [F("f", [R("ingress", 100, "accept", "all")])], one())
    add("protocol_0_and_255", "protocol 0 on IPv4; an IPv6 hop-by-hop header is not protocol 0",
        [proto4(PEER, INST, 0), proto4(PEER, INST, 255), proto4(PEER, INST, 254),
         eth() / IPv6(src=PEER6, dst=INST6) / IPv6ExtHdrHopByHop() / TCP(sport=eph(), dport=80) / payload()],
        [F("f", [R("ingress", 1, "accept", 0), R("ingress", 2, "accept", 255),
                 R("ingress", 3, "accept", 0, ANY6, ANY6)])], one())
    add("protocol_number_equals_name", "protocol 6 and 17 by number, as tcp and udp",
        [tcp4(PEER, INST, 8443), udp4(PEER, INST, 8443), proto4(PEER, INST, 89)],
        [F("f", [R("ingress", 1, "accept", 6), R("ingress", 2, "reject", 17), R("ingress", 3, "accept", 89)])],
        one())

    # --- IPv6 extension headers --------------------------------------------------------------
    add("ipv6_extension_headers_tcp", "hop-by-hop, destination options, routing before TCP: TCP and its ports",
        [eth() / IPv6(src=PEER6, dst=INST6) / IPv6ExtHdrHopByHop() / TCP(sport=eph(), dport=22) / payload(),
         eth() / IPv6(src=PEER6, dst=INST6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() /
         IPv6ExtHdrRouting(addresses=["2001:db8:9::1"]) / TCP(sport=eph(), dport=443) / payload(),
         eth() / IPv6(src=PEER6, dst=INST6) / IPv6ExtHdrDestOpt() / UDP(sport=eph(), dport=443) / payload(),
         eth() / IPv6(src=PEER6, dst=INST6) / IPv6ExtHdrDestOpt() / TCP(sport=eph(), dport=8080) / payload()],
        [F("f", [R("ingress", 1, "reject", "tcp", ANY6, ANY6, dp="22"),
                 R("ingress", 2, "accept", "tcp", ANY6, ANY6, dp="443"),
                 R("ingress", 3, "reject", "udp", ANY6, ANY6)])], one())
    add("ipv6_extension_protocol_rule", "protocol-number rules see the upper-layer protocol, not 0/60",
        [eth() / IPv6(src=PEER6, dst=INST6) / IPv6ExtHdrHopByHop() / UDP(sport=eph(), dport=9) / payload(),
         eth() / IPv6(src=PEER6, dst=INST6) / IPv6ExtHdrDestOpt() / ICMPv6EchoRequest() / payload(),
         udp6(PEER6, INST6, 9)],
        [F("f", [R("ingress", 1, "reject", 0, ANY6, ANY6), R("ingress", 2, "reject", 60, ANY6, ANY6),
                 R("ingress", 3, "accept", 17, ANY6, ANY6)])], one())

    # --- fragments ---------------------------------------------------------------------------
    big_tcp = lambda: TCP(sport=eph(), dport=80, flags="PA") / payload(40)  # noqa: E731
    add("ipv4_later_fragment_port_rule", "a port rule: the first fragment matches, later ones have no ports",
        fragments4(PEER, INST, big_tcp()),
        [F("f", [R("ingress", 100, "accept", "tcp", dp="80")])], one())
    add("ipv4_later_fragment_portless_rule", "reject TCP 22 (ports), accept TCP (no ports): later fragments pass",
        fragments4(PEER, INST, TCP(sport=eph(), dport=22, flags="PA") / payload(40)),
        [F("f", [R("ingress", 100, "reject", "tcp", dp="22"), R("ingress", 200, "accept", "tcp")])], one())
    add("ipv4_later_fragment_protocol", "a later UDP fragment still is UDP: a TCP rule does not take it",
        fragments4(PEER, INST, UDP(sport=eph(), dport=4000) / payload(40)),
        [F("f", [R("ingress", 1, "accept", "tcp"), R("ingress", 2, "accept", "udp", dp="4000")])], one())
    add("ipv4_later_fragment_then_catch_all", "later fragments skip both port rules (even 1-65535) and reach the catch-all",
        fragments4(INST, PEER, UDP(sport=eph(), dport=5060) / payload(40)),
        [F("f", [R("egress", 1, "accept", "udp", dp="5060"), R("egress", 2, "reject", "udp", sp="1-65535"),
                 R("egress", 3, "accept")])], one(monitored=[VPC]))
    add("ipv6_later_fragment_port_rule", "IPv6 fragments: first matches the port rule, later ones do not",
        fragments6(PEER6, INST6, TCP(sport=eph(), dport=443, flags="PA") / payload(40)),
        [F("f", [R("ingress", 100, "accept", "tcp", ANY6, ANY6, dp="443")])], one())
    add("ipv6_later_fragment_portless_rule", "IPv6 fragments after a hop-by-hop header: a portless UDP rule takes them all",
        fragments6(PEER6, INST6, UDP(sport=eph(), dport=53) / payload(40), ext=(IPv6ExtHdrHopByHop(),)),
        [F("f", [R("ingress", 1, "reject", "udp", ANY6, ANY6, dp="53"), R("ingress", 2, "accept", "udp", ANY6, ANY6)])],
        one())

    # --- traffic AWS never mirrors -----------------------------------------------------------
    everything = [F("f", [R("ingress", 1, "accept"), R("ingress", 2, "accept", "all", ANY6, ANY6),
                          R("egress", 1, "accept"), R("egress", 2, "accept", "all", ANY6, ANY6)])]
    add("non_ip_frames", "ARP, LLDP, an 802.3/LLC STP frame, an unknown EtherType: never mirrored",
        [arp(), Ether(src=MAC_A, dst="01:80:c2:00:00:0e", type=0x88CC) / Raw(b"\x02\x07\x04" + bytes(40)),
         Ether(src=MAC_A, dst="01:80:c2:00:00:00") / LLC() / STP(),
         Ether(src=MAC_A, dst=MAC_B, type=0x88B5) / payload(46), tcp4(PEER, INST, 80)],
        everything, one())
    add("dhcp", "DHCP (UDP 67/68 at either end) never mirrored; TCP 67 and UDP 69 are",
        [udp4("0.0.0.0", "255.255.255.255", 67, sport=68), udp4("10.0.0.1", INST, 68, sport=67),
         udp4(PEER, INST, 67, sport=5000), udp4(INST, PEER, 5000, sport=68), tcp4(PEER, INST, 67), udp4(PEER, INST, 69)],
        everything, one())
    add("instance_metadata", "169.254.169.254 and fd00:ec2::254, either end",
        [tcp4(INST, "169.254.169.254", 80), tcp4("169.254.169.254", INST, 50000, sport=80),
         tcp6(INST6, "fd00:ec2::254", 80), tcp4(INST, "169.254.169.253", 80), tcp4(INST, PEER, 80)],
        [F("f", [R("ingress", 1, "accept"), R("ingress", 2, "accept", "all", ANY6, ANY6)],
           network_services=["amazon-dns"])], one())
    add("time_sync", "Amazon Time Sync 169.254.169.123 and fd00:ec2::123; a public NTP server is mirrored",
        [udp4(INST, "169.254.169.123", 123, sport=123), udp4("169.254.169.123", INST, 123, sport=123),
         udp6("fd00:ec2::123", INST6, 123, sport=123), udp4(INST, PEER2, 123, sport=123)],
        everything, one())
    add("windows_activation", "169.254.169.250 and .251 never mirrored; .252 is",
        [tcp4(INST, "169.254.169.250", 1688), tcp4("169.254.169.251", INST, 50000, sport=1688),
         tcp4(INST, "169.254.169.252", 1688)],
        everything, one())
    add("amazon_dns_default", "Amazon DNS (169.254.169.253, fd00:ec2::253) not mirrored by default",
        [udp4(INST, "169.254.169.253", 53), udp4("169.254.169.253", INST, 40000, sport=53),
         udp6(INST6, "fd00:ec2::253", 53), udp4(INST, PEER, 53)],
        everything, one())
    add("amazon_dns_opt_in", "network_services = amazon-dns: DNS mirrored; metadata and Time Sync still not",
        [udp4(INST, "169.254.169.253", 53), udp6("fd00:ec2::253", INST6, 40000, sport=53),
         tcp4(INST, "169.254.169.254", 80), udp4(INST, "169.254.169.123", 123)],
        [F("f", everything[0]["rules"], network_services=["amazon-dns"])], one())
    add("amazon_dns_opt_in_rules_decide", "amazon-dns makes DNS eligible; the rules still decide",
        [udp4(INST, "169.254.169.253", 53), tcp4(INST, "169.254.169.253", 53), udp4("169.254.169.253", INST, 5353, sport=53)],
        [F("f", [R("egress", 1, "reject", "udp"), R("egress", 2, "accept")], network_services=["amazon-dns"])],
        one(monitored=[VPC]))
    add("aws_exclusions_off", "aws_exclusions = false: DHCP, metadata, Time Sync, activation, DNS mirrored; ARP matches no rule",
        [udp4("0.0.0.0", "255.255.255.255", 67, sport=68), tcp4(INST, "169.254.169.254", 80),
         udp4(INST, "169.254.169.123", 123), tcp4(INST, "169.254.169.250", 1688),
         udp4(INST, "169.254.169.253", 53), udp6(INST6, "fd00:ec2::253", 53), arp()],
        [F("f", everything[0]["rules"], aws_exclusions=False)], one())
    add("aws_exclusions_off_rules_decide", "aws_exclusions = false: the rules decide for AWS's services",
        [tcp4(INST, "169.254.169.254", 80), udp4(INST, "169.254.169.253", 53), udp4(INST, PEER, 53)],
        [F("f", [R("ingress", 1, "reject", destination="169.254.0.0/16"), R("ingress", 2, "accept")],
           aws_exclusions=False)], one())
    add("no_filter_mirrors_everything", "a session without a filter: ARP, DHCP, metadata, DNS all mirrored",
        [arp(), udp4("0.0.0.0", "255.255.255.255", 67, sport=68), tcp4(INST, "169.254.169.254", 80),
         udp4(INST, "169.254.169.253", 53), tcp6(PEER6, INST6, 22), Ether(src=MAC_A, dst=MAC_B, type=0x88B5) / payload(46)],
        [], [S("s1", 1)])
    add("exclusions_before_direction", "never-mirrored reasons come before not_monitored",
        [tcp4(PEER, "169.254.169.254", 80), udp4(PEER2, "169.254.169.253", 53), arp(),
         udp4("0.0.0.0", "255.255.255.255", 67, sport=68), tcp4(PEER, PEER2, 80), tcp4(INST, PEER, 80)],
        everything, one(monitored=[VPC]))
    add("exclusions_before_rules", "never-mirrored reasons come before a rejecting rule",
        [udp4(INST, "169.254.169.123", 123), udp4("10.0.0.1", INST, 68, sport=67), udp4(PEER, INST, 123)],
        [F("f", [R("ingress", 1, "reject")])], one())

    # --- VLAN tags ---------------------------------------------------------------------------
    add("vlan_8021q", "802.1Q-tagged IPv4 and IPv6 are filtered on their IP headers",
        [vlan(tcp4(PEER, INST, 22), (0x8100, 10)), vlan(tcp4(PEER, INST, 80), (0x8100, 10)),
         vlan(tcp6(PEER6, INST6, 22), (0x8100, 4094)), vlan(udp6(PEER6, INST6, 22), (0x8100, 1))],
        [F("f", [R("ingress", 1, "reject", "tcp", dp="22"), R("ingress", 2, "accept"),
                 R("ingress", 3, "accept", "tcp", ANY6, ANY6, dp="22")])], one())
    add("vlan_qinq", "802.1ad + 802.1Q and double 802.1Q: looked through",
        [vlan(tcp4(INST, PEER, 443), (0x88A8, 100), (0x8100, 200)), vlan(tcp4(PEER, INST, 443), (0x8100, 100), (0x8100, 200)),
         vlan(udp6(INST6, PEER6, 53), (0x88A8, 5), (0x8100, 6)), vlan(udp4(INST, PEER, 53), (0x88A8, 5))],
        [F("f", [R("egress", 1, "accept", "tcp", dp="443"), R("egress", 2, "accept", "udp", ANY6, ANY6),
                 R("ingress", 1, "reject")])], one(monitored=[VPC, VPC6]))
    add("vlan_never_mirrored", "tagged ARP, DHCP and metadata traffic: never mirrored",
        [vlan(arp(), (0x8100, 10)), vlan(udp4("0.0.0.0", "255.255.255.255", 67, sport=68), (0x8100, 10)),
         vlan(tcp4(INST, "169.254.169.254", 80), (0x88A8, 3), (0x8100, 4)), vlan(tcp4(INST, PEER, 80), (0x8100, 10))],
        everything, one())

    # --- several sessions --------------------------------------------------------------------
    add("sessions_exclusive", "session 1 takes TCP; session 2 (accept all) gets only the rest",
        [tcp4(PEER, INST, 80), udp4(PEER, INST, 53), tcp4(PEER, INST, 443), icmp4(PEER, INST)],
        [F("tcp", [R("ingress", 1, "accept", "tcp")]), F("all", [R("ingress", 1, "accept")])],
        [S("s1", 1, "tcp"), S("s2", 2, "all")])
    add("sessions_ordered_by_number", "listed 20 then 10: session 10 is tried first",
        [tcp4(PEER, INST, 80), udp4(PEER, INST, 53)],
        [F("tcp", [R("ingress", 1, "accept", "tcp")]), F("all", [R("ingress", 1, "accept")])],
        [S("late", 20, "all"), S("early", 10, "tcp")])
    add("sessions_last_reason_no_rule", "s1 rejects UDP, s2 has no rule for it: filtered as no_rule_matched",
        [udp4(PEER, INST, 53), tcp4(PEER, INST, 80)],
        [F("noudp", [R("ingress", 1, "reject", "udp")]), F("tcp", [R("ingress", 1, "accept", "tcp")])],
        [S("s1", 1, "noudp"), S("s2", 2, "tcp")])
    add("sessions_last_reason_rejected", "s1 has no rule, s2 rejects: filtered as rule_rejected",
        [udp4(PEER, INST, 53), tcp4(PEER, INST, 80)],
        [F("tcp", [R("ingress", 1, "accept", "tcp")]), F("noudp", [R("ingress", 1, "reject", "udp")])],
        [S("s1", 1, "tcp"), S("s2", 2, "noudp")])
    add("sessions_last_reason_not_monitored", "s2 (highest number) does not monitor: not_monitored",
        [tcp4(INST, PEER, 22), tcp4(INST, PEER, 80), tcp4(INST2, PEER, 22)],
        [F("f", [R("egress", 1, "reject", "tcp", dp="22"), R("egress", 2, "accept")])],
        [S("s1", 1, "f", monitored=["10.0.1.0/24"]), S("s2", 2, "f", monitored=["10.0.2.0/24"])])
    add("sessions_filter_then_unfiltered", "s1 filters (TCP), s2 has no filter: ARP and DHCP go to s2",
        [tcp4(PEER, INST, 80), arp(), udp4("0.0.0.0", "255.255.255.255", 67, sport=68), udp4(PEER, INST, 9)],
        [F("tcp", [R("ingress", 1, "accept", "tcp")])], [S("s1", 1, "tcp"), S("s2", 2)])
    add("sessions_unfiltered_first", "s1 without a filter takes everything: s2 sees nothing",
        [tcp4(PEER, INST, 80), arp(), udp4(PEER, INST, 53)],
        [F("all", [R("ingress", 1, "accept")])], [S("s1", 1), S("s2", 2, "all")])
    add("sessions_exclusions_per_filter", "DNS: s1 (no amazon-dns) excludes it, s2 (amazon-dns) mirrors it",
        [udp4(INST, "169.254.169.253", 53), udp4(INST, PEER, 53), tcp4(INST, "169.254.169.254", 80)],
        [F("plain", [R("ingress", 1, "accept", "tcp")]), F("dns", [R("ingress", 1, "accept", "udp")], network_services=["amazon-dns"])],
        [S("s1", 1, "plain"), S("s2", 2, "dns")])
    add("sessions_last_reason_exclusion", "s1 (amazon-dns) rejects UDP; s2 excludes DNS: never_mirrored_amazon_dns",
        [udp4(INST, "169.254.169.253", 53), udp4(INST, PEER, 53)],
        [F("dns", [R("ingress", 1, "reject", "udp")], network_services=["amazon-dns"]), F("plain", [R("ingress", 1, "accept", "tcp")])],
        [S("s1", 1, "dns"), S("s2", 2, "plain")])
    add("sessions_three_shared_filter", "three sessions, one filter, three monitored ranges, then a catch-all",
        [tcp4(INST, PEER, 80), tcp4(INST2, PEER, 80), tcp4(INST3, PEER, 80), tcp4(PEER, INST3, 80),
         tcp4("10.0.4.4", PEER, 80), tcp4(PEER, PEER2, 80)],
        [F("out", [R("egress", 1, "accept")]), F("in", [R("ingress", 1, "accept", destination="10.0.0.0/8")])],
        [S("a", 1, "out", monitored=["10.0.1.0/24"]), S("b", 2, "out", monitored=["10.0.2.0/24"]),
         S("c", 3, "out", monitored=["10.0.3.0/24"]), S("d", 4, "in")])
    add("sessions_egress_and_ingress_ports", "two sessions seeing one port each way (direction = egress on one)",
        [tcp4(INST, PEER, 443), tcp4(PEER, INST, 50000, sport=443), udp4(INST, PEER, 53)],
        [F("web", [R("egress", 1, "accept", "tcp", dp="443"), R("ingress", 1, "accept", "tcp", sp="443")])],
        [S("out", 1, "web", direction="egress"), S("in", 2, "web")])
    return cases


def write_cases(directory, cases=None):
    """Writes DIR/CASE.pcap per case and DIR/cases.json; returns the cases."""
    cases = cases or build_cases()
    os.makedirs(directory, exist_ok=True)
    for c in cases:
        pkts = [Ether(f) for f in c.frames]
        for i, p in enumerate(pkts):
            p.time = 1700000000 + i * 0.001
        wrpcap(os.path.join(directory, c.name + ".pcap"), pkts)
    with open(os.path.join(directory, "cases.json"), "w") as f:
        json.dump([c.as_json() for c in cases], f, indent=1)
    return cases


# ------------------------------------------------------------------ the model, hand-checked

def self_test():
    """Hand-worked answers (derived on paper from the AWS rules, not from running the model)."""
    d = model.decide
    web = [F("web", [R("ingress", 100, "reject", "tcp", dp="22"), R("ingress", 200, "accept", "all", ANY4, VPC),
                     R("egress", 100, "accept", 17, VPC, ANY4, sp="1024-65535")])]
    s = [S("web", 1, "web", monitored=[VPC])]
    assert d(bytes(tcp4(PEER, INST, 22)), s, web) == ("filtered", "rule_rejected")
    assert d(bytes(tcp4(PEER, INST, 80)), s, web) == ("mirrored", "web")
    assert d(bytes(udp4(INST, PEER, 53, sport=1024)), s, web) == ("mirrored", "web")
    assert d(bytes(udp4(INST, PEER, 53, sport=1023)), s, web) == ("filtered", "no_rule_matched")
    assert d(bytes(tcp4(INST, PEER, 80)), s, web) == ("filtered", "no_rule_matched")
    assert d(bytes(tcp4(PEER, PEER2, 80)), s, web) == ("filtered", "not_monitored")
    assert d(bytes(tcp6(PEER6, INST6, 80)), s, web) == ("filtered", "not_monitored")
    assert d(bytes(arp()), s, web) == ("filtered", "never_mirrored_non_ip")
    assert d(bytes(arp()), [S("x", 1)], []) == ("mirrored", "x")
    assert d(bytes(udp4(INST, "169.254.169.253", 53)), s, web) == ("filtered", "never_mirrored_amazon_dns")
    web_dns = [dict(web[0], network_services=["amazon-dns"])]
    assert d(bytes(udp4(INST, "169.254.169.253", 53, sport=2000)), s, web_dns) == ("mirrored", "web")
    assert d(bytes(udp4(INST, "169.254.169.253", 53, sport=1000)), s, web_dns) == ("filtered", "no_rule_matched")
    assert d(bytes(udp4(PEER, INST, 68, sport=67)), s, web) == ("filtered", "never_mirrored_dhcp")
    off = [dict(web[0], aws_exclusions=False)]
    assert d(bytes(udp4(PEER, INST, 68, sport=67)), s, off) == ("mirrored", "web")
    assert d(bytes(tcp4(PEER, "169.254.169.254", 80)), s, off) == ("filtered", "not_monitored")
    assert d(bytes(tcp4(PEER, "169.254.169.254", 80)), s, web) == ("filtered", "never_mirrored_metadata")
    # Parsing: VLAN, QinQ, IPv6 extension headers, fragments.
    p = model.parse(bytes(vlan(tcp4(PEER, INST, 22), (0x88A8, 1), (0x8100, 2))))
    assert p.ip and p.family == 4 and p.proto == 6 and p.dport == 22
    p = model.parse(bytes(eth() / IPv6(src=PEER6, dst=INST6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() /
                          IPv6ExtHdrRouting(addresses=["2001:db8::1"]) / TCP(sport=1234, dport=22)))
    assert p.family == 6 and p.proto == 6 and (p.sport, p.dport) == (1234, 22), p
    frags = fragments4(PEER, INST, TCP(sport=1111, dport=22) / Raw(b"x" * 40))
    assert len(frags) == 4
    first, later = model.parse(bytes(frags[0])), model.parse(bytes(frags[1]))
    assert (first.proto, first.dport, first.later_fragment) == (6, 22, False)
    assert (later.proto, later.has_ports(), later.later_fragment) == (6, False, True)
    assert d(bytes(frags[0]), s, web) == ("filtered", "rule_rejected")
    assert d(bytes(frags[1]), s, web) == ("mirrored", "web")      # no ports: rule 100 skipped, 200 accepts
    f6 = fragments6(PEER6, INST6, UDP(sport=1, dport=53) / Raw(b"y" * 40), ext=(IPv6ExtHdrHopByHop(),))
    p0, p1 = model.parse(bytes(f6[0])), model.parse(bytes(f6[1]))
    assert (p0.proto, p0.dport, p0.later_fragment) == (17, 53, False)
    assert (p1.proto, p1.has_ports(), p1.later_fragment) == (17, False, True)
    # Family: an IPv4 rule never matches IPv6.
    assert d(bytes(tcp6(PEER6, INST6, 80)), [S("a", 1, "all")], [F("all", [R("ingress", 1, "accept")])]) == \
        ("filtered", "no_rule_matched")
    # Sessions: the first that accepts; else the last one's reason.
    two = [F("t", [R("ingress", 1, "accept", "tcp")]), F("r", [R("ingress", 1, "reject", "udp")])]
    assert d(bytes(udp4(PEER, INST, 9)), [S("a", 1, "r"), S("b", 2, "t")], two) == ("filtered", "no_rule_matched")
    assert d(bytes(udp4(PEER, INST, 9)), [S("a", 2, "r"), S("b", 1, "t")], two) == ("filtered", "rule_rejected")
    assert d(bytes(tcp4(PEER, INST, 9)), [S("a", 2, "t"), S("b", 1, "t")], two) == ("mirrored", "b")

    cases = build_cases()
    assert len(cases) >= 50, len(cases)
    assert len({c.name for c in cases}) == len(cases)
    seen = {e[1] for c in cases for e in c.expected if e[0] == "filtered"}
    missing = set(model.REASONS) - seen
    assert not missing, "no case filters as %s" % missing
    for c in cases:
        assert 1 <= len(c.frames) <= 16, c.name
        nums = [s["number"] for s in c.sessions]
        assert len(set(nums)) == len(nums) and all(1 <= n <= 32766 for n in nums), c.name
    # Deterministic: the same table twice.
    again = build_cases()
    assert [c.frames for c in again] == [c.frames for c in cases]
    print("make_session_cases: model self-test passed; %d cases, %d frames" %
          (len(cases), sum(len(c.frames) for c in cases)))


def main(argv):
    args = argv[1:]
    if "--self-test" in args:
        self_test()
        args.remove("--self-test")
    if args:
        cases = write_cases(args[0])
        print("wrote %d cases to %s" % (len(cases), args[0]))
    elif "--self-test" not in argv:
        print(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
