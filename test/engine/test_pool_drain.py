#!/usr/bin/python3
"""Draining a pool member by hand while traffic flows (`mirrorpipe pool drain|undrain`).

The engine replays 600 flows (both directions, paced at 4,000 packets per second, repeated for
up to a minute) into a pool of three VXLAN targets, each sent out of its own net_pcap port. While
it runs: `mirrorpipe pool show` lists the members; `pool drain zeek zeek-b` takes zeek-b out;
later `pool undrain` puts it back, and the test stops the engine (SIGINT) two seconds after the
undrain is logged. The steps wait on the engine's log, never on a fixed schedule, so a slow
start (a sanitizer build on a busy machine) does not end the traffic before the undrain. The oracle (test/golden flowhash.py and maglev.py) gives each
frame's member with all three members and with zeek-b out: every frame each member received is
the oracle's for one of the two tables, zeek-b received frames before the drain and after the
undrain and none in between, and the counters add up.

usage: test_pool_drain.py MIRRORPIPE SOURCE_DIR
"""
import json
import os
import random
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "oracle"))
sys.path.insert(0, os.path.join(HERE, "..", "golden"))
from common import Checker, accounting_holds, wait_for, read_records, stop_engine  # noqa: E402
import flowhash  # noqa: E402
import maglev  # noqa: E402

from scapy.layers.inet import IP, TCP  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.layers.vxlan import VXLAN  # noqa: E402

MEMBERS = ["zeek-a", "zeek-b", "zeek-c"]
M = 65537


