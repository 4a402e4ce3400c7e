"""An independent model of which packets a set of AWS VPC Traffic Mirroring sessions mirrors.

Written from AWS's documentation (and the semantics issue 12 restates from it), never from
mirrorpipe's code. Frames are parsed with scapy (Ethernet, VLAN tags, IPv4, IPv6); the IPv6
extension-header walk is done on the bytes scapy gives.

Where each rule comes from:

- Rules of a filter: CreateTrafficMirrorFilterRule (EC2 API reference,
  https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateTrafficMirrorFilterRule.html):
  TrafficDirection ingress|egress; RuleNumber "must be unique for each Traffic Mirror rule in a
  given direction. The rules are processed in ascending order by rule number"; RuleAction
  accept|reject; Protocol an IANA protocol number (absent: every protocol, "all" here);
  SourceCidrBlock and DestinationCidrBlock both required; the port ranges "apply to the TCP and
  UDP protocols".
- A filter, or a direction, without rules mirrors nothing: CreateTrafficMirrorSession ("By
  default, no traffic is mirrored. Use CreateTrafficMirrorFilter to create filter rules that
  specify the traffic to mirror").
- Sessions: CreateTrafficMirrorSession, SessionNumber: "The session number determines the order
  in which sessions are evaluated when an interface is used by multiple sessions. The first
  session with a matching filter is the one that mirrors the packets. Valid values are 1-32766."
- Traffic never mirrored: "Traffic Mirroring limitations"
  (https://docs.aws.amazon.com/vpc/latest/mirroring/traffic-mirroring-network-limitations.html):
  "Traffic Mirroring can't mirror the following traffic types: ARP, DHCP, Instance metadata
  service, NTP, Windows activation". NTP there is Amazon Time Sync (169.254.169.123), see
  /work/shared/docs/wire-formats.md: a public NTP server's traffic is mirrored in a real capture.
- Amazon DNS: ModifyTrafficMirrorFilterNetworkServices
  (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyTrafficMirrorFilterNetworkServices.html):
  "By default, Amazon DNS network services are not eligible for Traffic Mirror"; valid value
  "amazon-dns". Adding it makes that traffic eligible; here the filter's rules still decide
  (issue 12: the exclusion is lifted, then direction and rules as for any packet).
- The AWS addresses (instance metadata 169.254.169.254 / fd00:ec2::254, Time Sync
  169.254.169.123 / fd00:ec2::123, Windows activation 169.254.169.250 and .251, Amazon DNS
  169.254.169.253 / fd00:ec2::253) are those of the EC2 user guide's link-local services.

What mirrorpipe adds, as issue 12 specifies it (AWS has no such notion, an ENI is the source):
`monitored` decides the direction, a session without a filter mirrors everything, and
`aws_exclusions = false` turns the exclusions off.

decide(frame, sessions, filters) -> ("mirrored", session_name) | ("filtered", reason)
"""
import ipaddress
import struct

from scapy.layers.l2 import Dot1AD, Dot1Q, Ether
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6

REASONS = (
    "never_mirrored_non_ip",
    "never_mirrored_dhcp",
    "never_mirrored_metadata",
    "never_mirrored_time_sync",
    "never_mirrored_windows_activation",
    "never_mirrored_amazon_dns",
    "not_monitored",
    "rule_rejected",
    "no_rule_matched",
)

PROTOCOL_NAMES = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58}

# AWS's link-local services, by the reason under which a filter never mirrors them.
AWS_ADDRESSES = {
    "never_mirrored_metadata": ["169.254.169.254", "fd00:ec2::254"],
    "never_mirrored_time_sync": ["169.254.169.123", "fd00:ec2::123"],
    "never_mirrored_windows_activation": ["169.254.169.250", "169.254.169.251"],
    "never_mirrored_amazon_dns": ["169.254.169.253", "fd00:ec2::253"],
}
_AWS_ADDRESS_REASON = {ipaddress.ip_address(a): r for r, addrs in AWS_ADDRESSES.items() for a in addrs}

DHCP_PORTS = (67, 68)

# IPv6 extension headers walked to reach the upper-layer protocol (RFC 8200 section 4, and AH,
# RFC 4302, whose length is in 4-octet units). ESP (50) cannot be walked: it is the protocol.
_IPV6_EXT_8 = (0, 43, 60, 135, 139, 140)   # length in 8-octet units, not counting the first 8
_IPV6_FRAGMENT = 44
_IPV6_AH = 51


class Packet:
    """What the filters look at: family, addresses, upper-layer protocol, ports (None when the
    packet carries none: not TCP/UDP, a later fragment, or a header cut short)."""

    def __init__(self, ip=False, family=None, src=None, dst=None, proto=None, sport=None,
                 dport=None, later_fragment=False):
        self.ip = ip
        self.family = family
        self.src = src
        self.dst = dst
        self.proto = proto
        self.sport = sport
        self.dport = dport
        self.later_fragment = later_fragment

    def has_ports(self):
        return self.sport is not None

    def __repr__(self):
        if not self.ip:
            return "Packet(non-IP)"
        return "Packet(v%d %s -> %s proto %d ports %s/%s%s)" % (
            self.family, self.src, self.dst, self.proto, self.sport, self.dport,
            " later-fragment" if self.later_fragment else "")


def _ports(l4, proto):
    if proto in (6, 17) and len(l4) >= 4:
        return struct.unpack("!HH", l4[:4])
    return None, None


