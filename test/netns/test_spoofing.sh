#!/usr/bin/env bash
# No reflection, no amplification, through the live engine: spoofed ARP and ICMP aimed at a
# DPDK-owned port with an address, in network namespaces.
#
#   ns peer: p0 10.197.0.2 (scapy sends; tcpdump, both directions) ── veth ── ns eng: [e0]
#            mirrorpipe run (net_af_packet), tunnel-input with ip 10.197.0.1
#
# The peer sends, one kind at a time: ARP requests for other addresses; ARP requests for the
# engine's address from a broadcast or multicast sender MAC (Ethernet source or ARP sender),
# or naming a broadcast, multicast, reserved, loopback or the engine's own address as sender;
# echo requests to other addresses (unicast, the segment's broadcast, a multicast group);
# echo requests to the engine from a spoofed broadcast, multicast, unspecified, loopback or
# the engine's own source, or from a multicast MAC; the legitimate ARP request, address probe
# (sender 0.0.0.0, RFC 5227) and echo requests; and a flood of echo requests far above the
# engine's reply rate (1000 a second per worker, a burst of 10).
#
# Checked against what the peer captured (scapy is the oracle, not the engine's counters):
# every frame the engine sent is an ARP reply or an echo reply to the peer's MAC and address,
# answering a legitimate request (nothing toward a spoofed address, a group or another host);
# each legitimate request got exactly one answer, with its payload; the flood's answers stay
# within what the rate allows over the time the replies took (10 + 1000 per second); and the
# engine's counters agree: its host replies are the replies captured, host_reply_limited is the
# flood's unanswered requests, the PMD received every frame sent, and the accounting adds up.
# A second run makes the port a GWLB appliance and sends GWLB Geneve from GWLB, from another
# host and from group sources: only GWLB gets its packets back (see the second part below).
# Needs root; no skip.
set -euo pipefail
mp=$(readlink -f "$1")
src=$(readlink -f "$2")
py=/usr/bin/python3
. "$(dirname "$0")/lib.sh"
work=$mp_work
tag=mpf$$
nsp=${tag}p; nse=${tag}e
for ns in "$nsp" "$nse"; do mp_netns "$ns"; done
ip link add p0 netns "$nsp" type veth peer name e0 netns "$nse"
ip -n "$nsp" addr add 10.197.0.2/24 dev p0
ip -n "$nsp" link set p0 up
ip -n "$nse" link set e0 up
# The peer's kernel must not answer or resolve anything on its own while scapy speaks for it.
ip netns exec "$nsp" sysctl -qw net.ipv4.conf.p0.arp_ignore=8 net.ipv4.icmp_echo_ignore_all=1
mac_e0=$(ip netns exec "$nse" cat /sys/class/net/e0/address)
mac_p0=$(ip netns exec "$nsp" cat /sys/class/net/p0/address)

cat >"$work/engine.toml" <<CFG
[engine]
workers = 1
stats_interval_s = 0.5

[eal]
args = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", "--log-level", "lib.eal:error"]

[[ports]]
name = "aws"
role = "tunnel-input"
devargs = "net_af_packet0,iface=e0,framesz=2048,blocksz=4096,framecnt=4096"
ip = "10.197.0.1"

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
# Everything on p0, both directions (a large buffer: the flood must not be lost by the capture).
ip netns exec "$nsp" tcpdump -i p0 -n -s 0 -B 16384 -U -w "$work/peer.pcap" 2>"$work/tcpdump.log" &
dump_pid=$!; mp_background
mp_wait_engine "$engine_pid" "$work/engine.log" grep -q listening "$work/tcpdump.log"

# The peer: every kind of request.
ip netns exec "$nsp" timeout 60 $py - "$work" "$mac_p0" "$mac_e0" <<'PY'
import json, sys, time
from scapy.all import ARP, ICMP, IP, Ether, conf
work, mac_p0, mac_e0 = sys.argv[1], sys.argv[2], sys.argv[3]
ME, ENG, BCAST = "10.197.0.2", "10.197.0.1", "ff:ff:ff:ff:ff:ff"
sock = conf.L2socket(iface="p0")
sent = {"frames": 0}

def send(frames, pause=0.05):
    for f in frames:
        sock.send(f)
    sent["frames"] += len(frames)
    time.sleep(pause)

