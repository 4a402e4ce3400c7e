#!/usr/bin/env bash
# A port whose link goes down and comes back while traffic flows (issue 15, "Overload and faults").
#
#   ns s: sender.py ── veth vs/ein ──> ns e: mirrorpipe run, input "in" = net_af_packet on ein,
#                                            one session writing every frame to a pcap file
#
# The sender sends numbered UDP frames, each stamped with the time it was sent, at a fixed rate
# for a bounded time; meanwhile the test sets ein down for 3 s, then up again. Checked against
# the kernel and the sender, not against mirrorpipe's own output:
#   - exactly one `link` log line for the down and one for the up, in that order, naming the
#     port; link_changes = 2 and the link up at the end (--stats-json); the Prometheus scrape
#     says mirrorpipe_port_link_up 0 while down, 1 after, with the change counted;
#   - the engine still runs after the flap (exits 0 on SIGINT);
#   - traffic resumes by itself: every frame the sender sent from 1.5 s after the up (the
#     kernel's own link handling settles) is in the capture, as is every frame sent before
#     the down; none sent while ein was down (well inside the window) is;
#   - what the engine received equals what the kernel counted into ein (rx_packets), and
#     received = sent + filtered + dropped.
# Needs root; no skip.
set -euo pipefail
mp=$(readlink -f "$1")
py=/usr/bin/python3
here=$(dirname "$(readlink -f "$0")")

. "$here/lib.sh"
work=$mp_work
tag=mplf$$
nss=${tag}s; nse=${tag}e
for ns in "$nss" "$nse"; do mp_netns "$ns"; done
# Both ends running before the engine starts: the link it first reads is the one the test then
# takes down.
mp_veth_pair "$nss" vs "$nse" ein
metrics_port=19464   # inside the engine's own namespace: nothing else listens there

cat >"$work/engine.toml" <<CFG
[engine]
workers = 1
stats_interval_s = 0.5

[eal]
args = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", "--log-level", "lib.eal:error"]

[metrics]
listen = "127.0.0.1:$metrics_port"

[[ports]]
name = "in"
role = "mirror-input"
devargs = "net_af_packet0,iface=ein,qpairs=1"

[[ports]]
name = "cap"
role = "output"
file = "$work/out.pcap"

[[sessions]]
name = "all"
input = "in"
number = 1
sinks = ["cap"]
CFG

ein_rx() { ip netns exec "$nse" cat /sys/class/net/ein/statistics/rx_packets; }
scrape() {
  ip netns exec "$nse" $py -c 'import sys, urllib.request
print(urllib.request.urlopen("http://127.0.0.1:%s/metrics" % sys.argv[1], timeout=5).read().decode())' "$metrics_port"
}
metric() { scrape | awk -v m="$1{port=\"in\"}" '$1 == m { print $2 }'; }

ip netns exec "$nse" "$mp" run -c "$work/engine.toml" --stats-json "$work/stats.json" >"$work/engine.log" 2>&1 &
engine_pid=$!; mp_background
mp_wait_engine "$engine_pid" "$work/engine.log"
before=$(ein_rx)

# 500 frames a second for 9 s (4500 frames at most, 10 s at most).
ip netns exec "$nss" $py - "$work/sent.txt" <<'PY' &
import socket, struct, sys, time
from scapy.all import IP, UDP, Ether
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind(("vs", 0))
base = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="10.66.0.1", dst="10.66.0.2") /
             UDP(sport=5000, dport=6000))
log = []
start = time.time()
open(sys.argv[1] + ".started", "w").close()  # the test times the flap from here
seq = 0
while seq < 4500 and time.time() - start < 10:
    due = start + seq / 500.0
    now = time.time()
    if due > now:
        time.sleep(due - now)
    t = time.time()
    frame = bytearray(base + struct.pack("!Id", seq, t) + bytes(50))
    frame[16:18] = struct.pack("!H", len(frame) - 14)       # IPv4 total length
    frame[38:40] = struct.pack("!H", len(frame) - 34)       # UDP length
    frame[24:26] = b"\0\0"
    csum = sum(struct.unpack("!10H", bytes(frame[14:34])))
    while csum > 0xffff:
        csum = (csum & 0xffff) + (csum >> 16)
    frame[24:26] = struct.pack("!H", ~csum & 0xffff)
    try:
        s.send(bytes(frame))
        ok = 1
    except OSError:  # ENOBUFS, ENETDOWN: the link is down on the other side
        ok = 0
    log.append("%d %.6f %d" % (seq, t, ok))
    seq += 1
open(sys.argv[1], "w").write("\n".join(log) + "\n")
PY
sender_pid=$!; mp_background

