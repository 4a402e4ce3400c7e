#!/usr/bin/python3
"""Loss detection end to end: `encap --metadata-option` numbers each packet in a Geneve option
(class 0xFF00 type 1, encap/wire/geneve.h); packets are deleted (editcap), swapped and
duplicated between encap and the receiver; the receiver's counts must be exact.

1. The option itself, read from the bytes (not by mirrorpipe): class, type, length, sequence
   1..N in order, worker 0, the capture time in ns equal to the input record's, the original
   frame length equal to the input's.
2. Mutations of the encapsulated capture, each with its expected counts written from what was
   done to it: editcap deletes 7 packets in the middle (lost 7); two adjacent pairs swapped
   (reordered 2, lost 0); three packets sent twice (duplicated 3, nothing dropped); all at once.
   `mirrorpipe decap` reads each: metadata.{packets,lost,reordered,duplicated} exact, every
   packet still decapsulated (duplicates are counted, not dropped).
3. A tunnel input with a pcapng output: each packet's comment carries the option's fields.

usage: test_loss_detection.py MIRRORPIPE SOURCE_DIR
"""
import json
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checker, read_records, run_mirrorpipe, scratch_dir  # noqa: E402

from scapy.layers.inet import IP, TCP, UDP  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.packet import Raw  # noqa: E402
from scapy.utils import RawPcapReader, wrpcap  # noqa: E402

MP = sys.argv[1]
c = Checker("loss detection")
tmp = scratch_dir("mp-loss-")
N = 300

frames = []
for i in range(N):
    L4 = UDP if i % 4 == 0 else TCP
    p = Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b") / IP(src="10.1.0.%d" % (i % 50 + 1), dst="10.2.0.9") / \
        L4(sport=1000 + i, dport=443) / Raw(b"x" * (i % 90))
    p.time = 1700000000 + i * 0.001 + 0.0000003 * i
    frames.append(p)
src = os.path.join(tmp, "in.pcap")
wrpcap(src, frames)
enc = os.path.join(tmp, "enc.pcap")
rc, _, err = run_mirrorpipe(MP, ["encap", "--tunnel", "geneve", "--metadata-option", "--src-ip", "10.0.0.1",
                                 "--dst-ip", "10.0.0.2", "--vni", "77", "-r", src, "-w", enc])
c.check(rc == 0, "encap: exit %d %s" % (rc, err))


def records(path):
    out = []
    for data, meta in RawPcapReader(path):
        out.append((bytes(data), meta))
    return out


# 1. The option, from the bytes: Ethernet 14 + IPv4 20 + UDP 8 + Geneve 8, then the option.
in_recs = records(src)
enc_recs = records(enc)
c.check(len(enc_recs) == N, "encap wrote %d of %d" % (len(enc_recs), N))
bad = 0
for i, ((data, meta), (orig, ometa)) in enumerate(zip(enc_recs, in_recs)):
    opt_len_words = data[42] & 0x3F
    cls, typ, olen = struct.unpack("!HBB", data[50:54])
    seq, worker, rsvd, cap_ns, olength = struct.unpack("!IHHQI", data[54:74])
    want_ns = (ometa.sec * 1000000 + ometa.usec) * 1000
    ok = (opt_len_words == 6 and cls == 0xFF00 and typ == 0x01 and (olen & 0x1F) == 5 and seq == i + 1 and worker == 0
          and rsvd == 0 and cap_ns == want_ns and olength == ometa.wirelen and data[74:] == orig)
    if not ok:
        bad += 1
        if bad <= 3:
            print("record %d: opt_len %d class %#x type %d len %d seq %d worker %d ns %d (want %d) length %d (want %d)" % (
                i, opt_len_words, cls, typ, olen, seq, worker, cap_ns, want_ns, olength, ometa.wirelen))
c.check(bad == 0, "%d records with a wrong option or inner frame" % bad)