def arp(tpa, spa=ME, sha=mac_p0, esrc=mac_p0):
    return Ether(src=esrc, dst=BCAST) / ARP(op=1, hwsrc=sha, psrc=spa, hwdst="00:00:00:00:00:00", pdst=tpa)

def echo(dst, src=ME, esrc=mac_p0, edst=mac_e0, ident=0x0bad, seq=0):
    return Ether(src=esrc, dst=edst) / IP(src=src, dst=dst) / ICMP(type=8, id=ident, seq=seq) / (b"mirrorpipe-%04x" % seq)

# Spoofed and foreign: none of these may be answered (each kind three times, 0.2 s apart, so
# the reply budget is never what stops them).
spoofed = []
spoofed += [arp(t) for t in ("10.197.0.3", "10.197.0.254", "10.197.0.255", "192.0.2.1")]
spoofed += [arp(ENG, sha=BCAST), arp(ENG, sha="01:00:5e:00:00:01"), arp(ENG, esrc="01:00:5e:00:00:fb"),
            arp(ENG, esrc=BCAST)]
spoofed += [arp(ENG, spa=s) for s in ("255.255.255.255", "224.0.0.5", "240.0.0.1", "127.0.0.1", ENG)]
spoofed += [echo("10.197.0.3"), echo("10.197.0.255", edst=BCAST), echo("224.0.0.1", edst="01:00:5e:00:00:01"),
            echo("192.0.2.1")]
spoofed += [echo(ENG, src=s) for s in ("255.255.255.255", "224.0.0.1", "239.255.255.250", "0.0.0.0",
                                       "127.0.0.1", ENG)]
spoofed += [echo(ENG, esrc="01:00:5e:00:00:01"), echo(ENG, esrc=BCAST)]
for _ in range(3):
    send(spoofed, 0.2)

# Legitimate: one ARP request, one address probe, two echo requests (0.2 s apart).
send([arp(ENG)], 0.2)
send([arp(ENG, spa="0.0.0.0")], 0.2)
send([echo(ENG, ident=0x1001, seq=1)], 0.2)
send([echo(ENG, ident=0x1002, seq=2)], 0.3)

# The flood: 1500 echo requests back to back.
flood = [echo(ENG, ident=0x2000, seq=i) for i in range(1500)]
send(flood, 1.0)
sock.close()
json.dump({"sent": sent["frames"], "spoofed_kinds": len(spoofed), "flood": len(flood)}, open(work + "/peer.json", "w"))
PY

mp_stop_engine "$engine_pid" "$work/engine.log"
kill -INT "$dump_pid"; wait "$dump_pid" || true

$py - "$src" "$work" "$mac_p0" "$mac_e0" <<'PY'
import json, os, sys
src, work, mac_p0, mac_e0 = sys.argv[1:5]
sys.path.insert(0, os.path.join(src, "test", "oracle"))
from common import Checker, accounting_holds
from scapy.all import ARP, ICMP, IP, Ether, rdpcap
c = Checker("spoofing")
ME, ENG = "10.197.0.2", "10.197.0.1"
peer = json.load(open(work + "/peer.json"))
st = json.load(open(work + "/stats.json"))
frames = rdpcap(work + "/peer.pcap")
sent = [f for f in frames if f[Ether].src != mac_e0]
engine = [f for f in frames if f[Ether].src == mac_e0]
c.check(len(sent) == peer["sent"], "the sniffer saw %d frames sent, the peer sent %d" % (len(sent), peer["sent"]))

arp_replies, echo_replies, other = [], [], []
for f in engine:
    if ARP in f and f[ARP].op == 2:
        arp_replies.append(f)
    elif IP in f and ICMP in f and f[ICMP].type == 0:
        echo_replies.append(f)
    else:
        other.append(f)
c.check(not other, "the engine sent %d frames that are neither ARP nor echo replies: %s" % (
    len(other), [f.summary() for f in other[:5]]))
# Nothing toward a spoofed address, a group or another host: every answer goes to the peer.
for f in engine:
    c.check(f[Ether].dst == mac_p0, "a frame from the engine to %s, not the peer: %s" % (f[Ether].dst, f.summary()))
for f in arp_replies:
    a = f[ARP]
    c.check(a.hwdst == mac_p0 and a.psrc == ENG and a.hwsrc == mac_e0 and a.pdst in (ME, "0.0.0.0"),
            "ARP reply not to the legitimate asker: %s" % f.summary())
for f in echo_replies:
    c.check(f[IP].src == ENG and f[IP].dst == ME, "echo reply from %s to %s" % (f[IP].src, f[IP].dst))

