#!/usr/bin/env bash
# The Linux kernel's own VXLAN device as the receiver of mirrorpipe's VXLAN.
#
# Two network namespaces joined by a veth pair. mirrorpipe encapsulates the bundled sample
# (IPv4 outer, AWS defaults; then IPv6 outer with its UDP checksum, which the kernel verifies),
# tcpreplay sends the result from one namespace, and a kernel VXLAN device in the other
# decapsulates it. Every inner frame must arrive: count, order and bytes equal to the input, and
# the kernel's receive counter equal to mirrorpipe's packets_out.
#
# Needs root (CI runs as root). A namespace that cannot be created fails the test: no skip.
set -euo pipefail
mp=$1
src=$2
sample=$src/pcaps/sample-mix.pcap
py=/usr/bin/python3

. "$(dirname "$0")/lib.sh"
work=$mp_work
tag=mp$$
nsa=${tag}a
nsb=${tag}b
mp_netns "$nsa" ipv6
mp_netns "$nsb" ipv6
ip link add va$$ netns "$nsa" type veth peer name vb$$ netns "$nsb"
ip -n "$nsa" link set va$$ mtu 9216 up
ip -n "$nsb" link set vb$$ mtu 9216 up
ip -n "$nsa" addr add 10.199.0.1/24 dev va$$
ip -n "$nsb" addr add 10.199.0.2/24 dev vb$$
ip -n "$nsa" addr add fd99::1/64 dev va$$ nodad
ip -n "$nsb" addr add fd99::2/64 dev vb$$ nodad
mac_a=$(ip netns exec "$nsa" cat /sys/class/net/va$$/address)
mac_b=$(ip netns exec "$nsb" cat /sys/class/net/vb$$/address)

# One kernel VXLAN device per outer family, on the standard port, learning off.
ip -n "$nsb" link add vx4 type vxlan id 5569041 dstport 4789 local 10.199.0.2 dev vb$$ nolearning
ip -n "$nsb" link add vx6 type vxlan id 7 dstport 4789 local fd99::2 dev vb$$ nolearning
ip -n "$nsb" link set vx4 mtu 9000 up
ip -n "$nsb" link set vx6 mtu 9000 up

rx_packets() {
  ip netns exec "$nsb" cat /sys/class/net/"$1"/statistics/rx_packets
}

# run_case NAME DEVICE -- mirrorpipe encap arguments
run_case() {
  local name=$1 dev=$2
  shift 3
  local out=$work/$name.pcap rx=$work/$name.rx.pcap stats=$work/$name.json
  "$mp" encap -r "$sample" -w "$out" --src-mac "$mac_a" --dst-mac "$mac_b" --stats-json "$stats" "$@" 2>/dev/null
  local before
  before=$(rx_packets "$dev")
  ip netns exec "$nsb" tcpdump -i "$dev" --immediate-mode -Q in -s 0 -U -w "$rx" 2>"$work/$name.tcpdump.log" &
  dump_pid=$!; mp_background
  for _ in $(seq 50); do grep -q listening "$work/$name.tcpdump.log" && break; sleep 0.1; done
  grep -q listening "$work/$name.tcpdump.log" || { echo "tcpdump did not start"; exit 1; }
  ip netns exec "$nsa" tcpreplay --intf1=va$$ "$out" >"$work/$name.replay.log" 2>&1
  # Bounded wait for the last frame to be counted by the kernel.
  local want
  want=$($py -c "import json,sys; print(json.load(open(sys.argv[1]))['packets_out'])" "$stats")
  for _ in $(seq 50); do
    [ $(( $(rx_packets "$dev") - before )) -ge "$want" ] && break
    sleep 0.1
  done
  sleep 0.3
  kill -INT "$dump_pid"
  wait "$dump_pid" || true
  local got=$(( $(rx_packets "$dev") - before ))
  echo "$name: mirrorpipe packets_out=$want, kernel $dev rx_packets=$got"
  [ "$got" -eq "$want" ] || { echo "FAIL: the kernel received $got frames, mirrorpipe sent $want"; exit 1; }
  # Inner frames as the kernel delivered them: same count, order and bytes as the input.
  $py - "$sample" "$rx" <<'PY'
import sys
from scapy.utils import RawPcapReader
want = [bytes(d) for d, _ in RawPcapReader(sys.argv[1])]
got = [bytes(d) for d, _ in RawPcapReader(sys.argv[2])]
bad = 0
if len(got) != len(want):
    print("FAIL: %d frames delivered by the kernel, %d sent" % (len(got), len(want)))
    bad += 1
for i, (g, w) in enumerate(zip(got, want)):
    if g != w:
        bad += 1
        print("FAIL: frame %d differs\n sent %s\n got  %s" % (i + 1, w.hex()[:160], g.hex()[:160]))
print("%d frames compared, %d differ" % (min(len(got), len(want)), bad))
sys.exit(1 if bad else 0)
PY
}

run_case ipv4 vx4 -- --tunnel vxlan --src-ip 10.199.0.1 --dst-ip 10.199.0.2 --vni 5569041
run_case ipv6 vx6 -- --tunnel vxlan --src-ip fd99::1 --dst-ip fd99::2 --vni 7
echo "kernel VXLAN: 2 passed, 0 failed"
