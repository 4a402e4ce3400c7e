#!/usr/bin/env bash
# An output's ARP next hop that stops answering, then answers again from another MAC (issue 15,
# "Overload and faults"; the behaviour is engine/control/next_hop.h's).
#
#   ns s: scapy ── veth vs/ein ──> ns e: mirrorpipe run [in] -> VXLAN [out] ── veth eout/rx ──> ns r
#                                                                            10.199.0.2, kernel
#
# arp_refresh_s = 1. Three phases of numbered UDP frames, each checked in what the receiving
# namespace captured on its veth (outer Ethernet destination, VXLAN inner bytes; scapy):
#   1. the kernel answers ARP: every frame reaches the receiver's first MAC;
#   2. the receiver's veth is set `arp off` (the kernel stops answering ARP on it): the engine
#      says `next_hop_silent` once and keeps sending to the last MAC: every frame still arrives
#      there;
#   3. the veth gets a second MAC and `arp on`: the engine says `next_hop_answers` once and
#      `next_hop ... moved to` the new MAC; every frame of this phase arrives at the new MAC.
# At the end (--stats-json): the port's arp.requests, arp.replies and arp.unanswered counters
# (at least 2 unanswered, at least one reply after them), every frame sent by the engine,
# received = sent + filtered + dropped, exit 0. Needs root; no skip.
set -euo pipefail
mp=$(readlink -f "$1")
py=/usr/bin/python3

. "$(dirname "$0")/lib.sh"
work=$mp_work
tag=mpnh$$
nss=${tag}s; nse=${tag}e; nsr=${tag}r
for ns in "$nss" "$nse" "$nsr"; do mp_netns "$ns"; done
mp_veth_pair "$nss" vs "$nse" ein
mp_veth_pair "$nse" eout "$nsr" rx
ip -n "$nsr" addr add 10.199.0.2/24 dev rx
# A VXLAN device takes the tunnel in, so that the receiver answers nothing back to the engine.
ip -n "$nsr" link add vx4 type vxlan id 5569041 dstport 4789 local 10.199.0.2 dev rx nolearning
ip -n "$nsr" link set vx4 up
mac_out=$(ip netns exec "$nse" cat /sys/class/net/eout/address)
mac_a=$(ip netns exec "$nsr" cat /sys/class/net/rx/address)
mac_b=02:00:5e:10:99:0b

cat >"$work/engine.toml" <<CFG
[engine]
workers = 1
stats_interval_s = 0.5
arp_refresh_s = 1

[eal]
args = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", "--log-level", "lib.eal:error"]

[[ports]]
name = "in"
role = "mirror-input"
devargs = "net_af_packet0,iface=ein,qpairs=1"

[[ports]]
name = "out"
role = "output"
devargs = "net_af_packet1,iface=eout,qpairs=2"
mac = "$mac_out"
ip = "10.199.0.1"
next_hop_ip = "10.199.0.2"

[[targets]]
name = "rx"
output = "out"
tunnel = "vxlan"
dst_ip = "10.199.0.2"
vni = 5569041

[[routes]]
input = "in"
target = "rx"
CFG

ip netns exec "$nsr" tcpdump -i rx --immediate-mode -Q in -s 0 -U -w "$work/rx.pcap" udp port 4789 \
  2>"$work/tcpdump.log" &
mp_background
ip netns exec "$nse" "$mp" run -c "$work/engine.toml" --stats-json "$work/stats.json" >"$work/engine.log" 2>&1 &
engine_pid=$!; mp_background
mp_wait_engine "$engine_pid" "$work/engine.log" grep -q listening "$work/tcpdump.log"

per_phase=20
send_phase() {  # PHASE: per_phase numbered UDP frames into the engine's input
  ip netns exec "$nss" $py - "$1" "$per_phase" <<'PY'
import sys
from scapy.all import Ether, IP, UDP, Raw, sendp
phase, n = int(sys.argv[1]), int(sys.argv[2])
frames = [Ether(src="02:00:00:00:01:01", dst="02:00:00:00:01:02") / IP(src="10.1.0.1", dst="10.2.0.%d" % (i + 1)) /
          UDP(sport=40000 + i, dport=5000) / Raw(b"phase%d-frame%03d" % (phase, i)) for i in range(n)]
sendp(frames, iface="vs", verbose=False)
PY
}
logged() { grep -q "$1" "$work/engine.log"; }

