#!/usr/bin/python3
"""mirrorpipe encap output, dissected by tshark and read by scapy.

For the bundled sample and the third-party plain captures, in each tunnel kind, tshark (with
IPv4 and UDP checksum validation on) must see: the right UDP port, VNI, TTL, IP ID, DF, a good
IPv4 header checksum, the UDP checksum the mode calls for, the GWLB options with their values;
scapy must find each input frame (or, for gwlb, its IP packet) intact after the tunnel header;
both directions of every flow must share one outer source port (and one GWLB cookie).

usage: test_encap_tshark.py MIRRORPIPE SOURCE_DIR
"""
import collections
import os
import struct
import subprocess
import sys
import tempfile

from scapy.all import ICMP, IP, SCTP, TCP, UDP, Dot1AD, Dot1Q, Ether, ICMPv6EchoReply, ICMPv6EchoRequest, IPv6, IPv6ExtHdrFragment

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checker, accounting_holds, read_records, run_mirrorpipe  # noqa: E402

CAPTURES = [
    "pcaps/sample-mix.pcap",
    "pcaps/third-party/zeek-plain-wikipedia.pcap",
    "pcaps/third-party/zeek-plain-http-qinq-0.pcap",
    "pcaps/third-party/zeek-plain-vlan-qinqinq.pcap",
    "pcaps/third-party/zeek-plain-mixed-vlan-mpls.pcap",
    "pcaps/third-party/zeek-plain-vlan-pcp-dei.pcapng",
    "pcaps/third-party/zeek-plain-ipv4-fragmented-3.pcap",
    "pcaps/third-party/zeek-plain-ipv6-fragmented-dns.pcap",
    "pcaps/third-party/tcpdump-plain-802.1ad_QinQ.pcap",
    "pcaps/third-party/tcpdump-plain-icmpv6.pcap",
    "pcaps/third-party/tcpdump-plain-gso-ipv4.pcap",
    "pcaps/third-party/tcpdump-plain-gso-ipv6.pcap",
    "pcaps/third-party/tcpdump-plain-ipv6_jumbogram_1.pcap",
    "pcaps/third-party/arkime-plain-twovlan.pcap",
]

EID, AID = 0x0123456789ABCDEF, 0x00000000DEADBEEF
TUNNELS = {
    "vxlan": ["--tunnel", "vxlan", "--src-ip", "172.31.0.238", "--dst-ip", "172.31.17.188", "--vni", "5569041"],
    "gwlb": ["--tunnel", "gwlb", "--src-ip", "10.0.10.74", "--dst-ip", "10.0.8.64",
             "--gwlb-endpoint-id", hex(EID), "--gwlb-attachment-id", str(AID)],
    "geneve": ["--tunnel", "geneve", "--src-ip", "192.0.2.1", "--dst-ip", "192.0.2.2", "--vni", "4660",
               "--geneve-option", "0x0100:7:cafef00d"],
}
OUTER_BYTES = {"vxlan": 50, "gwlb": 14 + 20 + 8 + 40, "geneve": 14 + 20 + 8 + 8 + 8}
FIELDS = ["ip.ttl", "ip.id", "ip.flags.df", "ip.checksum.status", "udp.srcport", "udp.dstport",
          "udp.checksum", "udp.checksum.status", "vxlan.vni", "geneve.vni", "geneve.proto_type",
          "geneve.option.class", "geneve.option.type", "geneve.option.unknown.data"]


def tshark(path):
    cmd = ["tshark", "-r", path, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
           "-T", "fields", "-E", "separator=\t", "-E", "occurrence=a", "-E", "aggregator=,"]
    for f in FIELDS:
        cmd += ["-e", f]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        cols = line.split("\t")
        rows.append({f: cols[i].split(",") if i < len(cols) and cols[i] else [] for i, f in enumerate(FIELDS)})
    return rows


def l3_of(frame):
    """The IP layer under any VLAN tags, or None."""
    layer = Ether(frame).payload
    while isinstance(layer, (Dot1Q, Dot1AD)):
        layer = layer.payload
    return layer if isinstance(layer, (IP, IPv6)) else None


