#!/usr/bin/python3
"""Configuration files: every example passes `mirrorpipe check`; every file in test/config/bad
fails with exit code 2 and exactly the message its first line expects (file, line, key, the
value found and what was expected).

usage: test_config.py MIRRORPIPE SOURCE_DIR
"""
import glob
import re
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from common import Checker  # noqa: E402


def main():
    binary, src = sys.argv[1], sys.argv[2]
    c = Checker("config")
    os.chdir(src)  # the examples name the bundled sample relative to the project
    examples = sorted(glob.glob("examples/*.toml"))
    c.check(len(examples) >= 4, "expected an example per role, found %d" % len(examples))
    # Examples written for an EC2 instance name what this machine may not have: then `check`
    # must refuse them for exactly that reason.
    allowed = os.sched_getaffinity(0)
    for f in examples:
        p = subprocess.run([binary, "check", "-c", f], capture_output=True, text=True, timeout=30)
        text = open(f).read()
        needs_lib = "/var/lib/mirrorpipe/" in text and not os.path.isdir("/var/lib/mirrorpipe")
        cores = [int(x) for x in re.findall(r"worker_cores\s*=\s*\[([0-9, ]*)\]", text)[0].split(",")] \
            if "worker_cores" in text else []
        missing_core = next((x for x in cores if x not in allowed), None)
        if missing_core is not None:
            c.check(p.returncode == 2 and "worker_cores" in p.stderr and "found %d" % missing_core in p.stderr,
                    "%s: CPU %d is not here: expected its refusal, got exit %d: %s" % (f, missing_core, p.returncode, p.stderr.strip()))
        elif needs_lib:
            c.check(p.returncode == 2 and "'/var/lib/mirrorpipe' does not exist" in p.stderr,
                    "%s: /var/lib/mirrorpipe is missing: expected its refusal, got exit %d: %s" % (f, p.returncode, p.stderr.strip()))
        else:
            c.check(p.returncode == 0, "%s: exit %d: %s" % (f, p.returncode, p.stderr.strip()))
    # Paths are relative to the configuration file, not to where mirrorpipe starts.
    p = subprocess.run([binary, "check", "-c", os.path.join(src, "examples/replay.toml")], capture_output=True,
                       text=True, timeout=30, cwd="/")
    c.check(p.returncode == 0, "replay.toml checked from /: exit %d: %s" % (p.returncode, p.stderr.strip()))
    bad = sorted(glob.glob("test/config/bad/*.toml"))
    c.check(len(bad) >= 20, "expected at least 20 bad configurations, found %d" % len(bad))
    for f in bad:
        with open(f) as fh:
            first = fh.readline()
        c.check(first.startswith("# expect: "), "%s: no '# expect:' line" % f)
        want = "mirrorpipe: " + first[len("# expect: "):].rstrip("\n").replace("{file}", f).replace(
            "{cpus}", ",".join(str(x) for x in sorted(allowed)))
        for cmd in ("check", "run"):
            p = subprocess.run([binary, cmd, "-c", f], capture_output=True, text=True, timeout=30)
            c.check(p.returncode == 2, "%s %s: exit %d, expected 2" % (cmd, f, p.returncode))
            got = p.stderr.strip()
            c.check(got == want, "%s %s:\n  want %s\n  got  %s" % (cmd, f, want, got))
            c.check(p.stdout == "", "%s %s: something started: %s" % (cmd, f, p.stdout[:200]))
    c.done()


if __name__ == "__main__":
    main()
