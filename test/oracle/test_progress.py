#!/usr/bin/python3
"""The progress bar of file work: on a terminal only.

`encap` of a capture of 32,400 frames (the sample, 1200 times) with stderr on a pipe writes no
bar (no \\r, no percent); with stderr on a pseudo-terminal (Python's pty) it redraws a bar in
place that reaches 100% with the number of frames the file holds, and ends it with a newline
before the counters; --no-progress keeps the terminal quiet. `run` with a capture-file input on
a terminal draws it too, and a summary log line on the same terminal starts on a line of its
own (the bar is cleared first).

usage: test_progress.py MIRRORPIPE SOURCE_DIR
"""
import os
import pty
import re
import select
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checker  # noqa: E402

REPEAT = 1200


def run_on_pty(argv, stdout_too=False, timeout=120):
    """Runs argv with stderr (and stdout, if asked) on a new pseudo-terminal; returns (rc, what
    the terminal received, stdout when it is a pipe)."""
    master, slave = pty.openpty()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=slave if stdout_too else subprocess.PIPE,
                         stderr=slave)
    os.close(slave)
    got = b""
    while True:
        ready, _, _ = select.select([master], [], [], timeout)
        if not ready:
            p.kill()
            break
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: every writer closed the terminal
            break
        if not chunk:
            break
        got += chunk
    out = p.stdout.read() if p.stdout else b""
    rc = p.wait()
    os.close(master)
    return rc, got.decode("utf-8", "replace"), out


def main():
    binary, src = sys.argv[1], sys.argv[2]
    c = Checker("progress")
    with tempfile.TemporaryDirectory() as tmp:
        from scapy.utils import RawPcapReader
        frames = [bytes(d) for d, _ in RawPcapReader(os.path.join(src, "pcaps/sample-mix.pcap"))]
        total = REPEAT * len(frames)
        big = os.path.join(tmp, "big.pcap")
        with open(big, "wb") as f:  # classic pcap, microseconds, Ethernet
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for i in range(REPEAT):
                for j, fr in enumerate(frames):
                    f.write(struct.pack("<IIII", 1700000000 + i, j, len(fr), len(fr)) + fr)
        encap = [binary, "encap", "-r", big, "-w", os.path.join(tmp, "out.pcap"), "--src-ip", "10.0.0.1",
                 "--dst-ip", "10.0.0.2"]
        count = "{:,} packets".format(total)

        # stderr a pipe: not a character of progress.
        p = subprocess.run(encap, capture_output=True, timeout=120)  # bytes: text mode would turn \r into \n
        err = p.stderr.decode("utf-8", "replace")
        c.check(p.returncode == 0, "encap, stderr a pipe: exit %d %s" % (p.returncode, err[-400:]))
        c.check("\r" not in err and "%" not in err and "ETA" not in err,
                "encap, stderr a pipe: progress written: %r" % err[:300])
        c.check(err.startswith("mirrorpipe encap: "), "encap, stderr a pipe: %r" % err[:200])

        # stderr a terminal: a bar redrawn in place, up to 100% and every frame, then a newline.
        rc, tty, _ = run_on_pty(encap)
        c.check(rc == 0, "encap on a terminal: exit %d %s" % (rc, tty[-400:]))
        draws = [d for d in tty.split("\r") if d.strip() and "%" in d]
        c.check(len(draws) >= 1 and tty.startswith("\r["), "encap on a terminal: no bar: %r" % tty[:300])
        last = draws[-1] if draws else ""
        m = re.match(r"\[=+\]\s+(\d+)%\s+([\d,]+ packets)\s+[\d.]+ [kM]?pps\s+in \d+:\d\d\s*$", last.strip("\n"))
        c.check(m is not None and m.group(1) == "100" and m.group(2) == count,
                "encap on a terminal: the last draw is %r, expected 100%% and %s" % (last, count))
        percents = [int(x) for x in re.findall(r"\]\s+(\d+)%", tty)]
        c.check(percents == sorted(percents), "encap on a terminal: percents go back: %s" % percents)
        # The terminal turns \n into \r\n: the bar's own line ends, then the counters.
        c.check(re.search(r"100%[^\r\n]*\s*\r\nmirrorpipe encap: ", tty) is not None,
                "encap on a terminal: the counters do not start on a line of their own: %r" % tty[-800:])
        print("encap on a terminal: %d draws, percents %s" % (len(draws), percents))

        # --no-progress: nothing, even on a terminal.
        rc, tty, _ = run_on_pty(encap + ["--no-progress"])
        c.check(rc == 0 and "%" not in tty and not tty.startswith("\r"),
                "encap --no-progress on a terminal: exit %d %r" % (rc, tty[:300]))

        # decap through the same path.
        rc, tty, _ = run_on_pty([binary, "decap", "-r", os.path.join(tmp, "out.pcap"), "-w", os.path.join(tmp, "in.pcap")])
        c.check(rc == 0 and re.search(r"100%\s+" + re.escape(count), tty) is not None,
                "decap on a terminal: exit %d %r" % (rc, tty[-400:]))

        # run: the control loop draws it; summary lines on the same terminal start a line.
        cfg = os.path.join(tmp, "run.toml")
        with open(cfg, "w") as f:
            f.write("""[engine]
workers = 1
stats_interval_s = 0.2
[eal]
args = ["--no-huge", "-m", "256", "--no-pci", "--no-shconf", "--no-telemetry", "--log-level", "lib.eal:error"]
[[ports]]
name = "in"
role = "mirror-input"
file = "{big}"
pace = 40000
[[ports]]
name = "out"
role = "output"
file = "{out}"
[[targets]]
name = "t"
output = "out"
tunnel = "vxlan"
src_ip = "10.0.0.1"
dst_ip = "10.0.0.2"
[[routes]]
input = "in"
target = "t"
""".format(big=big, out=os.path.join(tmp, "run-out.pcap")))
        rc, tty, _ = run_on_pty([binary, "run", "-c", cfg], stdout_too=True)
        c.check(rc == 0, "run on a terminal: exit %d %r" % (rc, tty[-400:]))
        c.check(re.search(r"\]\s+100%\s+" + re.escape(count), tty) is not None, "run on a terminal: no 100%% bar: %r" % tty[-600:])
        summaries = [m.start() for m in re.finditer(r"\d{4}-\d\d-\d\dT[\d:.]+Z info  summary: ", tty)]
        c.check(len(summaries) >= 3, "run on a terminal: %d summary lines" % len(summaries))
        c.check(all(i == 0 or tty[i - 1] in "\r\n" for i in summaries),
                "run on a terminal: a summary line continues the bar's line: %r" % tty[:800])
        c.check(len(re.findall(r"\]\s+\d+%", tty)) >= 3, "run on a terminal: fewer than 3 draws in %d summaries" % len(summaries))

        # run, stderr a pipe: the summaries, no bar.
        p = subprocess.run([binary, "run", "-c", cfg], capture_output=True, timeout=120)
        err = p.stderr.decode("utf-8", "replace")
        c.check(p.returncode == 0 and "\r" not in err and not re.search(r"\]\s+\d+%", err) and b" summary: " in p.stdout,
                "run, stderr a pipe: exit %d, stderr %r" % (p.returncode, err[:300]))
    c.done()


if __name__ == "__main__":
    main()