# Timed from the sender's first frame, not from its start: under load its imports alone can take
# seconds.
mp_wait_for 20 test -e "$work/sent.txt.started" || { echo "FAIL: the sender did not start within 20 s"; exit 1; }
sleep 1.2
t_down=$(date +%s.%N)
ip -n "$nse" link set ein down
sleep 1.6   # the control loop reads the link once a second
up_while_down=$(metric mirrorpipe_port_link_up)
changes_while_down=$(metric mirrorpipe_port_link_changes_total)
sleep 1.4
t_up=$(date +%s.%N)
ip -n "$nse" link set ein up
wait "$sender_pid" || { echo "FAIL: the sender failed"; exit 1; }
sleep 1.6
up_after=$(metric mirrorpipe_port_link_up)
kill -0 "$engine_pid" 2>/dev/null || { cat "$work/engine.log"; echo "FAIL: the engine exited during the flap"; exit 1; }
mp_stop_engine "$engine_pid" "$work/engine.log"
got_kernel=$(( $(ein_rx) - before ))

$py - "$work" "$t_down" "$t_up" "$got_kernel" "$up_while_down" "$changes_while_down" "$up_after" <<'PY'
import json, re, struct, sys
from scapy.utils import RawPcapReader
work, t_down, t_up, kernel = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
up_while_down, changes_while_down, up_after = sys.argv[5], sys.argv[6], sys.argv[7]
fails = []
st = json.load(open(work + "/stats.json"))
log = open(work + "/engine.log").read().splitlines()
sent = [tuple(float(x) for x in line.split()) for line in open(work + "/sent.txt") if line.strip()]
captured = set()
for data, _ in RawPcapReader(work + "/out.pcap"):
    if len(data) >= 54 and data[12:14] == b"\x08\x00" and data[23] == 17:
        captured.add(struct.unpack("!I", data[42:46])[0])

links = [l for l in log if " link: " in l]
if len(links) != 2 or "port in: link down" not in links[0] or "port in: link up" not in links[1]:
    fails.append("expected one 'port in: link down' then one 'port in: link up' line, got: %s" % links)
port = st["ports"].get("in", {})
if port.get("link_changes") != 2 or port.get("link_up") is not True:
    fails.append("--stats-json port in: link_changes %s, link_up %s; expected 2, true" % (
        port.get("link_changes"), port.get("link_up")))
if (up_while_down, changes_while_down, up_after) != ("0", "1", "1"):
    fails.append("Prometheus: link_up %s and link_changes_total %s while down, link_up %s after; expected 0, 1, 1" % (
        up_while_down, changes_while_down, up_after))

before = [int(s) for s, t, ok in sent if t < t_down - 0.2]
during = [int(s) for s, t, ok in sent if t_down + 0.3 < t < t_up - 0.3]
after = [int(s) for s, t, ok in sent if t > t_up + 1.5]
missing_before = [s for s in before if s not in captured]
missing_after = [s for s in after if s not in captured]
leaked = [s for s in during if s in captured]
if not before or not during or len(after) < 500:
    fails.append("the sender's timeline is too short: %d before, %d during, %d after" % (len(before), len(during), len(after)))
if missing_before:
    fails.append("%d frames sent before the down are not in the capture (first %s)" % (len(missing_before), missing_before[:5]))
if missing_after:
    fails.append("traffic did not resume: %d of %d frames sent 1.5 s after the up are not in the capture (first %s)" % (
        len(missing_after), len(after), missing_after[:5]))
if leaked:
    fails.append("%d frames sent while ein was down reached the engine: the flap did not cut traffic" % len(leaked))
if st["packets_in"] != kernel:
    fails.append("the engine received %d frames, the kernel counted %d into ein" % (st["packets_in"], kernel))
if st["packets_in"] != st["packets_out"] + st["filtered"] + sum(st["dropped"].values()):
    fails.append("the counters do not add up: %s" % {k: st[k] for k in ("packets_in", "packets_out", "filtered", "dropped")})
if st["outputs"]["cap"]["packets"] != len(captured) or len(captured) != st["packets_out"]:
    fails.append("capture holds %d frames, the engine sent %d" % (len(captured), st["packets_out"]))
for f in fails:
    print("FAIL: " + f)
print("link flap: %d frames sent (%d before the down, %d while down, %d from 1.5 s after the up), "
      "%d received by the engine, %d captured; link lines: %s" % (
          len(sent), len(before), len(during), len(after), st["packets_in"], len(captured), [l.split(" link: ")[1] for l in links]))
print("link flap: %d passed, %d failed" % (0 if fails else 1, 1 if fails else 0))
sys.exit(1 if fails else 0)
PY
