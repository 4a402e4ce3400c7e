#!/usr/bin/python3
"""The hostile corpus (test/golden/make_hostile.py) through the live engine with two workers.

The corpus is split in two halves (even and odd rows), one per RX queue of a net_pcap device;
worker w reads queue w.

1. Receive: the device is a tunnel input routed to a pcap file (one file per worker). The
   engine exits cleanly; received = sent + filtered + dropped (in all and on the input); the PMD
   received every frame; nothing is filtered; every drop reason is counted at least as often as
   the generator says it must be, and the drops add up to the bad frames (the rows marked
   "dropped" may end under any reason); each worker's file holds exactly the inner frames of
   its half's good rows, in order, byte for byte (the generator built them with scapy).
2. Mirror input: the same corpus, encapsulated as VXLAN to a net_pcap output with two TX
   queues. The engine exits cleanly, the counters add up, and what the engine says it sent is
   what the PMD sent and what the output files hold.

usage: test_hostile_corpus.py MIRRORPIPE SOURCE_DIR
"""
import collections
import json
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oracle"))
from common import Checker, accounting_holds, read_records, scratch_dir, stop_engine, wait_for  # noqa: E402

MP, SRC = sys.argv[1], sys.argv[2]
EAL = '["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", "--log-level", "lib.eal:error"]'
c = Checker("hostile corpus")
tmp = scratch_dir("mp-hostile-")


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", 1700000000 + i, 0, len(fr), len(fr)) + fr)


def last_summary(log_path):
    """The counters of the engine's latest summary event (JSON log), or None."""
    last = None
    with open(log_path, "rb") as f:
        for line in f.read().decode("utf-8", "replace").splitlines():
            if '"kind":"summary"' in line:
                try:
                    last = json.loads(line)
                except ValueError:
                    pass
    return last


def run_until_done(name, text, total):
    """Runs the engine until its summary says every frame was received and accounted for, then
    SIGINT. Returns (exit code, final stats or None, log text)."""
    cfg, stats_path, log_path = (os.path.join(tmp, name + ext) for ext in (".toml", ".json", ".log"))
    with open(cfg, "w") as f:
        f.write(text)
    with open(log_path, "wb") as log:
        p = subprocess.Popen([MP, "run", "-c", cfg, "--stats-json", stats_path], stdout=log, stderr=subprocess.STDOUT)

        def done():
            s = last_summary(log_path)
            return p.poll() is not None or (s is not None and s.get("rx_packets") == total and
                                            s["sent_packets"] + s["filtered"] + s["dropped"] == total)
        finished = wait_for(done, 25)
        rc = stop_engine(p)
    with open(log_path, "rb") as f:
        log_text = f.read().decode("utf-8", "replace")
    c.check(finished, "%s: the engine did not account for all %d frames within 25 s:\n%s" % (name, total, log_text[-1500:]))
    c.check(rc == 0, "%s: exit %d\n%s" % (name, rc, log_text[-2000:]))
    for bad in ("AddressSanitizer", "runtime error:", "Segmentation"):
        c.check(bad not in log_text, "%s: %s in the log:\n%s" % (name, bad, log_text[-2000:]))
    stats = None
    if rc == 0 and os.path.exists(stats_path):
        with open(stats_path) as f:
            stats = json.load(f)
    c.check(stats is not None, "%s: no --stats-json report" % name)
    return stats


def head(name, devargs, role):
    return """[engine]
workers = 2
stats_interval_s = 0.2

[eal]
args = {eal}

[log]
format = "json"

[[ports]]
name = "in"
role = "{role}"
devargs = "{devargs}"
""".format(eal=EAL, role=role, devargs=devargs)


