#!/usr/bin/python3
"""Golden encapsulation outputs, built with scapy from the bundled sample.

For each case below: the mirrorpipe encap arguments, and the frames an independent encoder
(scapy's Ether/IP/IPv6/UDP/VXLAN/GENEVE layers, plus flowhash.py, a rewrite of mirrorpipe's
hash from its specification) says that run must write, in order, with the input's timestamps.
Writes <outdir>/encap-<case>.pcap and <outdir>/encap-cases.tsv (case, arguments, expected
packets_out, expected drops as JSON).

    /usr/bin/python3 test/golden/make_golden.py pcaps/sample-mix.pcap test/golden
"""
import json
import os
import sys

from scapy.all import IP, UDP, Dot1AD, Dot1Q, Ether, IPv6, Raw, rdpcap, wrpcap
from scapy.contrib.geneve import GENEVE, GeneveOptions
from scapy.layers.vxlan import VXLAN

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from flowhash import flow_hash, hash_to_port  # noqa: E402

SRC_MAC = "02:00:00:00:00:01"
DST_MAC = "02:00:00:00:00:02"

CASES = [
    # name, options (as mirrorpipe takes them)
    ("vxlan-aws", dict(tunnel="vxlan", src="172.31.0.238", dst="172.31.17.188", vni=5569041)),
    ("vxlan-custom", dict(tunnel="vxlan", src="10.0.0.1", dst="10.0.0.2", vni=0xFFFFFF, port=8472,
                          sport=(1000, 1999), ttl=64, dscp=46, df=True, csum=True,
                          src_mac="0a:1b:2c:3d:4e:5f", dst_mac="06:05:04:03:02:01")),
    ("vxlan-ipv6", dict(tunnel="vxlan", src="2600:1f18::1", dst="2600:1f18::2", vni=7, dscp=10)),
    ("vxlan-ipv6-nocsum", dict(tunnel="vxlan", src="fd00::1", dst="fd00::2", vni=8, nocsum=True)),
    ("vxlan-truncate", dict(tunnel="vxlan", src="172.31.0.238", dst="172.31.17.188", vni=1, plen=96)),
    ("vxlan-mtu-truncate", dict(tunnel="vxlan", src="172.31.0.238", dst="172.31.17.188", vni=3, mtu=1500)),
    ("vxlan-mtu-drop", dict(tunnel="vxlan", src="172.31.0.238", dst="172.31.17.188", vni=3, mtu=1500,
                            oversize="drop")),
    ("gwlb-mtu-truncate", dict(tunnel="gwlb", src="10.0.10.74", dst="10.0.8.64", eid=9, aid=9, mtu=576)),
    ("gwlb", dict(tunnel="gwlb", src="10.0.10.74", dst="10.0.8.64", eid=0x31E129CDC0CD8633,
                  aid=0x0102030405060708)),
    ("gwlb-truncate", dict(tunnel="gwlb", src="10.0.10.74", dst="10.0.8.64", eid=1, aid=2, plen=64,
                           nocsum=True)),
    ("geneve", dict(tunnel="geneve", src="192.0.2.1", dst="192.0.2.2", vni=0xABCDEF,
                    options=[(0x0100, 1, "01020304"), (0xFF72, 0x7F, "00112233445566778899aabb")])),
    ("geneve-ipv6", dict(tunnel="geneve", src="2001:db8::1", dst="2001:db8::2", vni=5, port=7000)),
]


def cli_args(o):
    a = ["--tunnel", o["tunnel"], "--src-ip", o["src"], "--dst-ip", o["dst"]]
    if o.get("vni"):
        a += ["--vni", str(o["vni"])]
    if "port" in o:
        a += ["--dst-port", str(o["port"])]
    if "sport" in o:
        a += ["--sport-range", "%d-%d" % o["sport"]]
    if "ttl" in o:
        a += ["--ttl", str(o["ttl"])]
    if "dscp" in o:
        a += ["--dscp", str(o["dscp"])]
    if o.get("df"):
        a += ["--df"]
    if o.get("csum"):
        a += ["--udp-checksum"]
    if o.get("nocsum"):
        a += ["--no-udp-checksum"]
    if "plen" in o:
        a += ["--packet-length", str(o["plen"])]
    if "eid" in o:
        a += ["--gwlb-endpoint-id", hex(o["eid"])]
    if "aid" in o:
        a += ["--gwlb-attachment-id", str(o["aid"])]
    for cls, typ, data in o.get("options", []):
        a += ["--geneve-option", "0x%04x:%d:%s" % (cls, typ, data)]
    if "src_mac" in o:
        a += ["--src-mac", o["src_mac"], "--dst-mac", o["dst_mac"]]
    if "mtu" in o:
        a += ["--mtu", str(o["mtu"])]
    if "oversize" in o:
        a += ["--oversize", o["oversize"]]
    return a