send_phase 1
sleep 0.5
ip -n "$nsr" link set rx arp off
mp_wait_for 15 logged "next_hop_silent" || { cat "$work/engine.log"; echo "FAIL: no next_hop_silent within 15 s"; exit 1; }
send_phase 2
sleep 0.5
ip -n "$nsr" link set rx address "$mac_b"
ip -n "$nsr" link set rx arp on
mp_wait_for 15 logged "next_hop_answers" || { cat "$work/engine.log"; echo "FAIL: no next_hop_answers within 15 s"; exit 1; }
mp_wait_for 5 logged "moved to $mac_b" || { cat "$work/engine.log"; echo "FAIL: no move to $mac_b"; exit 1; }
send_phase 3
sleep 1
mp_stop_engine "$engine_pid" "$work/engine.log"
sleep 0.3
pkill -INT -f "tcpdump -i rx --immediate-mode" 2>/dev/null || true
sleep 0.5

$py - "$work/rx.pcap" "$work/stats.json" "$work/engine.log" "$mac_a" "$mac_b" "$per_phase" <<'PY'
import json, sys
from scapy.all import Ether, IP, UDP, Raw
from scapy.layers.vxlan import VXLAN
from scapy.utils import RawPcapReader
rx, stats_path, log_path, mac_a, mac_b, n = sys.argv[1:7]
n = int(n)
fails = []
got = {}  # phase -> [(frame number, outer destination MAC)]
for data, _ in RawPcapReader(rx):
    e = Ether(data)
    if VXLAN not in e or e[VXLAN].vni != 5569041:
        fails.append("not the engine's VXLAN: %r" % e.summary())
        continue
    inner = e[VXLAN].payload
    p = bytes(inner[Raw].load) if Raw in inner else b""
    if not p.startswith(b"phase"):
        fails.append("inner frame not one sent: %r" % inner.summary())
        continue
    phase, num = int(p[5:6]), int(p[12:15])
    got.setdefault(phase, []).append((num, e.dst.lower()))
want_mac = {1: mac_a.lower(), 2: mac_a.lower(), 3: mac_b.lower()}
for phase in (1, 2, 3):
    frames = got.get(phase, [])
    if sorted(f for f, _ in frames) != list(range(n)):
        fails.append("phase %d: frames %s arrived, want 0..%d once each" % (phase, sorted(f for f, _ in frames), n - 1))
    wrong = [m for _, m in frames if m != want_mac[phase]]
    if wrong:
        fails.append("phase %d: %d frames to %s, want all to %s" % (phase, len(wrong), sorted(set(wrong)), want_mac[phase]))
log = open(log_path).read().splitlines()
for event, count in (("next_hop_silent", 1), ("next_hop_answers", 1)):
    lines = [l for l in log if (" %s: " % event) in l]
    if len(lines) != count:
        fails.append("%d %s lines, want %d: %s" % (len(lines), event, count, lines))
if not any("still sending to " + mac_a.lower() in l for l in log):
    fails.append("next_hop_silent does not name the MAC still sent to (%s)" % mac_a)
st = json.load(open(stats_path))
arp = st["ports"]["out"]["arp"]
if arp["unanswered"] < 2:
    fails.append("arp.unanswered = %d, want >= 2 (asked every second while silent)" % arp["unanswered"])
if arp["requests"] < arp["unanswered"] + 1 or arp["replies"] < 2:
    fails.append("arp counters do not fit the run: %s" % arp)
if st["packets_out"] != 3 * n:
    fails.append("engine sent %d, want %d" % (st["packets_out"], 3 * n))
if st["packets_in"] != st["packets_out"] + st["filtered"] + sum(st["dropped"].values()):
    fails.append("engine counters do not add up: %s" % st)
for f in fails:
    print("FAIL: " + f)
print("next hop silent: %s; frames per phase %s" % (arp, {p: len(v) for p, v in sorted(got.items())}))
sys.exit(1 if fails else 0)
PY
