#!/usr/bin/python3
"""Operating a running engine: telemetry, SIGHUP reload under traffic, SIGINT.

The engine replays the sample, repeated 1500 times (40,500 frames), at 8,000 packets per second
from a capture-file port into a net_pcap output. While it runs: `mirrorpipe stats` and DPDK's own dpdk-telemetry.py (an independent client) read its
counters; a SIGHUP with a new VNI is adopted with a clean cut (every packet before it carries
the old VNI, every packet after it the new one); a SIGHUP that changes a port, and one with a
syntax error, are refused with a message while traffic goes on; SIGINT stops it with exit 0
and counters that add up and agree with the PMD's.

usage: test_engine_control.py MIRRORPIPE SOURCE_DIR
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oracle"))
from common import Checker, accounting_holds, stop_engine, wait_for  # noqa: E402


def main():
    binary, src = sys.argv[1], sys.argv[2]
    c = Checker("engine control")
    prefix = "mptest%d" % os.getpid()
    with tempfile.TemporaryDirectory() as tmp:
        import struct
        from scapy.utils import RawPcapReader
        sample = os.path.join(tmp, "long.pcap")
        frames = [bytes(d) for d, _ in RawPcapReader(os.path.join(src, "pcaps/sample-mix.pcap"))]
        with open(sample, "wb") as f:  # classic pcap, microseconds, Ethernet
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for i in range(4000):  # 13 s at 8,000 a second: more than the steps need, on a slow start too
                for j, fr in enumerate(frames):
                    f.write(struct.pack("<IIII", 1700000000 + i, j, len(fr), len(fr)) + fr)
        out = os.path.join(tmp, "out.pcap")
        cfg_path = os.path.join(tmp, "engine.toml")
        text = """[engine]
workers = 1
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
mtu = 9100
mac = "02:00:00:00:00:01"
ip = "172.31.0.238"
next_hop_mac = "02:00:00:00:00:02"

[[targets]]
name = "analyzers"
output = "out"
tunnel = "vxlan"
dst_ip = "172.31.17.188"
vni = 1111
""".format(prefix=prefix, sample=sample, out=out) + """
[[routes]]
input = "in"
target = "analyzers"
"""
        with open(cfg_path, "w") as f:
            f.write(text)
        stats_path = os.path.join(tmp, "stats.json")
        log_path = os.path.join(tmp, "engine.log")
        log = open(log_path, "w")
        p = subprocess.Popen([binary, "run", "-c", cfg_path, "--stats-json", stats_path], stdout=log, stderr=subprocess.STDOUT)
        try:
            read_log = lambda: open(log_path).read()
            c.check(wait_for(lambda: "rx " in read_log(), 10), "the engine printed no summary line:\n" + read_log())

            # Telemetry, through our client and through DPDK's.
            r = subprocess.run([binary, "stats", "--file-prefix", prefix, "--json"], capture_output=True, text=True, timeout=10)
            c.check(r.returncode == 0, "mirrorpipe stats: exit %d %s" % (r.returncode, r.stderr))
            if r.returncode == 0:
                live = json.loads(r.stdout)
                c.check(live["stats"]["packets_in"] > 0, "mirrorpipe stats: no packets counted")
                c.check(live["inputs"]["in"]["packets_in"] > 0 and "out" in live["outputs"], "mirrorpipe stats: %s" % live)
                c.check(live.get("ports", {}).get("out", {}).get("opackets", 0) > 0,
                        "mirrorpipe stats: no PMD counters for port out: %s" % live.get("ports"))
            r = subprocess.run(["dpdk-telemetry.py", "-f", prefix], input="/mirrorpipe/stats\n", capture_output=True, text=True, timeout=10)
            c.check(r.returncode == 0 and '"/mirrorpipe/stats"' in r.stdout and '"packets_in"' in r.stdout,
                    "dpdk-telemetry.py could not read /mirrorpipe/stats: %s %s" % (r.stdout[-500:], r.stderr[-500:]))

            # Reload: a new VNI.
            with open(cfg_path, "w") as f:
                f.write(text.replace("vni = 1111", "vni = 2222"))
            p.send_signal(signal.SIGHUP)
            c.check(wait_for(lambda: "reloaded" in read_log(), 5), "no reload after SIGHUP:\n" + read_log()[-1000:])
            time.sleep(0.5)
            # Refused: a port change, then a broken file.
            with open(cfg_path, "w") as f:
                f.write(text.replace("vni = 1111", "vni = 2222").replace("pace = 8000", "pace = 9000"))
            p.send_signal(signal.SIGHUP)
            want = "reload refused: ports[0] ('in') cannot change while running (restart the engine to change it); still running the previous configuration"
            c.check(wait_for(lambda: want in read_log(), 5), "port change not refused as expected:\n" + read_log()[-1000:])
            with open(cfg_path, "w") as f:
                f.write(text.replace("vni = 1111", "vni = "))
            p.send_signal(signal.SIGHUP)
            c.check(wait_for(lambda: read_log().count("reload refused") == 2, 5), "broken file not refused:\n" + read_log()[-1000:])
            vni_line = text.split("\n").index("vni = 1111") + 1
            c.check("%s:%d:" % (cfg_path, vni_line) in read_log(), "the refusal does not name the file and line %d:\n%s" % (vni_line, read_log()[-600:]))
            time.sleep(0.3)
            c.check(p.poll() is None, "the engine stopped after a refused reload")
        finally:
            rc = stop_engine(p)
            log.close()
        c.check(rc == 0, "exit %d after SIGINT:\n%s" % (rc, open(log_path).read()[-1500:]))
        if rc == 0:
            st = json.load(open(stats_path))
            c.check(accounting_holds(st), "counters do not add up: %s" % st)
            c.check(st["ports"]["out"]["opackets"] == st["packets_out"], "PMD sent %d, engine %d" % (st["ports"]["out"]["opackets"], st["packets_out"]))
            vnis = subprocess.run(["tshark", "-r", out, "-T", "fields", "-e", "vxlan.vni"], capture_output=True, text=True).stdout.split()
            runs = []
            for v in vnis:
                if not runs or runs[-1][0] != v:
                    runs.append([v, 0])
                runs[-1][1] += 1
            c.check([r[0] for r in runs] == ["1111", "2222"], "VNIs in the output, in runs: %s" % runs[:6])
            c.check(len(vnis) == st["packets_out"], "%d frames in the output file, %d counted" % (len(vnis), st["packets_out"]))
            print("reload cut: %s" % runs)
    c.done()


if __name__ == "__main__":
    main()
