#!/usr/bin/python3
"""`mirrorpipe gwlb-emulate` against a fake appliance that is wrong on purpose.

    test_emulate_faults.py MIRRORPIPE PROJECT_DIR

Two network namespaces joined by a veth pair (MTU 1500): the emulator in one, in the other
fake_appliance.py (scapy, written apart from mirrorpipe), told before each run how to return
packets. Checked from the emulator's --json report, its -w capture, its exit code and messages,
and from what the fake appliance received:
  - each fault is found, counted under its own rule, exactly, on exactly the packets it hit,
    with the other packets correct: stale cookie after --reuse-cookie, one inner byte changed,
    IPv4 options, every return twice, bad UDP checksum; the text report lists the packets;
  - -w holds every frame that came back (duplicates included) with real receive timestamps;
  - a correct appliance gets no failure from -r of a plain capture with many packets per flow,
    and the cookie and source port are one per flow, both directions, those of
    `mirrorpipe encap --tunnel gwlb`; a flow-caching appliance is right until the cookie changes;
  - VLAN/QinQ-tagged frames are sent (tags, padding and trailers stripped); non-IP frames are
    skipped by reason; an over-MTU frame is counted as not sent and the run goes on;
  - unusable output paths: exit 2 before anything is sent; a failing write (/dev/full): exit 1,
    "write failed", the report still printed.
Needs root; no skip. Namespaces, the fake appliance and the work directory are removed on exit.
"""
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

from scapy.all import ARP, IP, TCP, UDP, Dot1AD, Dot1Q, Ether, ICMP, IPv6, Raw, wrpcap
from scapy.utils import RawPcapReader

MP = os.path.abspath(sys.argv[1])
SRC = os.path.abspath(sys.argv[2])
HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"  # Debian's interpreter owns python3-scapy
WIKI = os.path.join(SRC, "pcaps/third-party/zeek-plain-wikipedia.pcap")
MIXED = os.path.join(SRC, "pcaps/third-party/zeek-plain-mixed-vlan-mpls.pcap")
TAG = "mpemu-%d" % os.getpid()
NS_G, NS_A = TAG + "-g", TAG + "-a"
IF_G, IF_A = "mpemu-g", "mpemu-a"
LOCAL, APPLIANCE = "10.77.0.1", "10.77.0.2"
MTU = 1500

work = tempfile.mkdtemp(prefix="mpemu-")
fake = None
appliance_mac = None
problems = []


def sh(*cmd, check=True):
    return subprocess.run(cmd, check=check, capture_output=True, text=True, timeout=30)


def cleanup():
    global fake
    if fake is not None:
        try:
            json.dump({"stop": True}, open(os.path.join(work, "control.json"), "w"))
            fake.wait(timeout=3)
        except Exception:
            fake.kill()
            fake.wait(timeout=5)
        fake = None
    for ns in (NS_G, NS_A):
        sh("ip", "netns", "del", ns, check=False)
    if os.environ.get("KEEP"):
        print("kept " + work)
    else:
        shutil.rmtree(work, ignore_errors=True)


def on_signal(signum, _frame):
    raise SystemExit("stopped by signal %d" % signum)


def leftovers():
    """Namespaces of earlier runs of this test whose process is gone (a run killed hard)."""
    for line in sh("ip", "netns", "list", check=False).stdout.splitlines():
        m = re.match(r"(mpemu-(\d+)-[ga])\b", line)
        if m and not os.path.exists("/proc/" + m.group(2)):
            sh("ip", "netns", "del", m.group(1), check=False)


def check(cond, what):
    if not cond:
        problems.append(what)
        print("FAIL: " + what)
    return cond


def setup():
    for ns in (NS_G, NS_A):
        sh("ip", "netns", "add", ns)
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1",
           "net.ipv6.conf.default.disable_ipv6=1")
    sh("ip", "link", "add", IF_G, "netns", NS_G, "mtu", str(MTU), "type", "veth", "peer", "name", IF_A,
       "netns", NS_A, "mtu", str(MTU))
    sh("ip", "-n", NS_G, "link", "set", IF_G, "up")
    sh("ip", "-n", NS_A, "link", "set", IF_A, "up")
    return json.loads(sh("ip", "-n", NS_A, "-j", "link", "show", IF_A).stdout)[0]["address"]


