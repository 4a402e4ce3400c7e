#!/usr/bin/env bash
# An analyzer pool with health checks, end to end, in namespaces:
#
#   ns E: mirrorpipe            ns L: bridge br0           ns A1, A2, A3: analyzers
#     file input (paced)  eo ── le ─┬─ l1 ── a1  10.196.0.11, vxlan0 (kernel), HTTP :8080
#     output af_packet on eo        ├─ l2 ── a2  10.196.0.12, ...
#     as 10.196.0.10                └─ l3 ── a3  10.196.0.13, ...
#
# The engine replays 300 flows (both directions, repeated, 2,000 packets a second for about
# 12 s) into a pool of three VXLAN targets with HTTP health checks every 0.5 s (timeout 0.4 s,
# two checks to change state). The checks leave from the output's own address; the analyzers'
# kernels ARP for it and the engine answers. While traffic flows: A2's listener stops at 3 s and
# returns at 6 s; at 8.5 s every listener stops (the pool fails open). Each analyzer's kernel
# VXLAN device decapsulates what it gets; tcpdump captures the inner frames.
#
# Checked against the oracle (test/golden flowhash.py + maglev.py, not mirrorpipe): every inner
# frame an analyzer received is one that a table the pool went through (from the log's state
# changes, in order) gives it (so both directions of each flow reach one analyzer); zeek-b was silent for a while
# (its flows moved) and received again after its recovery; the log says each state change once,
# and failing open; every packet sent reached an analyzer (the kernels' VXLAN devices count them
# all); the counters add up; the JSON counts failed checks and fail-open copies.
set -euo pipefail
mp=$(readlink -f "$1")
src=$(readlink -f "$2")
py=/usr/bin/python3
. "$(dirname "$0")/lib.sh"
work=$mp_work
tag=mpp$$
nse=${tag}e
nsl=${tag}l
for ns in "$nse" "$nsl"; do mp_netns "$ns"; done
ip -n "$nsl" link add br0 type bridge
ip -n "$nsl" link set br0 up
ip link add eo netns "$nse" type veth peer name le netns "$nsl"
ip -n "$nse" link set eo up
ip -n "$nsl" link set le master br0 up
ip netns exec "$nse" ethtool -K eo gro off gso off tso off >/dev/null 2>&1 || true
mac_eo=$(ip netns exec "$nse" cat /sys/class/net/eo/address)
macs=()
for i in 1 2 3; do
  ns=${tag}a$i
  mp_netns "$ns"
  ip link add "l$i" netns "$nsl" type veth peer name "a$i" netns "$ns"
  ip -n "$nsl" link set "l$i" master br0 up
  ip -n "$ns" addr add "10.196.0.1$i/24" dev "a$i"
  ip -n "$ns" link set "a$i" up
  # Whole checksums on what the analyzer sends (veth would leave them partial for the engine).
  ip netns exec "$ns" ethtool -K "a$i" tx off >/dev/null
  ip -n "$ns" link add vxlan0 type vxlan id 7 dstport 4789 local "10.196.0.1$i" dev "a$i" nolearning
  ip -n "$ns" link set vxlan0 up
  # No GRO: tcpdump must see each inner frame as it was sent, not coalesced.
  ip netns exec "$ns" ethtool -K "a$i" gro off >/dev/null 2>&1 || true
  ip netns exec "$ns" ethtool -K vxlan0 gro off >/dev/null 2>&1 || true
  macs+=("$(ip netns exec "$ns" cat /sys/class/net/a$i/address)")
done

