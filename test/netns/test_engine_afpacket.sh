#!/usr/bin/env bash
# The live engine between real kernel peers, as a user would deploy it on kernel interfaces.
#
#   ns src ── veth ──> ns eng: [ein] mirrorpipe run (net_af_packet) [eout] ── veth ──> ns rx
#   tcpreplay sends the sample            VXLAN out                         kernel VXLAN device
#
# Every inner frame the kernel's VXLAN device delivers must equal the sample (count, order,
# bytes), and the engine's counters must agree with the kernel's. The engine finds the
# receiver's MAC itself, with ARP. Third argument 2: two workers, the kernel's fanout spreading
# the flows over them; each flow's order (the TCP conversation) is then checked, and the frames
# as a set. The engine's own veths have
# no IP address (the kernel must not answer for them); IPv6 is off and GRO is off in every
# namespace so that no frame is added, merged or split on the way. Needs root; no skip.
#
# Two things DPDK 22.11's net_af_packet does to frames before the engine sees them, asserted
# here exactly rather than hidden: its PACKET_FANOUT socket carries PACKET_FANOUT_FLAG_DEFRAG,
# so the kernel hands it IPv4 fragments already reassembled; and the kernel strips VLAN tags
# into packet metadata that the PMD re-inserts as 802.1Q, so an 802.1ad S-tag (0x88a8) comes
# back as 0x8100. On a NIC (ENA, VF) neither happens.
set -euo pipefail
mp=$(readlink -f "$1")
src=$(readlink -f "$2")
workers=${3:-1}   # with 2: the kernel's fanout spreads flows over two queues, one per worker
sample=$src/pcaps/sample-mix.pcap
py=/usr/bin/python3

. "$(dirname "$0")/lib.sh"
work=$mp_work
tag=mpa$$
nss=${tag}s; nse=${tag}e; nsr=${tag}r
for ns in "$nss" "$nse" "$nsr"; do mp_netns "$ns"; done
ip link add vs netns "$nss" type veth peer name ein netns "$nse"
ip link add eout netns "$nse" type veth peer name rx netns "$nsr"
for pair in "$nss vs" "$nse ein" "$nse eout" "$nsr rx"; do
  set -- $pair
  ip -n "$1" link set "$2" mtu 9216 up
  ip netns exec "$1" ethtool -K "$2" gro off gso off tso off >/dev/null 2>&1 || true
done
ip -n "$nsr" addr add 10.199.0.2/24 dev rx
ip -n "$nsr" link add vx4 type vxlan id 5569041 dstport 4789 local 10.199.0.2 dev rx nolearning
ip -n "$nsr" link set vx4 mtu 9000 up
ip netns exec "$nsr" ethtool -K vx4 gro off >/dev/null 2>&1 || true
mac_out=$(ip netns exec "$nse" cat /sys/class/net/eout/address)

af="framesz=10240,blocksz=20480,framecnt=512"
out_queues=$((workers + 1))   # one TX queue per worker, one for the control thread's ARP
cat >"$work/engine.toml" <<CFG
[engine]
workers = $workers
stats_interval_s = 0.5

[eal]
args = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", "--log-level", "lib.eal:error"]

[[ports]]
name = "in"
role = "mirror-input"
devargs = "net_af_packet0,iface=ein,$af,qpairs=$workers"
mtu = 9216

[[ports]]
name = "out"
role = "output"
devargs = "net_af_packet1,iface=eout,$af,qpairs=$out_queues"
mtu = 9216
mac = "$mac_out"
ip = "10.199.0.1"
next_hop_ip = "10.199.0.2"   # resolved with ARP: the kernel in the receiving namespace answers

[[targets]]
name = "kernel"
output = "out"
tunnel = "vxlan"
dst_ip = "10.199.0.2"
vni = 5569041

[[routes]]
input = "in"
target = "kernel"
CFG

rx_packets() { ip netns exec "$nsr" cat /sys/class/net/vx4/statistics/rx_packets; }

ip netns exec "$nsr" tcpdump -i vx4 --immediate-mode -Q in -s 0 -U -w "$work/rx.pcap" 2>"$work/tcpdump.log" &
dump_pid=$!; mp_background
ip netns exec "$nse" "$mp" run -c "$work/engine.toml" --stats-json "$work/stats.json" >"$work/engine.log" 2>&1 &
engine_pid=$!; mp_background
mp_wait_engine "$engine_pid" "$work/engine.log" grep -q listening "$work/tcpdump.log"
before=$(rx_packets)

ip netns exec "$nss" tcpreplay --intf1=vs "$sample" >"$work/replay.log" 2>&1
want=$($py -c "from scapy.utils import RawPcapReader as R; import sys; print(sum(1 for _ in R(sys.argv[1])))" "$sample")
for _ in $(seq 100); do
  [ $(( $(rx_packets) - before )) -ge "$want" ] && break
  sleep 0.1