def start_fake():
    global fake
    ready = os.path.join(work, "fake.ready")
    json.dump({"run": "none", "mode": "correct"}, open(os.path.join(work, "control.json"), "w"))
    fake = subprocess.Popen(["ip", "netns", "exec", NS_A, PY, os.path.join(HERE, "fake_appliance.py"), IF_A,
                             os.path.join(work, "control.json"), os.path.join(work, "fake.log"), ready, "110"],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "fake.err"), "w"))
    deadline = time.monotonic() + 20
    while not os.path.exists(ready):
        if fake.poll() is not None or time.monotonic() > deadline:
            print(open(os.path.join(work, "fake.err")).read())
            raise SystemExit("FAIL: the fake appliance did not start")
        time.sleep(0.1)


def fake_log(run):
    out = []
    path = os.path.join(work, "fake.log")
    if os.path.exists(path):
        for line in open(path):
            e = json.loads(line)
            if e["run"] == run:
                out.append(e)
    return out


def emulate(run, mode, args, every=1, json_out=True, write=True):
    """One gwlb-emulate run against the fake appliance in `mode`: (exit code, stdout, stderr,
    report, returned frames as (timestamp, bytes), what the fake received)."""
    if not check(fake.poll() is None, "%s: the fake appliance is gone (it stops after 110 s)" % run):
        return None, "", "", None, [], []
    control = os.path.join(work, "control.json")
    tmp = control + ".tmp"
    json.dump({"run": run, "mode": mode, "every": every}, open(tmp, "w"))
    os.replace(tmp, control)
    time.sleep(0.4)  # the fake reads the control file between packets, at least every 0.2 s
    report_path = os.path.join(work, run + ".json")
    pcap_path = os.path.join(work, run + ".pcap")
    cmd = ["ip", "netns", "exec", NS_G, MP, "gwlb-emulate", "--iface", IF_G, "--local-ip", LOCAL,
           "--appliance-ip", APPLIANCE, "--appliance-mac", appliance_mac] + args
    if json_out:
        cmd += ["--json", report_path]
    if write:
        cmd += ["-w", pcap_path]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        check(False, "%s: gwlb-emulate still running after 60 s" % run)
        return None, "", "", None, [], fake_log(run)
    print("%s (%s): exit %d: %s" % (run, mode, p.returncode, ((p.stdout or p.stderr).strip().splitlines() or [""])[0]))
    report = json.load(open(report_path)) if json_out and os.path.exists(report_path) else None
    if report is not None:  # a report without some key fails the checks, not the test script
        for key, empty in (("failed_packets", []), ("not_sent_packets", []), ("not_sent", {}), ("skipped", {}),
                           ("returns", -1), ("failures", {})):
            report.setdefault(key, empty)
    frames = []
    if write and os.path.exists(pcap_path):
        for data, meta in RawPcapReader(pcap_path):
            frames.append((meta.sec + meta.usec / 1e6, bytes(data)))
    return p.returncode, p.stdout, p.stderr, report, frames, fake_log(run)


def failed_by_rule(report):
    out = {}
    for e in report["failed_packets"]:
        for r in e["rules"]:
            out.setdefault(r, []).append(e["index"])
    return out


def ip_packet_of(frame):
    """The IP packet a plain Ethernet frame carries (after any VLAN tags, without padding or
    trailer), or None for a frame that carries none. Independent of mirrorpipe."""
    etype, at = struct.unpack("!H", frame[12:14])[0], 14
    while etype in (0x8100, 0x88A8, 0x9100) and len(frame) >= at + 4:
        etype, at = struct.unpack("!H", frame[at + 2:at + 4])[0], at + 4
    if etype == 0x0800 and len(frame) >= at + 20 and frame[at] >> 4 == 4:
        length = struct.unpack("!H", frame[at + 2:at + 4])[0]
    elif etype == 0x86DD and len(frame) >= at + 40 and frame[at] >> 4 == 6:
        length = 40 + struct.unpack("!H", frame[at + 4:at + 6])[0]
    else:
        return None
    return frame[at:at + length]


