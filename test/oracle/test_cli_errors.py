#!/usr/bin/python3
"""Usage and input errors: exit code 2 with a message that names the problem; nothing written.

usage: test_cli_errors.py MIRRORPIPE SOURCE_DIR
"""
import os
import re
import subprocess
import sys
import tempfile

from scapy.all import IP, UDP, wrpcap

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checker  # noqa: E402


def run(binary, args):
    p = subprocess.run([binary] + args, capture_output=True, text=True, timeout=60)
    return p.returncode, p.stdout + p.stderr


def main():
    binary, src = sys.argv[1], sys.argv[2]
    c = Checker("cli errors")
    sample = os.path.join(src, "pcaps/sample-mix.pcap")
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "out.pcap")
        raw_ip = os.path.join(tmp, "user0.pcap")
        wrpcap(raw_ip, [IP(dst="10.0.0.1") / UDP()], linktype=147)  # LINKTYPE_USER0 (scapy warns)
        not_pcap = os.path.join(tmp, "text.pcap")
        with open(not_pcap, "w") as f:
            f.write("this is not a capture\n")
        enc = ["encap", "-r", sample, "-w", out, "--src-ip", "10.0.0.1", "--dst-ip", "10.0.0.2"]
        cases = [
            # (arguments, text the message must contain)
            ([], "subcommand"),
            (["frobnicate"], "frobnicate"),
            (["encap", "-r", sample, "-w", out], "--src-ip"),
            (["encap", "-r", os.path.join(tmp, "missing.pcap"), "-w", out, "--src-ip", "10.0.0.1", "--dst-ip", "10.0.0.2"], "missing.pcap"),
            (enc[:2] + [raw_ip] + enc[3:], "link type 147"),
            (enc[:2] + [not_pcap] + enc[3:], "text.pcap"),
            (enc + ["--tunnel", "gre"], "gre"),
            (["encap", "-r", sample, "-w", out, "--tunnel", "gwlb", "--src-ip", "fd00::1", "--dst-ip", "fd00::2"], "IPv4 only"),
            (["encap", "-r", sample, "-w", out, "--src-ip", "10.0.0.1", "--dst-ip", "fd00::2"], "both be IPv4 or both IPv6"),
            (enc[:-1] + ["10.0.0.300"], "10.0.0.300"),
            (enc + ["--vni", "16777216"], "--vni"),
            (enc + ["--vni", "0x1000000"], "--vni"),
            (enc + ["--vni", "12abc"], "not a number"),
            (enc + ["--sport-range", "60000-50000"], "--sport-range"),
            (enc + ["--sport-range", "5000"], "LO-HI"),
            (enc + ["--ttl", "256"], "--ttl"),
            (enc + ["--dscp", "64"], "--dscp"),
            (enc + ["--src-mac", "02:00:00:00:00"], "MAC"),
            (enc + ["--geneve-option", "1:1:aabbccdd"], "geneve tunnel only"),
            (enc + ["--tunnel", "geneve", "--geneve-option", "1:1:aabbcc"], "multiple of 4"),
            (enc + ["--tunnel", "geneve", "--geneve-option", "1:1"], "CLASS:TYPE:HEXDATA"),
            (enc + ["--gwlb-endpoint-id", "7"], "gwlb only"),
            (enc + ["--udp-checksum", "--no-udp-checksum"], "exclude"),
            (["decap", "-r", sample, "-w", out, "--vxlan-port", "6081"], "both a VXLAN and a Geneve port"),
            (["decap", "-r", sample, "-w", out, "--vxlan-port", "0"], "not a port"),
            (["bench", "--seconds", "0"], "--seconds"),
            (["bench", "--seconds", "-3"], "--seconds"),
        ]
        for args, needle in cases:
            rc, text = run(binary, args)
            c.check(rc == 2, "%s: exit %d, expected 2\n%s" % (" ".join(args), rc, text[-400:]))
            c.check(needle in text, "%s: message does not mention %r:\n%s" % (" ".join(args), needle, text[-400:]))
        # Help documents every default.
        rc, text = run(binary, ["encap", "--help"])
        c.check(rc == 0, "encap --help exit %d" % rc)
        for needle in ["4789", "6081", "49152-65535", "255", "PacketLength", "CLASS:TYPE:HEXDATA"]:
            c.check(needle in text, "encap --help does not mention %s" % needle)
        # A run that works exits 0.
        rc, text = run(binary, enc)
        c.check(rc == 0, "a valid encap exits %d:\n%s" % (rc, text[-400:]))
        # --version: the version, the git revision, the build type, DPDK's version and how it
        # is linked.
        rc, text = run(binary, ["--version"])
        c.check(rc == 0 and re.search(r"^mirrorpipe \d+\.\d+\.\d+ \(git [0-9a-f]{7,}(-dirty)?, \w+ build\) with DPDK \d+\.\d+\S* \((static, drivers built in|shared)\)", text),
                "--version says %r" % text)
        # A run leaves no EAL runtime folder behind (bench uses --file-prefix mpbenchPID).
        run_dir = "/var/run/dpdk" if os.geteuid() == 0 else os.path.join(os.environ.get("XDG_RUNTIME_DIR", "/tmp"), "dpdk")
        before = set(os.listdir(run_dir)) if os.path.isdir(run_dir) else set()
        rc, text = run(binary, ["bench", "--seconds", "0.3", "--json"])
        after = set(os.listdir(run_dir)) if os.path.isdir(run_dir) else set()
        c.check(rc == 0, "bench --seconds 0.3: exit %d %s" % (rc, text[-300:]))
        c.check(not [d for d in after - before if d.startswith("mpbench")], "bench left %s in %s" % (after - before, run_dir))
    c.done()


if __name__ == "__main__":
    main()
