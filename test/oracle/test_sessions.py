#!/usr/bin/python3
"""Mirror sessions with AWS VPC Traffic Mirroring filters, compared packet by packet with an
independent model of AWS's rules (aws_mirror_model.py) on the cases of make_session_cases.py:

- each case runs `mirrorpipe run` on a capture-file mirror input, one VXLAN target (its own
  output file) per session, each session with its own VNI; scapy reads every output: the
  mirrored frames must be exactly the model's, in input order, under the session's VNI, the
  inner frame byte-identical to the input frame;
- the counters: received = sent + filtered + dropped, and `filtered_by` (in total and for the
  input) per reason equal to the model's; per-session counters when the JSON has them;
- configuration errors: every invalid filter or session value makes `mirrorpipe check` exit 2
  with "mirrorpipe: FILE:LINE: " and the key; valid corner values are accepted.

usage: test_sessions.py MIRRORPIPE SOURCE_DIR [--all-failures]
"""
import collections
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checker, accounting_holds, read_records, run_mirrorpipe, scratch_dir  # noqa: E402
import make_session_cases as cases_mod  # noqa: E402

from scapy.layers.inet import UDP  # noqa: E402
from scapy.layers.l2 import Ether  # noqa: E402
from scapy.layers.vxlan import VXLAN  # noqa: E402
from scapy.utils import wrpcap  # noqa: E402

MP, SRC = sys.argv[1], sys.argv[2]
ALL_FAILURES = "--all-failures" in sys.argv[3:]
EAL = ('[eal]\nargs = ["--no-huge", "-m", "512", "--no-pci", "--no-shconf", "--no-telemetry", '
       '"--log-level", "lib.eal:error"]\n')


class SessionChecker(Checker):
    """The common Checker, remembering which case each failure belongs to."""

    def __init__(self, name):
        super().__init__(name)
        self.case = None
        self.failed_cases = collections.OrderedDict()
        self.notes = []

    def check(self, cond, msg):
        if not cond:
            self.failed_cases.setdefault(self.case or "-", []).append(msg)
            if ALL_FAILURES and self.failures >= 40:
                print("FAIL: " + msg)
        super().check(cond, msg)


c = SessionChecker("sessions")
tmp = scratch_dir("mp-sessions-")


def ports_and_targets(sessions, pcap="case.pcap"):
    text = EAL + '[[ports]]\nname = "mirrored"\nrole = "mirror-input"\nfile = "%s"\n' % pcap
    for i, s in enumerate(sessions):
        text += '[[ports]]\nname = "out-%s"\nrole = "output"\nfile = "out-%s.pcap"\n' % (s["name"], s["name"])
    for i, s in enumerate(sessions):
        text += ('[[targets]]\nname = "zeek-%s"\noutput = "out-%s"\ntunnel = "vxlan"\nsrc_ip = "10.0.0.1"\n'
                 'dst_ip = "10.0.0.2"\ndst_mac = "02:00:00:00:00:02"\nvni = %d\n') % (s["name"], s["name"], 100 + i)
    return text


def run(directory, text):
    path = os.path.join(directory, "case.toml")
    with open(path, "w") as f:
        f.write(text)
    try:
        rc, stats, err = run_mirrorpipe(MP, ["run", "-c", path])
    except subprocess.TimeoutExpired:
        return None, "timed out"
    except OSError as e:
        return None, "could not start: %s" % e
    return (stats if rc == 0 else None), "exit %d: %s" % (rc, err.strip()[-600:])


def decode_output(path):
    """[(vni, inner frame bytes)] of a VXLAN output, or None if the file is missing."""
    if not os.path.exists(path):
        return None
    out = []
    for data, _, _ in read_records(path):
        e = Ether(data)
        if not e.haslayer(UDP) or e[UDP].dport != 4789 or not e.haslayer(VXLAN):
            out.append((None, data))
            continue
        out.append((e[VXLAN].vni, bytes(e[VXLAN].payload)))
    return out


