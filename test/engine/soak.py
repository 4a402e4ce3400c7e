#!/usr/bin/python3
"""Soak: minutes of traffic through two workers, a reload every second, faults injected.

    MIRRORPIPE_SOAK=1 [MIRRORPIPE_SOAK_SECONDS=240] soak.py MIRRORPIPE SOURCE_DIR

Skipped (exit 77) unless MIRRORPIPE_SOAK=1: it takes minutes and both cores. The engine runs
with two workers on DPDK vdevs, every input a net_pcap replaying the bundled sample forever:

    "bulk" (two RX queues, one per worker) -> session -> VXLAN target on net_null (drains)
                                                      -> VXLAN target on net_ring nobody reads:
                                                         full after its first ring's worth,
                                                         every later copy refused (tx_full)
    "trickle" (max_pps 20000)              -> session -> pcapng file, rotated every 2 s, in a
                                                         folder removed a third of the way in
                                                         and put back (empty) 5 s later: the
                                                         next rotation cannot open a file
                                                         (write_failed from then on)

Every second the configuration file is rewritten with the other of two VNIs and the engine gets
SIGHUP; its resident memory (VmRSS, /proc) is sampled every second. At the end (SIGINT):
  - received = sent + filtered + dropped, exactly, per input, and the engine's packets in are
    the PMD's ipackets; each drained output's packets are the PMD's opackets; the net_ring
    output took what its ring holds (the PMD's count) and refused the rest as tx_full;
  - every SIGHUP was a reload logged as such, but those while the folder was gone: refused,
    naming it (the loader checks a file output's folder);
  - the file output failed as injected (the report's write error) and the engine went on:
    traffic still moved in the last seconds;
  - RSS flat: after a warm-up of 10 s (every pool buffer has been touched by then), the
    largest and smallest samples differ by less than 16 MiB. The engine allocates nothing per
    packet; what may come and go is a snapshot per reload (kilobytes, retired once the workers
    have moved on), log lines and civetweb-free control state: 16 MiB is far above that and
    far below a leak of even one byte per packet over the run's tens of millions.
Prints the figures: packets, reloads, RSS samples.
"""
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oracle"))
from common import Checker, accounting_holds, scratch_dir, stop_engine  # noqa: E402

if os.environ.get("MIRRORPIPE_SOAK") != "1":
    print("soak: skipped (set MIRRORPIPE_SOAK=1 to run it; MIRRORPIPE_SOAK_SECONDS, default 240)")
    sys.exit(77)

MP, SRC = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
SECONDS = int(os.environ.get("MIRRORPIPE_SOAK_SECONDS", "240"))
WARMUP_S = 10
RSS_BOUND_KB = 16 * 1024
SAMPLE = os.path.join(SRC, "pcaps", "sample-mix.pcap")
c = Checker("soak")
tmp = scratch_dir("mp-soak-")
rotating = os.path.join(tmp, "rotating")
os.mkdir(rotating)
cfg = os.path.join(tmp, "soak.toml")
stats = os.path.join(tmp, "stats.json")


def config(vni):
    return """[engine]
workers = 2
stats_interval_s = 1

[eal]
args = ["--no-huge", "-m", "1024", "--no-pci", "--no-shconf", "--no-telemetry", "--log-level", "lib.eal:error"]

[[ports]]
name = "bulk"
role = "mirror-input"
devargs = "net_pcap0,rx_pcap={s},rx_pcap={s},infinite_rx=1"
mtu = 9001   # buffers for the sample's largest frame (infinite_rx takes no chains)

[[ports]]
name = "trickle"
role = "mirror-input"
devargs = "net_pcap1,rx_pcap={s},infinite_rx=1"
mtu = 9001

[[ports]]
name = "null"
role = "output"
devargs = "net_null0,no-rx=1"

[[ports]]
name = "ring"
role = "output"
devargs = "net_ring_soak"

[[ports]]
name = "rotating"
role = "output"
file = "{rot}/cap.pcapng"
rotate_seconds = 2

[[targets]]
name = "to_null"
output = "null"
tunnel = "vxlan"
src_ip = "10.0.0.1"
dst_ip = "10.0.0.2"
dst_mac = "02:00:00:00:00:02"
vni = {vni}

[[targets]]
name = "to_ring"
output = "ring"
tunnel = "vxlan"
src_ip = "10.0.0.1"
dst_ip = "10.0.0.3"
dst_mac = "02:00:00:00:00:03"
vni = {vni}

[[sessions]]
name = "bulk"
input = "bulk"
number = 1
sinks = ["to_null", "to_ring"]

[[sessions]]
name = "trickle"
input = "trickle"
number = 1
max_pps = 20000
sinks = ["rotating"]
""".format(s=SAMPLE, rot=rotating, vni=vni)


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


