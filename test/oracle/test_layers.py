#!/usr/bin/python3
"""The layers of docs/architecture.md hold without anyone watching: every #include in the tree is
checked against what its layer may see (dependencies point down only), and DPDK headers (rte_*)
appear only in engine/runtime, the bench and the tests that need DPDK's reference Toeplitz. The
fuzz targets (fuzz/) see at most engine/control: no engine/runtime, no DPDK.

    encap/ < decap/ < engine/pipeline < engine/config < engine/control < engine/runtime < engine/cli

usage: test_layers.py MIRRORPIPE SOURCE_DIR
"""
import os
import re
import sys

SRC = sys.argv[2]
ORDER = ["encap", "decap", "engine/pipeline", "engine/config", "engine/control", "engine/runtime", "engine/cli"]
DPDK_ALLOWED = ("engine/runtime/",)


def layer_of(path):
    for i, name in reversed(list(enumerate(ORDER))):
        if path == name or path.startswith(name + "/"):
            return i
    return None


failures = 0
files = 0
for top in ("encap", "decap", "engine", "fuzz"):
    for root, _dirs, names in os.walk(os.path.join(SRC, top)):
        for n in names:
            if not n.endswith((".h", ".cpp", ".in")):
                continue
            rel = os.path.relpath(os.path.join(root, n), SRC)
            mine = layer_of(rel)
            if rel.startswith("fuzz/"):
                mine = ORDER.index("engine/control")  # the fuzz targets: no runtime, no EAL
            files += 1
            for lineno, line in enumerate(open(os.path.join(SRC, rel)), 1):
                m = re.match(r'\s*#\s*include\s*[<"]([^>"]+)[>"]', line)
                if not m:
                    continue
                inc = m.group(1)
                if re.match(r"rte_|dpdk/", os.path.basename(inc)) or inc.startswith("rte_"):
                    if not rel.startswith(DPDK_ALLOWED):
                        print("FAIL: %s:%d includes DPDK's %s; only engine/runtime meets DPDK" % (rel, lineno, inc))
                        failures += 1
                    continue
                theirs = layer_of(inc)
                if theirs is not None and mine is not None and theirs > mine:
                    print("FAIL: %s:%d (%s) includes %s (%s), a layer above it" % (rel, lineno, ORDER[mine], inc, ORDER[theirs]))
                    failures += 1
print("layers: %d files checked, %d failed" % (files, failures))
sys.exit(1 if failures or files < 30 else 0)