def main():
    binary = sys.argv[1]
    c = Checker("pool drain")
    prefix = "mppool%d" % os.getpid()
    rng = random.Random(5)
    E = Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b")
    frames = []
    for k in range(600):
        a, b = "10.1.%d.%d" % (k // 200, k % 200 + 1), "198.51.100.%d" % rng.randrange(1, 255)
        sp, dp = rng.randrange(1024, 65535), rng.choice([80, 443])
        frames.append(E / IP(src=a, dst=b) / TCP(sport=sp, dport=dp))
        frames.append(E / IP(src=b, dst=a) / TCP(sport=dp, dport=sp, flags="SA"))
    all_three = maglev.table(MEMBERS, [True, True, True], M)
    without_b = maglev.table(MEMBERS, [True, False, True], M)
    member = {}
    for f in frames:
        h = flowhash.flow_hash(bytes(f)) % M
        member[bytes(f)] = (MEMBERS[all_three[h]], MEMBERS[without_b[h]])
    with tempfile.TemporaryDirectory() as tmp:
        cap = os.path.join(tmp, "in.pcap")
        raw = [bytes(f) for f in frames]
        reps = 200  # 240,000 frames at 4,000 a second: a minute, far more than the steps need
        with open(cap, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for rep in range(reps):
                for j, fr in enumerate(raw):
                    f.write(struct.pack("<IIII", 1700000000 + rep, j, len(fr), len(fr)) + fr)
        text = """[engine]
stats_interval_s = 0.5
[eal]
args = ["--no-huge", "-m", "512", "--no-pci", "--file-prefix", "%s", "--log-level", "lib.eal:error"]
[[ports]]
name = "in"
role = "mirror-input"
file = "%s"
pace = 4000
""" % (prefix, cap)
        for i, m in enumerate(MEMBERS):
            text += """[[ports]]
name = "out-%s"
role = "output"
devargs = "net_pcap%d,tx_pcap=%s"
mac = "02:00:00:00:01:0%d"
ip = "10.0.0.1"
next_hop_mac = "02:00:00:00:00:02"
[[targets]]
name = "%s"
output = "out-%s"
tunnel = "vxlan"
dst_ip = "10.0.0.%d"
vni = %d
""" % (m, i + 1, os.path.join(tmp, m + ".pcap"), i, m, m, 10 + i, 100 + i)
        text += '[[pools]]\nname = "zeek"\nmembers = ["zeek-a", "zeek-b", "zeek-c"]\n[[routes]]\ninput = "in"\ntarget = "zeek"\n'
        cfg = os.path.join(tmp, "e.toml")
        with open(cfg, "w") as f:
            f.write(text)
        stats_path = os.path.join(tmp, "stats.json")
        log_path = os.path.join(tmp, "engine.log")
        log = open(log_path, "w")
        p = subprocess.Popen([binary, "run", "-c", cfg, "--stats-json", stats_path], stdout=log, stderr=subprocess.STDOUT)
        read_log = lambda: open(log_path).read()

        def pool(*words):
            return subprocess.run([binary, "pool", "--file-prefix", prefix] + list(words), capture_output=True,
                                  text=True, timeout=10)
        try:
            c.check(wait_for(lambda: "rx " in read_log(), 10), "no summary line:\n" + read_log())
            r = pool("show", "zeek")
            c.check(r.returncode == 0 and json.loads(r.stdout).get("members", {}).get("zeek-b", {}).get("state") == "healthy",
                    "pool show: exit %d %s %s" % (r.returncode, r.stdout, r.stderr))
            r = pool("drain", "zeek", "nobody")
            c.check(r.returncode != 0 and "no member 'nobody'" in r.stderr, "drain of an unknown member: %s %s" % (r.stdout, r.stderr))
            time.sleep(1.0)
            r = pool("drain", "zeek", "zeek-b")
            c.check(r.returncode == 0, "pool drain: exit %d %s" % (r.returncode, r.stderr))
            c.check(wait_for(lambda: "member zeek-b drained" in read_log(), 5), "no drain in the log:\n" + read_log()[-800:])
            r = pool("show", "zeek")
            c.check(r.returncode == 0 and json.loads(r.stdout).get("members", {}).get("zeek-b", {}).get("state") == "drained",
                    "pool show after drain: %s" % r.stdout)
            time.sleep(2.0)
            r = pool("undrain", "zeek", "zeek-b")
            c.check(r.returncode == 0, "pool undrain: exit %d %s" % (r.returncode, r.stderr))
            c.check(wait_for(lambda: "member zeek-b undrained" in read_log(), 5), "no undrain in the log")
            time.sleep(2.0)  # zeek-b takes its flows back
            c.check(p.poll() is None, "the engine ended before the undrain had been seen working")
        finally:
            rc = stop_engine(p) if p.poll() is None else p.returncode
            log.close()
        c.check(rc == 0, "exit %s:\n%s" % (rc, open(log_path).read()[-1500:]))
        st = json.load(open(stats_path)) if rc == 0 else None
        if st:
            c.check(accounting_holds(st), "counters do not add up")
            c.check(0 < st["packets_out"] < reps * len(raw), "packets_out %d (of a file of %d)" % (st["packets_out"], reps * len(raw)))
        got = {}
        for m in MEMBERS:
            got[m] = [bytes(Ether(r[0])[VXLAN].payload) for r in read_records(os.path.join(tmp, m + ".pcap"))]
        for m in MEMBERS:
            wrong = [f for f in got[m] if m not in member[f]]
            c.check(not wrong, "%s received %d frames neither table gives it" % (m, len(wrong)))
        # zeek-b: frames only before the drain and after the undrain. While it was out, zeek-a and
        # zeek-c took its flows (frames the full table gives zeek-b).
        moved = sum(1 for m in ("zeek-a", "zeek-c") for f in got[m] if member[f][0] == "zeek-b")
        c.check(moved > 0, "no flow of zeek-b went elsewhere while it was drained")
        c.check(len(got["zeek-b"]) > 0, "zeek-b received nothing")
        # net_pcap stamps each frame as it leaves: while drained (about 2 s), zeek-b's output
        # has a gap; otherwise it gets a frame every few milliseconds.
        bpath = os.path.join(tmp, "zeek-b.pcap")
        with open(bpath, "rb") as f:
            nano = f.read(4) in (b"\x4d\x3c\xb2\xa1", b"\xa1\xb2\x3c\x4d")  # DPDK's net_pcap writes ns
        times = [r[2][0] + r[2][1] / (1e9 if nano else 1e6) for r in read_records(bpath)]
        gap = max((b - a for a, b in zip(times, times[1:])), default=0)
        c.check(1.5 <= gap <= 10, "zeek-b's longest silence %.2f s, expected the drain's 2 s" % gap)
        total = sum(len(v) for v in got.values())
        if st:
            c.check(total == st["packets_out"], "%d frames written, %d sent" % (total, st["packets_out"]))
        if st:
            b = st["pools"]["zeek"]["members"]["zeek-b"]
            c.check(b["copies"] == len(got["zeek-b"]) and b["state"] == "healthy",
                    "zeek-b in the JSON: %s, %d frames written" % (b, len(got["zeek-b"])))
        print("zeek-b: %d frames, silent %.2f s; %d of its flows' frames went elsewhere while drained" % (
            len(got["zeek-b"]), gap, moved))
    c.done()


if __name__ == "__main__":
    main()