def flow_key(frame):
    """Direction-free flow identity read by scapy, per the hash's documented key."""
    ip = l3_of(frame)
    if ip is None:
        etype, off = struct.unpack_from("!H", frame, 12)[0], 14
        while etype in (0x8100, 0x88A8, 0x9100):
            etype, off = struct.unpack_from("!H", frame, off + 2)[0], off + 4
        return ("l2", frozenset([frame[0:6], frame[6:12]]), etype)
    ends = frozenset([ip.src, ip.dst])
    if isinstance(ip, IP):
        if ip.flags.MF or ip.frag:
            return ("frag", ends, ip.proto)
        l4, proto = ip.payload, ip.proto
    else:
        if ip.haslayer(IPv6ExtHdrFragment):
            return ("frag", ends, ip[IPv6ExtHdrFragment].nh)
        l4 = ip.payload
        while l4.name.startswith("IPv6 Extension") or l4.__class__.__name__.startswith("IPv6ExtHdr"):
            l4 = l4.payload
        proto = None
    if isinstance(l4, (TCP, UDP, SCTP)):
        return ("ports", frozenset([(ip.src, l4.sport), (ip.dst, l4.dport)]), type(l4).__name__)
    if isinstance(l4, ICMP) and l4.type in (0, 8):
        return ("echo", ends, l4.id)
    if isinstance(l4, (ICMPv6EchoRequest, ICMPv6EchoReply)):
        return ("echo6", ends, l4.id)
    return ("ip", ends, proto if proto is not None else type(l4).__name__)


