#!/usr/bin/python3
"""The README's list of drop reasons (section "Counters") names every reason declared in
encap/drop_reason.h, and no other: the list cannot drift from the code.

usage: test_readme_drop_reasons.py MIRRORPIPE SOURCE_DIR
"""
import os
import re
import sys

src = sys.argv[2]
declared = re.findall(r"^\s*X\((\w+), \"", open(os.path.join(src, "encap/drop_reason.h")).read(), re.M)
readme = open(os.path.join(src, "README.md")).read()
section = readme.split("### Counters", 1)[1].split("\n## ", 1)[0]
listed = set(re.findall(r"^- [^:]+: (.*?)(?=^\S|^- |\Z)", section, re.M | re.S))
names = set()
for block in re.findall(r"^- [a-z ,]+: .*?(?=^- |^\S|\Z)", section, re.M | re.S):
    # "- filtered: ..." lists the filter reasons, the other blocks the drop reasons
    names |= set(re.findall(r"`(\w+)`", block))
missing = [d for d in declared if d not in names]
extra = sorted(n for n in names if n not in declared)
for d in missing:
    print("FAIL: drop reason %s is not in the README's Counters list" % d)
for n in extra:
    print("FAIL: the README lists %s, which encap/drop_reason.h does not declare" % n)
print("readme drop reasons: %d declared, %d listed, %d failed" % (len(declared), len(names), len(missing) + len(extra)))
sys.exit(1 if missing or extra or len(declared) < 20 else 0)
