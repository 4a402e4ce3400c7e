#!/usr/bin/python3
"""The man pages and the bash completion against the program's own command line.

- every subcommand `mirrorpipe --help` lists has a page docs/man/mirrorpipe-SUB.1.scd, and every
  page is of a subcommand that exists;
- every option `mirrorpipe SUB --help` prints is documented in that page (as *--option*), and so
  is every option of `prepare-instance --help` in mirrorpipe-prepare-instance.8.scd;
- the built pages (when scdoc was found) render with man without a warning;
- the bash completion, sourced into bash, completes subcommands, options read from --help, and
  option values.

    test_cli_docs.py MIRRORPIPE PROJECT_SOURCE_DIR BUILD_MAN_DIR
"""
import os
import re
import subprocess
import sys

MP, SRC, MANDIR = sys.argv[1], sys.argv[2], sys.argv[3]
MAN_SRC = os.path.join(SRC, "docs", "man")
PREPARE = os.path.join(SRC, "scripts", "ec2", "prepare-instance")
COMPLETION = os.path.join(SRC, "deploy", "bash-completion", "mirrorpipe")
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def help_text(*args):
    return subprocess.run(list(args) + ["--help"], capture_output=True, text=True, check=True).stdout


def options_of(text):
    """Long and short options of a --help text (CLI11's or the script's layout)."""
    opts = set()
    for line in text.splitlines():
        m = re.match(r"^\s+((?:-{1,2}[A-Za-z][\w-]*(?:\{[^}]*\})?[ ,]*)+)", line)
        if not m:
            continue
        for o in re.findall(r"(?<![\w-])(-{1,2}[A-Za-z][\w-]*)", m.group(1)):
            opts.add(o)
    return opts


def subcommands(text):
    block = text.split("Subcommands:", 1)[1]
    return [m.group(1) for m in re.finditer(r"^  ([a-z][a-z-]*)\s", block, re.M)]


def documented(page_text, opt):
    return re.search(r"\*" + re.escape(opt) + r"\*", page_text) is not None


top = help_text(MP)
subs = subcommands(top)
check(len(subs) >= 8, f"mirrorpipe --help lists subcommands ({', '.join(subs)})")
pages = sorted(f for f in os.listdir(MAN_SRC) if f.endswith(".scd"))
page_subs = sorted(f[len("mirrorpipe-"):-len(".1.scd")] for f in pages
                   if f.startswith("mirrorpipe-") and f.endswith(".1.scd"))
check(sorted(subs) == page_subs, f"one man page per subcommand (pages: {page_subs})")
main_page = open(os.path.join(MAN_SRC, "mirrorpipe.1.scd")).read()
for sub in subs:
    check(f"*{sub}*" in main_page and f"*mirrorpipe-{sub}*(1)" in main_page,
          f"mirrorpipe(1) lists {sub} and refers to mirrorpipe-{sub}(1)")
    path = os.path.join(MAN_SRC, f"mirrorpipe-{sub}.1.scd")
    if not os.path.exists(path):
        continue
    text = open(path).read()
    opts = options_of(help_text(MP, sub))
    check(len(opts) >= 2, f"{sub} --help has options ({len(opts)})")
    missing = sorted(o for o in opts if not documented(text, o))
    check(not missing, f"mirrorpipe-{sub}(1) documents every option of {sub} --help (missing: {missing})")

prep_opts = options_of(help_text(PREPARE))
prep_page = open(os.path.join(MAN_SRC, "mirrorpipe-prepare-instance.8.scd")).read()
missing = sorted(o for o in prep_opts if not documented(prep_page, o))
check(len(prep_opts) > 10 and not missing,
      f"mirrorpipe-prepare-instance(8) documents every option of --help (missing: {missing})")
for cmd in ("all", "hugepages", "driver", "bind", "unbind", "status", "tap-up"):
    check(f"*{cmd}*" in prep_page, f"mirrorpipe-prepare-instance(8) describes {cmd}")

# --- rendered pages ---
built = sorted(os.path.join(d, f) for d, _, fs in os.walk(MANDIR) for f in fs if f.endswith(".gz")) \
    if os.path.isdir(MANDIR) else []
if built:
    check(len(built) == len(pages), f"every page was built ({len(built)} of {len(pages)})")
    for page in built:
        p = subprocess.run(["man", "--warnings", "-l", page], capture_output=True, text=True,
                           env=dict(os.environ, MANPAGER="cat", MANWIDTH="100"))
        name = os.path.basename(page)
        check(p.returncode == 0 and p.stderr.strip() == "" and "NAME" in p.stdout,
              f"man renders {name} without a warning{(': ' + p.stderr.strip()) if p.stderr.strip() else ''}")
else:
    print("note: man pages not built here (no scdoc): rendering not checked")


# --- bash completion ---
def complete(*words, cur_index=None):
    """COMPREPLY for the command line WORDS, the last one being completed."""
    words = list(words)
    script = (f"source '{COMPLETION}'\n"
              f"COMP_WORDS=({' '.join(repr(w) for w in words)}); COMP_CWORD={len(words) - 1}\n"
              f"{'_mirrorpipe_prepare_instance' if words[0].endswith('prepare-instance') else '_mirrorpipe'}\n"
              "printf '%s\\n' \"${COMPREPLY[@]}\"\n")
    env = dict(os.environ, PATH=os.path.dirname(os.path.abspath(MP)) + ":" + os.environ.get("PATH", ""))
    p = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True, env=env)
    return sorted(x for x in p.stdout.splitlines() if x)


mp = os.path.abspath(MP)
check(complete(mp, "") == sorted(subs), "mirrorpipe <TAB> offers every subcommand")
check(complete(mp, "gw") == ["gwlb-emulate"], "mirrorpipe gw<TAB> -> gwlb-emulate")
check(complete(mp, "encap", "--tu") == ["--tunnel"], "encap --tu<TAB> -> --tunnel")
check(complete(mp, "encap", "--tunnel", "g") == ["geneve", "gwlb"], "encap --tunnel g<TAB> -> geneve gwlb")
check(complete(mp, "bench", "--tunnel", "a") == ["appliance"], "bench --tunnel a<TAB> -> appliance")
check(complete(mp, "decap", "--v") == ["--verify-checksums", "--vxlan-port"], "decap --v<TAB> -> its two options")
check(complete(mp, "encap", "--oversize", "") == ["drop", "truncate"], "encap --oversize <TAB>")
check(complete(mp, "verdict", "") == ["accept", "clear", "drop"], "verdict <TAB> -> drop accept clear")
run_opts = complete(mp, "run", "-")
check(set(options_of(help_text(MP, "run"))) <= set(run_opts), f"run -<TAB> offers run's options ({run_opts})")
prep = os.path.abspath(PREPARE)
check(complete(prep, "un") == ["unbind"], "prepare-instance un<TAB> -> unbind")
check(complete(prep, "--driver", "") == ["igb_uio", "vfio-pci"], "prepare-instance --driver <TAB>")
check("--dry-run" in complete(prep, "--d"), "prepare-instance --d<TAB> offers --dry-run")

if failures:
    print(f"{len(failures)} failed")
    sys.exit(1)
print("all passed")