def flow_of(inner):
    """Both directions alike: protocol and the two (address, port) ends, sorted."""
    p = IPv6(inner) if inner[0] >> 4 == 6 else IP(inner)
    proto = p.nh if inner[0] >> 4 == 6 else p.proto
    fragment = inner[0] >> 4 == 4 and (p.frag or p.flags.MF)
    if proto in (6, 17) and not fragment:
        ends = sorted([(p.src, p.sport), (p.dst, p.dport)])
    else:
        ends = sorted([(p.src, 0), (p.dst, 0)])
    return (proto,) + tuple(ends)


def check_capture(name, frames, fake, t0, t1):
    """-w holds every frame the fake sent back, with real, ordered receive timestamps."""
    want = sum(e["copies"] for e in fake)
    check(len(frames) == want, "%s: -w holds %d frames, the appliance sent %d" % (name, len(frames), want))
    stamps = [t for t, _ in frames]
    check(all(t0 - 2 <= t <= t1 + 2 for t in stamps),
          "%s: -w timestamps not the receive time (%s..%s, run %s..%s)" %
          (name, min(stamps, default=0), max(stamps, default=0), t0, t1))
    check(stamps == sorted(stamps), "%s: -w timestamps not in order" % name)


def run_faults():
    # The correct appliance: no failure, every frame in -w.
    t0 = time.time()
    rc, out, err, rep, frames, fk = emulate("correct", "correct", ["--generate", "30", "--reuse-cookie"])
    t1 = time.time()
    if check(rep is not None, "correct: no JSON report (rc %d, %s)" % (rc, err)):
        check(rc == 0 and rep["sent"] == 60 and rep["returned"] == 60 and rep["correct"] == 60 and rep["failures"] == {},
              "correct appliance: rc %d, %s" % (rc, {k: rep[k] for k in ("sent", "returned", "correct", "failures")}))
        check_capture("correct", frames, fk, t0, t1)

    # Stale cookie after the 5-tuple is reused: the 25 flows sent twice.
    t0 = time.time()
    rc, out, err, rep, frames, fk = emulate("stale", "stale", ["--generate", "25", "--reuse-cookie"])
    t1 = time.time()
    if check(rep is not None, "stale: no JSON report"):
        check(rc == 1, "stale: exit %d, expected 1" % rc)
        check(rep["sent"] == 50 and rep["returned"] == 50 and rep["correct"] == 25,
              "stale: sent %d returned %d correct %d, expected 50 50 25" % (rep["sent"], rep["returned"], rep["correct"]))
        check(rep["failures"] == {"stale_cookie": 25}, "stale: failures %s, expected stale_cookie: 25" % rep["failures"])
        check(failed_by_rule(rep).get("stale_cookie") == list(range(25, 50)), "stale: wrong packets %s" % failed_by_rule(rep))
        for e in rep["failed_packets"]:
            round1 = "0x%08x" % (0xC0000000 + e["index"] - 25)
            check(e["cookie"] == "0x%08x" % ((0xC0000000 + e["index"] - 25) ^ 0x5A5A0000)
                  and e.get("returned_cookie") == round1 and e["round"] == 2, "stale: packet %s" % e)
        check_capture("stale", frames, fk, t0, t1)
        check("  stale_cookie: 25\n" in out, "stale: the text report has no 'stale_cookie: 25' line:\n" + out)
        listed = re.findall(r"^    #(\d+) ", out, re.M)
        check(listed == [str(i) for i in range(25, 45)], "stale: the text report lists %s, expected #25..#44" % listed)
        check("... and 5 more" in out, "stale: the text report does not say how many more")
        check(re.search(r"#25 tcp 192\.0\.2\.1:40000 > 198\.51\.100\.7:443 cookie 0x9a5a0000 sport 20000: came back with 0xc0000000", out),
              "stale: packet #25 not described with its flow, cookie and the cookie returned:\n" + out)

    # The other faults, each on every k-th packet only: exact counts, exact packets.
    cases = [
        ("inner", "inner", 3, 30, "inner_changed"),
        ("options", "ip_options", 2, 20, "not_ipv4_without_options"),
        ("duplicate", "duplicate", 1, 20, "duplicate_return"),
        ("badsum", "bad_udp_checksum", 4, 20, "udp_checksum_wrong"),
    ]
    for name, mode, every, n, rule in cases:
        t0 = time.time()
        rc, out, err, rep, frames, fk = emulate(name, mode, ["--generate", str(n)], every=every)
        t1 = time.time()
        if not check(rep is not None, "%s: no JSON report (rc %d, %s)" % (name, rc, err)):
            continue
        hit = [i for i in range(n) if i % every == every - 1]
        check(rc == 1, "%s: exit %d, expected 1" % (name, rc))
        check(rep["failures"] == {rule: len(hit)}, "%s: failures %s, expected {%s: %d}" % (name, rep["failures"], rule, len(hit)))
        check(failed_by_rule(rep) == {rule: hit}, "%s: failed packets %s, expected %s" % (name, failed_by_rule(rep), hit))
        check(rep["sent"] == n and rep["returned"] == n and rep["correct"] == n - len(hit),
              "%s: sent %d returned %d correct %d" % (name, rep["sent"], rep["returned"], rep["correct"]))
        check(("  %s: %d\n" % (rule, len(hit))) in out, "%s: text report without its rule line:\n%s" % (name, out))
        check_capture(name, frames, fk, t0, t1)
        if mode == "duplicate":
            check(rep["returns"] == 2 * n and len(frames) == 2 * n, "duplicate: %d returns, %d frames in -w, expected %d"
                  % (rep["returns"], len(frames), 2 * n))


