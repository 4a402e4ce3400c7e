#!/usr/bin/env bash
# The GWLB appliance in network namespaces, against mirrorpipe's GWLB emulator, with a Zeek-like
# reader (tcpdump) on the inspection TAP and a health check through the exception TAP.
#
#   ns gwlb: vg 10.9.0.3 ── veth ── ns apl: [va] mirrorpipe run (net_af_packet), appliance
#     mirrorpipe gwlb-emulate                   ip 10.9.0.2, answers ARP
#     (GWLB = 10.9.0.1)                         TAP "mpinspect": inner packets ─> tcpdump
#     curl-like health check ──────────────>    TAP "mphc" ─> ns hc: the kernel with 10.9.0.2,
#                                                             an HTTP server on 8080
#
# Checked: the emulator's own rules (every packet back, Geneve bytes kept, addresses swapped,
# ports, checksums, TTL, cookie current after a 5-tuple is reused); independently, scapy on the
# returned frames; the reader saw each inner packet exactly once; HTTP 200 to the health check;
# the engine's accounting; the verdict hook, live: a blocked flow is not returned, and returns
# again once accepted. Third argument 2: two workers (the kernel's fanout spreads GWLB flows
# over two queues; each worker keeps its own flow table, and one file per worker for the pcapng
# sink). Third argument "full": one worker, and the pcapng sink is /dev/full, whose every write
# fails while traffic flows: the failures are counted on that output (write_failed), and the
# returns to GWLB and the TAP reader are exactly as without it. Needs root; no skip.
set -euo pipefail
mp=$(readlink -f "$1")
src=$(readlink -f "$2")
py=/usr/bin/python3
gwlb_capture=$src/pcaps/third-party/suricata-bug-6402-geneve-aws-gwlb-opts.pcap
workers=${3:-1}
sink_file_fails=0
if [ "$workers" = full ]; then workers=1; sink_file_fails=1; fi
. "$(dirname "$0")/lib.sh"
work=$mp_work
tag=mpa$$
nsg=${tag}g; nsa=${tag}a; nsh=${tag}h
for ns in "$nsg" "$nsa" "$nsh"; do mp_netns "$ns"; done
ip link add vg netns "$nsg" type veth peer name va netns "$nsa"
ip -n "$nsg" addr add 10.9.0.3/24 dev vg
ip -n "$nsg" link set vg up
ip netns exec "$nsg" ethtool -K vg tx off >/dev/null
ip -n "$nsa" link set va up

cat >"$work/appliance.toml" <<CFG
[engine]
workers = $workers
stats_interval_s = 0.5

[eal]
args = ["--no-huge", "-m", "512", "--no-pci", "--file-prefix", "$tag", "--log-level", "lib.eal:error"]

[appliance]
flow_table_size = 4096

[[ports]]
name = "gwlb"
role = "appliance"
devargs = "net_af_packet0,iface=va,framesz=2048,blocksz=4096,framecnt=512,qpairs=$workers"
ip = "10.9.0.2"
exception_tap = "mphc"
inject_from = "inspect"

[[ports]]
name = "inspect"
role = "output"
devargs = "net_tap_inspect,iface=mpinspect"

[[ports]]
name = "inner-pcapng"
role = "output"
file = "$([ "$sink_file_fails" = 1 ] && echo /dev/full || echo "$work/inner.pcapng")"

[[sessions]]
name = "inline"
input = "gwlb"
sinks = ["inspect", "inner-pcapng"]
CFG
"$mp" check -c "$work/appliance.toml"

mp_step "engine starting"
ip netns exec "$nsa" "$mp" run -c "$work/appliance.toml" --stats-json "$work/stats.json" >"$work/engine.log" 2>&1 &
engine_pid=$!; mp_background
ready() {
  ip netns exec "$nsa" ip link show mphc >/dev/null 2>&1 && ip netns exec "$nsa" ip link show mpinspect >/dev/null 2>&1 &&
    grep -q ' summary: \[' "$work/engine.log"
}
mp_wait_for 20 ready || { cat "$work/engine.log"; echo "FAIL: the engine did not start"; exit 1; }
# The host's kernel behind the exception TAP, in its own namespace, serves the health check.
ip -n "$nsa" link set mphc netns "$nsh"
ip -n "$nsh" addr add 10.9.0.2/24 dev mphc
ip -n "$nsh" link set mphc up
ip netns exec "$nsh" $py -c '
import http.server
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"healthy\n")
    def log_message(self, *a): pass
