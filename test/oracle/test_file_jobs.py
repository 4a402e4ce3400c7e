#!/usr/bin/python3
"""File work that must never lose data silently (encap, decap, run with capture files):

- a failed write (/dev/full, a full tmpfs) exits 1 with "write failed", counts every packet that
  did not go as write_failed, and leaves no partial file under the output's name;
- the input is never the output (same path, symlink, hard link): refused with exit 2, the input
  intact;
- a capture cut inside its last record: every complete record processed, a warning saying where,
  exit 0; a capture damaged in the middle: the records before it processed, exit 2; the counters
  written in both cases;
- an interrupted job says so (exit 130, "interrupted": true);
- unusable output paths are refused before anything is read; -w - with --stats-json - refused;
  -r - reads standard input;
- Linux cooked (SLL, SLL2) and raw-IP captures get the Ethernet header the README documents;
- a running engine whose pcapng sink fails keeps running: the other sink gets every frame.

Every expectation comes from scapy's reading of the files or from the documented rules.

usage: test_file_jobs.py MIRRORPIPE SOURCE_DIR
"""
import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checker, accounting_holds, read_records, scratch_dir  # noqa: E402

from scapy.all import IP, UDP, Ether, IPv6, Raw, wrpcap  # noqa: E402
from scapy.layers.l2 import CookedLinux  # noqa: E402
from scapy.layers.vxlan import VXLAN  # noqa: E402

MP, SRC = sys.argv[1], sys.argv[2]
SAMPLE = os.path.join(SRC, "pcaps", "sample-mix.pcap")
ENC = ["--src-ip", "10.0.0.1", "--dst-ip", "10.0.0.2"]
c = Checker("file jobs")
tmp = scratch_dir("mp-filejobs-")


def run(args, stdin=None, timeout=60):
    return subprocess.run([MP] + args, capture_output=True, timeout=timeout, input=stdin)