def run_captures():
    # A plain capture with many packets per flow, a correct appliance: no failure; one cookie and
    # one source port per flow, both directions; those of encap --tunnel gwlb, packet by packet.
    wiki = [bytes(d) for d, _ in RawPcapReader(WIKI)]
    inners = [ip_packet_of(f) for f in wiki]
    ip_inners = [i for i in inners if i is not None]
    rc, out, err, rep, frames, fk = emulate("wiki", "correct", ["-r", WIKI])
    if check(rep is not None, "wiki: no JSON report (rc %d, %s)" % (rc, err)):
        check(rc == 0 and rep["failures"] == {} and rep["correct"] == len(ip_inners) == rep["sent"],
              "wiki: rc %d, sent %d, correct %d of %d IP frames, failures %s"
              % (rc, rep["sent"], rep["correct"], len(ip_inners), rep["failures"]))
        check(rep["skipped"] == {"not_ip": len(wiki) - len(ip_inners)},
              "wiki: skipped %s, expected not_ip: %d" % (rep["skipped"], len(wiki) - len(ip_inners)))
        check("not_ip %d" % (len(wiki) - len(ip_inners)) in out, "wiki: the skipped frames are not in the text report")
        check([bytes.fromhex(e["inner"]) for e in fk] == ip_inners, "wiki: the appliance did not get the capture's IP packets")
        per_flow, sizes, senders = {}, {}, {}
        for e in fk:
            inner = bytes.fromhex(e["inner"])
            f = flow_of(inner)
            per_flow.setdefault(f, set()).add((e["cookie"], e["sport"]))
            sizes[f] = sizes.get(f, 0) + 1
            senders.setdefault(f, set()).add(inner[8:24] if inner[0] >> 4 == 6 else inner[12:16])
        both = [f for f in per_flow if len(senders[f]) == 2]
        check(all(len(v) == 1 for v in per_flow.values()),
              "wiki: a flow with several cookies or source ports: %s" % [(f, v) for f, v in per_flow.items() if len(v) > 1][:3])
        check(len({next(iter(v))[0] for v in per_flow.values()}) == len(per_flow), "wiki: two flows share a cookie")
        check(max(sizes.values()) >= 10 and len(both) >= 5,
              "wiki: the capture should have long, two-way flows (largest %d packets, %d two-way)" % (max(sizes.values()), len(both)))
        enc = os.path.join(work, "wiki-encap.pcap")
        sh(MP, "encap", "-r", WIKI, "-w", enc, "--tunnel", "gwlb", "--src-ip", "10.0.0.1", "--dst-ip", "10.0.0.2")
        theirs = []
        for d, _ in RawPcapReader(enc):
            d = bytes(d)
            theirs.append((struct.unpack("!H", d[34:36])[0], struct.unpack("!I", d[78:82])[0], d[82:]))
        ours = [(e["sport"], e["cookie"], bytes.fromhex(e["inner"])) for e in fk]
        check(ours == theirs, "wiki: cookies, source ports or inner packets differ from encap --tunnel gwlb's")
        print("wiki: %d packets, %d flows (largest %d packets, %d two-way)" % (len(fk), len(per_flow), max(sizes.values()), len(both)))

    # An appliance that keeps each flow's first header: right while GWLB keeps the cookie (one per
    # flow), stale for every packet once --reuse-cookie changed it.
    rc, out, err, rep, frames, fk = emulate("wiki-stale", "stale", ["-r", WIKI, "--reuse-cookie"])
    n = len(ip_inners)
    if check(rep is not None, "wiki-stale: no JSON report"):
        check(rep["failures"] == {"stale_cookie": n} and failed_by_rule(rep).get("stale_cookie") == list(range(n, 2 * n)),
              "wiki-stale: failures %s, expected stale_cookie on the %d packets of the second round" % (rep["failures"], n))
        check(all(e.get("frame") for e in rep["failed_packets"]), "wiki-stale: failed packets without their frame number")

    # Tagged frames: a generated capture with an 802.1Q frame, a QinQ frame, a padded frame, an
    # over-MTU frame in the middle, ARP and MPLS.
    gen = os.path.join(work, "tagged.pcap")
    big = IP(src="192.0.2.10", dst="198.51.100.10") / TCP(sport=1000, dport=80, flags="A") / Raw(b"x" * 1420)
    mac = {"src": "02:00:00:00:01:01", "dst": "02:00:00:00:01:02"}
    frames_in = [
        Ether(**mac) / IP(src="192.0.2.1", dst="198.51.100.1") / TCP(sport=1111, dport=80) / Raw(b"plain"),
        Ether(**mac) / Dot1Q(vlan=10) / IP(src="192.0.2.2", dst="198.51.100.2") / UDP(sport=2222, dport=53) / Raw(b"dot1q"),
        Ether(**mac) / Dot1AD(vlan=100) / Dot1Q(vlan=20) / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=3333, dport=53) / Raw(b"qinq"),
        Ether(**mac) / ARP(pdst="192.0.2.9"),
        Ether(**mac) / Dot1Q(vlan=10) / big,
        Ether(**mac) / IP(src="192.0.2.3", dst="198.51.100.3") / ICMP(id=7) / Raw(b"p"),  # padded to 60 bytes
        Ether(type=0x8847, **mac) / Raw(bytes.fromhex("0001f140") + bytes(IP(src="192.0.2.4", dst="198.51.100.4") / UDP())),
        Ether(**mac) / IP(src="192.0.2.5", dst="198.51.100.5") / UDP(sport=5555, dport=123) / Raw(b"after the big one"),
    ]
    wrpcap(gen, [f if len(f) >= 60 else Ether(bytes(f) + b"\0" * (60 - len(f))) for f in frames_in])
    raw = [bytes(d) for d, _ in RawPcapReader(gen)]
    check(len(raw[5]) == 60 and len(ip_packet_of(raw[5])) < 46, "tagged: frame 6 should carry Ethernet padding")
    expected = [ip_packet_of(raw[i]) for i in (0, 1, 2, 5, 7)]
    rc, out, err, rep, frames, fk = emulate("tagged", "correct", ["-r", gen])
    if check(rep is not None, "tagged: no JSON report (rc %d, %s)" % (rc, err)):
        check(rc == 0 and rep["sent"] == 5 and rep["correct"] == 5 and rep["failures"] == {},
              "tagged: rc %d, sent %d, correct %d, failures %s" % (rc, rep["sent"], rep["correct"], rep["failures"]))
        check(rep["not_sent"] == {"too_big_for_mtu": 1} and [e["frame"] for e in rep["not_sent_packets"]] == [5],
              "tagged: not sent %s %s, expected frame 5 too_big_for_mtu" % (rep["not_sent"], rep["not_sent_packets"]))
        check(rep["skipped"] == {"not_ip": 2}, "tagged: skipped %s, expected not_ip: 2 (ARP, MPLS)" % rep["skipped"])
        check([bytes.fromhex(e["inner"]) for e in fk] == expected,
              "tagged: the appliance received other inner packets than the IP packets without tags and padding")
        check("not sent: too_big_for_mtu: 1 (outer IPv4 packet over the interface MTU 1500)" in out,
              "tagged: the text report does not name the over-MTU frame:\n" + out)
        check(len(frames) == 5, "tagged: -w holds %d frames, expected 5" % len(frames))

    # The shared capture with 802.1Q, MPLS and 1500-byte packets: every IP frame that fits is sent.
    mixed = [bytes(d) for d, _ in RawPcapReader(MIXED)]
    ips = [ip_packet_of(f) for f in mixed]
    fits = [i for i in ips if i is not None and len(i) + 68 <= MTU]
    tagged = sum(1 for f, i in zip(mixed, ips) if i is not None and f[12:14] in (b"\x81\x00", b"\x88\xa8") and len(i) + 68 <= MTU)
    rc, out, err, rep, frames, fk = emulate("mixed", "correct", ["-r", MIXED])
    if check(rep is not None, "mixed: no JSON report (rc %d, %s)" % (rc, err)):
        too_big = sum(1 for i in ips if i is not None) - len(fits)
        check(rc == 0 and rep["sent"] == len(fits) == rep["correct"] and rep["failures"] == {},
              "mixed: rc %d, sent %d, correct %d, %d IP frames fit" % (rc, rep["sent"], rep["correct"], len(fits)))
        check(rep["not_sent"] == ({"too_big_for_mtu": too_big} if too_big else {}), "mixed: not sent %s" % rep["not_sent"])
        check(rep["skipped"] == {"not_ip": ips.count(None)}, "mixed: skipped %s, expected not_ip: %d" % (rep["skipped"], ips.count(None)))
        check([bytes.fromhex(e["inner"]) for e in fk] == fits, "mixed: the appliance did not get the IP packets that fit")
        check(tagged > 0, "mixed: the capture should have VLAN-tagged IP frames that fit")
        print("mixed: %d frames, %d IP packets sent (%d VLAN-tagged), %d over the MTU, %d not IP"
              % (len(mixed), rep["sent"], tagged, too_big, ips.count(None)))


