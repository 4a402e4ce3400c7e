#!/usr/bin/python3
"""The README's quick starts, run exactly as written, so that they cannot go stale.

Every fenced ```sh block preceded by a marker line `<!-- quickstart: NAME -->` is extracted
from README.md and run by bash (-e -o pipefail -x), as root, in a clean environment:

- the working directory is a fresh temporary folder that looks like the top of a clone after
  scripts/build (a link to each top-level entry of the source tree, build/mirrorpipe a link to
  the binary under test), with that binary first on PATH as `mirrorpipe`;
- the /tmp paths the block names (/tmp/mp-mirror, /tmp/replay-vxlan.pcap...) are removed before
  it runs and after (KEEP=1 keeps them), so that no earlier run's output can pass a check;
- the block runs in a session of its own, bounded in time; whatever it left running is stopped
  (SIGINT, then SIGKILL) when it ends, and every network namespace it created (or names in an
  `ip netns add`) is deleted, whatever happened. A block that leaves an interface it names in
  the host's own namespace fails: traffic belongs in the namespaces a block creates.

A block passes when bash exits 0. Its last line must be its check (a grep, test, diff or cmp
that exits non-zero when what the user should see is not there). The five roles must all be
there. Before the blocks, the runner proves it can fail: a block whose check is wrong, and one
whose middle command fails, must both fail.

    test_quickstarts.py MIRRORPIPE SOURCE_DIR [NAME...]

MIRRORPIPE empty: $MIRRORPIPE, else SOURCE_DIR/build/mirrorpipe. NAMEs: only those blocks.

Exit 77 (skipped) when not root: the blocks create namespaces.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROLES = ["mirror", "mirror-target", "appliance", "replay", "bench"]
TIMEOUT_S = {"bench": 240}  # bench-ab alone is 12 runs of 3 s plus hugepage setup
DEFAULT_TIMEOUT_S = 120
MARKER = re.compile(r"^<!-- quickstart: ([a-z0-9-]+) -->\n```sh\n(.*?)^```$", re.M | re.S)
CHECK = re.compile(r"\b(grep|test|diff|cmp)\b|\[ ")


def blocks_of(readme):
    text = open(readme).read()
    found = MARKER.findall(text)
    markers = re.findall(r"<!-- quickstart: ([a-z0-9-]+) -->", text)
    problems = []
    if len(markers) != len(found):
        problems.append("%d quickstart markers, %d of them followed directly by a ```sh block"
                        % (len(markers), len(found)))
    names = [n for n, _ in found]
    for n in sorted(set(names)):
        if names.count(n) > 1:
            problems.append("quickstart %s appears %d times" % (n, names.count(n)))
    for role in ROLES:
        if role not in names:
            problems.append("no quick start for the role %s" % role)
    for name, body in found:
        lines = [ln for ln in body.strip().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
        if not lines or not CHECK.search(lines[-1]):
            problems.append("quickstart %s: its last line is not a check: %r" % (name, lines[-1] if lines else ""))
    return found, problems


def netns_list():
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return {ln.split()[0] for ln in out.splitlines() if ln.strip()}


def host_links():
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return {ln.split(": ")[1].split("@")[0] for ln in out.splitlines() if ": " in ln}


def dpdk_runtime_dirs():
    d = "/var/run/dpdk"
    return set(os.listdir(d)) if os.path.isdir(d) else set()


def tmp_paths(body):
    """The /tmp files and folders a block names (its outputs), without trailing punctuation."""
    return sorted({m.rstrip(".,;:)") for m in re.findall(r"/tmp/[A-Za-z0-9._-]+", body)})


def remove(path):
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    elif os.path.lexists(path):
        os.unlink(path)


def fake_clone(src, mp, where):
    """A folder that looks like the top of a clone after scripts/build, mirrorpipe on PATH."""
    repo = os.path.join(where, "repo")
    os.makedirs(os.path.join(repo, "build"))
    for entry in os.listdir(src):
        if entry.startswith("build") or entry in (".git", "out"):
            continue
        os.symlink(os.path.join(src, entry), os.path.join(repo, entry))
    os.symlink(mp, os.path.join(repo, "build", "mirrorpipe"))
    bindir = os.path.join(where, "bin")
    os.makedirs(bindir)
    os.symlink(mp, os.path.join(bindir, "mirrorpipe"))
    return repo, bindir


def stop_session(pgid):
    for sig, pause in ((signal.SIGINT, 2.0), (signal.SIGKILL, 0.5)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + pause
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.1)


def run_block(name, body, src, mp, timeout_s, quiet=False):
    """Runs one block; returns (ok, seconds, message)."""
    work = tempfile.mkdtemp(prefix="mp-quickstart-%s-" % name)
    paths = tmp_paths(body)
    named_ns = re.findall(r"^\s*ip netns add (\S+)", body, re.M)
    for ns in named_ns:
        if ns in netns_list():
            print("  removing namespace %s, left from an earlier run" % ns)
            subprocess.run(["ip", "netns", "del", ns])
    for p in paths:
        remove(p)
    ns_before, links_before, dpdk_before = netns_list(), host_links(), dpdk_runtime_dirs()
    repo, bindir = fake_clone(src, mp, work)
    env = dict(os.environ, PATH=bindir + ":" + os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"),
               HOME=work, PS4="+ ")
    env.pop("MIRRORPIPE", None)
    log_path = os.path.join(work, "output.log")
    started = time.monotonic()
    message = ""
    with open(log_path, "w") as log:
        p = subprocess.Popen(["bash", "-e", "-o", "pipefail", "-x", "-c", body], cwd=repo, env=env,
                             stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                             start_new_session=True)
        try:
            rc = p.wait(timeout=timeout_s)
            if rc != 0:
                message = "exit %d" % rc
        except subprocess.TimeoutExpired:
            message = "still running after %d s" % timeout_s
    stop_session(p.pid)
    p.wait()
    seconds = time.monotonic() - started
    output = open(log_path).read()
    # What the block left behind: its namespaces, interfaces in the host's namespace, DPDK's
    # runtime folders of its engines.
    for ns in sorted((netns_list() - ns_before) | (set(named_ns) & netns_list())):
        subprocess.run(["ip", "netns", "del", ns])
    # (only names the block mentions: another program on the host may add its own meanwhile)
    stray = sorted(link for link in host_links() - links_before if re.search(r"\b%s\b" % re.escape(link), body))
    for link in stray:
        subprocess.run(["ip", "link", "del", link], stderr=subprocess.DEVNULL)
    if stray and not message:
        message = "left interfaces in the host's namespace: %s" % ", ".join(stray)
    for d in dpdk_runtime_dirs() - dpdk_before:
        if d.startswith("mp-quickstart-"):  # the file prefix of examples/quickstart/*.toml
            shutil.rmtree(os.path.join("/var/run/dpdk", d), ignore_errors=True)
    if not quiet:
        print(output.rstrip())
    if message and not quiet:
        for p_ in paths:
            logs = [p_] if p_.endswith(".log") else \
                [os.path.join(p_, f) for f in sorted(os.listdir(p_)) if f.endswith(".log")] if os.path.isdir(p_) else []
            for f in logs:
                print("--- %s" % f)
                print(open(f, errors="replace").read().rstrip()[-4000:])
    if os.environ.get("KEEP"):
        print("  kept %s and %s" % (work, " ".join(paths)))
    else:
        shutil.rmtree(work, ignore_errors=True)
        for p_ in paths:
            remove(p_)
    return not message, seconds, message


def main():
    mp = sys.argv[1] if len(sys.argv) > 1 and sys.argv[1] else os.environ.get("MIRRORPIPE", "")
    src = os.path.abspath(sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "../.."))
    only = sys.argv[3:]
    if not mp:
        mp = os.path.join(src, "build", "mirrorpipe")
    mp = os.path.abspath(mp)
    if not os.access(mp, os.X_OK):
        print("FAIL: no mirrorpipe binary at %s" % mp)
        return 1
    if os.geteuid() != 0:
        print("SKIP: the quick starts run as root (network namespaces, DPDK)")
        return 77
    for tool in ("ip", "tcpdump", "tcpreplay", "tshark", "timeout"):
        if not shutil.which(tool):
            print("FAIL: %s is missing (scripts/build installs it)" % tool)
            return 1

    found, problems = blocks_of(os.path.join(src, "README.md"))
    for p in problems:
        print("FAIL: README.md: " + p)

    # The runner must be able to fail: a wrong check, and a failing command in the middle.
    for body, why in (("echo 27 | grep -x 28", "a check that does not hold"),
                      ("false\necho 1 | grep -x 1", "a failing command before the check")):
        ok, _, _ = run_block("self-test", body, src, mp, 10, quiet=True)
        if ok:
            problems.append("the runner passed %s" % why)
            print("FAIL: the runner passed %s" % why)

    results = []
    for name, body in found:
        if only and name not in only:
            continue
        print("=== quickstart %s" % name)
        ok, seconds, message = run_block(name, body, src, mp, TIMEOUT_S.get(name, DEFAULT_TIMEOUT_S))
        print("=== quickstart %s: %s in %.1f s%s" % (name, "passed" if ok else "FAILED", seconds,
                                                      "" if ok else " (%s)" % message))
        results.append((name, ok))
    if only:
        for n in only:
            if n not in [r[0] for r in results]:
                problems.append("no quick start named %s" % n)
                print("FAIL: no quick start named %s" % n)
    failed = [n for n, ok in results if not ok]
    print("quickstarts: %d passed, %d failed%s" % (len(results) - len(failed), len(failed) + len(problems),
                                                   (": " + ", ".join(failed)) if failed else ""))
    return 1 if failed or problems else 0


if __name__ == "__main__":
    sys.exit(main())