def stats_of(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def records_of(data):
    """(offset, length) of every record of a little-endian pcap held in `data`."""
    out, off = [], 24
    while off + 16 <= len(data):
        n = struct.unpack_from("<I", data, off + 8)[0]
        out.append((off, 16 + n))
        off += 16 + n
    return out


sample_bytes = open(SAMPLE, "rb").read()
sample_records = read_records(SAMPLE)
N = len(sample_records)

# 1. Write errors: /dev/full, and a tmpfs too small for the output.
js = os.path.join(tmp, "full.json")
p = run(["encap", "-r", SAMPLE, "-w", "/dev/full", "--stats-json", js] + ENC)
err = p.stderr.decode()
c.check(p.returncode == 1, "/dev/full: exit %d, expected 1" % p.returncode)
c.check("write failed: '/dev/full'" in err, "/dev/full: no 'write failed' message: %s" % err[-300:])
s = stats_of(js)
c.check(s is not None and s["dropped"]["write_failed"] == N and s["packets_out"] == 0 and accounting_holds(s),
        "/dev/full: counters %s" % (s and {k: s[k] for k in ("packets_in", "packets_out")}))
c.check(s is not None and s["write_errors"] and not s["complete"], "/dev/full: JSON does not say the write failed")
if os.geteuid() == 0:
    mnt = os.path.join(tmp, "small")
    os.mkdir(mnt)
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8k", "tmpfs", mnt]).returncode == 0:
        try:
            out = os.path.join(mnt, "out.pcap")
            p = run(["encap", "-r", SAMPLE, "-w", out, "--stats-json", js] + ENC)
            s = stats_of(js)
            c.check(p.returncode == 1 and b"No space left" in p.stderr, "full tmpfs: exit %d %s" % (p.returncode, p.stderr[-200:]))
            c.check(s is not None and accounting_holds(s) and s["dropped"]["write_failed"] > 0,
                    "full tmpfs: write_failed not counted")
            c.check(os.listdir(mnt) == [], "full tmpfs: left behind %s" % os.listdir(mnt))
        finally:
            subprocess.run(["umount", mnt])

# 2. The input is never overwritten: same path, symlink, hard link.
inp = os.path.join(tmp, "in.pcap")
with open(inp, "wb") as f:
    f.write(sample_bytes)
os.symlink(inp, os.path.join(tmp, "sym.pcap"))
os.link(inp, os.path.join(tmp, "hard.pcap"))
for other in ("in.pcap", "sym.pcap", "hard.pcap"):
    for cmd in (["encap"] + ENC, ["decap"]):
        p = run([cmd[0], "-r", inp, "-w", os.path.join(tmp, other)] + cmd[1:])
        c.check(p.returncode == 2 and b"is the input itself" in p.stderr,
                "%s -w %s: exit %d %s" % (cmd[0], other, p.returncode, p.stderr[-200:]))
c.check(sha(inp) == hashlib.sha256(sample_bytes).hexdigest(), "the input was changed")

# 3. A capture cut inside its last record, and one damaged in the middle.
recs = records_of(sample_bytes)
cut = os.path.join(tmp, "cut.pcap")
with open(cut, "wb") as f:
    f.write(sample_bytes[: recs[-1][0] + recs[-1][1] - 7])
out = os.path.join(tmp, "cut-out.pcap")
p = run(["encap", "-r", cut, "-w", out, "--stats-json", js] + ENC)
s = stats_of(js)
c.check(p.returncode == 0, "truncated capture: exit %d" % p.returncode)
c.check(b"ends inside a record after %d complete records" % (N - 1) in p.stderr, "truncated: message %s" % p.stderr[-300:])
c.check(len(read_records(out)) == N - 1, "truncated: %d frames out, expected %d" % (len(read_records(out)), N - 1))
c.check(s is not None and s["packets_in"] == N - 1 and s["inputs_truncated"] and accounting_holds(s), "truncated: counters")

damaged = bytearray(sample_bytes)
k = N // 2
struct.pack_into("<I", damaged, recs[k][0] + 8, 0x7FFFFFFF)  # a record length no capture has
bad = os.path.join(tmp, "damaged.pcap")
with open(bad, "wb") as f:
    f.write(damaged)
out = os.path.join(tmp, "damaged-out.pcap")
p = run(["encap", "-r", bad, "-w", out, "--stats-json", js] + ENC)
s = stats_of(js)
c.check(p.returncode == 2, "damaged capture: exit %d, expected 2" % p.returncode)
c.check(b"cannot be read further after %d complete records" % k in p.stderr, "damaged: message %s" % p.stderr[-300:])
c.check(os.path.exists(out) and len(read_records(out)) == k, "damaged: the frames before the damage are not all out")
c.check(s is not None and s["packets_in"] == k and s["inputs_damaged"] and accounting_holds(s), "damaged: counters")

# 4. Interrupted: standard input held open, SIGINT while the engine waits for more.
out = os.path.join(tmp, "intr.pcap")
head = sample_bytes[: recs[9][0] + recs[9][1]]  # the header and 10 records
proc = subprocess.Popen([MP, "encap", "-r", "-", "-w", out, "--stats-json", js] + ENC, stdin=subprocess.PIPE,
                        stderr=subprocess.PIPE)
proc.stdin.write(head)
proc.stdin.flush()
time.sleep(1.5)
proc.send_signal(signal.SIGINT)
try:
    err = proc.stderr.read()
    rc = proc.wait(20)
except subprocess.TimeoutExpired:
    proc.kill()
    rc, err = -1, b""
proc.stdin.close()
s = stats_of(js)
c.check(rc == 130, "interrupted: exit %d, expected 130" % rc)
c.check(b"interrupted after 10 packets" in err, "interrupted: message %s" % err[-300:])
c.check(s is not None and s["interrupted"] is True and s["packets_in"] == 10, "interrupted: JSON")
c.check(len(read_records(out)) == 10, "interrupted: the output does not hold the 10 frames read")

# 5. Paths checked before anything is read; -r - reads standard input.
for args, what in (
        (["-w", "/nonexistent-dir/o.pcap"], b"/nonexistent-dir' does not exist"),
        (["-w", os.path.join(tmp, "x.pcap"), "--stats-json", "/nonexistent-dir/s.json"], b"/nonexistent-dir' does not exist"),
        (["-w", "-", "--stats-json", "-"], b"both write to standard output"),
        (["-w", tmp], b"is a directory")):
    p = run(["encap", "-r", SAMPLE] + args + ENC)
    c.check(p.returncode == 2 and what in p.stderr, "%s: exit %d %s" % (args, p.returncode, p.stderr[-200:]))
c.check(not os.path.exists(os.path.join(tmp, "x.pcap")), "an output was written although --stats-json was refused")
ref = os.path.join(tmp, "ref.pcap")
c.check(run(["encap", "-r", SAMPLE, "-w", ref] + ENC).returncode == 0, "encap of the sample failed")
p = run(["encap", "-r", "-", "-w", "-"] + ENC, stdin=sample_bytes)
c.check(p.returncode == 0 and p.stdout == open(ref, "rb").read(), "-r - -w -: not the bytes of the file run")

# 6. Link types: the Ethernet header made from what the record says (README, "decap/encap").
inner_ip = IP(src="10.1.0.1", dst="10.1.0.2") / UDP(sport=1000, dport=2000) / Raw(b"x" * 20)
inner6 = IPv6(src="fd00::1", dst="fd00::2") / UDP(sport=1000, dport=2000) / Raw(b"y" * 20)
mac = bytes.fromhex("02aabbccddee")
sll = os.path.join(tmp, "sll.pcap")
wrpcap(sll, [CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, src=mac + b"\0\0", proto=0x0800) / inner_ip,
             CookedLinux(pkttype=4, lladdrtype=1, lladdrlen=6, src=mac + b"\0\0", proto=0x86DD) / inner6])