def ip_overhead(o):
    """Outer IP header through the tunnel header: what the IP MTU must also hold."""
    ip = 40 if ":" in o["src"] else 20
    if o["tunnel"] == "vxlan":
        return ip + 8 + 8
    if o["tunnel"] == "gwlb":
        return ip + 8 + 40
    return ip + 8 + 8 + sum(4 + len(d) // 2 for _, _, d in o.get("options", []))


def inner_l3(frame):
    """GWLB payload: the IP packet without Ethernet, VLAN tags or padding; None if not IP."""
    p = Ether(frame)
    layer = p.payload
    while isinstance(layer, (Dot1Q, Dot1AD)):
        layer = layer.payload
    if isinstance(layer, IP):
        return bytes(layer)[: layer.len], 0x0800
    if isinstance(layer, IPv6):
        return bytes(layer)[: 40 + layer.plen], 0x86DD
    return None, None


def expected(o, frame):
    h = flow_hash(frame)
    lo, hi = o.get("sport", (49152, 65535))
    sport = hash_to_port(h, lo, hi)
    v6 = ":" in o["src"]
    if o["tunnel"] == "gwlb":
        payload, proto = inner_l3(frame)
        if payload is None:
            return None
    else:
        payload = frame
    if "plen" in o:
        payload = payload[: o["plen"]]
    # Never fragmented (RFC 7348 section 4.3): over the output's IP MTU, truncated or dropped.
    if "mtu" in o and ip_overhead(o) + len(payload) > o["mtu"]:
        if o.get("oversize") == "drop":
            return "over_mtu"
        payload = payload[: o["mtu"] - ip_overhead(o)]
    tos = o.get("dscp", 0) << 2
    ttl = o.get("ttl", 255)
    if v6:
        ip = IPv6(src=o["src"], dst=o["dst"], hlim=ttl, tc=tos, nh=17)
    else:
        ip = IP(src=o["src"], dst=o["dst"], ttl=ttl, tos=tos, id=0, flags="DF" if o.get("df") else 0)
    csum_on = o.get("csum") or ((v6 or o["tunnel"] == "gwlb") and not o.get("nocsum"))
    if o["tunnel"] == "vxlan":
        port = o.get("port", 4789)
        tun = VXLAN(flags=0x08, vni=o["vni"])
    elif o["tunnel"] == "gwlb":
        port = o.get("port", 6081)
        opts = [GeneveOptions(classid=0x0108, type=1, data=o["eid"].to_bytes(8, "big")),
                GeneveOptions(classid=0x0108, type=2, data=o["aid"].to_bytes(8, "big")),
                GeneveOptions(classid=0x0108, type=3, data=h.to_bytes(4, "big"))]
        tun = GENEVE(vni=0, proto=proto, options=opts)
    else:
        port = o.get("port", 6081)
        opts = [GeneveOptions(classid=c, type=t, data=bytes.fromhex(d)) for c, t, d in o.get("options", [])]
        tun = GENEVE(vni=o["vni"], proto=0x6558, options=opts)
    udp = UDP(sport=sport, dport=port) if csum_on else UDP(sport=sport, dport=port, chksum=0)
    pkt = Ether(src=o.get("src_mac", SRC_MAC), dst=o.get("dst_mac", DST_MAC)) / ip / udp / tun / Raw(payload)
    return bytes(pkt)


def main():
    src, outdir = sys.argv[1], sys.argv[2]
    frames = rdpcap(src)
    rows = []
    for name, o in CASES:
        out, drops = [], {}
        for f in frames:
            b = expected(o, bytes(f))
            if b is None or isinstance(b, str):
                reason = b or "gwlb_not_ip"
                drops[reason] = drops.get(reason, 0) + 1
                continue
            p = Ether(b)
            p.time = f.time
            out.append(p)
        wrpcap(os.path.join(outdir, "encap-%s.pcap" % name), out)
        rows.append("\t".join([name, " ".join(cli_args(o)), str(len(out)), json.dumps(drops, sort_keys=True)]))
    with open(os.path.join(outdir, "encap-cases.tsv"), "w") as f:
        f.write("# case\targuments\tpackets_out\tdropped\n")
        f.write("\n".join(rows) + "\n")
    print("%d cases written to %s" % (len(rows), outdir))


if __name__ == "__main__":
    main()
