#!/usr/bin/env bash
# TX checksum offloads, tested on a port that has them: net_tap offers IPv4 header and UDP
# checksum offload. The engine mirrors the sample to a net_tap output with the outer UDP
# checksum on, and must choose the offloads (said in its start-up lines): the IPv4 header
# checksum left to the port, the UDP checksum field holding the pseudo-header sum for the port
# to complete. tshark, with checksum validation on, must find every outer IPv4 and UDP
# checksum of what reached the kernel correct, and the inner frames untouched (the jumbo frame
# truncated to the tap's 1500-byte IP MTU, as configured: counted, never fragmented).
# Runs in its own network namespace; needs root; no skip.
set -euo pipefail
mp=$(readlink -f "$1")
src=$(readlink -f "$2")
sample=$src/pcaps/sample-mix.pcap
. "$(dirname "$0")/lib.sh"
work=$mp_work
ns=mpt$$
mp_netns "$ns"

cat >"$work/engine.toml" <<CFG
[engine]
workers = 1
stats_interval_s = 0.2

[eal]
args = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", "--log-level", "lib.eal:error"]

[[ports]]
name = "in"
role = "mirror-input"
devargs = "net_pcap0,rx_pcap=$sample"
mtu = 9100

[[ports]]
name = "out"
role = "output"
devargs = "net_tap0,iface=mpout"
mtu = 1500              # net_tap takes no jumbo frames: the 9000-byte frame is truncated to fit
mac = "02:00:00:00:00:01"
ip = "10.199.0.1"
next_hop_mac = "02:00:00:00:00:02"

[[targets]]
name = "analyzers"
output = "out"
tunnel = "vxlan"
dst_ip = "10.199.0.2"
vni = 4242
udp_checksum = "on"

[[routes]]
input = "in"
target = "analyzers"
CFG

# A persistent tap for tcpdump to listen on before the engine starts; net_tap attaches to it.
ip netns exec "$ns" ip tuntap add dev mpout mode tap multi_queue
ip netns exec "$ns" ip link set mpout up
ip netns exec "$ns" tcpdump -i mpout --immediate-mode -Q in -s 0 -U -w "$work/out.pcap" 2>"$work/tcpdump.log" &
dump_pid=$!; mp_background
for _ in $(seq 50); do grep -q listening "$work/tcpdump.log" && break; sleep 0.1; done
ip netns exec "$ns" "$mp" run -c "$work/engine.toml" --stats-json "$work/stats.json" >"$work/engine2.log" 2>&1 &
engine_pid=$!; mp_background
for _ in $(seq 100); do grep -q ' summary: \[' "$work/engine2.log" && break; sleep 0.1; done
sleep 1
mp_stop_engine "$engine_pid" "$work/engine2.log"
grep -q "outer IPv4 checksum offloaded, outer UDP checksum offloaded" "$work/engine2.log" || {
  cat "$work/engine2.log"; echo "FAIL: the engine did not choose the net_tap checksum offloads"; exit 1; }
sleep 0.3
kill -INT "$dump_pid"; wait "$dump_pid" || true

/usr/bin/python3 - "$sample" "$work/out.pcap" "$work/stats.json" <<'PY'
import json, subprocess, sys
from scapy.utils import RawPcapReader
sample, out, stats = sys.argv[1:4]
want = [bytes(d) for d, _ in RawPcapReader(sample)]
got = [bytes(d) for d, _ in RawPcapReader(out)]
st = json.load(open(stats))
fails = []
fields = subprocess.run(["tshark", "-r", out, "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
                         "-T", "fields", "-E", "occurrence=f", "-e", "ip.checksum.status", "-e", "udp.checksum.status",
                         "-e", "udp.checksum", "-e", "vxlan.vni"], capture_output=True, text=True, check=True).stdout.splitlines()
if len(got) != len(want) or st["packets_out"] != len(want):
    fails.append("%d frames reached the tap, %d counted sent, %d in the sample" % (len(got), st["packets_out"], len(want)))
for i, line in enumerate(fields):
    ipst, udpst, udpsum, vni = line.split("\t")
    if ipst != "1":
        fails.append("frame %d: outer IPv4 checksum not good (status %s)" % (i + 1, ipst))
    if udpst != "1" or udpsum == "0x0000":
        fails.append("frame %d: outer UDP checksum not good (%s, status %s)" % (i + 1, udpsum, udpst))
    if vni != "4242":
        fails.append("frame %d: VNI %s" % (i + 1, vni))
for i, (g, w) in enumerate(zip(got, want)):
    inner = w[: 1500 - 36]  # the IP MTU holds the outer IPv4 (20), UDP (8) and VXLAN (8) headers
    if g[50:] != inner:
        fails.append("frame %d: inner frame changed" % (i + 1))
truncated = sum(1 for w in want if len(w) > 1500 - 36)
if st["truncated"]["mtu"] != truncated:
    fails.append("%d frames counted truncated to the MTU, %d expected" % (st["truncated"]["mtu"], truncated))
for f in fails[:20]:
    print("FAIL: " + f)
print("net_tap offloads: %d frames, checksums checked by tshark" % len(got))
print("tap offload: %d passed, %d failed" % (0 if fails else 1, 1 if fails else 0))
sys.exit(1 if fails else 0)
PY
