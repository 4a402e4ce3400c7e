#!/usr/bin/env bash
# A single-NIC mirror target: one port receives AWS-style VXLAN mirror traffic and sends what
# it becomes (re-mirrored to an analyzer) out of the same port, as on an EC2 instance with one
# ENI.
#
#   ns peer: tcpreplay ─> vxs (kernel VXLAN, VNI 77) ─┐                 ┌─ ns eng ─────────────┐
#            vx4 (kernel VXLAN, VNI 5569041) <─ p0 ───┴── veth ── e0 ──┤ mirrorpipe: port e0  │
#            tcpdump on vx4                                            │ tunnel-input,        │
#                                                                      │ also_output          │
#                                                                      └──────────────────────┘
# The peer's kernel wraps the sample in VXLAN toward the engine's address (the engine answers
# its ARP), the engine decapsulates, sorts by session and re-mirrors each inner frame to the
# peer's other VXLAN device through the same port, with the next hop's MAC found by ARP from
# that port. Every inner frame must arrive once and byte for byte, in the sample's order within
# its flow; the engine's counters must add up and agree with the kernel's. Needs root; no skip.
# Order across flows is not promised: af_packet's fanout spreads the outer flows (whose source
# port follows the inner flow) over the two qpairs, and one poll can find frames waiting in both.
set -euo pipefail
mp=$(readlink -f "$1")
src=$(readlink -f "$2")
sample=$src/pcaps/sample-mix.pcap
py=/usr/bin/python3

. "$(dirname "$0")/lib.sh"
work=$mp_work
tag=mps$$
nsp=${tag}p; nse=${tag}e
for ns in "$nsp" "$nse"; do mp_netns "$ns"; done
ip link add p0 netns "$nsp" type veth peer name e0 netns "$nse"
for pair in "$nsp p0" "$nse e0"; do
  set -- $pair
  ip -n "$1" link set "$2" mtu 9216 up
  ip netns exec "$1" ethtool -K "$2" gro off gso off tso off >/dev/null 2>&1 || true
done
ip -n "$nsp" addr add 10.198.0.2/24 dev p0
# The mirror source: what tcpreplay writes into vxs leaves as VXLAN VNI 77 to the engine.
ip -n "$nsp" link add vxs type vxlan id 77 dstport 4789 local 10.198.0.2 remote 10.198.0.1 dev p0
# The analyzer: VNI 5569041 from the engine arrives here.
ip -n "$nsp" link add vx4 type vxlan id 5569041 dstport 4789 local 10.198.0.2 dev p0 nolearning
for d in vxs vx4; do
  ip -n "$nsp" link set "$d" mtu 9000 up
  ip netns exec "$nsp" ethtool -K "$d" gro off gso off tso off >/dev/null 2>&1 || true
done

af="framesz=10240,blocksz=20480,framecnt=512"
cat >"$work/engine.toml" <<CFG
[engine]
workers = 1
stats_interval_s = 0.5

[eal]
args = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", "--log-level", "lib.eal:error"]

[[ports]]
name = "eth0"
role = "tunnel-input"
also_output = true           # the one NIC: mirror traffic in, re-mirrored traffic out
devargs = "net_af_packet0,iface=e0,$af,qpairs=2"
queues = 2                   # af_packet's kernel fanout feeds all its qpairs: both are polled
mtu = 9216
ip = "10.198.0.1"            # answers ARP for it; the outer source of what it sends
next_hop_ip = "10.198.0.2"   # resolved with ARP from this same port
allow_vnis = [77]

[[targets]]
name = "analyzer"
output = "eth0"
tunnel = "vxlan"
dst_ip = "10.198.0.2"
vni = 5569041

[[sessions]]
name = "mirror"
input = "eth0"
vnis = [77]
sinks = ["analyzer"]
CFG

rx_packets() { ip netns exec "$nsp" cat /sys/class/net/vx4/statistics/rx_packets; }

ip netns exec "$nsp" tcpdump -i vx4 --immediate-mode -Q in -s 0 -U -w "$work/rx.pcap" 2>"$work/tcpdump.log" &
mp_background
dump_pid=$!
ip netns exec "$nse" "$mp" run -c "$work/engine.toml" --stats-json "$work/stats.json" >"$work/engine.log" 2>&1 &
engine_pid=$!; mp_background
mp_wait_engine "$engine_pid" "$work/engine.log" grep -q listening "$work/tcpdump.log"
before=$(rx_packets)
vxs_before=$(ip netns exec "$nsp" cat /sys/class/net/vxs/statistics/tx_packets)

# The engine answers for its address on the shared port: ARP, then ICMP echo. (The ping also
# resolves the engine's MAC before the replay, so no frame waits in the peer's ARP queue.)
ip netns exec "$nsp" ping -c 1 -W 2 10.198.0.1 >"$work/ping.log" 2>&1 || { cat "$work/ping.log"; echo "FAIL: no echo reply from the shared port"; exit 1; }
ip netns exec "$nsp" tcpreplay --intf1=vxs "$sample" >"$work/replay.log" 2>&1
want=$($py -c "from scapy.utils import RawPcapReader as R; import sys; print(sum(1 for _ in R(sys.argv[1])))" "$sample")
mp_wait_for 10 bash -c "[ \$(( \$(ip netns exec $nsp cat /sys/class/net/vx4/statistics/rx_packets) - $before )) -ge $want ]" || true
sleep 0.5
kill -INT "$engine_pid"
wait "$engine_pid" || { cat "$work/engine.log"; echo "FAIL: the engine exited non-zero"; exit 1; }
kill -INT "$dump_pid"; wait "$dump_pid" || true
got_kernel=$(( $(rx_packets) - before ))
vxs_sent=$(( $(ip netns exec "$nsp" cat /sys/class/net/vxs/statistics/tx_packets) - vxs_before ))