def run_case(case):
    c.case = case.name
    d = os.path.join(tmp, case.name)
    os.makedirs(d)
    pkts = [Ether(f) for f in case.frames]
    for i, p in enumerate(pkts):
        p.time = 1700000000 + i * 0.001
    wrpcap(os.path.join(d, "case.pcap"), pkts)
    stats, err = run(d, ports_and_targets(case.sessions) + case.toml)
    c.check(stats is not None, "%s: mirrorpipe run failed: %s" % (case.name, err))
    if stats is None:
        return

    def label(i):
        return "frame #%d (%s)" % (i, case.summaries[i])

    # Which session mirrored each input frame, as the outputs show it.
    got = {}
    vni_of = {s["name"]: s["vni"] for s in case.sessions}
    for s in case.sessions:
        name = s["name"]
        recs = decode_output(os.path.join(d, "out-%s.pcap" % name))
        if recs is None:
            recs = []
            c.notes.append("%s: out-%s.pcap was not written" % (case.name, name))
        want = [i for i, e in enumerate(case.expected) if e == ("mirrored", name)]
        indices = []
        used = set()
        for k, (vni, inner) in enumerate(recs):
            idx = next((i for i, f in enumerate(case.frames) if f == inner and (i, name) not in used), None)
            if idx is None:
                c.check(False, "%s: out-%s record #%d is no input frame byte for byte (VNI %s, %d bytes)"
                        % (case.name, name, k, vni, len(inner)))
                continue
            used.add((idx, name))
            indices.append(idx)
            got.setdefault(idx, []).append(name)
            c.check(vni == vni_of[name], "%s: %s mirrored by %s with VNI %s, expected the session's VNI %d"
                    % (case.name, label(idx), name, vni, vni_of[name]))
        c.check(indices == sorted(indices),
                "%s: out-%s is not in input order: frames %s" % (case.name, name, indices))
    for i, e in enumerate(case.expected):
        did = got.get(i, [])
        if e[0] == "mirrored":
            ok = did == [e[1]]
        else:
            ok = did == []
        c.check(ok, "%s: %s: model %s, mirrorpipe %s" % (
            case.name, label(i), "mirrored by %s" % e[1] if e[0] == "mirrored" else "filtered as %s" % e[1],
            ("mirrored by %s" % ", ".join(did)) if did else "did not mirror it"))

    # Counters.
    n = len(case.frames)
    mirrored = sum(1 for e in case.expected if e[0] == "mirrored")
    reasons = collections.Counter(e[1] for e in case.expected if e[0] == "filtered")
    inp = stats.get("inputs", {}).get("mirrored")
    c.check(inp is not None, "%s: no inputs.mirrored in the stats" % case.name)
    for where, st in (("total", stats), ("input", inp)):
        if st is None:
            continue
        c.check(accounting_holds(st), "%s (%s): packets_in %d != out %d + filtered %d + dropped %d" % (
            case.name, where, st["packets_in"], st["packets_out"], st["filtered"], sum(st["dropped"].values())))
        c.check(st["packets_in"] == n, "%s (%s): packets_in %d, the capture has %d" % (case.name, where, st["packets_in"], n))
        c.check(st["packets_out"] == mirrored, "%s (%s): packets_out %d, model %d" % (case.name, where, st["packets_out"], mirrored))
        c.check(st["filtered"] == sum(reasons.values()), "%s (%s): filtered %d, model %d" % (
            case.name, where, st["filtered"], sum(reasons.values())))
        fb = st.get("filtered_by", {})
        for reason in sorted(set(reasons) | {k for k, v in fb.items() if v}):
            c.check(fb.get(reason, 0) == reasons.get(reason, 0) and (reason in fb or not reasons.get(reason)),
                    "%s (%s): filtered_by[%s] = %s, model %d" % (case.name, where, reason, fb.get(reason, "absent"),
                                                                reasons.get(reason, 0)))
    for s in case.sessions:
        name = s["name"]
        want = sum(1 for e in case.expected if e == ("mirrored", name))
        out = stats.get("outputs", {}).get("out-" + name)
        c.check(out is not None and out["packets"] == want, "%s: outputs.out-%s.packets %s, model %d" % (
            case.name, name, out and out["packets"], want))
    if "sessions" not in stats:
        c.notes.append("%s: the stats JSON has no 'sessions' key (per-session counters not checked)" % case.name)
    else:
        for s in case.sessions:
            name = s["name"]
            want = sum(1 for e in case.expected if e == ("mirrored", name))
            ss = stats["sessions"].get(name)
            c.check(ss is not None, "%s: stats.sessions has no %s" % (case.name, name))
            if ss is None:
                continue
            c.check(ss.get("mirrored") == want, "%s: sessions.%s.mirrored = %s, model %d" % (case.name, name, ss.get("mirrored"), want))
            c.check(isinstance(ss.get("matched"), int) and ss["matched"] >= want,
                    "%s: sessions.%s.matched = %s, expected at least the %d mirrored" % (case.name, name, ss.get("matched"), want))
            # Sessions are tried in ascending number: a frame reaches this one unless an earlier
            # one mirrored it.
            earlier = {t["name"] for t in case.sessions if t["number"] < s["number"]}
            reached = n - sum(1 for e in case.expected if e[0] == "mirrored" and e[1] in earlier)
            c.check(ss.get("tried") == reached, "%s: sessions.%s.tried = %s, model %d (frames no earlier session mirrored)"
                    % (case.name, name, ss.get("tried"), reached))