with open(cfg, "w") as f:
    f.write(config(100))
log_path = os.path.join(tmp, "engine.log")
log = open(log_path, "w")
# Under AddressSanitizer every free goes through its quarantine (256 MiB by default) before the
# memory is used again: a reload a second frees a snapshot a second, and RSS would climb by the
# quarantine's size whatever the engine does. 4 MiB keeps recent frees checked (use after free)
# and the RSS bound meaningful. A build without ASan ignores the variable.
env = dict(os.environ)
env["ASAN_OPTIONS"] = ":".join(x for x in (env.get("ASAN_OPTIONS", ""), "quarantine_size_mb=4") if x)
p = subprocess.Popen([MP, "run", "-c", cfg, "--stats-json", stats], stdout=log, stderr=subprocess.STDOUT, env=env)
# Started when the first summary line is out (bounded: 30 s).
deadline = time.time() + 30
while time.time() < deadline and p.poll() is None:
    if " summary: [" in open(log_path).read():
        break
    time.sleep(0.2)
t0 = time.time()
samples = []   # (seconds since start, VmRSS kB)
sighups = 0
removed_at = restored_at = None
try:
    while p.poll() is None and time.time() - t0 < SECONDS:
        time.sleep(1)
        r = rss_kb(p.pid)
        if r is not None:
            samples.append((time.time() - t0, r))
        with open(cfg + ".new", "w") as f:
            f.write(config(200 if sighups % 2 == 0 else 100))
        os.replace(cfg + ".new", cfg)
        p.send_signal(signal.SIGHUP)
        sighups += 1
        if removed_at is None and time.time() - t0 > SECONDS / 3:
            for name in os.listdir(rotating):
                os.unlink(os.path.join(rotating, name))
            os.rmdir(rotating)
            removed_at = time.time() - t0
        elif removed_at is not None and restored_at is None and time.time() - t0 > removed_at + 5:
            os.mkdir(rotating)
            restored_at = time.time() - t0
    time.sleep(1.5)  # the last reload handled before the stop
    alive = p.poll() is None
    rc = stop_engine(p, 60)
finally:
    if p.poll() is None:
        p.kill()
        p.wait()
    log.close()