s = http.server.HTTPServer(("10.9.0.2", 8080), H); s.timeout = 20
s.handle_request()' &
mp_background
# The Zeek-like reader: what the kernel receives on the inspection TAP.
ip netns exec "$nsa" sysctl -qw net.ipv6.conf.mpinspect.disable_ipv6=1 || true
ip -n "$nsa" link set mpinspect up
ip netns exec "$nsa" tcpdump -i mpinspect -Q in -U -w "$work/reader.pcap" >/dev/null 2>&1 &
tcpdump_pid=$!; mp_background
sleep 1

fails=0
mp_step "health check"
# The health check, as GWLB makes it (HTTP, 200 expected).
code=$(ip netns exec "$nsg" $py -c '
import urllib.request
print(urllib.request.urlopen("http://10.9.0.2:8080/", timeout=5).status)' 2>&1 || true)
echo "health check: HTTP $code"
[ "$code" = "200" ] || { echo "FAIL: health check got '$code'"; fails=$((fails + 1)); }

mp_step "GWLB emulator: generated flows, then the capture"
# GWLB's side: generated flows, each sent twice (the second time with a new cookie), then the
# shared GWLB capture.
if ! ip netns exec "$nsg" "$mp" gwlb-emulate --iface vg --local-ip 10.9.0.1 --appliance-ip 10.9.0.2 \
     --generate 40 --reuse-cookie -w "$work/returns-gen.pcap" --json "$work/emu-gen.json"; then
  echo "FAIL: the emulator found wrong or missing returns (generated)"; fails=$((fails + 1))
fi
if ! ip netns exec "$nsg" "$mp" gwlb-emulate --iface vg --local-ip 10.9.0.1 --appliance-ip 10.9.0.2 \
     -r "$gwlb_capture" -w "$work/returns-cap.pcap" --json "$work/emu-cap.json"; then
  echo "FAIL: the emulator found wrong or missing returns (capture)"; fails=$((fails + 1))
fi

mp_step "verdict hook"
# The verdict hook, live: block generated flow 0 (TCP 192.0.2.1:40000 <-> 198.51.100.7:443 on
# the emulator's first endpoint), written in the reverse direction.
flow0="tcp 198.51.100.7:443 192.0.2.1:40000 endpoint=0x0123456789abcdef"
verdicts_applied() { [ "$(grep -c ' verdict: verdicts:' "$work/engine.log")" -ge "$1" ]; }
ip netns exec "$nsa" "$mp" verdict --file-prefix "$tag" drop $flow0
mp_wait_for 5 verdicts_applied 1 || { echo "FAIL: the drop verdict was not applied"; fails=$((fails + 1)); }
if ip netns exec "$nsg" "$mp" gwlb-emulate --iface vg --local-ip 10.9.0.1 --appliance-ip 10.9.0.2 \
     --generate 5 --timeout 0.5 -w "$work/returns-blocked.pcap" --json "$work/emu-blocked.json"; then
  echo "FAIL: the blocked flow came back"; fails=$((fails + 1))
fi
ip netns exec "$nsa" "$mp" verdict --file-prefix "$tag" accept $flow0
mp_wait_for 5 verdicts_applied 2 || { echo "FAIL: the accept verdict was not applied"; fails=$((fails + 1)); }
if ! ip netns exec "$nsg" "$mp" gwlb-emulate --iface vg --local-ip 10.9.0.1 --appliance-ip 10.9.0.2 \
     --generate 5 -w "$work/returns-accepted.pcap" --json "$work/emu-accepted.json"; then
  echo "FAIL: the accepted flow did not come back"; fails=$((fails + 1))
fi

mp_step "injection from the inspection TAP"
# An inspection engine writes into the inspection TAP: a reply of generated flow 1 (UDP
# 192.0.2.2:40001 <-> 198.51.100.7:53), which must reach GWLB in the header of that flow's latest
# packet, and a packet of no known flow (dropped as no_flow).
ip netns exec "$nsg" tcpdump -i vg -Q in -U -w "$work/injected.pcap" udp port 6081 >/dev/null 2>&1 &
inject_dump=$!; mp_background
sleep 1
timeout 30 ip netns exec "$nsa" $py - "$work/injected-inner.bin" <<'PY'
import sys
from scapy.all import IP, UDP, Ether, Raw, sendp
known = IP(src="198.51.100.7", dst="192.0.2.2", ttl=64) / UDP(sport=53, dport=40001) / Raw(b"an inspected reply")
unknown = IP(src="203.0.113.1", dst="203.0.113.2") / UDP(sport=1, dport=2) / Raw(b"no such flow")
sendp([Ether(dst="02:00:00:00:00:99") / known, Ether(dst="02:00:00:00:00:99") / unknown], iface="mpinspect", verbose=False)
open(sys.argv[1], "wb").write(bytes(known))
PY
sleep 1
kill -INT "$inject_dump" 2>/dev/null || true
sleep 1
kill -INT "$tcpdump_pid" 2>/dev/null || true
mp_step "stopping the engine"
# A run whose file output failed ends with exit 1 and says so.
mp_stop_engine "$engine_pid" "$work/engine.log" "$sink_file_fails"
if [ "$sink_file_fails" = 1 ] && ! grep -q "write failed: '/dev/full'" "$work/engine.log"; then
  cat "$work/engine.log"; echo "FAIL: the engine did not say that its file output failed"; fails=$((fails + 1))
fi
sleep 0.3

mp_step "checking the captures"
timeout 120 $py - "$work" "$fails" "$sink_file_fails" <<'PY'
import json, os, struct, sys
from scapy.all import IP, UDP, Ether, IPv6, rdpcap
from scapy.utils import RawPcapReader
work, fails, sink_file_fails = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
problems = []

def geneve(udp_payload):
    """(options dict by type, inner bytes, protocol) read here, not by mirrorpipe."""
    optlen = (udp_payload[0] & 0x3f) * 4
    proto = struct.unpack("!H", udp_payload[2:4])[0]
    opts, at = {}, 8
    while at < 8 + optlen:
        cls, typ, ln = struct.unpack("!HBB", udp_payload[at:at + 4])
        opts[(cls, typ)] = udp_payload[at + 4:at + 4 + (ln & 0x1f) * 4]
        at += 4 + (ln & 0x1f) * 4
    return opts, udp_payload[8 + optlen:], proto

def tuple_of(inner, proto):
    p = IPv6(inner) if proto == 0x86DD else IP(inner)
    l4 = (p.sport, p.dport) if p.haslayer(UDP) or p.payload.name == "TCP" else ()
    return (p.src, p.dst, p.nh if proto == 0x86DD else p.proto) + l4

inner_returned = []
blocked_flow = ("192.0.2.1", "198.51.100.7", 6, 40000, 443)
for name, reuse in (("returns-gen.pcap", True), ("returns-cap.pcap", False), ("returns-blocked.pcap", False),
                    ("returns-accepted.pcap", False)):
    frames = rdpcap(os.path.join(work, name))
    emu = json.load(open(os.path.join(work, name.replace("returns", "emu").replace(".pcap", ".json"))))
    expected = emu["sent"] - (1 if name == "returns-blocked.pcap" else 0)
    if len(frames) != expected or emu["correct"] != expected:
        problems.append("%s: %d returns (%d correct by the emulator), %d expected" % (name, len(frames), emu["correct"], expected))
    first_cookie = {}
    for i, f in enumerate(frames):
        ip = f[IP]
        if (ip.src, ip.dst, ip.ttl, ip[UDP].dport) != ("10.9.0.2", "10.9.0.1", 64, 6081):
            problems.append("%s #%d: src %s dst %s ttl %d dport %d" % (name, i, ip.src, ip.dst, ip.ttl, ip[UDP].dport))
        again = IP(bytes(ip)); del again.chksum; del again[UDP].chksum
        again = IP(bytes(again))
        if again.chksum != ip.chksum or (ip[UDP].chksum and again[UDP].chksum != ip[UDP].chksum):
            problems.append("%s #%d: checksums wrong" % (name, i))
        opts, inner, proto = geneve(bytes(ip[UDP].payload))
        if set(opts) != {(0x0108, 1), (0x0108, 2), (0x0108, 3)}:
            problems.append("%s #%d: GWLB options %s" % (name, i, sorted(opts)))
            continue
        inner_returned.append(inner)
        if name == "returns-blocked.pcap" and tuple_of(inner, proto) == blocked_flow:
            problems.append("the blocked flow came back")
        key = (opts[(0x0108, 1)], tuple_of(inner, proto))
        cookie = opts[(0x0108, 3)]
        if reuse:
            # Each flow is sent twice: the second return must carry the second (new) cookie.
            if key in first_cookie and first_cookie[key] == cookie:
                problems.append("%s #%d: flow %s came back with its old cookie" % (name, i, key[1]))
            first_cookie.setdefault(key, cookie)

reader = [bytes(d)[14:] for d, _ in RawPcapReader(os.path.join(work, "reader.pcap"))]
if sorted(reader) != sorted(inner_returned):
    problems.append("the reader saw %d inner packets, %d were returned (each must be seen once)" % (len(reader), len(inner_returned)))
# One pcapng file per worker with several workers (inner-w0.pcapng, ...): together, every packet.
pcapng = []
for f in sorted(os.listdir(work)):
    if f.startswith("inner") and f.endswith(".pcapng"):
        pcapng += [bytes(d)[14:] for d, _ in RawPcapReader(os.path.join(work, f))]
st = json.load(open(os.path.join(work, "stats.json")))
if sink_file_fails:
    # /dev/full took nothing: every copy for it failed, counted there, and nothing else changed.
    out = st["outputs"]["inner-pcapng"]
    if pcapng or out["dropped"].get("write_failed", 0) != len(reader) or out["dropped_total"] != len(reader):
        problems.append("failing pcapng sink: %d packets in files, %s dropped, %d copies expected to fail"
                        % (len(pcapng), out["dropped"], len(reader)))
    pcapng = reader  # the session's copies: the TAP's, below
elif sorted(pcapng) != sorted(inner_returned):
    problems.append("inner.pcapng holds %d packets, expected %d" % (len(pcapng), len(inner_returned)))
for name, c in st["inputs"].items():
    if c["packets_in"] != c["packets_out"] + c["filtered"] + sum(c["dropped"].values()):
        problems.append("input %s does not add up: %s" % (name, c))
g = st["inputs"]["gwlb"]
# The session's counters: every packet that reached the pcapng sink was tried, matched and
# mirrored by the session "inline".
ses = st["sessions"]["inline"]
if ses["mirrored"] != len(pcapng) or ses["matched"] < len(pcapng) or ses["tried"] < ses["matched"]:
    problems.append("session inline: tried %d matched %d mirrored %d, %d packets in its pcapng sink" %
                    (ses["tried"], ses["matched"], ses["mirrored"], len(pcapng)))
if g["filtered"] != 1:
    problems.append("gwlb input: %d packets filtered by the verdict hook, expected 1" % g["filtered"])
blocked = json.load(open(os.path.join(work, "emu-blocked.json")))
if blocked["failures"] != {"not_returned": 1}:
    problems.append("while blocked, the emulator saw %s, expected only not_returned: 1" % blocked["failures"])
if g["packets_out"] < len(inner_returned):
    problems.append("gwlb input sent %d, fewer than the %d returns" % (g["packets_out"], len(inner_returned)))
ft = st["flow_table"]
if ft["cookie_changes"] < 40:
    problems.append("flow table saw %d cookie changes, expected at least 40" % ft["cookie_changes"])
# The injected packet, as GWLB receives it.
injected = [f for f in rdpcap(os.path.join(work, "injected.pcap")) if f.haslayer(IP) and f[IP].src == "10.9.0.2"]
want_inner = open(os.path.join(work, "injected-inner.bin"), "rb").read()
if len(injected) != 1:
    problems.append("%d injected packets reached GWLB, expected 1" % len(injected))
else:
    ip = injected[0][IP]
    opts, inner, proto = geneve(bytes(ip[UDP].payload))
    again = IP(bytes(ip)); del again.chksum; del again[UDP].chksum
    again = IP(bytes(again))
    checks = {
        "addresses": (ip.src, ip.dst) == ("10.9.0.2", "10.9.0.1"),
        "ports (flow 1's source port, 6081)": (ip[UDP].sport, ip[UDP].dport) == (20001, 6081),
        "checksums": again.chksum == ip.chksum and again[UDP].chksum == ip[UDP].chksum,
        "endpoint": opts.get((0x0108, 1)) == struct.pack("!Q", 0x0123456789abcdf0),
        "latest cookie": opts.get((0x0108, 3)) == struct.pack("!I", 0xc0000001),
        "inner packet": inner == want_inner and proto == 0x0800,
        "ttl": ip.ttl == 64,
    }
    for k, ok in checks.items():
        if not ok:
            problems.append("injected packet: %s wrong" % k)
inj = st["inputs"]["inspect/inject"]
if inj["packets_out"] != 1 or inj["dropped"]["no_flow"] < 1:
    problems.append("inject input: %d sent, %d no_flow" % (inj["packets_out"], inj["dropped"]["no_flow"]))
for p in problems:
    print("FAIL: " + p)
print("appliance (%d workers): %d returns checked by scapy, %d seen by the reader, flow table %s, per worker %s"
      % (len(st["workers"]), len(inner_returned), len(reader), ft, [w["packets_in"] for w in st["workers"]]))
bad = fails + len(problems)
sys.exit(1 if bad else 0)
PY