# ------------------------------------------------------------------ configuration errors

BASE_RULE0 = '{ direction = "ingress", number = 100, action = "reject", protocol = "tcp", source = "0.0.0.0/0", destination = "0.0.0.0/0", destination_ports = "22" }'
BASE_RULE1 = '{ direction = "ingress", number = 200, action = "accept", protocol = "all", source = "0.0.0.0/0", destination = "10.0.0.0/16" }'


def error_config(rule1=BASE_RULE1, filter_lines=(), s1=(("number", "1"), ("filter", '"web"')), s2_number="2"):
    """A configuration with one filter (two rules) and two sessions; returns (text, lines) where
    lines maps rule1, each filter line's key, s1.KEY, s2.number to its line number."""
    text = ports_and_targets([{"name": "a"}], "in.pcap")
    lines = {}
    body = ['[[filters]]', 'name = "web"']
    for fl in filter_lines:
        lines[fl.split("=")[0].strip()] = len(body)
        body.append(fl)
    body.append("rules = [")
    body.append("  %s," % BASE_RULE0)
    lines["rule1"] = len(body)
    body.append("  %s," % rule1)
    body.append("]")
    body += ['[[sessions]]', 'name = "s1"', 'input = "mirrored"']
    for k, v in s1:
        lines["s1." + k] = len(body)
        body.append("%s = %s" % (k, v))
    body += ['sinks = ["zeek-a"]', '[[sessions]]', 'name = "s2"', 'input = "mirrored"']
    lines["s2.number"] = len(body)
    body += ['number = %s' % s2_number, 'filter = "web"', 'monitored = ["10.0.0.0/16"]', 'sinks = ["zeek-a"]']
    first = text.count("\n") + 1
    return text + "\n".join(body) + "\n", {k: v + first for k, v in lines.items()}


def rule(**kw):
    base = {"direction": '"ingress"', "number": "200", "action": '"accept"', "protocol": '"all"',
            "source": '"0.0.0.0/0"', "destination": '"10.0.0.0/16"'}
    for k, v in kw.items():
        if v is None:
            base.pop(k)
        else:
            base[k] = v
    return "{ " + ", ".join("%s = %s" % kv for kv in base.items()) + " }"


