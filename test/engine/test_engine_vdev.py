#!/usr/bin/python3
"""`mirrorpipe run` on DPDK virtual devices, checked against the golden frames scapy built.

1. One worker, net_pcap in and out: the output is byte for byte the golden VXLAN of the sample.
2. Two workers: net_pcap with two RX queues (each reading half of the sample) and two TX queues;
   worker w reads queue w and writes queue w, so each output file must hold exactly the golden
   frames of its half, in order.
3. SIGINT under load (net_null at full rate, 2 workers): the engine stops cleanly, and every
   packet received is accounted for: per input, rx = sent + filtered + dropped, and what the
   engine sent equals what the output PMD counted.
4. A next hop that never answers ARP: the engine does not start; exit 1 with the reason.
5. `mirrorpipe bench` (1 s each, not a measurement: it must run, pass its own correctness gate
   and report what it promises) for every tunnel kind.
6. The NIC's RSS hash as the flow hash (`bench --flow-hash nic`, the hash delivered as a PMD
   does, into a pcap): every VXLAN and GWLB source port, and every GWLB flow cookie, is the
   one the Toeplitz hash of its inner packet's tuple gives, computed here from the Microsoft
   RSS specification (checked against its own verification vector) with the engine's key
   (0x6d5a repeated).
7. The outer checksums offloaded (`bench --tx-checksum nic`, the output taken as offloading
   them, into a pcap; the frames from net_null at one size, and from the sample through net_pcap
   at many): every outer IPv4 checksum is left 0 and every GWLB UDP checksum holds the
   pseudo-header sum of its own packet, as DPDK asks of an application that sets
   RTE_MBUF_F_TX_IP_CKSUM and RTE_MBUF_F_TX_UDP_CKSUM; completed here as the device would, both
   are the checksums scapy computes for the packet.

usage: test_engine_vdev.py MIRRORPIPE SOURCE_DIR
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oracle"))
from common import Checker, accounting_holds, ones_sum, read_records  # noqa: E402
from scapy.utils import RawPcapReader, wrpcap  # noqa: E402
from scapy.all import Ether  # noqa: E402

EAL = '["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", "--log-level", "lib.eal:error"]'

OUT_PORT = """
[[ports]]
name = "out"
role = "output"
devargs = "{devargs}"
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
"""


def config(workers, in_devargs, out_devargs, extra_in=""):
    return """[engine]
workers = {w}
stats_interval_s = 0.5

[eal]
args = {eal}

