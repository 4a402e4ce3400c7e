#!/usr/bin/python3
"""The receiving side in file mode, checked by scapy and tshark (never by mirrorpipe's output):

- appliance: every GWLB packet (the shared GWLB capture, and generated traffic with two
  endpoints, a 5-tuple reused with a new cookie, GRE, IPv6, non-GWLB packets) comes back with
  the same Geneve bytes, IPv4 addresses swapped, UDP ports kept, TTL 64, right checksums, the
  MACs turned round; the inner packet is copied to a pcapng sink whose comments tshark reads;
- receive: the AWS Traffic Mirroring capture and generated VXLAN sorted into sessions by VNI and
  outer source, allow-lists, two sinks per session (pcap and pcapng), truncated inner frames
  flagged with their original length, pcapng rotation by size;
- accounting: received = sent + filtered + dropped per input, per reason, per output.

usage: test_receive.py MIRRORPIPE SOURCE_DIR
"""
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checker, accounting_holds, ones_sum, read_records, run_config, scratch_dir  # noqa: E402

from scapy.all import GRE, ICMP, IP, TCP, UDP, Ether, IPv6, Raw, wrpcap  # noqa: E402
from scapy.layers.vxlan import VXLAN  # noqa: E402

MP, SRC = sys.argv[1], sys.argv[2]
SHARED = os.path.join(SRC, "pcaps", "third-party")
GWLB_CAPTURE = os.path.join(SHARED, "suricata-bug-6402-geneve-aws-gwlb-opts.pcap")
AWS_TM_CAPTURE = os.path.join(SHARED, "suricata-vxlan-aws-traffic-mirror-ssh.pcap")
FILE_MAC = bytes.fromhex("020000000001")  # an appliance reading a file has this MAC
EAL = '[eal]\nargs = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", "--log-level", "lib.eal:error"]\n'

c = Checker("receive")
tmp = scratch_dir("mp-receive-")


