#!/usr/bin/python3
"""The engine's log as JSON lines ([log] format = "json"), read by Python's json module.

The engine replays the sample, repeated 3000 times (81,000 frames), at 6,000 packets per second
from a capture file into a capture file, with a summary every 0.2 s. While it runs: a SIGHUP
with a new VNI (a `reload` event), one that changes a port and one that changes log.format
(`reload_refused`, the engine goes on), sixteen SIGHUPs in a row (the `reload` kind is held to
a burst of 10 and 1 a second: the first line after them says how many were suppressed), and one
that sets level = "warn" (no `summary` after it). Every line on stdout before the final report
must be one JSON object (strict: no NaN, valid UTF-8) with ts (RFC 3339, UTC, milliseconds,
near now), level, kind and msg. Then: the default text format, one line per event with its
timestamp, level and kind; and a bad [log] format refused with exit 2, file, line and key.

usage: test_log.py MIRRORPIPE SOURCE_DIR
"""
import datetime
import json
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "oracle"))
from common import Checker, accounting_holds, stop_engine, wait_for  # noqa: E402

LEVELS = {"debug", "info", "warn", "error"}


def strict_json(line):
    def reject(name):
        raise ValueError("%s is not JSON" % name)
    return json.loads(line, parse_constant=reject)


def parse_ts(ts):
    """RFC 3339, UTC, three fraction digits, as the engine writes it; a datetime or None."""
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", ts):
        return None
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.timezone.utc)