# Each legitimate request: exactly one answer.
c.check(sorted(f[ARP].pdst for f in arp_replies) == ["0.0.0.0", ME],
        "ARP replies to %s, expected one to the request and one to the probe" % [f[ARP].pdst for f in arp_replies])
for ident, seq in ((0x1001, 1), (0x1002, 2)):
    got = [f for f in echo_replies if f[ICMP].id == ident]
    c.check(len(got) == 1, "%d replies to the legitimate echo request id 0x%x" % (len(got), ident))
    if got:
        c.check(bytes(got[0][ICMP].payload) == b"mirrorpipe-%04x" % seq, "echo reply payload differs from the request's")
c.check(not [f for f in echo_replies if f[ICMP].id == 0x0bad], "a spoofed or foreign echo request was answered")

# The flood: capped by the rate over the time the answers took.
flood_req = [f for f in sent if ICMP in f and f[ICMP].id == 0x2000]
flood_rep = [f for f in echo_replies if f[ICMP].id == 0x2000]
c.check(len(flood_req) == peer["flood"], "the flood sent %d of %d" % (len(flood_req), peer["flood"]))
if flood_rep:
    window = float(flood_rep[-1].time - flood_req[0].time)
    cap = 10 + 1000 * (window + 0.01) + 1  # 10 ms for the capture clock against the engine's
    print("flood: %d requests in %.3f s, %d answered within %.3f s (cap %.0f)" % (
        len(flood_req), float(flood_req[-1].time - flood_req[0].time), len(flood_rep), window, cap))
    c.check(len(flood_rep) <= cap, "%d flood answers in %.3f s: over the rate (at most %.0f)" % (len(flood_rep), window, cap))
c.check(0 < len(flood_rep) < len(flood_req), "flood answers %d of %d: expected some, and far from all" % (
    len(flood_rep), len(flood_req)))

# The counters agree with the capture.
host = st["inputs"]["aws"]["host"]
limited = st["dropped"].get("host_reply_limited", 0)
c.check(host["replies"] == len(arp_replies) + len(echo_replies),
        "engine counted %d host replies, the peer received %d" % (host["replies"], len(arp_replies) + len(echo_replies)))
c.check(limited == len(flood_req) - len(flood_rep),
        "host_reply_limited %d != flood requests %d - answered %d" % (limited, len(flood_req), len(flood_rep)))
c.check(st["ports"]["aws"]["ipackets"] == len(sent), "PMD received %d frames, the peer sent %d" % (
    st["ports"]["aws"]["ipackets"], len(sent)))
c.check(st["packets_in"] == len(sent), "engine packets_in %d, the peer sent %d" % (st["packets_in"], len(sent)))
c.check(accounting_holds(st), "received != sent + filtered + dropped: %s" % {k: st[k] for k in ("packets_in", "packets_out", "filtered")})
print("spoofing: %d frames sent (%d spoofed kinds x3), engine sent %d (%d ARP, %d echo replies), dropped %s" % (
    len(sent), peer["spoofed_kinds"], len(engine), len(arp_replies), len(echo_replies),
    {k: v for k, v in st["dropped"].items() if v}))
c.done()
PY

# Second run: the same port as a GWLB appliance whose allow_sources name GWLB (10.197.0.9) and,
# on purpose, group and loopback prefixes too. GWLB Geneve (scapy's GENEVE, the three
# class-0x0108 options) from GWLB is returned to it; from another host (10.197.0.2) it is not
# returned (source_not_allowed); from a broadcast, multicast or loopback source, or a multicast
# MAC, it is never returned even though the allow-list admits it (gwlb_source_bad).
cat >"$work/appliance.toml" <<CFG
[engine]
workers = 1
stats_interval_s = 0.5

[eal]
args = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", "--log-level", "lib.eal:error"]

