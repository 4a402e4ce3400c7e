#!/usr/bin/python3
"""[engine] user and group: the engine drops to an unprivileged user once it is set up.

Run as root, on vdevs: a paced capture-file input mirrored as VXLAN into a net_pcap output, and
a net_pcap tunnel input (a VXLAN capture) decapsulated into a pcapng file that rotates every
kilobyte, in a folder owned by the user (the workers start after the drop: every file after the
first is created by the user).
With user = "nobody" and group = "nogroup", while traffic flows: /proc/PID/status of the
process and of every one of its threads (DPDK's included) shows the user's and group's ids in
all four slots and no capability (CapPrm, CapEff, CapAmb zero); the log says what was done. A
SIGHUP that would change the user is refused with its reason while traffic goes on, and one
that changes a VNI is still adopted (the configuration is readable by the user). After SIGINT:
exit 0, counters that add up, the VXLAN output read by tshark (as many frames as counted), the
rotated pcapng files owned by the user and read by tshark (as many inner frames as the route
sent). Then the same engine with the pcapng folder owned by root: it refuses to start its
workers (exit 1, the folder and the user named) and sends nothing.

usage: test_privileges.py MIRRORPIPE SOURCE_DIR
"""
import glob
import grp
import json
import os
import pwd
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oracle"))
from common import Checker, accounting_holds, stop_engine, wait_for  # noqa: E402

from scapy.utils import RawPcapReader  # noqa: E402

USER, GROUP = "nobody", "nogroup"


def status_of(path):
    out = {}
    for line in open(path):
        k, _, v = line.partition(":")
        out[k] = v.split()
    return out


def tshark_count(path):
    r = subprocess.run(["tshark", "-r", path, "-T", "fields", "-e", "frame.number"], capture_output=True, text=True)
    return len(r.stdout.split()) if r.returncode == 0 else -1


def config(tmp, prefix, sample, vxlan_in, out, cap_dir, vni=1111, user=USER):
    return """[engine]
workers = 1
stats_interval_s = 0.2
user = "{user}"
group = "{group}"

[eal]
args = ["--no-huge", "-m", "512", "--no-pci", "--file-prefix", "{prefix}", "--log-level", "lib.eal:error"]

[[ports]]
name = "in"
role = "mirror-input"
file = "{sample}"
pace = 4000

[[ports]]
name = "out"
role = "output"
devargs = "net_pcap1,tx_pcap={out}"
mac = "02:00:00:00:00:01"
ip = "172.31.0.238"
next_hop_mac = "02:00:00:00:00:02"

[[ports]]
name = "tin"
role = "tunnel-input"
devargs = "net_pcap2,rx_pcap={vxlan_in}"

[[ports]]
name = "cap"
role = "output"
file = "{cap_dir}/inner.pcapng"
rotate_mb = 0.001

[[targets]]
name = "analyzers"
output = "out"
tunnel = "vxlan"
dst_ip = "172.31.17.188"
vni = {vni}

[[routes]]
input = "in"
target = "analyzers"

[[routes]]
input = "tin"
output = "cap"
""".format(user=user, group=GROUP, prefix=prefix, sample=sample, out=out, vxlan_in=vxlan_in, cap_dir=cap_dir, vni=vni)