elapsed = time.time() - t0
text = open(log_path).read()
c.check(alive, "the engine exited by itself before the end:\n" + text[-3000:])
# A run whose file outputs failed exits 1 at the end, with its report.
c.check(rc == 1, "exit %d, expected 1 (the file outputs failed as injected)\n%s" % (rc, text[-2000:]))
st = json.load(open(stats)) if os.path.exists(stats) else None
c.check(st is not None, "no --stats-json report")
if st:
    for name, ic in st["inputs"].items():
        c.check(accounting_holds(ic), "input %s does not add up: %s" % (name, ic))
        c.check(st["ports"][name]["ipackets"] == ic["packets_in"],
                "input %s: the PMD received %d, the engine counted %d" % (name, st["ports"][name]["ipackets"], ic["packets_in"]))
    c.check(accounting_holds(st), "the totals do not add up")
    outs, ports = st["outputs"], st["ports"]
    c.check(outs["null"]["packets"] == ports["null"]["opackets"],
            "null: the engine sent %d, the PMD %d" % (outs["null"]["packets"], ports["null"]["opackets"]))
    # net_ring: a ring of 1024 (1023 usable) per TX queue, one queue per worker.
    c.check(outs["ring"]["packets"] == ports["ring"]["opackets"] and 0 < ports["ring"]["opackets"] <= 2 * 1024,
            "ring: the engine sent %d, the PMD took %d (at most its rings)" % (outs["ring"]["packets"], ports["ring"]["opackets"]))
    bulk = st["inputs"]["bulk"]
    # Every bulk packet that reached the session made one copy for each of its two sinks.
    ring_copies = outs["ring"]["packets"] + sum(outs["ring"]["dropped"].values())
    null_copies = outs["null"]["packets"] + sum(outs["null"]["dropped"].values())
    c.check(ring_copies == null_copies, "bulk: %d copies for the ring, %d for null" % (ring_copies, null_copies))
    c.check(outs["ring"]["dropped"].get("tx_full", 0) == ring_copies - outs["ring"]["packets"],
            "ring: refusals not all tx_full: %s" % outs["ring"]["dropped"])
    c.check(bulk["packets_in"] >= 10_000_000, "only %d packets through the bulk input" % bulk["packets_in"])
    c.check(outs["rotating"]["dropped"].get("write_failed", 0) > 0, "the removed folder: no write_failed: %s" % outs["rotating"])
    c.check(len(st["write_errors"]) == 1 and "No such file or directory" in st["write_errors"][0],
            "write errors: %s" % st["write_errors"])
    c.check(st["workers"][0]["packets_in"] > 0 and st["workers"][1]["packets_in"] > 0,
            "a worker received nothing: %s" % [w["packets_in"] for w in st["workers"]])
reloads = text.count(" reload: reloaded ")
refusals = [l for l in text.splitlines() if " reload_refused: " in l]
c.check(reloads + len(refusals) == sighups, "%d SIGHUPs, %d reloads and %d refusals logged" % (sighups, reloads, len(refusals)))
c.check(1 <= len(refusals) <= 7 and all("'%s' does not exist" % rotating in l for l in refusals),
        "refusals other than the missing folder's, or too many: %s" % refusals[:3])
# Still moving at the end: the last periodic summary shows packets received.
last = [l for l in text.splitlines() if " summary: [" in l][-1:]
c.check(bool(last) and "rx 0 pps" not in last[0], "no traffic in the last interval: %s" % last)
steady = [kb for t, kb in samples if t >= WARMUP_S]
c.check(len(steady) >= 10, "too few RSS samples after the warm-up: %d" % len(steady))
if steady:
    spread = max(steady) - min(steady)
    c.check(spread < RSS_BOUND_KB, "RSS grew: %d kB between the smallest and largest sample after %d s" % (spread, WARMUP_S))
if st:
    print("soak: %.0f s, %d packets in (bulk %d, trickle %d), %d out, filtered %d, dropped %s" % (
        elapsed, st["packets_in"], st["inputs"]["bulk"]["packets_in"], st["inputs"]["trickle"]["packets_in"],
        st["packets_out"], st["filtered"], {k: v for k, v in st["dropped"].items() if v}))
    print("soak: outputs %s" % {k: (v["packets"], {r: n for r, n in v["dropped"].items() if n}) for k, v in st["outputs"].items()})
    print("soak: per worker %s" % [w["packets_in"] for w in st["workers"]])
print("soak: %d SIGHUPs, %d reloads logged, %d refused (folder removed at %.0f s, back at %.0f s); write errors: %s" % (
    sighups, reloads, len(refusals), removed_at or -1, restored_at or -1, st["write_errors"] if st else None))
print("soak: VmRSS kB every second: %s" % [kb for _, kb in samples])
if steady:
    print("soak: after %d s: min %d kB, max %d kB, spread %d kB (bound %d kB)" % (
        WARMUP_S, min(steady), max(steady), max(steady) - min(steady), RSS_BOUND_KB))
c.done()