def parse(frame):
    """Parses an Ethernet frame (bytes) into a Packet. Up to two VLAN tags (802.1Q 0x8100,
    802.1ad 0x88a8) are looked through; anything but IPv4/IPv6 after them is non-IP."""
    eth = Ether(frame)
    layer = eth.payload
    tags = 0
    while isinstance(layer, (Dot1Q, Dot1AD)) and tags < 2:
        layer = layer.payload
        tags += 1
    if isinstance(layer, IP):
        raw = bytes(layer)
        ihl = (raw[0] & 0x0F) * 4
        proto = raw[9]
        frag_offset = struct.unpack("!H", raw[6:8])[0] & 0x1FFF
        later = frag_offset > 0
        sport = dport = None
        if not later:
            sport, dport = _ports(raw[ihl:], proto)
        return Packet(True, 4, ipaddress.ip_address(layer.src), ipaddress.ip_address(layer.dst),
                      proto, sport, dport, later)
    if isinstance(layer, IPv6):
        raw = bytes(layer)
        nh = raw[6]
        off = 40
        later = False
        while True:
            if nh in _IPV6_EXT_8 and len(raw) >= off + 2:
                nh, off = raw[off], off + (raw[off + 1] + 1) * 8
            elif nh == _IPV6_AH and len(raw) >= off + 2:
                nh, off = raw[off], off + (raw[off + 1] + 2) * 4
            elif nh == _IPV6_FRAGMENT and len(raw) >= off + 8:
                offset = struct.unpack("!H", raw[off + 2:off + 4])[0] >> 3
                later = later or offset > 0
                nh, off = raw[off], off + 8
            else:
                break
        sport = dport = None
        if not later:
            sport, dport = _ports(raw[off:], nh)
        return Packet(True, 6, ipaddress.ip_address(layer.src), ipaddress.ip_address(layer.dst),
                      nh, sport, dport, later)
    return Packet(False)


def _port_range(text):
    """ "N" or "LO-HI" -> (lo, hi)."""
    text = str(text)
    if "-" in text:
        lo, hi = text.split("-", 1)
        return int(lo), int(hi)
    return int(text), int(text)


def rule_protocol(value):
    """A rule's protocol as a number, or None for "all"."""
    if isinstance(value, str):
        if value == "all":
            return None
        return PROTOCOL_NAMES[value]
    return int(value)


def rule_matches(rule, pkt):
    src_net = ipaddress.ip_network(rule["source"], strict=False)
    dst_net = ipaddress.ip_network(rule["destination"], strict=False)
    assert src_net.version == dst_net.version, "a rule's two CIDR blocks are of one family"
    if not pkt.ip or pkt.family != src_net.version:
        return False  # an IPv4 rule never matches IPv6, nor the reverse
    proto = rule_protocol(rule.get("protocol", "all"))
    if proto is not None and pkt.proto != proto:
        return False
    if pkt.src not in src_net or pkt.dst not in dst_net:
        return False
    for key, port in (("source_ports", pkt.sport), ("destination_ports", pkt.dport)):
        if key in rule:
            if not pkt.has_ports():
                return False  # a later fragment (or a port-less packet) has no ports to match
            lo, hi = _port_range(rule[key])
            if not lo <= port <= hi:
                return False
    return True


def never_mirrored_reason(pkt, flt):
    """The reason a filtered session never mirrors this packet, or None."""
    if not flt.get("aws_exclusions", True):
        return None
    if not pkt.ip:
        return "never_mirrored_non_ip"
    if pkt.proto == 17 and pkt.has_ports() and (pkt.sport in DHCP_PORTS or pkt.dport in DHCP_PORTS):
        return "never_mirrored_dhcp"
    for addr in (pkt.src, pkt.dst):
        reason = _AWS_ADDRESS_REASON.get(addr)
        if reason == "never_mirrored_amazon_dns" and "amazon-dns" in flt.get("network_services", []):
            continue
        if reason:
            return reason
    return None


def direction_of(pkt, session):
    """"ingress", "egress", or None when the session does not take the packet."""
    monitored = session.get("monitored")
    if monitored is None:
        return session.get("direction", "ingress")
    nets = [ipaddress.ip_network(m, strict=False) for m in monitored]
    if not pkt.ip:
        return None
    if any(pkt.src.version == n.version and pkt.src in n for n in nets):
        return "egress"
    if any(pkt.dst.version == n.version and pkt.dst in n for n in nets):
        return "ingress"
    return None


def session_decides(pkt, session, filters):
    """("mirrored", name) or ("filtered", reason) for one session alone."""
    fname = session.get("filter")
    if fname is None:
        return ("mirrored", session["name"])  # no filter: everything, no exclusions
    flt = filters[fname]
    reason = never_mirrored_reason(pkt, flt)
    if reason:
        return ("filtered", reason)
    direction = direction_of(pkt, session)
    if direction is None:
        return ("filtered", "not_monitored")
    rules = sorted((r for r in flt.get("rules", []) if r["direction"] == direction),
                   key=lambda r: r["number"])
    for rule in rules:
        if rule_matches(rule, pkt):
            if rule["action"] == "accept":
                return ("mirrored", session["name"])
            return ("filtered", "rule_rejected")
    return ("filtered", "no_rule_matched")


def decide(frame, sessions, filters):
    """The fate of one frame (bytes) on an input whose sessions are `sessions` (dicts: name,
    number, filter, monitored, direction) and whose filters are `filters` (name -> dict: rules,
    network_services, aws_exclusions)."""
    if isinstance(filters, list):
        filters = {f["name"]: f for f in filters}
    pkt = parse(frame)
    last = None
    for session in sorted(sessions, key=lambda s: s["number"]):
        verdict = session_decides(pkt, session, filters)
        if verdict[0] == "mirrored":
            return verdict
        last = verdict
    return last if last else ("filtered", "no_session")
