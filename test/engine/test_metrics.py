#!/usr/bin/python3
"""The Prometheus endpoint ([metrics] listen): scraped while traffic flows.

A live engine replays a capture (paced, for up to a minute; the test stops it with SIGINT once
it has what it needs) into a session whose sinks are a pool of two VXLAN
targets on net_pcap ports. While it runs, /metrics is scraped twice over HTTP: `promtool check
metrics` (Prometheus's own linter) accepts each scrape; the families are there (build info,
inputs, drops and filters by reason, outputs, workers, the session, pool members, the ports'
driver counters); counters only grow between scrapes; every metric the shipped Grafana
dashboard (deploy/grafana/mirrorpipe.json) asks for is in the scrape; the input's packet counter agrees with
the session's and the pool members' copies, and never exceeds the final --stats-json. A bad
listen address is a configuration error; a port already in use stops the start with a message.

usage: test_metrics.py MIRRORPIPE SOURCE_DIR
"""
import json
import os
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oracle"))
from common import Checker, accounting_holds, scratch_dir, stop_engine  # noqa: E402

from scapy.layers.inet import IP, TCP  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def parse(text):
    """{(name, frozenset(labels)): value} of a scrape."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$', line)
        if not m:
            out[("unparsed", line)] = None
            continue
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        out[(m.group(1), labels)] = float(m.group(4))
    return out


def main():
    binary = sys.argv[1]
    c = Checker("metrics")
    with tempfile.TemporaryDirectory() as tmp:
        E = Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b")
        raw = [bytes(E / IP(src="10.1.0.%d" % (k + 1), dst="198.51.100.9") / TCP(sport=1000 + k, dport=443))
               for k in range(200)]
        cap = os.path.join(tmp, "in.pcap")
        with open(cap, "wb") as f:  # 120,000 frames at 2,000 a second: a minute at most
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for rep in range(600):
                for j, fr in enumerate(raw):
                    f.write(struct.pack("<IIII", 1700000000 + rep, j, len(fr), len(fr)) + fr)
        port = free_port()
        text = """[engine]
stats_interval_s = 0.5
[eal]
args = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", "--log-level", "lib.eal:error"]
[metrics]
listen = "127.0.0.1:%d"
[[ports]]
name = "in"
role = "mirror-input"
file = "%s"
pace = 2000
""" % (port, cap)
        for i in (1, 2):
            text += """[[ports]]