sll2 = os.path.join(tmp, "sll2.pcap")
sll2_hdr = lambda proto, addr: struct.pack("!HHIHBB", proto, 0, 3, 1, 0, len(addr)) + addr.ljust(8, b"\0")  # noqa: E731
with open(sll2, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 276))
    for i, (proto, pkt) in enumerate(((0x0800, inner_ip), (0x86DD, inner6))):
        rec = sll2_hdr(proto, mac) + bytes(pkt)
        f.write(struct.pack("<IIII", 1700000000 + i, 0, len(rec), len(rec)) + rec)
raw = os.path.join(tmp, "raw.pcap")
wrpcap(raw, [inner_ip, inner6], linktype=101)
raw4 = os.path.join(tmp, "raw4.pcap")
wrpcap(raw4, [inner_ip], linktype=228)
expected = {
    sll: [bytes(Ether(dst="00:00:00:00:00:00", src="02:aa:bb:cc:dd:ee", type=0x0800) / inner_ip),
          bytes(Ether(dst="00:00:00:00:00:00", src="02:aa:bb:cc:dd:ee", type=0x86DD) / inner6)],
    sll2: [bytes(Ether(dst="00:00:00:00:00:00", src="02:aa:bb:cc:dd:ee", type=0x0800) / inner_ip),
           bytes(Ether(dst="00:00:00:00:00:00", src="02:aa:bb:cc:dd:ee", type=0x86DD) / inner6)],
    raw: [bytes(Ether(dst="00:00:00:00:00:00", src="00:00:00:00:00:00", type=0x0800) / inner_ip),
          bytes(Ether(dst="00:00:00:00:00:00", src="00:00:00:00:00:00", type=0x86DD) / inner6)],
    raw4: [bytes(Ether(dst="00:00:00:00:00:00", src="00:00:00:00:00:00", type=0x0800) / inner_ip)],
}
for path, want in expected.items():
    out = os.path.join(tmp, os.path.basename(path) + ".vxlan.pcap")
    p = run(["encap", "-r", path, "-w", out] + ENC)
    c.check(p.returncode == 0, "%s: exit %d %s" % (path, p.returncode, p.stderr[-200:]))
    got = [bytes(Ether(r[0])[VXLAN].payload) for r in read_records(out)] if p.returncode == 0 else []
    c.check(got == want, "%s: inner frames differ from the documented Ethernet header + packet" % os.path.basename(path))
    out = os.path.join(tmp, os.path.basename(path) + ".gwlb.pcap")
    p = run(["encap", "-r", path, "-w", out, "--tunnel", "gwlb"] + ENC)
    got = [bytes(Ether(r[0])[UDP].payload)[40:] for r in read_records(out)] if p.returncode == 0 else []
    c.check(got == [w[14:] for w in want], "%s: GWLB inner packets differ" % os.path.basename(path))
runt = os.path.join(tmp, "raw-bad.pcap")
wrpcap(runt, [Raw(b"\x20" + b"\0" * 30), inner_ip], linktype=101)  # IP version 2: neither v4 nor v6
p = run(["encap", "-r", runt, "-w", os.path.join(tmp, "rb.pcap"), "--stats-json", js] + ENC)
s = stats_of(js)
c.check(p.returncode == 0 and s and s["dropped"]["link_header_bad"] == 1 and s["packets_out"] == 1 and accounting_holds(s),
        "raw IP of version 2: not counted as link_header_bad")

