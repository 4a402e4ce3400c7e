#!/usr/bin/python3
"""Every third-party capture, decapsulated by mirrorpipe, against an independent reading.

For each capture in pcaps/third-party: mirrorpipe decap's output frames (count, order, bytes,
timestamps, wire lengths) and its drop counters must equal what decap_oracle.py reads in the
capture; packets_in = packets_out + filtered + sum(dropped). A few facts stated by the
captures' own documentation (pcaps/third-party/README.md and its sources) are checked as well.

usage: test_decap_captures.py MIRRORPIPE SOURCE_DIR
"""
import collections
import glob
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checker, accounting_holds, read_records, run_mirrorpipe  # noqa: E402
from decap_oracle import expected  # noqa: E402

# Per-capture port sets (what a user would configure for that capture).
PORTS = {"tcpdump-vxlan_port_8472.pcap": ((8472,), (6081,))}

# Facts from the captures' provenance (tshark readings in the manifest), independent of both
# mirrorpipe and the oracle above: capture -> (frames delivered, VNIs seen).
FACTS = {
    "suricata-vxlan-aws-traffic-mirror-ssh.pcap": (100, {("vxlan", 5569041)}),
    "suricata-bug-6402-geneve-aws-gwlb-opts.pcap": (12, {("geneve", 0)}),
    "tcpdump-vxlan.pcap": (10, {("vxlan", 100)}),
    "tcpdump-vxlan_port_8472.pcap": (10, {("vxlan", 100)}),
    "zeek-vxlan.pcap": (10, {("vxlan", 123)}),
    "suricata-vxlan-non-zero-reserved-fields.pcap": (10, {("vxlan", 11)}),
    "zeek-geneve-many-options.pcap": (10, {("geneve", 0x0C012E)}),
    "zeek-plain-wikipedia.pcap": (0, set()),
}


def main():
    binary, src = sys.argv[1], sys.argv[2]
    c = Checker("decap captures")
    files = sorted(glob.glob(os.path.join(src, "pcaps/third-party/*.pcap*")))
    c.check(len(files) >= 40, "expected the third-party captures, found %d" % len(files))
    with tempfile.TemporaryDirectory() as tmp:
        for path in files:
            name = os.path.basename(path)
            vx, gn = PORTS.get(name, ((4789,), (6081,)))
            out = os.path.join(tmp, name + ".out.pcap")
            args = ["decap", "-r", path, "-w", out]
            for p in vx:
                args += ["--vxlan-port", str(p)]
            rc, stats, err = run_mirrorpipe(binary, args)
            c.check(rc == 0, "%s: exit %d: %s" % (name, rc, err.strip()[-300:]))
            if rc != 0:
                continue
            inputs = read_records(path)
            want_frames, want_drops, vnis = [], collections.Counter(), set()
            for data, wire, ts in inputs:
                reason, inner, layers, inner_wire = expected(data, wire, vx, gn)
                if reason == "none":
                    want_frames.append((inner, ts, inner_wire))
                    vnis.update(layers)
                else:
                    want_drops[reason] += 1
            got = read_records(out)
            c.check(stats["packets_in"] == len(inputs), "%s: packets_in %d != %d frames" % (name, stats["packets_in"], len(inputs)))
            c.check(accounting_holds(stats), "%s: counters do not add up: %s" % (name, stats))
            c.check(len(got) == len(want_frames), "%s: %d frames out, oracle says %d" % (name, len(got), len(want_frames)))
            for i, ((gbytes, gwire, gts), (wbytes, wts, wwire)) in enumerate(zip(got, want_frames)):
                c.check(gbytes == wbytes, "%s: output frame %d differs from the oracle's inner frame" % (name, i + 1))
                c.check(gts == wts, "%s: output frame %d timestamp %s != input %s" % (name, i + 1, gts, wts))
                c.check(gwire == wwire, "%s: frame %d wire length %d, oracle says %d" % (name, i + 1, gwire, wwire))
            dropped = {k: v for k, v in stats["dropped"].items() if v}
            c.check(dropped == dict(want_drops), "%s: drops %s, oracle says %s" % (name, dropped, dict(want_drops)))
            if name in FACTS:
                n, want_vnis = FACTS[name]
                c.check(len(got) == n, "%s: %d frames delivered, the capture's documentation says %d" % (name, len(got), n))
                c.check(vnis == want_vnis, "%s: VNIs %s, documented %s" % (name, vnis, want_vnis))
            print("%-48s in %4d out %4d dropped %s" % (name, stats["packets_in"], stats["packets_out"], dropped or "-"))
    c.done()


if __name__ == "__main__":
    main()