R1 = "filters[0].rules[1]"
ERRORS = [
    # (name, error_config kwargs, keys (any of), line keys (any of))
    ("reversed port range", dict(rule1=rule(protocol='"tcp"', destination_ports='"2000-1000"')), [R1 + ".destination_ports"], ["rule1"]),
    ("reversed source port range", dict(rule1=rule(protocol='"udp"', source_ports='"65535-1024"')), [R1 + ".source_ports"], ["rule1"]),
    ("ports with icmp", dict(rule1=rule(protocol='"icmp"', destination_ports='"22"')), [R1 + ".destination_ports", R1 + ".protocol"], ["rule1"]),
    ("ports with all", dict(rule1=rule(protocol='"all"', source_ports='"1024-65535"')), [R1 + ".source_ports", R1 + ".protocol"], ["rule1"]),
    ("ports with protocol 47", dict(rule1=rule(protocol="47", destination_ports='"80"')), [R1 + ".destination_ports", R1 + ".protocol"], ["rule1"]),
    ("port 65536", dict(rule1=rule(protocol='"tcp"', destination_ports='"1-65536"')), [R1 + ".destination_ports"], ["rule1"]),
    ("port not a number", dict(rule1=rule(protocol='"tcp"', destination_ports='"http"')), [R1 + ".destination_ports"], ["rule1"]),
    ("unknown filter name", dict(s1=(("number", "1"), ("filter", '"nope"'))), ["sessions[0].filter"], ["s1.filter"]),
    ("unknown network service", dict(filter_lines=['network_services = ["amazon-ntp"]']), ["filters[0].network_services"], ["network_services"]),
    ("protocol -1", dict(rule1=rule(protocol="-1")), [R1 + ".protocol"], ["rule1"]),
    ("protocol 256", dict(rule1=rule(protocol="256")), [R1 + ".protocol"], ["rule1"]),
    ('protocol "foo"', dict(rule1=rule(protocol='"foo"')), [R1 + ".protocol"], ["rule1"]),
    ("aws_exclusions a string", dict(filter_lines=['aws_exclusions = "no"']), ["filters[0].aws_exclusions"], ["aws_exclusions"]),
    ("aws_exclusions an integer", dict(filter_lines=["aws_exclusions = 0"]), ["filters[0].aws_exclusions"], ["aws_exclusions"]),
    ("mixed families", dict(rule1=rule(destination='"::/0"')), [R1 + ".destination", R1 + ".source"], ["rule1"]),
    ("mixed families (IPv6 source)", dict(rule1=rule(source='"2001:db8::/32"')), [R1 + ".destination", R1 + ".source"], ["rule1"]),
    ("duplicate rule number in a direction", dict(rule1=rule(number="100")), [R1 + ".number", "filters[0].rules[0].number"], ["rule1"]),
    ("rule number 0", dict(rule1=rule(number="0")), [R1 + ".number"], ["rule1"]),
    ("rule number 32767", dict(rule1=rule(number="32767")), [R1 + ".number"], ["rule1"]),
    ("action allow", dict(rule1=rule(action='"allow"')), [R1 + ".action"], ["rule1"]),
    ("direction inbound", dict(rule1=rule(direction='"inbound"')), [R1 + ".direction"], ["rule1"]),
    ("bad CIDR", dict(rule1=rule(source='"10.0.0.0/33"')), [R1 + ".source"], ["rule1"]),
    ("missing destination", dict(rule1=rule(destination=None)), [R1 + ".destination", R1], ["rule1"]),
    ("duplicate session number", dict(s2_number="1"), ["sessions[1].number", "sessions[0].number"], ["s2.number", "s1.number"]),
    ("session number 0", dict(s1=(("number", "0"), ("filter", '"web"'))), ["sessions[0].number"], ["s1.number"]),
    ("session number 32767", dict(s1=(("number", "32767"), ("filter", '"web"'))), ["sessions[0].number"], ["s1.number"]),
]
VALID = [
    ("the issue's example rules (protocol 17 with source_ports)", dict(rule1=rule(
        direction='"egress"', number="100", protocol="17", source='"10.0.0.0/16"', destination='"0.0.0.0/0"',
        source_ports='"1024-65535"'))),
    ("one rule number in each direction", dict(rule1=rule(direction='"egress"', number="100"))),
    ("protocol 6 with ports, single port", dict(rule1=rule(protocol="6", destination_ports='"443"'))),
    ("protocol 0 and rule number 32766", dict(rule1=rule(protocol="0", number="32766"))),
    ("protocol 255", dict(rule1=rule(protocol="255"))),
    ("IPv6 rule", dict(rule1=rule(source='"::/0"', destination='"2001:db8::/32"', protocol='"icmpv6"'))),
    ("network_services and aws_exclusions", dict(filter_lines=['network_services = ["amazon-dns"]', "aws_exclusions = false"])),
    ("session numbers 1 and 32766", dict(s2_number="32766")),
]