def gwlb_options(endpoint, attachment, cookie):
    def opt(t, data):
        return struct.pack("!HBB", 0x0108, t, len(data) // 4) + data
    return (opt(1, struct.pack("!Q", endpoint)) + opt(2, struct.pack("!Q", attachment)) +
            opt(3, struct.pack("!I", cookie)))


def gwlb_packet(inner, endpoint, attachment, cookie, sport, gwlb_ip="10.9.0.1", appliance_ip="10.9.0.2"):
    """GWLB Geneve as AWS documents it: VNI 0, inner L3, three class-0x0108 options."""
    opts = gwlb_options(endpoint, attachment, cookie)
    proto = 0x86DD if inner.version == 6 else 0x0800
    geneve = struct.pack("!BBHI", len(opts) // 4, 0, proto, 0) + opts
    return (Ether(src="02:aa:00:00:00:01", dst="02:bb:00:00:00:02") /
            IP(src=gwlb_ip, dst=appliance_ip, ttl=255, id=0) /
            UDP(sport=sport, dport=6081) / Raw(geneve + bytes(inner)))


def run(config_text, name):
    return run_config(c, MP, tmp, EAL + config_text, name)


def run_appliance(capture, returns, inner, name, appliance_table="", target=""):
    """The appliance reading `capture`: returns to a pcap, inner packets to `inner` (a pcapng),
    or, with `target` (a [[targets]] table named "ids" whose output is "inner"), through it."""
    return run(appliance_table + """
[[ports]]
name = "gwlb"
role = "appliance"
file = "%s"
returns = "ret"
[[ports]]
name = "ret"
role = "output"
file = "%s"
[[ports]]
name = "inner"
role = "output"
file = "%s"
%s[[sessions]]
name = "inspect"
input = "gwlb"
sinks = ["%s"]
""" % (capture, returns, inner, target, "ids" if target else "inner"), name)


def tshark_fields(path, *fields):
    args = ["tshark", "-r", path, "-T", "fields", "-E", "separator=|"]
    for f in fields:
        args += ["-e", f]
    p = subprocess.run(args, capture_output=True, text=True, timeout=60)
    return [line.split("|") for line in p.stdout.splitlines()]


def ip_checksum_ok(ip_bytes):
    return ones_sum(ip_bytes) == 0xffff


def expected_return(frame):
    """What GWLB accepts back, computed here with scapy from the received frame."""
    e = Ether(frame)
    ip = e[IP]
    out = Ether(src=FILE_MAC, dst=e.src, type=e.type) / IP(bytes(ip))
    out[IP].src, out[IP].dst = ip.dst, ip.src
    out[IP].ttl = 64
    del out[IP].chksum
    return bytes(out)


def check_returns(label, sent, returned):
    c.check(len(returned) == len(sent), "%s: %d returned of %d" % (label, len(returned), len(sent)))
    for i, (s, r) in enumerate(zip(sent, returned)):
        exp = expected_return(s)
        c.check(r == exp, "%s #%d: returned bytes differ from scapy's expectation" % (label, i))
        ri, si = Ether(r)[IP], Ether(s)[IP]
        c.check(ri.src == si.dst and ri.dst == si.src, "%s #%d: addresses not swapped" % (label, i))
        c.check(ri[UDP].sport == si[UDP].sport and ri[UDP].dport == 6081, "%s #%d: UDP ports changed" % (label, i))
        c.check(ip_checksum_ok(bytes(ri)[:ri.ihl * 4]), "%s #%d: IPv4 checksum wrong" % (label, i))
        if si[UDP].chksum:
            again = IP(bytes(ri))
            del again[UDP].chksum
            c.check(IP(bytes(again))[UDP].chksum == ri[UDP].chksum, "%s #%d: UDP checksum wrong" % (label, i))
        c.check(bytes(ri[UDP].payload) == bytes(si[UDP].payload), "%s #%d: Geneve bytes or inner changed" % (label, i))


# 1. The shared GWLB capture through the appliance; inner packets to pcapng.
ret1, inner1 = os.path.join(tmp, "ret1.pcap"), os.path.join(tmp, "inner1.pcapng")
stats = run_appliance(GWLB_CAPTURE, ret1, inner1, "appliance-capture")
sent = [r[0] for r in read_records(GWLB_CAPTURE)]
if stats:
    c.check(accounting_holds(stats), "appliance-capture: accounting")
    c.check(stats["packets_in"] == 12 and stats["packets_out"] == 12, "appliance-capture: 12 in, 12 out")
check_returns("capture", sent, [r[0] for r in read_records(ret1)])
rows = tshark_fields(inner1, "frame.comment", "ip.src", "ip.dst")
c.check(len(rows) == 12, "capture: %d inner packets in pcapng, expected 12" % len(rows))
for i, (s, row) in enumerate(zip(sent, rows)):
    payload = bytes(Ether(s)[UDP].payload)
    optlen = (payload[0] & 0x3f) * 4
    inner = IP(payload[8 + optlen:])
    cookie = struct.unpack("!I", payload[8 + 24 + 4:8 + 24 + 8])[0]
    endpoint = struct.unpack("!Q", payload[8 + 4:8 + 12])[0]
    c.check("gwlb_cookie=0x%08x" % cookie in row[0], "capture #%d: cookie missing from comment %r" % (i, row[0]))
    c.check("gwlb_endpoint=0x%016x" % endpoint in row[0], "capture #%d: endpoint missing" % i)
    c.check("outer_src=%s:%d" % (Ether(s)[IP].src, Ether(s)[UDP].sport) in row[0], "capture #%d: outer source" % i)
    c.check(row[1].split(",")[0] == inner.src and row[2].split(",")[0] == inner.dst, "capture #%d: inner addresses %r" % (i, row[1:]))
inner_records = read_records(inner1)
for i, (s, rec) in enumerate(zip(sent, inner_records)):
    payload = bytes(Ether(s)[UDP].payload)
    l3 = payload[8 + (payload[0] & 0x3f) * 4:]
    c.check(rec[0][14:] == l3 and rec[0][12:14] == b"\x08\x00", "capture #%d: inner frame bytes" % i)

# 1b. The same capture with a VXLAN target as the session's sink, its PacketLength between the
#     inner frames' sizes: each copy carries its inner frame (an Ethernet header in front of
#     the inner IP packet, scapy's reading) cut to PacketLength, the return goes whole, and each
#     packet whose copy was cut is counted once under truncated.packet_length.
inner_frames = []
for s_ in sent:
    payload = bytes(Ether(s_)[UDP].payload)
    l3 = payload[8 + (payload[0] & 0x3f) * 4:]
    inner_frames.append(14 + min(len(l3), IP(l3).len))
CUT = sorted(inner_frames)[len(inner_frames) // 2]
want_cut = sum(1 for n in inner_frames if n > CUT)
c.check(0 < want_cut < len(inner_frames), "capture-cut: PacketLength %d cuts some inner frames, not all (%s)" % (
    CUT, inner_frames))
ret1b, cut1b = os.path.join(tmp, "ret1b.pcap"), os.path.join(tmp, "cut1b.pcap")
stats = run_appliance(GWLB_CAPTURE, ret1b, cut1b, "appliance-capture-cut", target="""[[targets]]
name = "ids"
output = "inner"
tunnel = "vxlan"
src_ip = "10.0.0.1"
dst_ip = "10.0.0.2"
dst_mac = "02:00:00:00:00:02"
vni = 7
packet_length = %d
""" % CUT)
check_returns("capture-cut", sent, [r[0] for r in read_records(ret1b)])
copies = [Ether(r[0]) for r in read_records(cut1b)] if os.path.exists(cut1b) else []
c.check([len(bytes(p[VXLAN].payload)) if VXLAN in p else -1 for p in copies] == [min(n, CUT) for n in inner_frames],
        "capture-cut: the copies' inner lengths %s, expected %s" % (
            [len(bytes(p[VXLAN].payload)) if VXLAN in p else -1 for p in copies], [min(n, CUT) for n in inner_frames]))
if stats:
    c.check(accounting_holds(stats), "capture-cut: accounting")
    got = stats["inputs"]["gwlb"]["truncated"]["packet_length"]
    c.check(got == want_cut, "capture-cut: truncated.packet_length %s, expected %d (once a packet whose copy was cut)" % (
        got, want_cut))

# 2. Generated GWLB traffic: two endpoints, a reused 5-tuple with a new cookie, GRE, IPv6,
#    ICMP, plus packets that are not GWLB (dropped as not_gwlb, counted).
gen = []
tcp = IP(src="192.0.2.10", dst="198.51.100.20") / TCP(sport=40000, dport=443, flags="S")
gen.append(gwlb_packet(tcp, 0x1111, 0xa1, 0xc0ffee01, 51000))
gen.append(gwlb_packet(IP(src="198.51.100.20", dst="192.0.2.10") / TCP(sport=443, dport=40000, flags="SA"),
                       0x1111, 0xa1, 0xc0ffee01, 51000))
gen.append(gwlb_packet(tcp, 0x1111, 0xa1, 0xc0ffee02, 51001))   # same 5-tuple, new cookie
gen.append(gwlb_packet(tcp, 0x2222, 0xa2, 0xc0ffee03, 52000))   # same 5-tuple, other endpoint
gen.append(gwlb_packet(IP(src="192.0.2.30", dst="198.51.100.40") / GRE() / IP(src="10.1.1.1", dst="10.1.1.2") / ICMP(),
                       0x1111, 0xa1, 0xc0ffee04, 53000))
gen.append(gwlb_packet(IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=5353, dport=53) / Raw(b"q" * 20),
                       0x1111, 0xa1, 0xc0ffee05, 54000))
good = len(gen)
not_gwlb = [
    Ether() / IP(src="10.9.0.1", dst="10.9.0.2") / UDP(sport=1234, dport=4789) / VXLAN(vni=7) / Ether() / IP() / ICMP(),
    Ether() / IP(src="10.9.0.1", dst="10.9.0.2") / UDP(sport=1234, dport=6081) /
    Raw(struct.pack("!BBHI", 0, 0, 0x6558, 0) + bytes(Ether() / IP() / ICMP())),  # Geneve, no GWLB options
]
# Geneve that carries class-0x0108 options but is not what GWLB sends (VNI 0, IP payload, all
# three options): never returned.
_opts = gwlb_options(0x1111, 0xa1, 0xc0ffee09)
_l3 = bytes(IP(src="192.0.2.50", dst="198.51.100.60") / ICMP())
_outer = Ether() / IP(src="10.9.0.1", dst="10.9.0.2") / UDP(sport=1234, dport=6081)
not_gwlb += [
    _outer / Raw(struct.pack("!BBHI", len(_opts) // 4, 0, 0x0800, 0x5a5a5a << 8) + _opts + _l3),  # VNI 0x5a5a5a
    _outer / Raw(struct.pack("!BBHI", 6, 0, 0x0800, 0) + _opts[:24] + _l3),                       # no cookie
    _outer / Raw(struct.pack("!BBHI", len(_opts) // 4, 0, 0x6558, 0) + _opts + bytes(Ether() / IP() / ICMP())),  # Ethernet
]
gen_path = os.path.join(tmp, "gwlb-gen.pcap")
wrpcap(gen_path, gen + not_gwlb)
ret2, inner2 = os.path.join(tmp, "ret2.pcap"), os.path.join(tmp, "inner2.pcapng")
stats = run_appliance(gen_path, ret2, inner2, "appliance-generated")
check_returns("generated", [bytes(p) for p in gen], [r[0] for r in read_records(ret2)])
if stats:
    c.check(accounting_holds(stats), "appliance-generated: accounting")
    c.check(stats["dropped"]["not_gwlb"] == len(not_gwlb), "generated: not_gwlb = %d" % stats["dropped"]["not_gwlb"])
    ft = stats["flow_table"]
    # Flows: TCP (both directions, one key) on endpoint 1111 then 2222, GRE, IPv6 UDP.
    c.check(ft["inserted"] == 4, "flow table: %d flows inserted, expected 4" % ft["inserted"])
    c.check(ft["refreshed"] == 2, "flow table: %d refreshes, expected 2" % ft["refreshed"])
    c.check(ft["cookie_changes"] == 1, "flow table: %d cookie changes, expected 1" % ft["cookie_changes"])
rows = tshark_fields(inner2, "frame.comment")
c.check(len(rows) == good, "generated: %d inner packets, expected %d" % (len(rows), good))
expected_cookies = [0xc0ffee01, 0xc0ffee01, 0xc0ffee02, 0xc0ffee03, 0xc0ffee04, 0xc0ffee05]
for i, (row, cookie) in enumerate(zip(rows, expected_cookies)):
    c.check("gwlb_cookie=0x%08x" % cookie in row[0], "generated #%d: comment %r lacks cookie %08x" % (i, row[0], cookie))

# 2b. The verdict hook from the file: the TCP flow blocked on endpoint 0x1111 only (written in
#     the other direction), the GRE flow on every endpoint; their packets end as filtered.
ret3, inner3 = os.path.join(tmp, "ret3.pcap"), os.path.join(tmp, "inner3.pcapng")
stats = run_appliance(gen_path, ret3, inner3, "appliance-verdicts", """
[appliance]
drop_flows = ["tcp 198.51.100.20:443 192.0.2.10:40000 endpoint=0x1111", "gre 198.51.100.40 192.0.2.30"]
""")


def blocked(p):
    payload = bytes(p[UDP].payload)
    if len(payload) < 8 or payload[8:10] != b"\x01\x08":
        return False
    endpoint = struct.unpack("!Q", payload[12:20])[0]
    inner = payload[8 + (payload[0] & 0x3f) * 4:]
    if inner[0] >> 4 != 4:
        return False
    ip = IP(inner)
    ends = {(ip.src, ip.dst), (ip.dst, ip.src)}
    if ip.proto == 6 and ("192.0.2.10", "198.51.100.20") in ends and {ip[TCP].sport, ip[TCP].dport} == {40000, 443}:
        return endpoint == 0x1111
    return ip.proto == 47 and ("192.0.2.30", "198.51.100.40") in ends


kept = [p for p in gen if not blocked(p)]
c.check(len(kept) == len(gen) - 4, "verdicts: the scapy side blocks %d packets, expected 4" % (len(gen) - len(kept)))
check_returns("verdicts", [bytes(p) for p in kept], [r[0] for r in read_records(ret3)])
if stats:
    c.check(accounting_holds(stats), "verdicts: accounting")
    c.check(stats["filtered"] == len(gen) - len(kept), "verdicts: filtered %d" % stats["filtered"])
    c.check(stats["filtered_by"]["verdict_blocked"] == len(gen) - len(kept),
            "verdicts: filtered as verdict_blocked %d" % stats["filtered_by"]["verdict_blocked"])
c.check(len(read_records(inner3)) == len(kept), "verdicts: blocked packets are not copied to the sinks")

# 3. Receiving Traffic Mirroring VXLAN: sessions by VNI and source, allow-lists, two sinks, a
#    truncated inner frame flagged, rotation by size.
aws = read_records(AWS_TM_CAPTURE)
aws_vni = VXLAN(bytes(Ether(aws[0][0])[UDP].payload)).vni
vx = []
for i in range(30):
    vni = [100, 200, 300][i % 3]
    src = ["10.0.0.5", "10.0.0.6", "172.16.0.9"][(i // 3) % 3]
    inner = Ether(src="02:00:00:00:10:01", dst="02:00:00:00:10:02") / IP(src="192.0.2.1", dst="192.0.2.2") / \
        UDP(sport=1000 + i, dport=2000) / Raw(bytes([i]) * (40 + i))
    vx.append(Ether() / IP(src=src, dst="10.0.0.100") / UDP(sport=40000 + i, dport=4789) / VXLAN(vni=vni) / inner)
# AWS PacketLength: an inner frame cut to 60 bytes whose IP header says 1000.
cut = bytes(Ether() / IP(src="192.0.2.1", dst="192.0.2.2", len=1000) / UDP(sport=1, dport=2) / Raw(b"x" * 20))[:60]
vx.append(Ether() / IP(src="10.0.0.5", dst="10.0.0.100") / UDP(sport=40100, dport=4789) / VXLAN(vni=100) / Raw(cut))
vx_path = os.path.join(tmp, "vxlan-gen.pcap")
wrpcap(vx_path, vx)
out = {k: os.path.join(tmp, k) for k in ["web.pcap", "web.pcapng", "db.pcapng", "aws.pcap", "rot.pcapng", "broker.pcap"]}
stats = run("""
[[ports]]
name = "mirror"
role = "tunnel-input"
file = "%s"
allow_sources = ["10.0.0.0/24"]
allow_vnis = [100, 200]
[[ports]]
name = "aws"
role = "tunnel-input"
file = "%s"
[[ports]]
name = "web-pcap"
role = "output"
file = "%s"
[[ports]]
name = "web-pcapng"
role = "output"
file = "%s"
[[ports]]
name = "db"
role = "output"
file = "%s"
[[ports]]
name = "aws-out"
role = "output"
file = "%s"
[[ports]]
name = "rotated"
role = "output"
file = "%s"
rotate_mb = 0.002
[[ports]]
name = "broker-out"
role = "output"
file = "%s"
[[targets]]
name = "broker"
output = "broker-out"
tunnel = "vxlan"
src_ip = "192.168.0.1"
dst_ip = "192.168.0.2"
dst_mac = "02:00:00:00:00:b2"
vni = 4242
[[sessions]]
name = "web"
input = "mirror"
vnis = [100]
sinks = ["web-pcap", "web-pcapng", "broker"]
[[sessions]]
name = "db"
input = "mirror"
vnis = [200]
sources = ["10.0.0.6"]
sinks = ["db"]
[[sessions]]
name = "aws"
input = "aws"
vnis = [%d]
sinks = ["aws-out", "rotated"]
""" % (vx_path, AWS_TM_CAPTURE, out["web.pcap"], out["web.pcapng"], out["db.pcapng"], out["aws.pcap"],
       out["rot.pcapng"], out["broker.pcap"], aws_vni), "receive")


def inner_of(p):
    return bytes(p[VXLAN].payload)


allowed = [p for p in vx if p[IP].src.startswith("10.0.0.") and p[VXLAN].vni in (100, 200)]
web = [p for p in allowed if p[VXLAN].vni == 100]
db = [p for p in allowed if p[VXLAN].vni == 200 and p[IP].src == "10.0.0.6"]
if stats:
    mi = stats["inputs"]["mirror"]
    c.check(accounting_holds(mi), "receive: accounting on the mirror input")
    c.check(accounting_holds(stats["inputs"]["aws"]), "receive: accounting on the aws input")
    c.check(mi["filtered_by"]["source_not_allowed"] == sum(1 for p in vx if not p[IP].src.startswith("10.0.0.")),
            "source_not_allowed = %d" % mi["filtered_by"]["source_not_allowed"])
    c.check(mi["filtered_by"]["vni_not_allowed"] == sum(1 for p in vx if p[IP].src.startswith("10.0.0.") and p[VXLAN].vni == 300),
            "vni_not_allowed = %d" % mi["filtered_by"]["vni_not_allowed"])
    c.check(mi["filtered_by"]["no_session"] == len(allowed) - len(web) - len(db), "no_session = %d" % mi["filtered_by"]["no_session"])
    c.check(mi["packets_out"] == len(web) + len(db), "mirror: sent %d, expected %d" % (mi["packets_out"], len(web) + len(db)))
    c.check(mi["truncated"]["packet_length"] == 1, "mirror: one truncated inner frame flagged")
    c.check(stats["outputs"]["web-pcap"]["packets"] == len(web) and stats["outputs"]["web-pcapng"]["packets"] == len(web),
            "web: each sink gets every packet of the session")
    c.check(stats["inputs"]["aws"]["packets_out"] == len(aws), "aws: every packet sent")
c.check([r[0] for r in read_records(out["web.pcap"])] == [inner_of(p) for p in web], "web.pcap: inner frames")
c.check([r[0] for r in read_records(out["web.pcapng"])] == [inner_of(p) for p in web], "web.pcapng: inner frames")
c.check([r[0] for r in read_records(out["db.pcapng"])] == [inner_of(p) for p in db], "db.pcapng: inner frames")
# Re-mirroring (a packet broker): the web session's frames, wrapped again as VXLAN 4242 to
# 192.168.0.2, read back by scapy (the cut frame keeps its cut: the new tunnel carries what came).
broker = [Ether(r[0]) for r in read_records(out["broker.pcap"])]
c.check(len(broker) == len(web), "broker: %d re-mirrored frames, expected %d" % (len(broker), len(web)))
for b, p in zip(broker, web):
    ok = (b.haslayer(VXLAN) and b[VXLAN].vni == 4242 and b[IP].src == "192.168.0.1" and b[IP].dst == "192.168.0.2"
          and b[UDP].dport == 4789 and bytes(b[VXLAN].payload) == inner_of(p))
    c.check(ok, "broker: frame %r not the inner frame in VXLAN 4242" % b.summary())
rows = tshark_fields(out["web.pcapng"], "frame.comment", "frame.len", "frame.cap_len")
for p, row in zip(web, rows):
    c.check("session=web" in row[0] and "vni=100" in row[0] and "outer_src=%s:%d" % (p[IP].src, p[UDP].sport) in row[0]
            and "outer_dst=10.0.0.100:4789" in row[0], "web.pcapng comment %r" % row[0])
c.check(rows and "truncated original_length=1014" in rows[-1][0] and rows[-1][1] == "1014" and rows[-1][2] == "60",
        "the cut frame: comment and lengths %r" % (rows[-1] if rows else None))
rows = tshark_fields(out["db.pcapng"], "frame.comment")
c.check(all("session=db" in r[0] and "vni=200" in r[0] for r in rows) and len(rows) == len(db), "db.pcapng comments")
# AWS capture: every inner frame, in order, in aws.pcap and across the rotated files.
aws_inner = [bytes(VXLAN(bytes(Ether(r[0])[UDP].payload)).payload) for r in aws]
c.check([r[0] for r in read_records(out["aws.pcap"])] == aws_inner, "aws.pcap: inner frames")
rotated = sorted(f for f in os.listdir(tmp) if f.startswith("rot-") and f.endswith(".pcapng"))
c.check(len(rotated) >= 3, "rotation: %d files" % len(rotated))
joined = []
for f in rotated:
    joined += [r[0] for r in read_records(os.path.join(tmp, f))]
    c.check(os.path.getsize(os.path.join(tmp, f)) < 2000 + 1600, "rotation: %s too large" % f)
c.check(joined == aws_inner, "rotation: the files together hold every frame in order")
rows = tshark_fields(os.path.join(tmp, rotated[0]), "frame.comment") if rotated else []
c.check(rows and ("vni=%d" % aws_vni) in rows[0][0], "aws: VNI %d in the comment" % aws_vni)
# The second input's session is named in its own sink's comments (not the first input's).
for f in rotated:
    for r in tshark_fields(os.path.join(tmp, f), "frame.comment"):
        c.check(r[0].startswith("mirrorpipe session=aws "), "%s: comment names another session: %r" % (f, r[0][:60]))

c.done()