def write(path, recs):
    """The records with their own capture times (the receiver's arrival time for a file)."""
    pk = []
    for d, meta in recs:
        p = Ether(d)
        p.time = meta.sec + meta.usec / 1e6
        pk.append(p)
    wrpcap(path, pk)


# 2. Mutations, each with what the receiver must count.
deleted = [40, 41, 42, 100, 101, 200, 250]           # 1-based record numbers, all in the middle
mut_delete = os.path.join(tmp, "delete.pcap")
subprocess.run(["editcap", enc, mut_delete] + [str(d) for d in deleted], check=True, capture_output=True, timeout=60)
swapped = list(enc_recs)
for a in (10, 150):                                   # two adjacent pairs swapped
    swapped[a], swapped[a + 1] = swapped[a + 1], swapped[a]
mut_swap = os.path.join(tmp, "swap.pcap")
write(mut_swap, swapped)
dups = list(enc_recs)
for a in (299, 120, 5):                               # inserted from the end, so indices hold
    dups.insert(a + 1, enc_recs[a])
mut_dup = os.path.join(tmp, "dup.pcap")
write(mut_dup, dups)
allm = [r for i, r in enumerate(enc_recs) if i + 1 not in deleted]
allm[60], allm[61] = allm[61], allm[60]
allm.insert(181, allm[180])
mut_all = os.path.join(tmp, "all.pcap")
write(mut_all, allm)

for name, path, packets, lost, reordered, duplicated in (
        ("intact", enc, N, 0, 0, 0),
        ("delete", mut_delete, N - 7, 7, 0, 0),
        ("swap", mut_swap, N, 0, 2, 0),
        ("duplicate", mut_dup, N + 3, 0, 0, 3),
        ("all", mut_all, N - 7 + 1, 7, 1, 1)):
    out = os.path.join(tmp, name + "-out.pcap")
    rc, st, err = run_mirrorpipe(MP, ["decap", "-r", path, "-w", out])
    c.check(rc == 0, "%s: decap exit %d %s" % (name, rc, err))
    if not st:
        continue
    md = st.get("metadata", {})
    got = (md.get("packets"), md.get("lost"), md.get("reordered"), md.get("duplicated"))
    c.check(got == (packets, lost, reordered, duplicated), "%s: metadata packets/lost/reordered/duplicated %s, expected %s" % (
        name, got, (packets, lost, reordered, duplicated)))
    c.check(st["packets_out"] == packets, "%s: %d of %d packets decapsulated" % (name, st["packets_out"], packets))
    c.check(md.get("latency_count") == packets and md.get("latency_ns_sum") == 0,
            "%s: latency %s (the capture times were kept: 0 ns each)" % (name, md))

# 3. pcapng comments on the receive path.
cfg = os.path.join(tmp, "r.toml")
with open(cfg, "w") as f:
    f.write("""[eal]
args = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", "--log-level", "lib.eal:error"]
[[ports]]
name = "tun"
role = "tunnel-input"
file = "%s"
[[ports]]
name = "out"
role = "output"
file = "%s"
[[routes]]
input = "tun"
output = "out"
""" % (mut_swap, os.path.join(tmp, "r.pcapng")))
rc, st, err = run_mirrorpipe(MP, ["run", "-c", cfg])
c.check(rc == 0, "run: exit %d %s" % (rc, err))
comments = subprocess.run(["tshark", "-r", os.path.join(tmp, "r.pcapng"), "-T", "fields", "-e", "frame.comment"],
                          capture_output=True, text=True, timeout=60).stdout.split("\n")
seqs = []
for line in comments:
    for word in line.split():
        if word.startswith("meta_sequence="):
            seqs.append(int(word.split("=")[1]))
want = [struct.unpack("!I", d[54:58])[0] for d, _ in swapped]
c.check(seqs == want, "pcapng comments: %d meta_sequence values, first %s, expected %s" % (len(seqs), seqs[:12], want[:12]))
c.check(st is not None and st.get("metadata", {}).get("reordered") == 2, "run: metadata %s" % (st or {}).get("metadata"))
c.done()