def mp_check(path):
    """`mirrorpipe check -c PATH`: (exit code or None, stderr stripped)."""
    try:
        p = subprocess.run([MP, "check", "-c", path], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as e:
        return None, "could not run: %s" % e
    return p.returncode, p.stderr.strip()


def config_errors():
    c.case = "config-errors"
    d = os.path.join(tmp, "config-errors")
    os.makedirs(d)
    wrpcap(os.path.join(d, "in.pcap"), [Ether(src=cases_mod.MAC_A, dst=cases_mod.MAC_B)])
    base, _ = error_config()
    path = os.path.join(d, "base.toml")
    with open(path, "w") as f:
        f.write(base)
    rc, err = mp_check(path)
    c.check(rc == 0, "config: the valid base configuration is refused (exit %s): %s" % (rc, err))
    for i, (name, kw) in enumerate(VALID):
        text, _ = error_config(**kw)
        path = os.path.join(d, "valid-%02d.toml" % i)
        with open(path, "w") as f:
            f.write(text)
        rc, err = mp_check(path)
        c.check(rc == 0, "config, valid %s: exit %s: %s" % (name, rc, err))
    for i, (name, kw, keys, line_keys) in enumerate(ERRORS):
        text, lines = error_config(**kw)
        path = os.path.join(d, "bad-%02d.toml" % i)
        with open(path, "w") as f:
            f.write(text)
        rc, err = mp_check(path)
        c.check(rc == 2, "config, %s: exit %s, expected 2 (%s)" % (name, rc, err or "no message"))
        m = re.match(r"mirrorpipe: %s:(\d+): (.*)" % re.escape(path), err, re.S)
        c.check(m is not None, "config, %s: message does not start with 'mirrorpipe: %s:LINE: ': %r" % (name, path, err[:300]))
        if not m:
            continue
        rest = m.group(2)
        c.check(any(k in rest for k in keys), "config, %s: the message names none of %s: %r" % (name, keys, err[:300]))
        want_lines = sorted({lines[k] for k in line_keys})
        c.check(int(m.group(1)) in want_lines, "config, %s: line %s, the value is on line %s" % (
            name, m.group(1), " or ".join(map(str, want_lines))))


def main():
    try:
        try:
            cases_mod.self_test()
        except AssertionError as e:
            c.check(False, "the model's own self-test failed: %r" % (e,))
        table = cases_mod.build_cases()
        for case in table:
            run_case(case)
        config_errors()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    frames = sum(len(x.frames) for x in table)
    print("sessions: %d cases, %d frames, %d configuration checks" % (len(table), frames, len(ERRORS) + len(VALID) + 1))
    if c.notes:
        missing_sessions = sum(1 for n in c.notes if "no 'sessions' key" in n)
        if missing_sessions:
            print("NOTE: the stats JSON has no 'sessions' key in %d case(s): per-session counters not checked" % missing_sessions)
        for n in c.notes:
            if "no 'sessions' key" not in n:
                print("NOTE: " + n)
    if c.failed_cases:
        print("failing: " + ", ".join("%s (%d)" % (k, len(v)) for k, v in c.failed_cases.items()))
    c.done()


if __name__ == "__main__":
    main()