listen() {  # listen N: an HTTP listener in analyzer N, its PID in $work/http$N.pid
  ip netns exec "${tag}a$1" "$py" -m http.server 8080 --bind "10.196.0.1$1" >"$work/http$1.log" 2>&1 &
  echo $! >"$work/http$1.pid"
  mp_background
}
unlisten() { kill "$(cat "$work/http$1.pid")" 2>/dev/null || true; }
for i in 1 2 3; do listen "$i"; done
for i in 1 2 3; do
  mp_wait_for 5 ip netns exec "${tag}a$i" bash -c "exec 3<>/dev/tcp/10.196.0.1$i/8080" 2>/dev/null ||
    { echo "FAIL: analyzer $i's listener did not start"; exit 1; }
  ip netns exec "${tag}a$i" tcpdump -i vxlan0 -U -w "$work/a$i.pcap" -s 256 >/dev/null 2>&1 &
  mp_background
done

"$py" - "$work/flows.pcap" <<'PY'
import random, sys
from scapy.all import Ether, IP, TCP, UDP, wrpcap
rng = random.Random(3)
E = Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b")
flows = []
for k in range(300):
    a, b = "10.1.%d.%d" % (k // 200, k % 200 + 1), "198.51.100.%d" % rng.randrange(1, 255)
    sp, dp = rng.randrange(1024, 65535), rng.choice([80, 443, 53])
    L4 = UDP if dp == 53 else TCP
    flows.append((E / IP(src=a, dst=b) / L4(sport=sp, dport=dp), E / IP(src=b, dst=a) / L4(sport=dp, dport=sp)))
pk = []
for rep in range(40):
    for f in flows:
        pk += [f[0].copy(), f[1].copy()]
wrpcap(sys.argv[1], pk)
PY

af="framesz=2048,blocksz=4096,framecnt=512"
{
  cat <<CFG
[engine]
stats_interval_s = 0.5
[eal]
args = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", "--log-level", "lib.eal:error"]
[[ports]]
name = "in"
role = "mirror-input"
file = "$work/flows.pcap"
pace = 2000
[[ports]]
name = "out"
role = "output"
devargs = "net_af_packet0,iface=eo,$af,qpairs=2"
mac = "$mac_eo"
ip = "10.196.0.10"
CFG
  for i in 1 2 3; do
    name=(x zeek-a zeek-b zeek-c)
    cat <<CFG
[[targets]]
name = "${name[$i]}"
output = "out"
tunnel = "vxlan"
dst_ip = "10.196.0.1$i"
dst_mac = "${macs[$((i - 1))]}"
vni = 7
CFG
  done
  cat <<CFG
[[pools]]
name = "zeek"
members = ["zeek-a", "zeek-b", "zeek-c"]
[pools.health_check]
protocol = "http"
port = 8080
path = "/"
interval_s = 0.5
timeout_s = 0.4
healthy_threshold = 2
unhealthy_threshold = 2
[[routes]]
input = "in"
target = "zeek"
CFG
} >"$work/engine.toml"

ip netns exec "$nse" "$mp" run -c "$work/engine.toml" --stats-json "$work/stats.json" >"$work/engine.log" 2>&1 &
engine=$!
mp_background
mp_wait_engine "$engine" "$work/engine.log"
sleep 3
unlisten 2
sleep 3
listen 2
sleep 2.5
for i in 1 2 3; do unlisten "$i"; done
# The replay ends by itself (24,000 packets at 2,000 a second); the engine then exits.
for _ in $(seq 300); do kill -0 "$engine" 2>/dev/null || break; sleep 0.1; done
kill -0 "$engine" 2>/dev/null && mp_stop_engine "$engine" "$work/engine.log"
wait "$engine" || { cat "$work/engine.log"; echo "FAIL: engine exit"; exit 1; }
sleep 0.5
# What each analyzer's kernel decapsulated (its VXLAN device's counter), whatever tcpdump kept.
for i in 1 2 3; do
  ip -n "${tag}a$i" -s -j link show vxlan0 >"$work/vxlan$i.json"
done
for pid in "${mp_pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
sleep 0.5

"$py" - "$src" "$work" <<'PY'
import json, os, sys
src, work = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(src, "test", "golden"))
sys.path.insert(0, os.path.join(src, "test", "oracle"))
import flowhash, maglev
from common import Checker, accounting_holds, read_records
from scapy.all import Ether
c = Checker("pools health")
M = 65537
names = ["zeek-a", "zeek-b", "zeek-c"]
log = open(os.path.join(work, "engine.log")).read()
st = json.load(open(os.path.join(work, "stats.json")))
# The tables the pool went through, from the log's state changes in order (failing open: every
# member). A frame must have reached the member one of them gives its flow.
in_service = {n: True for n in names}
states = [dict(in_service)]
for line in log.splitlines():  # log lines: "TIMESTAMP LEVEL KIND: MESSAGE"
    for n in names:
        if " pool_member_state: pool zeek: member %s is unhealthy" % n in line:
            in_service[n] = False
        elif " pool_member_state: pool zeek: member %s is healthy again" % n in line:
            in_service[n] = True
        else:
            continue
        states.append(dict(in_service))
