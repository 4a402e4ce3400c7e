#!/usr/bin/python3
"""A SIGHUP reload that changes a mirror session's filter and options while traffic flows.

The engine replays the sample (repeated, paced at 8,000 packets per second) into a mirror
session whose filter accepts TCP only, under VNI 1111. The reload changes the filter to UDP
only, the session's VNI to 2222 and its packet_length to 60. tshark reads the output: the VNIs
form exactly two runs, 1111 then 2222 (a clean cut); every 1111 frame's inner packet is TCP and
whole, every 2222 frame's inner packet UDP and cut to 60 bytes; the counters add up, with the
rejected ones under their reason. A reload that adds a session is refused while traffic goes on.

usage: test_reload_filters.py MIRRORPIPE SOURCE_DIR
"""
import json
import os
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oracle"))
from common import Checker, accounting_holds, stop_engine, wait_for  # noqa: E402

from scapy.utils import RawPcapReader  # noqa: E402

TCP_RULE = '{ direction = "ingress", number = 100, action = "accept", protocol = "tcp", source = "0.0.0.0/0", destination = "0.0.0.0/0" }'
UDP_RULE = '{ direction = "ingress", number = 100, action = "accept", protocol = "udp", source = "0.0.0.0/0", destination = "0.0.0.0/0" }'


def main():
    binary, src = sys.argv[1], sys.argv[2]
    c = Checker("reload filters")
    prefix = "mpreload%d" % os.getpid()
    with tempfile.TemporaryDirectory() as tmp:
        sample = os.path.join(tmp, "long.pcap")
        frames = [bytes(d) for d, _ in RawPcapReader(os.path.join(src, "pcaps/sample-mix.pcap"))]
        with open(sample, "wb") as f:  # classic pcap, microseconds, Ethernet
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for i in range(3000):  # 10 s at 8,000 a second: more than the steps need, on a slow start too
                for j, fr in enumerate(frames):
                    f.write(struct.pack("<IIII", 1700000000 + i, j, len(fr), len(fr)) + fr)
        out = os.path.join(tmp, "out.pcap")
        cfg_path = os.path.join(tmp, "engine.toml")
        text = """[engine]
stats_interval_s = 0.2

[eal]
args = ["--no-huge", "-m", "512", "--no-pci", "--file-prefix", "{prefix}", "--log-level", "lib.eal:error"]

[[ports]]
name = "in"
role = "mirror-input"
file = "{sample}"
pace = 8000

[[ports]]
name = "out"
role = "output"
devargs = "net_pcap1,tx_pcap={out}"
mac = "02:00:00:00:00:01"
ip = "172.31.0.238"
next_hop_mac = "02:00:00:00:00:02"

[[targets]]
name = "analyzers"
output = "out"
tunnel = "vxlan"
dst_ip = "172.31.17.188"
vni = 7

[[filters]]
name = "f"
aws_exclusions = false
rules = [
  RULE,
]

[[sessions]]
name = "s"
input = "in"
number = 1
filter = "f"
sinks = ["analyzers"]
vni = 1111
""".format(prefix=prefix, sample=sample, out=out).replace("RULE", TCP_RULE)
        with open(cfg_path, "w") as f:
            f.write(text)
        stats_path = os.path.join(tmp, "stats.json")
        log_path = os.path.join(tmp, "engine.log")
        log = open(log_path, "w")
        p = subprocess.Popen([binary, "run", "-c", cfg_path, "--stats-json", stats_path], stdout=log,
                             stderr=subprocess.STDOUT)
        try:
            read_log = lambda: open(log_path).read()
            c.check(wait_for(lambda: "rx " in read_log(), 10), "the engine printed no summary line:\n" + read_log())
            time.sleep(0.5)
            reloaded = text.replace(TCP_RULE, UDP_RULE).replace("vni = 1111", "vni = 1111\npacket_length = 60").replace(
                "vni = 1111", "vni = 2222")
            with open(cfg_path, "w") as f:
                f.write(reloaded)
            p.send_signal(signal.SIGHUP)
            c.check(wait_for(lambda: "reloaded" in read_log(), 5), "no reload after SIGHUP:\n" + read_log()[-1000:])
            time.sleep(0.5)
            with open(cfg_path, "w") as f:
                f.write(reloaded + '\n[[sessions]]\nname = "t"\ninput = "in"\nnumber = 2\nsinks = ["analyzers"]\n')
            p.send_signal(signal.SIGHUP)
            c.check(wait_for(lambda: "reload refused: the set of [[sessions]]" in read_log(), 5),
                    "adding a session not refused:\n" + read_log()[-1000:])
            time.sleep(0.3)
            c.check(p.poll() is None, "the engine stopped after a refused reload")
        finally:
            rc = stop_engine(p)
            log.close()
        c.check(rc == 0, "exit %d after SIGINT:\n%s" % (rc, open(log_path).read()[-1500:]))
        if rc != 0:
            c.done()
        st = json.load(open(stats_path))
        c.check(accounting_holds(st), "counters do not add up: %s" % st)
        rows = subprocess.run(["tshark", "-r", out, "-T", "fields", "-E", "separator=;", "-e", "vxlan.vni",
                               "-e", "ip.proto", "-e", "frame.len"],
                              capture_output=True, text=True, timeout=120).stdout.split("\n")
        rows = [r.split(";") for r in rows if r]
        runs = []
        for r in rows:
            if not runs or runs[-1][0] != r[0]:
                runs.append([r[0], 0])
            runs[-1][1] += 1
        c.check([r[0] for r in runs] == ["1111", "2222"], "VNIs in the output, in runs: %s" % runs[:6])
        # ip.proto lists the outer (17) then the inner protocol.
        inner = lambda r: r[1].split(",")[-1]
        bad_before = [r for r in rows if r[0] == "1111" and inner(r) != "6"]
        bad_after = [r for r in rows if r[0] == "2222" and inner(r) != "17"]
        c.check(not bad_before, "%d frames under VNI 1111 are not TCP: %s" % (len(bad_before), bad_before[:3]))
        c.check(not bad_after, "%d frames under VNI 2222 are not UDP: %s" % (len(bad_after), bad_after[:3]))
        # VXLAN over IPv4: 50 bytes of outer headers; packet_length 60 keeps at most 60 inner bytes.
        long_after = [r for r in rows if r[0] == "2222" and int(r[2]) > 50 + 60]
        c.check(not long_after, "%d frames under VNI 2222 longer than packet_length 60: %s" % (len(long_after), long_after[:3]))
        c.check(len(rows) == st["packets_out"], "%d frames in the output file, %d counted" % (len(rows), st["packets_out"]))
        fb = st.get("filtered_by", {})
        c.check(st["filtered"] > 0 and fb.get("no_rule_matched", 0) == st["filtered"],
                "the rejected packets: filtered %d, by reason %s" % (st["filtered"], fb))
        print("reload cut: %s" % runs)
    c.done()


if __name__ == "__main__":
    main()