def main():
    frames = [r[0] for r in read_records(os.path.join(SRC, "test/golden/hostile.pcap"))]
    rows = []
    with open(os.path.join(SRC, "test/golden/hostile.tsv")) as f:
        for line in f:
            if not line.startswith("#"):
                rows.append(line.rstrip("\n").split("\t"))
    c.check(len(frames) == len(rows) and len(rows) > 500, "corpus: %d frames, %d rows" % (len(frames), len(rows)))
    n = len(frames)
    halves = [os.path.join(tmp, "half%d.pcap" % w) for w in range(2)]
    for w in range(2):
        write_pcap(halves[w], [fr for i, fr in enumerate(frames) if i % 2 == w])
    rx = "net_pcap0,rx_pcap=%s,rx_pcap=%s" % tuple(halves)
    good = [i for i, r in enumerate(rows) if r[1] == "none"]
    bad = n - len(good)
    want_reason = collections.Counter(r[1] for r in rows if r[1] not in ("none", "dropped"))

    # 1. Receive.
    out = os.path.join(tmp, "inner.pcap")
    text = head("receive", rx, "tunnel-input") + """
[[ports]]
name = "out"
role = "output"
file = "{out}"

[[routes]]
input = "in"
output = "out"
""".format(out=out)
    st = run_until_done("receive", text, n)
    if st:
        c.check(accounting_holds(st), "receive: received != sent + filtered + dropped: %s" % st)
        for name, ic in st["inputs"].items():
            c.check(accounting_holds(ic), "receive: input %s does not add up: %s" % (name, ic))
        c.check(st["packets_in"] == n, "receive: %d received of %d" % (st["packets_in"], n))
        c.check(st["ports"]["in"]["ipackets"] == n, "receive: the PMD received %d of %d" % (st["ports"]["in"]["ipackets"], n))
        c.check(st["packets_out"] == len(good), "receive: %d sent, the generator has %d good rows" % (st["packets_out"], len(good)))
        c.check(st["filtered"] == 0, "receive: %d filtered" % st["filtered"])
        dropped = {k: v for k, v in st["dropped"].items() if v}
        c.check(sum(dropped.values()) == bad, "receive: %d dropped, the generator has %d bad rows" % (sum(dropped.values()), bad))
        for reason, count in want_reason.items():
            c.check(dropped.get(reason, 0) >= count, "receive: %s counted %d times, the generator says at least %d"
                    % (reason, dropped.get(reason, 0), count))
        c.check(len(st["workers"]) == 2 and all(w["packets_in"] > 0 for w in st["workers"]),
                "receive: both workers must receive: %s" % st["workers"])
        print("receive: %d in, %d sent, dropped %s" % (st["packets_in"], st["packets_out"], dropped))
        for w in range(2):
            path = os.path.join(tmp, "inner-w%d.pcap" % w)
            got = [r[0] for r in read_records(path)] if os.path.exists(path) else []
            want = [bytes.fromhex(rows[i][2]) for i in good if i % 2 == w]
            c.check(len(got) == len(want), "receive: worker %d wrote %d inner frames, expected %d" % (w, len(got), len(want)))
            for j, (g, e) in enumerate(zip(got, want)):
                c.check(g == e, "receive: worker %d, inner frame %d differs from the generator's (row %s: %s)"
                        % (w, j, [i for i in good if i % 2 == w][j], rows[[i for i in good if i % 2 == w][j]][3]))

    # 2. The same corpus as mirror input, encapsulated as VXLAN.
    outs = [os.path.join(tmp, "mirrored%d.pcap" % w) for w in range(2)]
    text = head("mirror", rx, "mirror-input") + """mtu = 9001

[[ports]]
name = "out"
role = "output"
devargs = "net_pcap1,tx_pcap={o0},tx_pcap={o1}"
mtu = 9100
mac = "02:00:00:00:00:01"
ip = "172.31.0.238"
next_hop_mac = "02:00:00:00:00:02"

[[targets]]
name = "analyzers"
output = "out"
tunnel = "vxlan"
dst_ip = "172.31.17.188"
vni = 5569041

[[routes]]
input = "in"
target = "analyzers"
""".format(o0=outs[0], o1=outs[1])
    st = run_until_done("mirror", text, n)
    if st:
        c.check(accounting_holds(st), "mirror: received != sent + filtered + dropped: %s" % st)
        for name, ic in st["inputs"].items():
            c.check(accounting_holds(ic), "mirror: input %s does not add up: %s" % (name, ic))
        c.check(st["packets_in"] == n, "mirror: %d received of %d" % (st["packets_in"], n))
        c.check(st["ports"]["out"]["opackets"] == st["packets_out"],
                "mirror: the PMD sent %d, the engine counted %d" % (st["ports"]["out"]["opackets"], st["packets_out"]))
        written = sum(len(read_records(o)) for o in outs if os.path.exists(o))
        c.check(written == st["packets_out"], "mirror: %d frames in the output files, %d sent" % (written, st["packets_out"]))
        print("mirror: %d in, %d sent, filtered %d, dropped %s" % (st["packets_in"], st["packets_out"], st["filtered"],
                                                                   {k: v for k, v in st["dropped"].items() if v}))
    c.done()


if __name__ == "__main__":
    main()