tables = []
for s in states:
    inc = [s[n] for n in names] if any(s.values()) else [True] * 3
    if inc not in [t[0] for t in tables]:
        tables.append((inc, maglev.table(names, inc, M)))
full = tables[0][1]
got = {}
for i, n in enumerate(names):
    recs = read_records(os.path.join(work, "a%d.pcap" % (i + 1)))
    got[n] = [(r[0], r[2][0] + r[2][1] / 1e6) for r in recs]
    wrong = 0
    for frame, _ in got[n]:
        h = flowhash.flow_hash(frame) % M
        if n not in [names[t[h]] for _, t in tables]:
            wrong += 1
    c.check(wrong == 0, "%s received %d of %d frames neither table gives it" % (n, wrong, len(got[n])))
    c.check(len(got[n]) > 0, "%s received nothing" % n)
times = [t for _, t in got["zeek-b"]]
gap = max((b - a for a, b in zip(times, times[1:])), default=0)
c.check(gap >= 2.0, "zeek-b's longest silence %.2f s: its flows did not move while it was unhealthy" % gap)
moved = sum(1 for n in ("zeek-a", "zeek-c") for f, _ in got[n] if names[full[flowhash.flow_hash(f) % M]] == "zeek-b")
c.check(moved > 0, "no frame of zeek-b's flows reached another analyzer")
# zeek-b fails twice (its own outage, then with every member): said once each time.
c.check(log.count("pool zeek: member zeek-b is unhealthy") == 2, "zeek-b's failures said %d times:\n%s" % (
    log.count("pool zeek: member zeek-b is unhealthy"), log[-2000:]))
c.check(len(tables) >= 3, "the pool went through %d tables, expected at least 3" % len(tables))
c.check("pool zeek: member zeek-b is healthy again" in log, "zeek-b's recovery not said")
c.check("pool zeek: no member in service; failing open" in log, "failing open not said")
c.check(accounting_holds(st), "counters do not add up")
# Nothing lost beyond what the counters say: the analyzers' kernels decapsulated every packet the
# engine sent (tcpdump may keep fewer on a loaded machine: said, not failed).
kernel = sum(json.load(open(os.path.join(work, "vxlan%d.json" % i)))[0]["stats64"]["rx"]["packets"] for i in (1, 2, 3))
c.check(kernel == st["packets_out"], "the analyzers' VXLAN devices received %d packets, the engine sent %d" % (
    kernel, st["packets_out"]))
total = sum(len(v) for v in got.values())
if total != kernel:
    print("note: tcpdump kept %d of the %d inner frames the kernels received" % (total, kernel))
pz = st["pools"]["zeek"]
c.check(pz["fail_open_copies"] > 0, "no copies counted while failing open: %s" % pz)
c.check(pz["members"]["zeek-b"]["checks_failed"] >= 4 and pz["members"]["zeek-b"]["checks_passed"] > 0,
        "zeek-b's checks: %s" % pz["members"]["zeek-b"])
print("zeek-b silent %.2f s; %d of its flows' frames went to the others; %d frames in all; fail-open copies %d" % (
    gap, moved, total, pz["fail_open_copies"]))
c.done()
PY