$py - "$sample" "$work/rx.pcap" "$work/stats.json" "$got_kernel" "$vxs_sent" "$work/engine.log" <<'PY'
import json, sys
from scapy.utils import RawPcapReader
sample, rx, stats_path = sys.argv[1], sys.argv[2], sys.argv[3]
kernel, vxs_sent, log = int(sys.argv[4]), int(sys.argv[5]), open(sys.argv[6]).read()
sent = [bytes(d) for d, _ in RawPcapReader(sample)]
got = [bytes(d) for d, _ in RawPcapReader(rx)]
st = json.load(open(stats_path))
fails = []
if vxs_sent != len(sent):
    fails.append("the peer's VXLAN device sent %d frames, the sample has %d" % (vxs_sent, len(sent)))
if len(got) != len(sent):
    fails.append("the analyzer's VXLAN device delivered %d inner frames, expected %d" % (len(got), len(sent)))
from collections import Counter
from scapy.layers.l2 import Ether, ARP, Dot1Q
from scapy.layers.inet import IP
from scapy.layers.inet6 import IPv6
def flow(frame):
    # The flow a frame belongs to, no wider than what the kernel's flow hash (hence the qpair)
    # reads: VLAN tags, direction, addresses, protocol, ports or ICMP type, code and id, IPv6's
    # flow label (a fragment: its datagram's id, since fragments carry no ports).
    p = Ether(frame)
    tags = tuple(l.vlan for l in p.iterpayloads() if isinstance(l, Dot1Q))
    if IP in p:
        ip = p[IP]
        if ip.flags.MF or ip.frag:
            return (tags, "ip", ip.src, ip.dst, ip.proto, "fragment", ip.id)
        return (tags, "ip", ip.src, ip.dst, ip.proto) + l4(ip.payload)
    if IPv6 in p:
        ip = p[IPv6]
        return (tags, "ip6", ip.src, ip.dst, ip.nh, ip.fl) + l4(ip.payload)
    if ARP in p:
        return (tags, "arp", p[ARP].psrc, p[ARP].pdst, p[ARP].op)
    return (tags, "eth", p.src, p.dst, p.type)
def l4(h):
    return tuple(getattr(h, f, None) for f in ("sport", "dport", "type", "code", "id"))
known = {w: i + 1 for i, w in reversed(list(enumerate(sent)))}
arrival = [known.get(g, "?") for g in got]  # sample frame numbers, in the order they arrived
missing, extra = Counter(sent) - Counter(got), Counter(got) - Counter(sent)
for w in missing:
    fails.append("sample frame %d arrived %d time(s) fewer than it was sent" % (known[w], missing[w]))
if extra:
    fails.append("%d inner frames arrived that the sample does not have (or more often than it has them)" % sum(extra.values()))
flows = {}
for g in got:
    if g in known:
        flows.setdefault(flow(g), []).append(known[g])
for key, seen in flows.items():
    if seen != sorted(seen):
        fails.append("flow %s arrived out of order: sample frames %s" % (key, seen))
if fails:
    print("arrival order, as sample frame numbers: %s" % arrival)
elif arrival != sorted(arrival):
    print("note: flows interleaved differently from the sample (allowed): %s" % arrival)
if st["packets_out"] < kernel:
    fails.append("engine sent %d, the analyzer's VXLAN device received %d" % (st["packets_out"], kernel))
if st["packets_in"] != st["packets_out"] + st["filtered"] + sum(st["dropped"].values()):
    fails.append("engine counters do not add up: %s" % st)
# The same PMD counts what the port received and what it sent: the mirror traffic and the ARP
# exchange in, the re-mirrored frames (and the ARP reply and request) out.
pmd = st["ports"]["eth0"]
import re
note = [n for n in st["notes"] if "ARP replies" in n]
m = re.search(r"; (\d+) ARP replies; (\d+) other packets", note[0]) if note else None
if not m or int(m.group(1)) == 0:
    fails.append("no ARP reply counted: %s" % st["notes"])
else:
    # Before the workers start, the resolver reads the port: what it read is the PMD's too.
    read_at_start = int(m.group(1)) + int(m.group(2))
    if pmd["ipackets"] != st["packets_in"] + read_at_start:
        fails.append("PMD ipackets %d != engine packets_in %d + %d read by the resolver" % (
            pmd["ipackets"], st["packets_in"], read_at_start))
out = st["outputs"]
if out["eth0"]["packets"] != kernel:
    fails.append("the engine sent %d re-mirrored frames, the analyzer received %d" % (out["eth0"]["packets"], kernel))
# Out of the same PMD: the re-mirrored frames, the host's replies, and the resolver's requests.
if pmd["opackets"] < out["eth0"]["packets"] + out["eth0/replies"]["packets"] + 1:
    fails.append("PMD opackets %d < %d re-mirrored + %d replies + an ARP request" % (
        pmd["opackets"], out["eth0"]["packets"], out["eth0/replies"]["packets"]))
if st["inputs"]["eth0"]["host"]["replies"] < 1:
    fails.append("the echo request was not answered by the engine")
if "next hop 10.198.0.2 is at" not in log:
    fails.append("the next hop was not resolved from the shared port:\n" + log)
for f in fails:
    print("FAIL: " + f)
print("single NIC: %d in, %d sent, %d filtered, dropped %s; analyzer received %d of %d" % (
    st["packets_in"], st["packets_out"], st["filtered"], {k: v for k, v in st["dropped"].items() if v}, kernel, len(sent)))
print("single NIC: %d passed, %d failed" % (0 if fails else 1, 1 if fails else 0))
sys.exit(1 if fails else 0)
PY
