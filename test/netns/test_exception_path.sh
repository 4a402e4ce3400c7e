#!/usr/bin/env bash
# A DPDK-owned port that keeps the host reachable (single-NIC instance), in network namespaces.
#
#   ns peer: pv 10.199.0.2 ── veth ── ns eng: [ev] mirrorpipe run (net_af_packet), ip 10.199.0.1
#                                               exception TAP "mphost" ──> ns host: the kernel
#                                                                          with 10.199.0.1
#
# The peer's kernel must get answers from the engine itself to ARP and ping (the kernel's ping
# checks the replies), reach a TCP service of the engine's host through the exception TAP, and
# the VXLAN it sends to 10.199.0.1:4789 must still be decapsulated on the data path. The TAP is
# moved to a namespace of its own, so that the engine's namespace has no 10.199.0.1 and its
# kernel ignores what arrives on ev, as on a NIC bound to DPDK. Needs root; no skip.
set -euo pipefail
mp=$(readlink -f "$1")
src=$(readlink -f "$2")
sample=$src/pcaps/sample-mix.pcap
py=/usr/bin/python3
. "$(dirname "$0")/lib.sh"
work=$mp_work
tag=mpx$$
nsp=${tag}p; nse=${tag}e; nsh=${tag}h
for ns in "$nsp" "$nse" "$nsh"; do mp_netns "$ns"; done
ip link add pv netns "$nsp" type veth peer name ev netns "$nse"
ip -n "$nsp" addr add 10.199.0.2/24 dev pv
ip -n "$nsp" link set pv up
# veth hands partial checksums to af_packet (checksum offload); a NIC delivers whole ones.
ip netns exec "$nsp" ethtool -K pv tx off >/dev/null
ip -n "$nse" link set ev up
mac_ev=$(ip netns exec "$nse" cat /sys/class/net/ev/address)

cat >"$work/engine.toml" <<CFG
[engine]
workers = 1
stats_interval_s = 0.2

[eal]
args = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", "--log-level", "lib.eal:error"]

[[ports]]
name = "aws"
role = "tunnel-input"
devargs = "net_af_packet0,iface=ev,framesz=2048,blocksz=4096,framecnt=512"
ip = "10.199.0.1"
exception_tap = "mphost"

[[ports]]
name = "analyzers"
role = "output"
file = "$work/decap.pcap"

[[routes]]
input = "aws"
output = "analyzers"
CFG

ip netns exec "$nse" "$mp" run -c "$work/engine.toml" --stats-json "$work/stats.json" >"$work/engine.log" 2>&1 &
engine_pid=$!; mp_background
for _ in $(seq 100); do
  ip netns exec "$nse" ip link show mphost >/dev/null 2>&1 && grep -q ' summary: \[' "$work/engine.log" && break
  kill -0 "$engine_pid" 2>/dev/null || { cat "$work/engine.log"; echo "FAIL: the engine exited"; exit 1; }
  sleep 0.1
done
ip -n "$nse" link set mphost netns "$nsh"
ip -n "$nsh" addr add 10.199.0.1/24 dev mphost
ip -n "$nsh" link set mphost up
# A TCP service of the host, on the kernel behind the TAP.
ip netns exec "$nsh" $py -c '
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("10.199.0.1", 8080)); s.listen(1); s.settimeout(20)
c, _ = s.accept(); c.sendall(b"hello from the host\n"); c.close()' &
mp_background
sleep 0.5

fails=0
if ip netns exec "$nsp" ping -c 3 -i 0.2 -W 2 10.199.0.1 >"$work/ping.log" 2>&1; then
  echo "ping 10.199.0.1: $(grep -o '[0-9]* received' "$work/ping.log")"
else
  cat "$work/ping.log"; echo "FAIL: no answer to ping from the engine"; fails=$((fails + 1))
fi
arp_mac=$(ip -n "$nsp" neigh show 10.199.0.1 | grep -o 'lladdr [0-9a-f:]*' | cut -d' ' -f2 || true)
[ "$arp_mac" = "$mac_ev" ] || { echo "FAIL: ARP for 10.199.0.1 resolved to '$arp_mac', expected the port's $mac_ev"; fails=$((fails + 1)); }
reply=$(ip netns exec "$nsp" $py -c '
import socket
s = socket.create_connection(("10.199.0.1", 8080), timeout=5); print(s.recv(100).decode().strip())' 2>&1 || true)
[ "$reply" = "hello from the host" ] || { echo "FAIL: TCP to the host through the TAP: '$reply'"; fails=$((fails + 1)); }
echo "TCP 10.199.0.1:8080 through the exception TAP: '$reply'"

# Data path: VXLAN to the port's address is decapsulated, not given to the host.
"$mp" encap -r "$sample" -w "$work/vxlan.pcap" --src-ip 10.199.0.2 --dst-ip 10.199.0.1 --dst-mac "$mac_ev" --vni 7 2>/dev/null
ip netns exec "$nsp" tcpreplay --intf1=pv "$work/vxlan.pcap" >/dev/null 2>&1
sleep 1
mp_stop_engine "$engine_pid" "$work/engine.log"

$py - "$sample" "$work/decap.pcap" "$work/stats.json" "$fails" <<'PY'
import json, sys
from scapy.utils import RawPcapReader
sample, out, stats, fails = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
want = [bytes(d) for d, _ in RawPcapReader(sample)]
# Not every frame of the sample fits a 2048-byte af_packet frame: those are dropped by the PMD.
got = [bytes(d) for d, _ in RawPcapReader(out)]
st = json.load(open(stats))
aws = st["inputs"]["aws"]
problems = []
small = [w for w in want if len(w) + 50 <= 2048 - 32]
if got != small:
    problems.append("decapsulated %d frames, expected the %d that fit the af_packet frames" % (len(got), len(small)))
if aws["host"]["replies"] < 4:
    problems.append("only %d ARP/ICMP replies counted" % aws["host"]["replies"])
if aws["host"]["to_tap"] < 3:
    problems.append("only %d packets handed to the TAP" % aws["host"]["to_tap"])
for name, c in st["inputs"].items():
    if c["packets_in"] != c["packets_out"] + c["filtered"] + sum(c["dropped"].values()):
        problems.append("input %s does not add up: %s" % (name, c))
for p in problems:
    print("FAIL: " + p)
print("exception path: %d replies, %d to the TAP, %d frames decapsulated" % (aws["host"]["replies"], aws["host"]["to_tap"], len(got)))
bad = fails + len(problems)
print("exception path: %d passed, %d failed" % (0 if bad else 1, 1 if bad else 0))
sys.exit(1 if bad else 0)
PY