[[ports]]
name = "in"
role = "mirror-input"
devargs = "{inp}"
mtu = 9001
{extra}
""".format(w=workers, eal=EAL, inp=in_devargs, extra=extra_in) + OUT_PORT.format(devargs=out_devargs)


def run(binary, cfg_text, tmp, seconds, name):
    path = os.path.join(tmp, name + ".toml")
    stats = os.path.join(tmp, name + ".json")
    with open(path, "w") as f:
        f.write(cfg_text)
    p = subprocess.Popen([binary, "run", "-c", path, "--stats-json", stats], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    time.sleep(seconds)
    p.send_signal(signal.SIGINT)
    try:
        out, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        return -1, None, out + err
    if p.returncode != 0 or not os.path.exists(stats):
        return p.returncode, None, out + err
    with open(stats) as f:
        return p.returncode, json.load(f), out + err


def frames(path):
    return [bytes(d) for d, _ in RawPcapReader(path)]


def main():
    binary, src = sys.argv[1], sys.argv[2]
    c = Checker("engine on vdevs")
    sample = os.path.join(src, "pcaps/sample-mix.pcap")
    golden = frames(os.path.join(src, "test/golden/encap-vxlan-aws.pcap"))
    with tempfile.TemporaryDirectory() as tmp:
        # 1. one worker
        out = os.path.join(tmp, "one.pcap")
        rc, st, log = run(binary, config(1, "net_pcap0,rx_pcap=" + sample, "net_pcap1,tx_pcap=" + out), tmp, 2, "one")
        c.check(rc == 0, "one worker: exit %d\n%s" % (rc, log[-2000:]))
        if st:
            got = frames(out)
            c.check(got == golden, "one worker: output differs from the golden frames (%d vs %d frames)" % (len(got), len(golden)))
            c.check(accounting_holds(st), "one worker: counters do not add up")
            c.check(st["ports"]["out"]["opackets"] == st["packets_out"] == len(golden),
                    "one worker: PMD sent %d, engine %d" % (st["ports"]["out"]["opackets"], st["packets_out"]))
            c.check("[" in log and "rx " in log, "one worker: no periodic summary line")

        # 2. two workers, two queues each way
        pkts = [p for p in RawPcapReader(sample)]
        halves = [os.path.join(tmp, "half%d.pcap" % i) for i in range(2)]
        for i in range(2):
            wrpcap(halves[i], [Ether(d) for j, (d, _) in enumerate(pkts) if j % 2 == i])
        outs = [os.path.join(tmp, "two%d.pcap" % i) for i in range(2)]
        rc, st, log = run(binary, config(2, "net_pcap0,rx_pcap=%s,rx_pcap=%s" % tuple(halves),
                                         "net_pcap1,tx_pcap=%s,tx_pcap=%s" % tuple(outs)), tmp, 2, "two")
        c.check(rc == 0, "two workers: exit %d\n%s" % (rc, log[-2000:]))
        if st:
            for i in range(2):
                want = [g for j, g in enumerate(golden) if j % 2 == i]
                c.check(frames(outs[i]) == want, "two workers: queue %d output differs from its golden half" % i)
            c.check(len(st["workers"]) == 2, "two workers: %d workers reported" % len(st["workers"]))
            c.check(all(w["packets_in"] > 0 for w in st["workers"]), "two workers: a worker received nothing")
            c.check(accounting_holds(st), "two workers: counters do not add up")
            c.check(st["packets_out"] == len(golden), "two workers: %d sent" % st["packets_out"])

        # 3. SIGINT under load
        rc, st, log = run(binary, config(2, "net_null0,size=128,copy=0", "net_null1,no-rx=1", "queues = 2"), tmp, 2, "load")
        c.check(rc == 0, "under load: exit %d\n%s" % (rc, log[-2000:]))
        if st:
            c.check(st["packets_in"] > 100000, "under load: only %d packets" % st["packets_in"])
            for name, ic in st["inputs"].items():
                c.check(accounting_holds(ic), "under load: input %s does not add up: %s" % (name, ic))
            c.check(st["ports"]["out"]["opackets"] == st["packets_out"],
                    "under load: the PMD sent %d, the engine counted %d" % (st["ports"]["out"]["opackets"], st["packets_out"]))
            c.check(st["ports"]["in"]["ipackets"] == st["packets_in"],
                    "under load: the PMD received %d, the engine counted %d" % (st["ports"]["in"]["ipackets"], st["packets_in"]))
            print("under load: %d packets in 2 s, %s" % (st["packets_in"], {k: v for k, v in st["dropped"].items() if v} or "no drops"))
        # 4. no ARP reply (net_null never answers)
        text = config(1, "net_null0,size=128,copy=0", "net_null1").replace(
            'next_hop_mac = "02:00:00:00:00:02"', 'next_hop_ip = "172.31.0.1"')
        path = os.path.join(tmp, "arp.toml")
        with open(path, "w") as f:
            f.write(text)
        t0 = time.time()
        p = subprocess.run([binary, "run", "-c", path], capture_output=True, text=True, timeout=60)
        c.check(p.returncode == 1, "unanswered ARP: exit %d, expected 1" % p.returncode)
        c.check("port 'out': no ARP reply from the next hop 172.31.0.1 within 3 s" in p.stderr,
                "unanswered ARP: message: %s" % p.stderr[-500:])
        c.check(time.time() - t0 < 20, "unanswered ARP: took %.1f s" % (time.time() - t0))

        # 5. the bench command
        for tunnel in ("vxlan", "gwlb", "geneve", "decap"):
            p = subprocess.run([binary, "bench", "--tunnel", tunnel, "--seconds", "1", "--frame-size", "128", "--json"],
                               capture_output=True, text=True, timeout=60)
            c.check(p.returncode == 0, "bench %s: exit %d %s" % (tunnel, p.returncode, p.stderr[-300:]))
            if p.returncode == 0:
                j = json.loads(p.stdout.strip().splitlines()[-1])
                for key in ("mpps", "gbps", "workers", "frame_size", "per_worker_mpps", "dropped"):
                    c.check(key in j, "bench %s: no %s in %s" % (tunnel, key, j))
                c.check(j["mpps"] > 0.1 and j["dropped"] == {} and j["frame_size"] == 128,
                        "bench %s: %s" % (tunnel, j))
                c.check(j["packets_in"] == j["packets_out"], "bench %s: in %d out %d" % (tunnel, j["packets_in"], j["packets_out"]))

        # 6. the NIC-hash path
        ms_key = bytes.fromhex("6d5a56da255b0ec24167253d43a38fb0d0ca2bcbae7b30b477cb2da38030f20c6a42b73bbeac01fa")
        vector = toeplitz(ms_key, bytes([66, 9, 149, 187, 161, 142, 100, 80]) + (2794).to_bytes(2, "big") + (1766).to_bytes(2, "big"))
        c.check(vector == 0x51ccc178, "toeplitz: the specification's vector gives %#x" % vector)
        key = bytes([0x6d, 0x5a]) * 20
        # VXLAN carries the whole frame after 50 bytes; GWLB the frame's IP packet after 82, with
        # the hash as its flow cookie too (the bench's RX then both restores the Ethernet header
        # GWLB overwrote and flags the hash).
        for tunnel, outer, l3 in (("vxlan", 50, 14), ("gwlb", 82, 0)):
            out = os.path.join(tmp, "nic-hash-%s.pcap" % tunnel)
            p = subprocess.run([binary, "bench", "--tunnel", tunnel, "--seconds", "0.05", "--frame-size", "128",
                                "--flow-hash", "nic", "--tx", "net_pcap1,tx_pcap=" + out, "--json"],
                               capture_output=True, text=True, timeout=60)
            c.check(p.returncode == 0, "bench --tunnel %s --flow-hash nic: exit %d %s" % (tunnel, p.returncode, p.stderr[-300:]))
            checked, wrong, ports, both = 0, 0, {}, {}
            if p.returncode == 0:
                j = json.loads(p.stdout.strip().splitlines()[-1])
                c.check(j["dropped"] == {}, "nic hash %s: dropped %s" % (tunnel, j["dropped"]))
                for data, _ in RawPcapReader(out):
                    if checked == 20000:
                        break
                    inner = data[outer:]
                    ihl = (inner[l3] & 15) * 4
                    l4 = l3 + ihl
                    src, dst = inner[l3 + 12:l3 + 16], inner[l3 + 16:l3 + 20]
                    sp, dp = inner[l4:l4 + 2], inner[l4 + 2:l4 + 4]
                    h = toeplitz(key, src + dst + sp + dp)
                    want = 49152 + ((h * 16384) >> 32)
                    sport = int.from_bytes(data[34:36], "big")
                    wrong += sport != want
                    if tunnel == "gwlb":
                        wrong += int.from_bytes(data[78:82], "big") != h
                    flow = tuple(sorted([(src, sp), (dst, dp)]))
                    ports.setdefault(flow, set()).add(sport)
                    both.setdefault(flow, set()).add((src, sp))
                    checked += 1
                os.unlink(out)
            c.check(checked == 20000, "nic hash %s: %d frames read, expected 20000" % (tunnel, checked))
            c.check(wrong == 0, "nic hash %s: %d of %d source ports or cookies are not the Toeplitz hash's" % (
                tunnel, wrong, checked))
            # The buffers net_null hands out first are few (its mempool cache), so the frames read
            # cover a few flows: each with one source port, in both directions where both came.
            two_way = sum(len(d) == 2 for d in both.values())
            c.check(len(ports) >= 8 and two_way >= 4 and all(len(v) == 1 for v in ports.values()),
                    "nic hash %s: %d flows (%d seen both ways), %d with more than one source port" % (
                        tunnel, len(ports), two_way, sum(len(v) > 1 for v in ports.values())))

        # 7. the outer checksums offloaded
        sample_rx = "net_pcap0,rx_pcap=%s" % sample  # read once: its jumbo frame rules out infinite_rx
        for tunnel, rx in (("vxlan", []), ("gwlb", []), ("gwlb", ["--rx", sample_rx])):
            what = "tx checksum %s%s" % (tunnel, ", the sample" if rx else "")
            out = os.path.join(tmp, "tx-checksum-%s.pcap" % tunnel)
            p = subprocess.run([binary, "bench", "--tunnel", tunnel, "--seconds", "0.05", "--frame-size", "128",
                                "--tx-checksum", "nic", "--tx", "net_pcap1,tx_pcap=" + out, "--json"] + rx,
                               capture_output=True, text=True, timeout=60)
            c.check(p.returncode == 0, "%s: exit %d %s" % (what, p.returncode, p.stderr[-300:]))
            checked, wrong, lengths = 0, [], set()
            if p.returncode == 0:
                j = json.loads(p.stdout.strip().splitlines()[-1])
                # The sample holds frames GWLB cannot carry (no IP): dropped by name, not sent.
                c.check((rx or j["dropped"] == {}) and j["tx_checksum"].startswith("nic"),
                        "%s: dropped %s, tx_checksum %s" % (what, j["dropped"], j["tx_checksum"]))
                for data, _ in RawPcapReader(out):
                    if checked == 2000:
                        break
                    checked += 1
                    lengths.add(len(data))
                    why = offloaded_checksums_wrong(data, tunnel == "gwlb")
                    if why and len(wrong) < 3:
                        wrong.append(why)
                os.unlink(out)
            c.check(checked >= (20 if rx else 2000) and not wrong, "%s: %d frames read (expected %s), wrong: %s" % (
                what, checked, "20 or more" if rx else "2000", wrong))
            c.check(len(lengths) >= (8 if rx else 1), "%s: %d frame lengths" % (what, len(lengths)))
    c.done()


def offloaded_checksums_wrong(data, udp_checksum):
    """Why an outer IPv4/UDP frame sent for checksum offload is not what a device completes into
    the checksums scapy computes; None when it is."""
    ip, udp = data[14:34], data[34:]
    if ip[9] != 17 or len(udp) != int.from_bytes(data[38:40], "big"):
        return "not one whole IPv4/UDP datagram"
    if ip[10:12] != b"\0\0":
        return "IPv4 checksum field %s, not 0" % ip[10:12].hex()
    pkt = Ether(data)
    del pkt["IP"].chksum
    scapy_ip = Ether(bytes(pkt))["IP"].chksum
    device_ip = 0xFFFF - ones_sum(ip)  # the field was 0
    if device_ip != scapy_ip:
        return "IPv4 checksum completed %#x, scapy %#x" % (device_ip, scapy_ip)
    field = int.from_bytes(udp[6:8], "big")
    if not udp_checksum:
        return None if field == 0 else "UDP checksum %#x where none is sent" % field
    pseudo = ones_sum(ip[12:20] + bytes([0, 17]) + udp[4:6])
    if field != pseudo:
        return "UDP checksum field %#x, not the pseudo-header sum %#x" % (field, pseudo)
    device_udp = (0xFFFF - ones_sum(udp)) or 0xFFFF  # from the field's seed over the datagram
    del pkt["UDP"].chksum
    scapy_udp = Ether(bytes(pkt))["UDP"].chksum
    return None if device_udp == scapy_udp else "UDP checksum completed %#x, scapy %#x" % (device_udp, scapy_udp)


def toeplitz(key, data):
    """The RSS hash as the Microsoft RSS specification defines it: for each set bit of the
    input, XOR in the 32 key bits that start at that bit's position."""
    k, bits, h = int.from_bytes(key, "big"), len(key) * 8, 0
    for i, byte in enumerate(data):
        for b in range(8):
            if byte & (0x80 >> b):
                h ^= (k >> (bits - 32 - (i * 8 + b))) & 0xFFFFFFFF
    return h


if __name__ == "__main__":
    main()