done
sleep 0.5
kill -INT "$engine_pid"
wait "$engine_pid" || { cat "$work/engine.log"; echo "FAIL: the engine exited non-zero"; exit 1; }
kill -INT "$dump_pid"; wait "$dump_pid" || true
got_kernel=$(( $(rx_packets) - before ))

$py - "$sample" "$work/rx.pcap" "$work/stats.json" "$got_kernel" "$workers" <<'PY'
import json, re, sys
from scapy.utils import RawPcapReader
sample, rx, stats_path, kernel, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
from scapy.all import IP, Ether, Raw
sent = [bytes(d) for d, _ in RawPcapReader(sample)]
got = [bytes(d) for d, _ in RawPcapReader(rx)]
st = json.load(open(stats_path))
fails = []
# What net_af_packet hands the engine (see the header): fragments reassembled, S-tags as C-tags.
want, frags, stags = [], [], 0
for b in sent:
    p = Ether(b)
    if IP in p and (p[IP].flags.MF or p[IP].frag):
        frags.append(p)
        if not p[IP].flags.MF:  # the last fragment: the datagram is whole
            first = frags[0]
            data = b"".join(bytes(f[IP].payload) for f in sorted(frags, key=lambda f: f[IP].frag))
            whole = Ether(src=first.src, dst=first.dst) / IP(src=first[IP].src, dst=first[IP].dst, id=first[IP].id,
                                                             ttl=first[IP].ttl, proto=first[IP].proto) / Raw(data)
            want.append(("datagram", bytes(whole)))
            frags = []
        continue
    if b[12:14] == b"\x88\xa8":
        b = b[:12] + b"\x81\x00" + b[14:]
        stags += 1
    want.append(("frame", b))
if len(got) != len(want):
    fails.append("the kernel delivered %d inner frames, expected %d" % (len(got), len(want)))
if workers > 1:
    # Several workers keep each flow's order, not the order between flows: the TCP
    # conversation's 7 frames (both ways) must arrive in order; all frames are then compared
    # as a set, the reassembled datagram among them matched to its expected one.
    def tcp443(frames):
        return [f for f in frames if len(f) > 37 and f[12:14] == b"\x08\x00" and f[23] == 6 and
                443 in (int.from_bytes(f[34:36], "big"), int.from_bytes(f[36:38], "big"))]
    if tcp443(got) != tcp443([w for kind, w in want if kind == "frame"]):
        fails.append("the TCP conversation's frames arrived out of order or changed")
    exact = [w for kind, w in want if kind == "frame"]
    got = sorted(got, key=lambda g: (g not in exact, exact.index(g) if g in exact else 0))
    want = [x for x in want if x[0] == "frame"] + [x for x in want if x[0] == "datagram"]
    per_worker = [w["packets_in"] for w in st["workers"]]
    if len(per_worker) != workers or min(per_worker) == 0:
        fails.append("the flows did not spread over the %d workers: %s" % (workers, per_worker))
    print("packets per worker: %s" % per_worker)
for i, (g, (kind, w)) in enumerate(zip(got, want)):
    if kind == "frame" and g != w:
        fails.append("inner frame %d differs from the sample" % (i + 1))
    if kind == "datagram":
        gp, wp = Ether(g), Ether(w)
        same = IP in gp and (gp.src, gp.dst, gp[IP].src, gp[IP].dst, gp[IP].id, gp[IP].proto, bytes(gp[IP].payload)) == \
            (wp.src, wp.dst, wp[IP].src, wp[IP].dst, wp[IP].id, wp[IP].proto, bytes(wp[IP].payload))
        if not same or gp[IP].flags.MF or gp[IP].frag:
            fails.append("inner frame %d is not the reassembled datagram" % (i + 1))
print("(net_af_packet: 1 datagram reassembled from fragments, %d 802.1ad tag(s) re-inserted as 802.1Q)" % stags)
if st["packets_in"] != len(want):
    fails.append("engine received %d frames, expected %d from net_af_packet" % (st["packets_in"], len(want)))
if st["packets_out"] != kernel:
    fails.append("engine sent %d, the kernel VXLAN device received %d" % (st["packets_out"], kernel))
if st["packets_in"] != st["packets_out"] + st["filtered"] + sum(st["dropped"].values()):
    fails.append("engine counters do not add up: %s" % st)
if st["ports"]["out"]["opackets"] < st["packets_out"]:
    fails.append("PMD opackets %d < engine packets_out %d" % (st["ports"]["out"]["opackets"], st["packets_out"]))
if not any(re.search(r"; [1-9][0-9]* ARP replies;", n) for n in st["notes"]):
    fails.append("no ARP reply counted: %s" % st["notes"])
for f in fails:
    print("FAIL: " + f)
print("af_packet engine: %d frames in, %d out, kernel received %d, %d inner frames compared" % (
    st["packets_in"], st["packets_out"], kernel, min(len(got), len(want))))
print("engine in netns: %d passed, %d failed" % (0 if fails else 1, 1 if fails else 0))
sys.exit(1 if fails else 0)
PY