# 7. A running engine whose pcapng sink fails: the other sink gets every frame, the counters say
#    what was lost, the JSON is written, exit 1.
vx = [Ether() / IP(src="10.0.0.5", dst="10.0.0.9") / UDP(sport=40000 + i, dport=4789) / VXLAN(vni=100) /
      Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b") / IP() / UDP() / Raw(bytes([i]) * 40) for i in range(100)]
vx_path = os.path.join(tmp, "vx.pcap")
wrpcap(vx_path, vx)
os.symlink("/dev/full", os.path.join(tmp, "broken.pcapng"))
good = os.path.join(tmp, "good.pcap")
cfg = os.path.join(tmp, "sinks.toml")
with open(cfg, "w") as f:
    f.write("""[eal]
args = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", "--log-level", "lib.eal:error"]
[[ports]]
name = "in"
role = "tunnel-input"
file = "vx.pcap"
[[ports]]
name = "broken"
role = "output"
file = "broken.pcapng"
[[ports]]
name = "good"
role = "output"
file = "good.pcap"
[[sessions]]
name = "all"
input = "in"
sinks = ["broken", "good"]
""")
p = run(["run", "-c", cfg, "--stats-json", js])
s = stats_of(js)
c.check(p.returncode == 1, "failing sink: exit %d, expected 1" % p.returncode)
c.check(b"write failed" in p.stdout, "failing sink: no message")
c.check([r[0] for r in read_records(good)] == [bytes(x[VXLAN].payload) for x in vx] if os.path.exists(good) else False,
        "failing sink: the good sink does not hold every frame")
c.check(s is not None and s["outputs"]["broken"]["dropped"].get("write_failed") == 100 and
        s["outputs"]["good"]["packets"] == 100 and accounting_holds(s) and s["packets_out"] == 100,
        "failing sink: counters %s" % (s and s["outputs"]))

# 8. The same with a live input (a DPDK vdev replaying the capture): the files are written by
#    the writer thread, off the worker. The broken sink's packets were taken by its queue (the
#    input counts them sent through the good sink anyway) and its writer counts every one it
#    could not write; the good sink holds every frame.
live_cfg = os.path.join(tmp, "live.toml")
with open(live_cfg, "w") as f:
    f.write("""[engine]
stats_interval_s = 0.2
[eal]
args = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", "--log-level", "lib.eal:error"]
[[ports]]
name = "in"
role = "tunnel-input"
devargs = "net_pcap0,rx_pcap=vx.pcap"
[[ports]]
name = "broken"
role = "output"
file = "broken.pcapng"
[[ports]]
name = "good"
role = "output"
file = "good-live.pcap"
[[sessions]]
name = "all"
input = "in"
sinks = ["broken", "good"]
""")
proc = subprocess.Popen([MP, "run", "-c", live_cfg, "--stats-json", js], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
deadline = time.time() + 20
out_text = b""
while time.time() < deadline:
    time.sleep(0.5)
    g = os.path.join(tmp, "good-live.pcap")
    if os.path.exists(g) and os.path.getsize(g) > 24 and len(read_records(g)) >= 100:
        break
time.sleep(0.5)
proc.send_signal(signal.SIGINT)
try:
    out_text, _err = proc.communicate(timeout=20)
except subprocess.TimeoutExpired:
    proc.kill()
    out_text, _err = proc.communicate()
s = stats_of(js)
c.check(proc.returncode == 1, "live input, failing sink: exit %d, expected 1" % proc.returncode)
c.check(b"good-live.pcap': written by the writer thread, off the workers" in out_text,
        "live input: the file outputs are not written off the workers")
c.check(out_text.count(b"write failed: 'broken.pcapng'") + out_text.count(b"write failed: '" + os.path.join(tmp, "broken.pcapng").encode()) >= 1,
        "live input, failing sink: the failure is not logged")
good_live = os.path.join(tmp, "good-live.pcap")
c.check(os.path.exists(good_live) and [r[0] for r in read_records(good_live)] == [bytes(x[VXLAN].payload) for x in vx],
        "live input, failing sink: the good sink does not hold every frame in order")
c.check(s is not None and s["packets_in"] == 100 and s["packets_out"] == 100 and accounting_holds(s),
        "live input: input counters %s" % str(s and (s["packets_in"], s["packets_out"])))
c.check(s is not None and s["outputs"]["broken"]["dropped"].get("write_failed") == 100 and
        s["outputs"]["good"]["packets"] == 100, "live input: output counters %s" % (s and s["outputs"]))

subprocess.run(["rm", "-rf", tmp])
c.done()