[[ports]]
name = "gwlb"
role = "appliance"
devargs = "net_af_packet0,iface=e0,framesz=2048,blocksz=4096,framecnt=512"
ip = "10.197.0.1"
allow_sources = ["10.197.0.9/32", "224.0.0.0/4", "255.255.255.255/32", "127.0.0.0/8"]
CFG
ip netns exec "$nsp" tcpdump -i p0 -n -s 0 -U -w "$work/appliance.pcap" 2>"$work/tcpdump2.log" &
dump_pid=$!; mp_background
ip netns exec "$nse" "$mp" run -c "$work/appliance.toml" --stats-json "$work/appliance.json" >"$work/appliance.log" 2>&1 &
engine_pid=$!; mp_background
mp_wait_engine "$engine_pid" "$work/appliance.log" grep -q listening "$work/tcpdump2.log"
ip netns exec "$nsp" timeout 60 $py - "$work" "$mac_p0" "$mac_e0" <<'PY'
import json, sys, time
from scapy.all import IP, TCP, UDP, Ether, conf
from scapy.contrib.geneve import GENEVE, GeneveOptions
work, mac_p0, mac_e0 = sys.argv[1], sys.argv[2], sys.argv[3]
sock = conf.L2socket(iface="p0")
kinds = [("10.197.0.9", mac_p0, "gwlb"), ("10.197.0.2", mac_p0, "other"), ("255.255.255.255", mac_p0, "group"),
         ("224.0.0.1", mac_p0, "group"), ("239.255.255.250", mac_p0, "group"), ("127.0.0.1", mac_p0, "group"),
         ("10.197.0.9", "01:00:5e:00:00:01", "group")]
sent = {"gwlb": 0, "other": 0, "group": 0}
for rnd in range(3):
    for i, (src, esrc, kind) in enumerate(kinds):
        opts = [GeneveOptions(classid=0x0108, type=1, data=(0x0123456789abcdef).to_bytes(8, "big")),
                GeneveOptions(classid=0x0108, type=2, data=(0x42).to_bytes(8, "big")),
                GeneveOptions(classid=0x0108, type=3, data=(1000 + i).to_bytes(4, "big"))]
        f = (Ether(src=esrc, dst=mac_e0) / IP(src=src, dst="10.197.0.1") / UDP(sport=40000 + i, dport=6081) /
             GENEVE(vni=0, proto=0x0800, options=opts) /
             IP(src="192.0.2.1", dst="198.51.100.7") / TCP(sport=40000 + rnd, dport=443, flags="S"))
        sock.send(f)
        sent[kind] += 1
        time.sleep(0.02)
time.sleep(1.0)
sock.close()
json.dump(sent, open(work + "/appliance-sent.json", "w"))
PY
mp_stop_engine "$engine_pid" "$work/appliance.log"
kill -INT "$dump_pid"; wait "$dump_pid" || true

$py - "$src" "$work" "$mac_p0" "$mac_e0" <<'PY'
import json, os, sys
src, work, mac_p0, mac_e0 = sys.argv[1:5]
sys.path.insert(0, os.path.join(src, "test", "oracle"))
from common import Checker, accounting_holds
from scapy.all import IP, UDP, Ether, rdpcap
from scapy.contrib.geneve import GENEVE
c = Checker("spoofing (appliance)")
sent = json.load(open(work + "/appliance-sent.json"))
st = json.load(open(work + "/appliance.json"))
frames = rdpcap(work + "/appliance.pcap")
engine = [f for f in frames if f[Ether].src == mac_e0]
for f in engine:
    ok = IP in f and f[IP].src == "10.197.0.1" and f[IP].dst == "10.197.0.9" and f[Ether].dst == mac_p0 and \
        UDP in f and f[UDP].dport == 6081 and GENEVE in f
    c.check(ok, "the appliance sent something other than a return to GWLB: %s" % f.summary())
c.check(len(engine) == sent["gwlb"], "%d returns, GWLB sent %d" % (len(engine), sent["gwlb"]))
gi = st["inputs"]["gwlb"]
c.check(gi["filtered_by"].get("source_not_allowed", 0) == sent["other"],
        "source_not_allowed %s, %d sent from another host" % (gi["filtered_by"].get("source_not_allowed"), sent["other"]))
c.check(st["dropped"].get("gwlb_source_bad", 0) == sent["group"],
        "gwlb_source_bad %s, %d sent from group sources" % (st["dropped"].get("gwlb_source_bad"), sent["group"]))
c.check(st["packets_in"] == sum(sent.values()), "packets_in %d, sent %d" % (st["packets_in"], sum(sent.values())))
c.check(accounting_holds(st), "received != sent + filtered + dropped")
print("appliance: %d sent (%s), %d returned; filtered %s, dropped %s" % (
    sum(sent.values()), sent, len(engine), {k: v for k, v in gi["filtered_by"].items() if v},
    {k: v for k, v in st["dropped"].items() if v}))
c.done()
PY