def main():
    binary, src = sys.argv[1], sys.argv[2]
    c = Checker("privileges")
    if os.geteuid() != 0:
        print("FAIL: needs root (the engine starts as root and drops to '%s')" % USER)
        sys.exit(1)
    uid, gid = pwd.getpwnam(USER).pw_uid, grp.getgrnam(GROUP).gr_gid
    prefix = "mppriv%d" % os.getpid()
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)  # the user reads the configuration (reload) through it
        sample = os.path.join(tmp, "long.pcap")
        frames = [bytes(d) for d, _ in RawPcapReader(os.path.join(src, "pcaps/sample-mix.pcap"))]
        with open(sample, "wb") as f:  # classic pcap, microseconds, Ethernet
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for i in range(2400):  # 16 s at 4,000 a second: more than the steps need, on a slow start too
                for j, fr in enumerate(frames):
                    f.write(struct.pack("<IIII", 1700000000 + i, j, len(fr), len(fr)) + fr)
        # VXLAN in: the golden AWS-style encapsulation.
        vxlan_in = os.path.join(tmp, "vxlan.pcap")
        tunnel = [bytes(d) for d, _ in RawPcapReader(os.path.join(src, "test/golden/encap-vxlan-aws.pcap"))]
        with open(vxlan_in, "wb") as f:
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for j, fr in enumerate(tunnel):
                f.write(struct.pack("<IIII", 1700000000 + j, 0, len(fr), len(fr)) + fr)
        out = os.path.join(tmp, "out.pcap")
        cap_dir = os.path.join(tmp, "cap")
        os.mkdir(cap_dir)
        os.chown(cap_dir, uid, gid)
        cfg_path = os.path.join(tmp, "engine.toml")
        text = config(tmp, prefix, sample, vxlan_in, out, cap_dir)
        with open(cfg_path, "w") as f:
            f.write(text)
        os.chmod(cfg_path, 0o644)
        r = subprocess.run([binary, "check", "-c", cfg_path], capture_output=True, text=True)
        c.check(r.returncode == 0, "check: exit %d %s" % (r.returncode, r.stderr))

        stats_path = os.path.join(tmp, "stats.json")
        log_path = os.path.join(tmp, "engine.log")
        log = open(log_path, "w")
        p = subprocess.Popen([binary, "run", "-c", cfg_path, "--stats-json", stats_path], stdout=log, stderr=subprocess.STDOUT)
        try:
            read_log = lambda: open(log_path).read()
            c.check(wait_for(lambda: "rx " in read_log(), 15), "the engine printed no summary line:\n" + read_log())
            want = "now running as user '%s' (uid %d), group '%s' (gid %d)" % (USER, uid, GROUP, gid)
            c.check(want in read_log(), "the log does not say '%s':\n%s" % (want, read_log()[-1500:]))
            tasks = glob.glob("/proc/%d/task/*/status" % p.pid)
            c.check(len(tasks) >= 2, "expected the main thread and DPDK's threads, found %d" % len(tasks))
            for t in ["/proc/%d/status" % p.pid] + tasks:
                try:
                    s = status_of(t)
                except FileNotFoundError:
                    continue
                c.check(s["Uid"] == [str(uid)] * 4, "%s: Uid %s, expected %d in all four" % (t, s["Uid"], uid))
                c.check(s["Gid"] == [str(gid)] * 4, "%s: Gid %s, expected %d in all four" % (t, s["Gid"], gid))
                for cap in ("CapPrm", "CapEff", "CapAmb"):
                    c.check(int(s[cap][0], 16) == 0, "%s: %s %s, expected none" % (t, cap, s[cap]))
            # Still forwarding after the drop: the output grows.
            size = os.path.getsize(out)
            c.check(wait_for(lambda: os.path.getsize(out) > size, 5), "the VXLAN output stopped growing after the drop")

            # A reload that would need root (another user): refused, traffic goes on.
            with open(cfg_path, "w") as f:
                f.write(text.replace('user = "%s"' % USER, 'user = "root"'))
            p.send_signal(signal.SIGHUP)
            want = ("reload refused: engine.user and group cannot change while running (restart the engine to change it); "
                    "running as '%s', the engine has given up the right to change users" % USER)
            c.check(wait_for(lambda: want in read_log(), 5), "user change not refused as expected:\n" + read_log()[-1000:])
            # A reload it can do as the user: a new VNI.
            with open(cfg_path, "w") as f:
                f.write(config(tmp, prefix, sample, vxlan_in, out, cap_dir, vni=2222))
            p.send_signal(signal.SIGHUP)
            c.check(wait_for(lambda: "reloaded" in read_log(), 5), "no reload of a new VNI as '%s':\n%s" % (USER, read_log()[-1000:]))
            time.sleep(0.5)
            c.check(p.poll() is None, "the engine stopped after the reloads")
        finally:
            rc = stop_engine(p)
            log.close()
        c.check(rc == 0, "exit %d after SIGINT:\n%s" % (rc, open(log_path).read()[-1500:]))
        if rc == 0:
            st = json.load(open(stats_path))
            c.check(accounting_holds(st), "counters do not add up: %s" % st)
            sent_out = st["outputs"]["out"]["packets"]
            c.check(sent_out > 0 and tshark_count(out) == sent_out,
                    "VXLAN output: tshark reads %d frames, the engine sent %d" % (tshark_count(out), sent_out))
            vnis = set(subprocess.run(["tshark", "-r", out, "-T", "fields", "-e", "vxlan.vni"], capture_output=True,
                                      text=True).stdout.split())
            c.check(vnis == {"1111", "2222"}, "VNIs in the output: %s (the reload as '%s' was adopted)" % (vnis, USER))
            files = sorted(glob.glob(os.path.join(cap_dir, "inner-*.pcapng")))
            c.check(len(files) >= 2, "the pcapng output did not rotate: %s" % os.listdir(cap_dir))
            inner = sum(max(tshark_count(f), 0) for f in files)
            c.check(st["inputs"]["tin"]["packets_in"] == len(tunnel), "the tunnel input read %d of %d frames" % (
                st["inputs"]["tin"]["packets_in"], len(tunnel)))
            c.check(inner > 0 and inner == st["outputs"]["cap"]["packets"],
                    "pcapng: tshark reads %d inner frames, the engine counted %d" % (inner, st["outputs"]["cap"]["packets"]))
            later = [f for f in files if os.stat(f).st_uid == uid]
            c.check(later, "no rotated file was created by '%s' (owners %s)" % (USER, [os.stat(f).st_uid for f in files]))
            print("privileges: %d threads checked; %d frames out; %d pcapng files (%d made by %s), %d inner frames" % (
                len(tasks), sent_out, len(files), len(later), USER, inner))

        # The same with the pcapng folder owned by root: refused before the workers start.
        os.chown(cap_dir, 0, 0)
        for f in glob.glob(os.path.join(cap_dir, "*")):
            os.unlink(f)
        os.unlink(out)
        with open(cfg_path, "w") as f:
            f.write(text)
        r = subprocess.run([binary, "run", "-c", cfg_path], capture_output=True, text=True, timeout=60)
        want = "cannot drop privileges: '%s' is not writable by user '%s'" % (cap_dir, USER)
        c.check(r.returncode == 1, "a folder the user cannot write: exit %d, expected 1" % r.returncode)
        c.check(want in r.stdout + r.stderr, "the refusal does not say '%s':\n%s" % (want, (r.stdout + r.stderr)[-1500:]))
        c.check(not os.path.exists(out) or tshark_count(out) == 0, "frames were sent before the refusal")
    # The EAL's runtime folder is root's: the engine, no longer root, cannot remove it at exit.
    shutil.rmtree("/var/run/dpdk/" + prefix, ignore_errors=True)
    c.done()


if __name__ == "__main__":
    main()