name = "out%d"
role = "output"
devargs = "net_pcap%d,tx_pcap=%s"
[[targets]]
name = "zeek-%d"
output = "out%d"
tunnel = "vxlan"
src_ip = "10.0.0.1"
dst_ip = "10.0.0.1%d"
dst_mac = "02:00:00:00:00:02"
vni = 5
""" % (i, i, os.path.join(tmp, "o%d.pcap" % i), i, i, i)
        text += '[[pools]]\nname = "zeek"\nmembers = ["zeek-1", "zeek-2"]\n'
        # A filter whose rule 100 rejects TCP from ports 1000-1049 (a quarter of the flows) and 200
        # accepts the rest; no `monitored`, so every packet is ingress and the egress rule never
        # decides.
        text += ('[[filters]]\nname = "f"\nrules = [\n'
                 '  { direction = "ingress", number = 100, action = "reject", protocol = "tcp", source = "0.0.0.0/0", destination = "0.0.0.0/0", source_ports = "1000-1049" },\n'
                 '  { direction = "ingress", number = 200, action = "accept", protocol = "all", source = "0.0.0.0/0", destination = "0.0.0.0/0" },\n'
                 '  { direction = "egress", number = 100, action = "accept", protocol = "all", source = "0.0.0.0/0", destination = "0.0.0.0/0" },\n'
                 ']\n')
        text += '[[sessions]]\nname = "web"\ninput = "in"\nnumber = 1\nfilter = "f"\nsinks = ["zeek"]\n'
        cfg = os.path.join(tmp, "m.toml")
        with open(cfg, "w") as f:
            f.write(text)
        js = os.path.join(tmp, "s.json")
        log = open(os.path.join(tmp, "log"), "w")
        p = subprocess.Popen([binary, "run", "-c", cfg, "--stats-json", js], stdout=log, stderr=subprocess.STDOUT)
        scrapes = []
        try:
            end = time.time() + 10
            while len(scrapes) < 2 and time.time() < end:
                time.sleep(1.0)
                try:
                    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
                        ctype = r.headers.get("Content-Type", "")
                        scrapes.append((r.read().decode(), ctype))
                except OSError:
                    pass
            # A second engine on the same port cannot start.
            cfg2 = os.path.join(tmp, "m2.toml")
            with open(cfg2, "w") as f:
                f.write(text.replace('"net_pcap', '"net_pcapx'))
            r2 = subprocess.run([binary, "run", "-c", cfg2], capture_output=True, text=True, timeout=60)
            c.check(r2.returncode == 1 and "cannot listen there" in (r2.stdout + r2.stderr),
                    "a second engine on the port: exit %d %s" % (r2.returncode, (r2.stdout + r2.stderr)[-400:]))
            c.check(p.poll() is None, "the engine ended before the test was done with it")
        finally:
            rc = stop_engine(p) if p.poll() is None else p.returncode
            log.close()
        c.check(rc == 0, "run: exit %d %s" % (rc, open(os.path.join(tmp, "log")).read()[-800:]))
        c.check(len(scrapes) == 2, "%d scrapes" % len(scrapes))
        for text_, ctype in scrapes:
            c.check(ctype.startswith("text/plain; version=0.0.4"), "Content-Type %s" % ctype)
            r = subprocess.run(["promtool", "check", "metrics"], input=text_, capture_output=True, text=True, timeout=30)
            c.check(r.returncode == 0, "promtool check metrics: %s %s" % (r.stdout[-600:], r.stderr[-600:]))
        if len(scrapes) == 2:
            a, b = parse(scrapes[0][0]), parse(scrapes[1][0])
            c.check(not any(k[0] == "unparsed" for k in b), "unparsed lines: %s" % [k for k in b if k[0] == "unparsed"][:3])
            for fam in ("mirrorpipe_build_info", "mirrorpipe_input_packets_in_total", "mirrorpipe_input_dropped_total",
                        "mirrorpipe_input_filtered_total", "mirrorpipe_output_packets_total", "mirrorpipe_worker_packets_total",
                        "mirrorpipe_session_matched_total", "mirrorpipe_pool_member_copies_total",
                        "mirrorpipe_pool_member_up", "mirrorpipe_port_tx_packets_total"):
                c.check(any(k[0] == fam for k in b), "no family %s" % fam)
            shrunk = [k for k in a if k[0].endswith("_total") and k in b and b[k] < a[k]]
            c.check(not shrunk, "counters that went down: %s" % shrunk[:5])
            pin = b.get(("mirrorpipe_input_packets_in_total", frozenset({("input", "in")})), 0)
            c.check(pin > 0, "no packets counted at the second scrape")
            copies = sum(v for k, v in b.items() if k[0] == "mirrorpipe_pool_member_copies_total")
            matched = b.get(("mirrorpipe_session_matched_total", frozenset({("session", "web")})), -1)
            c.check(copies == matched, "pool copies %s, session matched %s" % (copies, matched))
            def hits(direction, rule):
                return b.get(("mirrorpipe_session_rule_hits_total",
                              frozenset({("session", "web"), ("direction", direction), ("rule", rule)})), -1)
            c.check(hits("ingress", "200") == matched and matched > 0,
                    "rule ingress/200 decided %s packets, the session matched %s" % (hits("ingress", "200"), matched))
            c.check(hits("ingress", "100") > 0 and hits("egress", "100") == 0,
                    "rule hits ingress/100 %s (a quarter of the flows), egress/100 %s (no egress without monitored)"
                    % (hits("ingress", "100"), hits("egress", "100")))
            up = [v for k, v in b.items() if k[0] == "mirrorpipe_pool_member_up"]
            c.check(up == [1.0, 1.0], "pool members up: %s" % up)
            # The shipped Grafana dashboard asks only for families the engine exports.
            dash = json.load(open(os.path.join(sys.argv[2], "deploy", "grafana", "mirrorpipe.json")))
            names = {k[0] for k in b}
            for panel in dash["panels"]:
                for t in panel["targets"]:
                    for name in re.findall(r"mirrorpipe_\w+", t["expr"]):
                        c.check(name in names, "the dashboard's %r asks for %s, which no scrape has" % (panel["title"], name))
            st = json.load(open(js)) if rc == 0 else None
            if st:
                c.check(accounting_holds(st), "counters do not add up")
                c.check(pin <= st["packets_in"], "scraped %s packets, the final count %d" % (pin, st["packets_in"]))
    # A listen address that is not one.
    bad = os.path.join(scratch_dir("mp-metrics-"), "b.toml")
    with open(bad, "w") as f:
        f.write('[metrics]\nlisten = "localhost:http"\n[[ports]]\nname = "a"\nrole = "appliance"\ndevargs = "net_null0"\n')
    r = subprocess.run([binary, "check", "-c", bad], capture_output=True, text=True, timeout=60)
    c.check(r.returncode == 2 and "metrics.listen" in r.stderr and ":2:" in r.stderr, "bad listen: %d %s" % (r.returncode, r.stderr))
    c.done()


if __name__ == "__main__":
    main()