def run_paths():
    # Unusable output paths: exit 2, a message naming the path, nothing sent.
    for name, args, option, path in (("badjson", ["--json", "/nonexistent/x.json"], "--json", "/nonexistent/x.json"),
                                     ("badpcap", ["-w", "/nonexistent/dir/r.pcap"], "-w", "/nonexistent/dir/r.pcap")):
        rc, out, err, _, _, fk = emulate(name, "correct", ["--generate", "5"] + args, json_out=False, write=False)
        time.sleep(0.3)
        check(rc == 2, "%s: exit %d, expected 2" % (name, rc))
        check(option in err and path in err and "No such file or directory" in err, "%s: message %r" % (name, err))
        check(fake_log(name) == [], "%s: %d packets were sent before the path was checked" % (name, len(fake_log(name))))
    # A failing write: exit 1, "write failed", the report printed all the same.
    rc, out, err, rep, _, fk = emulate("fullpcap", "correct", ["--generate", "10", "-w", "/dev/full"], write=False)
    check(rc == 1, "-w /dev/full: exit %d, expected 1" % rc)
    check("write failed: /dev/full: No space left on device" in err, "-w /dev/full: message %r" % err)
    check("gwlb-emulate: sent 10, returned 10, correct 10" in out, "-w /dev/full: no report on stdout: %r" % out)
    check(rep is not None and rep["correct"] == 10 and "write_error" in rep, "-w /dev/full: the JSON report %s" % rep)
    rc, out, err, _, frames, fk = emulate("fulljson", "correct", ["--generate", "10", "--json", "/dev/full"], json_out=False)
    check(rc == 1, "--json /dev/full: exit %d, expected 1" % rc)
    check("write failed: /dev/full: No space left on device" in err, "--json /dev/full: message %r" % err)
    check("gwlb-emulate: sent 10, returned 10, correct 10" in out, "--json /dev/full: no report on stdout: %r" % out)
    check(len(frames) == 10, "--json /dev/full: -w holds %d frames, expected 10" % len(frames))


def main():
    global appliance_mac
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        leftovers()
        appliance_mac = setup()
        start_fake()
        run_faults()
        run_captures()
        run_paths()
    finally:
        cleanup()
    print("gwlb-emulate faults: %d problems%s" % (len(problems), "" if not problems else ", the first: " + problems[0]))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
