#!/usr/bin/python3
"""mirrorpipe encap, run as a user runs it, against the golden frames scapy built.

For each case of test/golden/encap-cases.tsv: the output capture must hold exactly the expected
frames (bytes, order, timestamps, wire lengths) and the counters must say what the case says.

usage: test_golden_cli.py MIRRORPIPE SOURCE_DIR
"""
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checker, accounting_holds, read_records, run_mirrorpipe  # noqa: E402


def main():
    binary, src = sys.argv[1], sys.argv[2]
    c = Checker("golden cli")
    sample = os.path.join(src, "pcaps/sample-mix.pcap")
    inputs = read_records(sample)
    with open(os.path.join(src, "test/golden/encap-cases.tsv")) as f:
        rows = [l.rstrip("\n").split("\t") for l in f if l.strip() and not l.startswith("#")]
    c.check(len(rows) >= 9, "golden cases missing")
    with tempfile.TemporaryDirectory() as tmp:
        for name, args, n_out, drops in rows:
            out = os.path.join(tmp, name + ".pcap")
            rc, stats, err = run_mirrorpipe(binary, ["encap", "-r", sample, "-w", out] + args.split())
            c.check(rc == 0, "%s: exit %d %s" % (name, rc, err))
            if rc:
                continue
            got = read_records(out)
            want = read_records(os.path.join(src, "test/golden/encap-%s.pcap" % name))
            c.check(len(got) == len(want) == int(n_out), "%s: %d frames, expected %d" % (name, len(got), len(want)))
            for i, (g, w) in enumerate(zip(got, want)):
                c.check(g[0] == w[0], "%s: frame %d bytes differ\n got  %s\n want %s" % (name, i + 1, g[0].hex(), w[0].hex()))
                c.check(g[1] == w[1], "%s: frame %d wire length %d, expected %d" % (name, i + 1, g[1], w[1]))
                c.check(g[2] == w[2], "%s: frame %d timestamp %s, expected %s" % (name, i + 1, g[2], w[2]))
            c.check(stats["packets_in"] == len(inputs), "%s: packets_in %d" % (name, stats["packets_in"]))
            c.check(stats["packets_out"] == int(n_out), "%s: packets_out %d" % (name, stats["packets_out"]))
            c.check(stats["filtered"] == 0, "%s: file-mode encap filters nothing" % name)
            dropped = {k: v for k, v in stats["dropped"].items() if v}
            c.check(dropped == json.loads(drops), "%s: drops %s, expected %s" % (name, dropped, drops))
            c.check(accounting_holds(stats), "%s: counters do not add up" % name)
        # Nanosecond input gives nanosecond output with the same timestamps; pcapng input works.
        from scapy.all import rdpcap, wrpcap
        from scapy.utils import PcapNgWriter
        pkts = rdpcap(sample)
        for i, p in enumerate(pkts):
            p.time = p.time + i * 1e-9 * 7  # sub-microsecond parts
        nano_in = os.path.join(tmp, "nano.pcap")
        wrpcap(nano_in, pkts, nano=True)
        ng_in = os.path.join(tmp, "sample.pcapng")
        w = PcapNgWriter(ng_in)
        for p in rdpcap(sample):
            w.write(p)
        w.close()
        for label, path, magic in (("nanosecond pcap", nano_in, b"\x4d\x3c\xb2\xa1"), ("pcapng", ng_in, b"\xd4\xc3\xb2\xa1")):
            out = os.path.join(tmp, "ts-out.pcap")
            rc, stats, err = run_mirrorpipe(binary, ["encap", "-r", path, "-w", out] + rows[0][1].split())
            c.check(rc == 0, "%s input: exit %d %s" % (label, rc, err))
            if rc:
                continue
            with open(out, "rb") as f:
                c.check(f.read(4) == magic, "%s input: output has the wrong timestamp resolution" % label)
            got = [r[2] for r in read_records(out)]
            want = [r[2] for r in read_records(path)] if label != "pcapng" else [r[2] for r in read_records(sample)]
            c.check(got == want, "%s input: timestamps changed" % label)
            c.check(stats["packets_out"] == len(inputs), "%s input: %d frames out" % (label, stats["packets_out"]))
    c.done()


if __name__ == "__main__":
    main()
