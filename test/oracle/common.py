"""Helpers shared by the oracle tests: run mirrorpipe, read captures, report failures."""
import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

from scapy.utils import RawPcapReader


def ones_sum(data):
    """RFC 1071's one's-complement sum of 16-bit big-endian words, folded to 16 bits."""
    if len(data) % 2:
        data = bytes(data) + b"\0"
    s = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data), 2))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def stop_engine(p, timeout_s=30):
    """SIGINT to a running engine, then its exit status (-1, killed, when it does not stop)."""
    p.send_signal(signal.SIGINT)
    try:
        return p.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
        return -1


def run_live_engine(binary, config, stats_json, log, start_timeout_s=60):
    """`mirrorpipe run` on a live port that does not end with its file (net_pcap): it runs until
    its first summary line (it has read a small capture long before), one second more, then
    SIGINT. The exit status (-1, killed, when it does not stop)."""
    import time
    with open(log, "w") as lf:
        p = subprocess.Popen([binary, "run", "-c", config, "--stats-json", stats_json], stdout=lf,
                             stderr=subprocess.STDOUT)
        deadline = time.monotonic() + start_timeout_s
        while time.monotonic() < deadline and p.poll() is None and " summary: [" not in open(log).read():
            time.sleep(0.1)
        time.sleep(1)
        return stop_engine(p)


def scratch_dir(prefix):
    """A temporary directory removed when the test exits (kept with MIRRORPIPE_KEEP_TMP=1)."""
    path = tempfile.mkdtemp(prefix=prefix)
    if os.environ.get("MIRRORPIPE_KEEP_TMP") == "1":
        print("scratch directory kept: " + path)
    else:
        atexit.register(shutil.rmtree, path, True)
    return path


class Checker:
    def __init__(self, name):
        self.name = name
        self.failures = 0
        self.checks = 0

    def check(self, cond, msg):
        self.checks += 1
        if not cond:
            self.failures += 1
            if self.failures <= 40:
                print("FAIL: " + msg)

    def done(self):
        print("%s: %d checks, %d failed" % (self.name, self.checks, self.failures))
        sys.exit(1 if self.failures else 0)


def read_records(path):
    """[(bytes, wire_len, (sec, frac))] with libpcap-independent reading (scapy)."""
    out = []
    for data, meta in RawPcapReader(path):
        if hasattr(meta, "sec"):
            ts = (meta.sec, meta.usec)
            wire = meta.wirelen
        else:  # pcapng: a count of tsresol units, as (seconds, fraction in those units)
            t = (meta.tshigh << 32) | meta.tslow
            ts = (t // meta.tsresol, t % meta.tsresol)
            wire = meta.wirelen
        out.append((bytes(data), wire, ts))
    return out


def run_mirrorpipe(binary, args, expect_rc=0):
    """Runs mirrorpipe with --stats-json; returns (rc, stats dict or None, stderr)."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        stats_path = f.name
    try:
        p = subprocess.run([binary] + args + ["--stats-json", stats_path], capture_output=True,
                           text=True, timeout=120)
        stats = None
        if p.returncode == 0:
            with open(stats_path) as f:
                stats = json.load(f)
        if p.returncode != expect_rc:
            print(p.stdout)
            print(p.stderr)
        return p.returncode, stats, p.stderr
    finally:
        os.unlink(stats_path)


def run_config(checker, binary, directory, text, name):
    """Writes `text` to DIRECTORY/NAME.toml and runs it with `mirrorpipe run`; a non-zero exit
    is a failed check. Returns the stats (None when the run failed)."""
    path = os.path.join(directory, name + ".toml")
    with open(path, "w") as f:
        f.write(text)
    rc, stats, err = run_mirrorpipe(binary, ["run", "-c", path])
    checker.check(rc == 0, "%s: mirrorpipe run failed: %s" % (name, err[-400:]))
    return stats


def wait_for(pred, seconds):
    """True as soon as pred() is; False after `seconds` (polled every 50 ms)."""
    import time
    end = time.time() + seconds
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def accounting_holds(stats):
    return stats["packets_in"] == stats["packets_out"] + stats["filtered"] + sum(stats["dropped"].values())