def main():
    binary, src = sys.argv[1], sys.argv[2]
    c = Checker("encap tshark")
    with tempfile.TemporaryDirectory() as tmp:
        for cap in CAPTURES:
            inputs = read_records(os.path.join(src, cap))
            for kind, args in TUNNELS.items():
                tag = "%s [%s]" % (os.path.basename(cap), kind)
                out = os.path.join(tmp, "%s.%s.pcap" % (os.path.basename(cap), kind))
                rc, stats, err = run_mirrorpipe(binary, ["encap", "-r", os.path.join(src, cap), "-w", out] + args)
                c.check(rc == 0, "%s: exit %d %s" % (tag, rc, err))
                if rc:
                    continue
                c.check(accounting_holds(stats), "%s: counters do not add up" % tag)
                # Which inputs must come out, by the rules (not by mirrorpipe's counters).
                kept, want_drops = [], collections.Counter()
                for data, wire, _ in inputs:
                    if kind == "gwlb" and l3_of(data) is None:
                        want_drops["gwlb_not_ip"] += 1
                        continue
                    if kind == "gwlb":
                        ip = l3_of(data)
                        inner_wire = min(wire - (len(data) - len(bytes(ip))), ip.len if isinstance(ip, IP) else (40 + ip.plen if ip.plen else 1 << 30))
                    else:
                        inner_wire = wire
                    if OUTER_BYTES[kind] - 14 + inner_wire > 65535:
                        want_drops["too_big"] += 1
                        continue
                    kept.append(data)
                dropped = {k: v for k, v in stats["dropped"].items() if v}
                c.check(dropped == dict(want_drops), "%s: drops %s, expected %s" % (tag, dropped, dict(want_drops)))
                rows = tshark(out)
                got = read_records(out)
                c.check(len(rows) == len(kept) == len(got), "%s: %d frames out, expected %d" % (tag, len(rows), len(kept)))
                ports = collections.defaultdict(set)
                cookies = collections.defaultdict(set)
                for i, (r, inp, g) in enumerate(zip(rows, kept, got)):
                    where = "%s frame %d" % (tag, i + 1)
                    c.check(r["ip.ttl"][:1] == ["255"], "%s: outer TTL %s" % (where, r["ip.ttl"]))
                    c.check(r["ip.id"][:1] == ["0x0000"], "%s: outer IP ID %s" % (where, r["ip.id"]))
                    c.check(r["ip.flags.df"][:1] in (["0"], ["False"]), "%s: DF %s" % (where, r["ip.flags.df"]))
                    c.check(r["ip.checksum.status"][:1] == ["1"], "%s: outer IPv4 checksum not good (%s)" % (where, r["ip.checksum.status"]))
                    sport = int(r["udp.srcport"][0])
                    c.check(49152 <= sport <= 65535, "%s: source port %d outside 49152-65535" % (where, sport))
                    ports[flow_key(inp)].add(sport)
                    payload = g[0][OUTER_BYTES[kind]:]
                    if kind == "vxlan":
                        c.check(r["udp.dstport"][0] == "4789", "%s: port %s" % (where, r["udp.dstport"]))
                        c.check(r["vxlan.vni"][:1] == ["5569041"], "%s: VNI %s" % (where, r["vxlan.vni"]))
                        c.check(r["udp.checksum"][:1] == ["0x0000"], "%s: UDP checksum should be 0" % where)
                        c.check(payload == inp, "%s: inner frame differs from the input" % where)
                    elif kind == "gwlb":
                        ip = l3_of(inp)
                        c.check(r["udp.dstport"][0] == "6081", "%s: port" % where)
                        c.check(r["geneve.vni"][:1] == ["0x00000000"] or r["geneve.vni"][:1] == ["0x000000"], "%s: VNI %s" % (where, r["geneve.vni"]))
                        c.check(r["geneve.proto_type"][:1] == (["0x0800"] if isinstance(ip, IP) else ["0x86dd"]),
                                "%s: protocol %s" % (where, r["geneve.proto_type"]))
                        c.check(r["geneve.option.class"] == ["0x0108"] * 3, "%s: option classes %s" % (where, r["geneve.option.class"]))
                        c.check(r["geneve.option.type"] == ["0x01", "0x02", "0x03"], "%s: option types %s" % (where, r["geneve.option.type"]))
                        data = r["geneve.option.unknown.data"]
                        c.check(len(data) == 3 and data[0] == "%016x" % EID and data[1] == "%016x" % AID,
                                "%s: option data %s" % (where, data))
                        if len(data) == 3:
                            cookies[flow_key(inp)].add(data[2])
                        c.check(r["udp.checksum.status"][:1] == ["1"], "%s: UDP checksum not good (%s)" % (where, r["udp.checksum.status"]))
                        l3 = bytes(ip)
                        want = l3[: ip.len] if isinstance(ip, IP) else (l3[: 40 + ip.plen] if ip.plen else l3)
                        c.check(payload == want, "%s: inner IP packet differs from the input's" % where)
                    else:
                        c.check(r["udp.dstport"][0] == "6081", "%s: port" % where)
                        c.check(r["geneve.proto_type"][:1] == ["0x6558"], "%s: protocol %s" % (where, r["geneve.proto_type"]))
                        c.check(r["geneve.option.class"] == ["0x0100"] and r["geneve.option.unknown.data"] == ["cafef00d"],
                                "%s: options %s %s" % (where, r["geneve.option.class"], r["geneve.option.unknown.data"]))
                        c.check(payload == inp, "%s: inner frame differs from the input" % where)
                for key, s in ports.items():
                    c.check(len(s) == 1, "%s: flow %s got several source ports %s" % (tag, key, s))
                for key, s in cookies.items():
                    c.check(len(s) == 1, "%s: flow %s got several GWLB cookies %s" % (tag, key, s))
        # RFC 8926 section 3.4: the C flag is set whenever an option is critical (type high bit).
        for opts, critical in ((["0x0100:0x81:cafef00d"], "1"), (["0x0100:1:cafef00d", "0xff00:0x90:01020304"], "1"),
                               (["0x0100:1:cafef00d"], "0"), ([], "0")):
            out = os.path.join(tmp, "critical.pcap")
            args = [binary, "encap", "-r", os.path.join(src, "pcaps/sample-mix.pcap"), "-w", out, "--tunnel", "geneve",
                    "--src-ip", "192.0.2.1", "--dst-ip", "192.0.2.2"]
            for o in opts:
                args += ["--geneve-option", o]
            subprocess.run(args, check=True, capture_output=True)
            got = subprocess.run(["tshark", "-r", out, "-T", "fields", "-e", "geneve.flags.critical"],
                                 capture_output=True, text=True, check=True).stdout.split()
            c.check(got and set(got) == {critical}, "geneve options %s: C flag %s, expected %s" % (opts, set(got), critical))
    c.done()


if __name__ == "__main__":
    main()