def main():
    binary, src = sys.argv[1], sys.argv[2]
    c = Checker("log")
    with tempfile.TemporaryDirectory() as tmp:
        from scapy.utils import RawPcapReader
        sample = os.path.join(tmp, "long.pcap")
        frames = [bytes(d) for d, _ in RawPcapReader(os.path.join(src, "pcaps/sample-mix.pcap"))]
        with open(sample, "wb") as f:  # classic pcap, microseconds, Ethernet
            f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
            for i in range(3000):
                for j, fr in enumerate(frames):
                    f.write(struct.pack("<IIII", 1700000000 + i, j, len(fr), len(fr)) + fr)
        text = """[engine]
workers = 1
stats_interval_s = 0.2

[eal]
args = ["--no-huge", "-m", "256", "--no-pci", "--no-shconf", "--no-telemetry", "--log-level", "lib.eal:error"]

[log]
format = "json"

[[ports]]
name = "in"
role = "mirror-input"
file = "{sample}"
pace = 6000

[[ports]]
name = "out"
role = "output"
file = "{out}"

[[targets]]
name = "analyzers"
output = "out"
tunnel = "vxlan"
src_ip = "172.31.0.238"
dst_ip = "172.31.17.188"
vni = 1111

[[routes]]
input = "in"
target = "analyzers"
""".format(sample=sample, out=os.path.join(tmp, "out.pcap"))
        cfg = os.path.join(tmp, "engine.toml")

        def write_cfg(t):
            with open(cfg, "w") as f:
                f.write(t)
        write_cfg(text)
        out_path, err_path, stats_path = (os.path.join(tmp, n) for n in ("stdout", "stderr", "stats.json"))
        out, err = open(out_path, "wb"), open(err_path, "wb")
        p = subprocess.Popen([binary, "run", "-c", cfg, "--stats-json", stats_path], stdout=out, stderr=err)
        read = lambda: open(out_path, "rb").read().decode("utf-8", "replace")
        storm = 16
        try:
            c.check(wait_for(lambda: '"kind":"summary"' in read(), 10), "no summary event:\n" + read()[-800:])
            # A reload, two refused ones (a port; the log's format), the engine going on.
            write_cfg(text.replace("vni = 1111", "vni = 2222"))
            p.send_signal(signal.SIGHUP)
            c.check(wait_for(lambda: '"kind":"reload"' in read(), 5), "no reload event after SIGHUP:\n" + read()[-800:])
            write_cfg(text.replace("pace = 6000", "pace = 7000"))
            p.send_signal(signal.SIGHUP)
            c.check(wait_for(lambda: read().count('"kind":"reload_refused"') == 1, 5), "port change not refused:\n" + read()[-800:])
            write_cfg(text.replace('format = "json"', 'format = "text"'))
            p.send_signal(signal.SIGHUP)
            c.check(wait_for(lambda: read().count('"kind":"reload_refused"') == 2, 5), "format change not refused:\n" + read()[-800:])
            # Sixteen reloads of an unchanged file, 60 ms apart, then one after a quiet 2.5 s.
            write_cfg(text.replace("vni = 1111", "vni = 2222"))
            time.sleep(1.2)  # the bucket holds at least one token again
            t_storm = time.time()
            for _ in range(storm):
                p.send_signal(signal.SIGHUP)
                time.sleep(0.06)
            storm_s = time.time() - t_storm
            time.sleep(2.5)
            # level = "warn": the reload itself is still said, the summaries stop.
            write_cfg(text.replace("vni = 1111", "vni = 2222").replace('format = "json"', 'format = "json"\nlevel = "warn"'))
            before = read().count('"kind":"reload"')
            p.send_signal(signal.SIGHUP)
            c.check(wait_for(lambda: read().count('"kind":"reload"') > before, 5),
                    "no reload event for the level change:\n" + read()[-800:])
            time.sleep(1.0)
            c.check(p.poll() is None, "the engine stopped early (the capture ran out?)")
        finally:
            rc = stop_engine(p)
            out.close()
            err.close()
        raw = open(out_path, "rb").read()
        c.check(rc == 0, "exit %d after SIGINT:\n%s\n%s" % (rc, raw[-1500:], open(err_path, "rb").read()[-800:]))
        try:
            stdout = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            c.check(False, "stdout is not UTF-8: %s" % e)
            stdout = raw.decode("utf-8", "replace")
        lines = stdout.split("\n")
        report_at = next((i for i, l in enumerate(lines) if l.startswith("mirrorpipe run: ")), len(lines))
        c.check(report_at < len(lines), "no final report on stdout")
        events = []
        now = datetime.datetime.now(datetime.timezone.utc)
        for i, line in enumerate(lines[:report_at]):
            try:
                e = strict_json(line)
            except ValueError as x:
                c.check(False, "line %d is not JSON (%s): %r" % (i + 1, x, line[:200]))
                continue
            ok = isinstance(e, dict)
            c.check(ok, "line %d is not an object: %r" % (i + 1, line[:200]))
            if not ok:
                continue
            ts = parse_ts(e.get("ts", ""))
            c.check(ts is not None and abs((now - ts).total_seconds()) < 600,
                    "line %d: ts %r is not an RFC 3339 UTC time with milliseconds near now" % (i + 1, e.get("ts")))
            c.check(e.get("level") in LEVELS, "line %d: level %r" % (i + 1, e.get("level")))
            c.check(isinstance(e.get("kind"), str) and re.fullmatch(r"[a-z_]+", e.get("kind", "")),
                    "line %d: kind %r" % (i + 1, e.get("kind")))
            c.check(isinstance(e.get("msg"), str) and e.get("msg"), "line %d: msg %r" % (i + 1, e.get("msg")))
            c.check(list(e)[:4] == ["ts", "level", "kind", "msg"], "line %d: keys %s" % (i + 1, list(e)))
            events.append(e)
        c.check(all(l.strip() == "" or not l.startswith("{") for l in lines[report_at:]),
                "JSON after the final report:\n" + "\n".join(lines[report_at:])[:800])
        kinds = [e["kind"] for e in events]
        print("events by kind: %s" % {k: kinds.count(k) for k in sorted(set(kinds))})
        c.check("start" in kinds, "no start event (the file output)")
        # reload: the first one names the file and generation 1.
        reloads = [e for e in events if e["kind"] == "reload"]
        c.check(reloads and reloads[0].get("path") == cfg and reloads[0].get("generation") == 1 and
                reloads[0]["level"] == "info" and reloads[0]["msg"] == "reloaded %s (generation 1)" % cfg,
                "first reload event: %s" % (reloads[:1],))
        refused = [e for e in events if e["kind"] == "reload_refused"]
        c.check(len(refused) == 2 and all(e["level"] == "warn" for e in refused), "refusals: %s" % refused)
        if len(refused) == 2:
            c.check(refused[0]["reason"] == "ports[0] ('in') cannot change while running (restart the engine to change it)",
                    "port refusal: %s" % refused[0])
            c.check(refused[1]["reason"] == "log.format cannot change while running (restart the engine to change it)",
                    "format refusal: %s" % refused[1])
            c.check(refused[1]["msg"] == "reload refused: %s; still running the previous configuration" % refused[1]["reason"],
                    "refusal message: %s" % refused[1]["msg"])
        # The storm: at most the bucket (10, plus 1 a second) passed; the next reload says the rest.
        storm_reloads = reloads[1:-1]
        c.check(len(storm_reloads) <= 10 + int(storm_s) + 1, "%d reload lines passed in %.1f s" % (len(storm_reloads), storm_s))
        c.check(len(storm_reloads) >= 10, "only %d of %d reloads said: the burst is 10" % (len(storm_reloads), storm))
        last = reloads[-1] if reloads else {}
        held = last.get("suppressed", 0)
        c.check(held >= 1 and len(storm_reloads) + held <= storm,
                "the reload after the storm says %r suppressed (%d said of %d sent)" % (held, len(storm_reloads), storm))
        c.check("suppressed" not in (storm_reloads[0] if storm_reloads else {}), "a suppressed count before any was suppressed")
        # Summaries: numbers as their own keys, not limited to the bucket's rate, none after level = "warn".
        summaries = [(i, e) for i, e in enumerate(events) if e["kind"] == "summary"]
        for _, e in summaries:
            for key in ("elapsed_s", "rx_pps", "rx_bps", "sent_pps", "sent_bps", "rx_packets", "sent_packets",
                        "filtered", "dropped", "nic_missed", "replay_percent"):
                c.check(isinstance(e.get(key), (int, float)) and not isinstance(e.get(key), bool),
                        "summary without a number %s: %s" % (key, e))
        span = (parse_ts(summaries[-1][1]["ts"]) - parse_ts(summaries[0][1]["ts"])).total_seconds() if summaries else 0
        c.check(len(summaries) > 10 + span + 1, "%d summaries in %.1f s: limited like other kinds?" % (len(summaries), span))
        level_change = events.index(reloads[-1]) if reloads else 0
        c.check(not [e for i, e in summaries if i > level_change], "summaries after level = \"warn\"")
        c.check(summaries and summaries[0][1]["rx_packets"] > 0, "summaries count no packets")
        st = json.load(open(stats_path)) if rc == 0 else None
        c.check(st is not None and accounting_holds(st), "counters do not add up")

        # Text, the default: timestamp, level, kind, message, one line each.
        write_cfg(text.replace('format = "json"\n', "").replace("pace = 6000", 'pace = "fast"'))
        r = subprocess.run([binary, "run", "-c", cfg], capture_output=True, text=True, timeout=60)
        c.check(r.returncode == 0, "text run: exit %d %s" % (r.returncode, r.stderr[-400:]))
        head = r.stdout.split("mirrorpipe run: ")[0].splitlines()
        c.check(head, "text run: no event lines")
        for line in head:
            m = re.fullmatch(r"(\S+) (debug|info |warn |error) ([a-z_]+): (.+)", line)
            c.check(m is not None and parse_ts(m.group(1)) is not None, "text line: %r" % line)
        c.check(any(" info  start: file output '" in l for l in head), "text run: no start line:\n%s" % r.stdout[:600])

        # A bad format: exit 2, the file, the line and the key, nothing started.
        bad = text.replace('format = "json"', 'format = "jsonl"')
        write_cfg(bad)
        line_no = bad.split("\n").index('format = "jsonl"') + 1
        for cmd in ("check", "run"):
            r = subprocess.run([binary, cmd, "-c", cfg], capture_output=True, text=True, timeout=30)
            want = 'mirrorpipe: %s:%d: log.format: found "jsonl", expected text or json' % (cfg, line_no)
            c.check(r.returncode == 2 and r.stderr.strip() == want and r.stdout == "",
                    "%s with a bad format: exit %d\n  want %s\n  got  %s" % (cmd, r.returncode, want, r.stderr.strip()))
    c.done()


if __name__ == "__main__":
    main()
