#!/usr/bin/python3
"""encap -> decap round trips over every capture the project holds.

Each capture is treated as mirrored traffic (tunnel captures too: their frames are mirrored as
they are). VXLAN and Geneve round trips must give back every frame byte for byte; GWLB must give
back every IP packet (without Ethernet header, VLAN tags or padding) behind the outer MACs,
except an IP packet that is itself UDP to the VXLAN port: GWLB Geneve around VXLAN is exactly
how a Traffic Mirroring session reaches a GWLB endpoint, so decap unwraps both layers (what
decap_oracle.py reads in it). Frames too big for an outer IP header are the only ones allowed
to be missing, and are counted.

Under the sanitizers (MIRRORPIPE_SANITIZE=1, as scripts/test sets it) each capture makes the
round trip in two of the four tunnels, in turn, so that every capture and every tunnel still
runs under them at half the time; the normal suite runs all four on every capture.

usage: test_roundtrip.py MIRRORPIPE SOURCE_DIR
"""
import glob
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checker, accounting_holds, read_records, run_mirrorpipe  # noqa: E402
from decap_oracle import expected  # noqa: E402
from test_encap_tshark import l3_of  # noqa: E402

from scapy.all import IP  # noqa: E402

ENCAP = {
    "vxlan": ["--tunnel", "vxlan", "--src-ip", "172.31.0.238", "--dst-ip", "172.31.17.188", "--vni", "99"],
    "vxlan6": ["--tunnel", "vxlan", "--src-ip", "fd00::1", "--dst-ip", "fd00::2", "--vni", "98"],
    "geneve": ["--tunnel", "geneve", "--src-ip", "192.0.2.1", "--dst-ip", "192.0.2.2", "--vni", "97",
               "--geneve-option", "0xff00:1:0011223344556677"],
    "gwlb": ["--tunnel", "gwlb", "--src-ip", "10.0.10.74", "--dst-ip", "10.0.8.64", "--gwlb-endpoint-id", "5"],
}
SANITIZED = os.environ.get("MIRRORPIPE_SANITIZE") == "1"
OUTER_IP_OVERHEAD = {"vxlan": 36, "vxlan6": 16, "geneve": 32, "gwlb": 68}


def main():
    binary, src = sys.argv[1], sys.argv[2]
    c = Checker("round trip")
    captures = [os.path.join(src, "pcaps/sample-mix.pcap")] + sorted(glob.glob(os.path.join(src, "pcaps/third-party/*.pcap*")))
    with tempfile.TemporaryDirectory() as tmp:
        kinds = list(ENCAP.items())
        for n, cap in enumerate(captures):
            inputs = read_records(cap)
            mine = kinds if not SANITIZED else [kinds[(2 * n + i) % len(kinds)] for i in range(2)]
            for kind, args in mine:
                tag = "%s [%s]" % (os.path.basename(cap), kind)
                mid, back = os.path.join(tmp, "mid.pcap"), os.path.join(tmp, "back.pcap")
                rc, s1, err = run_mirrorpipe(binary, ["encap", "-r", cap, "-w", mid] + args)
                c.check(rc == 0, "%s: encap exit %d %s" % (tag, rc, err))
                rc2, s2, err = run_mirrorpipe(binary, ["decap", "-r", mid, "-w", back])
                c.check(rc2 == 0, "%s: decap exit %d %s" % (tag, rc2, err))
                if rc or rc2:
                    continue
                c.check(accounting_holds(s1) and accounting_holds(s2), "%s: counters do not add up" % tag)
                want, nested_drops = [], 0
                for data, wire, ts in inputs:
                    if kind == "gwlb":
                        ip = l3_of(data) if len(data) >= 14 else None
                        if ip is None:
                            continue
                        full = bytes(ip)
                        # IP length 0 (BIG TCP, jumbogram): the packet runs to the end of the frame,
                        # which is over 64 KB in every such capture: too big for an outer header.
                        length = (ip.len or None) if isinstance(ip, IP) else (40 + ip.plen if ip.plen else None)
                        if length is None or length + OUTER_IP_OVERHEAD[kind] > 65535:
                            continue
                        packet = full[:length]
                        ether = data[0:12] + (b"\x08\x00" if isinstance(ip, IP) else b"\x86\xdd")
                        reason, inner, layers, _ = expected(ether + packet, 14 + length, geneve_ports=())
                        if reason == "none" and layers and layers[0][0] == "vxlan":
                            want.append((inner, ts, True))  # GWLB around VXLAN: both layers off
                        elif reason not in ("none", "not_tunnel_port", "not_udp", "ip_fragment"):
                            nested_drops += 1               # a broken VXLAN inside: decap drops it
                        else:
                            want.append((packet, ts, False))
                    else:
                        if wire + OUTER_IP_OVERHEAD[kind] > 65535:
                            continue
                        want.append((data, ts, True))
                got = read_records(back)
                c.check(s2["packets_out"] + nested_drops == s1["packets_out"], "%s: decap lost %d packets: %s" % (
                    tag, s1["packets_out"] - s2["packets_out"], {k: v for k, v in s2["dropped"].items() if v}))
                c.check(len(got) == len(want), "%s: %d frames back, expected %d" % (tag, len(got), len(want)))
                for i, ((g, _, gts), (w, wts, whole)) in enumerate(zip(got, want)):
                    g_cmp = g if whole else g[14:]
                    c.check(g_cmp == w, "%s: frame %d differs after the round trip" % (tag, i + 1))
                    c.check(gts == wts, "%s: frame %d timestamp changed" % (tag, i + 1))
    c.done()


if __name__ == "__main__":
    main()
