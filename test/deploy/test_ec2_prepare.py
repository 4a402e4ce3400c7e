#!/usr/bin/python3
"""scripts/ec2/prepare-instance against a fake sysfs, procfs and /dev.

The fake tree has two ENA devices as an EC2 instance shows them: 0000:00:05.0 (ens5, the primary
ENI, carrying the default route) and 0000:00:06.0 (ens6, a secondary ENI). A thread plays the
kernel's PCI core: it reads what the script writes into driver_override and the drivers' bind and
unbind files, records every write in order, and moves the `driver` symlinks and the network
interfaces as the kernel would (or records an error where the kernel would refuse). Stub `ip`,
`modprobe` and `mount` commands record their arguments instead of acting on this machine.

    test_ec2_prepare.py PROJECT_SOURCE_DIR
"""
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

SRC = sys.argv[1]
SCRIPT = os.path.join(SRC, "scripts", "ec2", "prepare-instance")
PRIMARY, SECONDARY = "0000:00:05.0", "0000:00:06.0"
IFNAMES = {PRIMARY: "ens5", SECONDARY: "ens6"}

failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def read(path):
    with open(path) as f:
        return f.read()


class FakeHost:
    """The directory tree, and the kernel thread that reacts to writes."""

    def __init__(self, root):
        self.root = root
        self.sys = os.path.join(root, "sys")
        self.proc = os.path.join(root, "proc")
        self.dev = os.path.join(root, "dev")
        self.etc = os.path.join(root, "etc")
        self.stub_log = os.path.join(root, "stub.log")
        self.writes = []   # (path relative to sys, value) in the order the kernel saw them
        self.errors = []   # writes the real kernel would have refused
        self.override_seen = {}
        self._stop = threading.Event()
        self._build()
        self._thread = threading.Thread(target=self._kernel, daemon=True)
        self._thread.start()

    # --- the tree ---
    def _build(self):
        s = self.sys
        for drv in ("ena", "vfio-pci"):
            self.add_driver(drv)
        for pci in (PRIMARY, SECONDARY):
            d = os.path.join(s, "bus/pci/devices", pci)
            write(os.path.join(d, "vendor"), "0x1d0f\n")
            write(os.path.join(d, "device"), "0xec20\n")
            write(os.path.join(d, "class"), "0x020000\n")
            write(os.path.join(d, "driver_override"), "(null)\n")
            # BAR 0: registers (non-prefetchable), BAR 2: the LLQ memory (prefetchable, 0x2200).
            bar2 = "0x00000000fe900000" if pci == SECONDARY else "0x00000000fe700000"
            write(os.path.join(d, "resource"),
                  "0x00000000febf8000 0x00000000febfbfff 0x0000000000040200\n"
                  "0x0000000000000000 0x0000000000000000 0x0000000000000000\n"
                  f"{bar2} 0x00000000fe9fffff 0x000000000014220c\n")
            self._attach(pci, "ena")
        write(os.path.join(s, "class/dmi/id/product_name"), "c6in.xlarge\n")
        hp = os.path.join(s, "kernel/mm/hugepages/hugepages-2048kB")
        write(os.path.join(hp, "nr_hugepages"), "0\n")
        write(os.path.join(hp, "free_hugepages"), "0\n")
        write(os.path.join(s, "module/vfio/parameters/enable_unsafe_noiommu_mode"), "N\n")
        os.makedirs(os.path.join(s, "class/iommu"), exist_ok=True)  # empty: no IOMMU, as on EC2
        write(os.path.join(self.proc, "net/route"),
              "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
              "ens5\t00000000\t0110A8C0\t0003\t0\t0\t100\t00000000\t0\t0\t0\n"
              "ens5\t0010A8C0\t00000000\t0001\t0\t0\t100\t00F0FFFF\t0\t0\t0\n")
        write(os.path.join(self.proc, "net/ipv6_route"),
              "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
              "00000000000000000000000000000000 ffffffff 00000001 00000000 00200200 lo\n")
        write(os.path.join(self.proc, "mounts"),
              "sysfs /sys sysfs rw 0 0\nhugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0\n")
        os.makedirs(os.path.join(self.dev, "vfio"), exist_ok=True)
        os.makedirs(self.etc, exist_ok=True)

    def add_driver(self, drv):
        d = os.path.join(self.sys, "bus/pci/drivers", drv)
        write(os.path.join(d, "bind"), "")
        write(os.path.join(d, "unbind"), "")

    def driver_of(self, pci):
        link = os.path.join(self.sys, "bus/pci/devices", pci, "driver")
        return os.path.basename(os.readlink(link)) if os.path.islink(link) else None

    def netdev(self, pci):
        return os.path.islink(os.path.join(self.sys, "class/net", IFNAMES[pci]))

    def _attach(self, pci, drv):
        dev = os.path.join(self.sys, "bus/pci/devices", pci)
        os.symlink(f"../../drivers/{drv}", os.path.join(dev, "driver"))
        os.symlink(f"../../devices/{pci}", os.path.join(self.sys, "bus/pci/drivers", drv, pci))
        if drv == "ena":
            name = IFNAMES[pci]
            nd = os.path.join(dev, "net", name)
            write(os.path.join(nd, "mtu"), "9001\n")
            os.symlink(f"../../../{pci}", os.path.join(nd, "device"))
            os.makedirs(os.path.join(self.sys, "class/net"), exist_ok=True)
            os.symlink(f"../../bus/pci/devices/{pci}/net/{name}", os.path.join(self.sys, "class/net", name))
        if drv == "vfio-pci":
            # no-IOMMU mode: vfio creates a group for the device, /dev/vfio/noiommu-N.
            os.symlink("../../../kernel/iommu_groups/0", os.path.join(dev, "iommu_group"))

    def _detach(self, pci, drv):
        dev = os.path.join(self.sys, "bus/pci/devices", pci)
        os.unlink(os.path.join(dev, "driver"))
        os.unlink(os.path.join(self.sys, "bus/pci/drivers", drv, pci))
        if drv == "ena":
            os.unlink(os.path.join(self.sys, "class/net", IFNAMES[pci]))
            shutil.rmtree(os.path.join(dev, "net"))
        if os.path.islink(os.path.join(dev, "iommu_group")):
            os.unlink(os.path.join(dev, "iommu_group"))

    # --- the kernel ---
    def _kernel(self):
        while not self._stop.is_set():
            self.step()
            time.sleep(0.005)

    def step(self):
        # The script writes driver_override before the unbind or bind it goes with, without a
        # pause between them: reading the bind and unbind files first and the overrides last
        # means an override is never seen later than the write that followed it.
        drivers_dir = os.path.join(self.sys, "bus/pci/drivers")
        pending = []
        for kind in ("bind", "unbind"):
            for drv in sorted(os.listdir(drivers_dir)):
                f = os.path.join(drivers_dir, drv, kind)
                if not os.path.isfile(f):
                    continue
                v = read(f).strip()
                if v:
                    write(f, "")
                    pending.append((kind, drv, v))
        for pci in sorted(os.listdir(os.path.join(self.sys, "bus/pci/devices"))):
            f = os.path.join(self.sys, "bus/pci/devices", pci, "driver_override")
            # An empty write clears the override (the kernel then shows "(null)"). The file is
            # not rewritten here: that would race with the script's own write.
            v = read(f).strip() or "(null)"
            if self.override_seen.get(pci, "(null)") != v:
                self.writes.append((f"bus/pci/devices/{pci}/driver_override", "" if v == "(null)" else v))
                self.override_seen[pci] = v
        for kind, drv, pci in sorted(pending, key=lambda p: p[0] != "unbind"):
            self.writes.append((f"bus/pci/drivers/{drv}/{kind}", pci))
            cur = self.driver_of(pci)
            if kind == "unbind":
                if cur != drv:
                    self.errors.append(f"unbind {pci} from {drv}, bound to {cur}: ENODEV")
                else:
                    self._detach(pci, drv)
            else:
                override = self.override_seen.get(pci, "(null)")
                if cur is not None:
                    self.errors.append(f"bind {pci} to {drv}, bound to {cur}: EBUSY")
                elif override not in ("(null)", drv):
                    self.errors.append(f"bind {pci} to {drv}, driver_override {override}: ENODEV")
                else:
                    self._attach(pci, drv)

    def take_writes(self):
        time.sleep(0.05)
        w, self.writes = self.writes, []
        return w

    def stop(self):
        self._stop.set()
        self._thread.join()

    def snapshot(self):
        """Every file's content and every link's target under the root, but the stub log."""
        snap = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            for n in dirnames + filenames:
                p = os.path.join(dirpath, n)
                if p == self.stub_log:
                    continue
                if os.path.islink(p):
                    snap[p] = "-> " + os.readlink(p)
                elif os.path.isfile(p):
                    snap[p] = read(p)
        return snap


def make_stubs(root, fake_sys):
    bindir = os.path.join(root, "bin")
    os.makedirs(bindir)
    log = os.path.join(root, "stub.log")
    for cmd in ("ip", "mount", "ethtool"):
        write(os.path.join(bindir, cmd), f'#!/bin/sh\necho "{cmd} $*" >> "{log}"\n')
    # modprobe vfio-pci: the driver appears in sysfs, with vfio's no-IOMMU parameter.
    write(os.path.join(bindir, "modprobe"),
          f'#!/bin/sh\necho "modprobe $*" >> "{log}"\n'
          f'if [ "$1" = vfio-pci ]; then mkdir -p "{fake_sys}/bus/pci/drivers/vfio-pci" '
          f'"{fake_sys}/module/vfio/parameters"; : > "{fake_sys}/bus/pci/drivers/vfio-pci/bind"; '
          f': > "{fake_sys}/bus/pci/drivers/vfio-pci/unbind"; '
          f'[ -e "{fake_sys}/module/vfio/parameters/enable_unsafe_noiommu_mode" ] || '
          f'echo N > "{fake_sys}/module/vfio/parameters/enable_unsafe_noiommu_mode"; fi\n')
    for cmd in ("ip", "mount", "ethtool", "modprobe"):
        os.chmod(os.path.join(bindir, cmd), 0o755)
    return bindir, log


def run(host, bindir, *args):
    env = dict(os.environ, PATH=bindir + ":" + os.environ.get("PATH", "/usr/bin:/bin"))
    cmd = [SCRIPT, "--sysfs-root", host.sys, "--proc-root", host.proc, "--dev-root", host.dev,
           "--etc-root", host.etc, "--wait", "3", *args]
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    print(f"$ prepare-instance {' '.join(args)}  -> {p.returncode}")
    for line in (p.stdout + p.stderr).splitlines():
        print("    " + line)
    return p


def stub_lines(log):
    if not os.path.exists(log):
        return []
    lines = read(log).splitlines()
    os.unlink(log)
    return lines


def main():
    with tempfile.TemporaryDirectory(prefix="mp-ec2-") as root:
        host = FakeHost(root)
        bindir, log = make_stubs(root, host.sys)
        try:
            scenario(host, bindir, log)
        finally:
            host.stop()
        check(host.errors == [], f"the kernel refused no write (errors: {host.errors})")
    if failures:
        print(f"{len(failures)} failed")
        return 1
    print("all passed")
    return 0


def scenario(host, bindir, log):
    sec_override = f"bus/pci/devices/{SECONDARY}/driver_override"

    # --- dry run first: prints every action, changes nothing ---
    before = host.snapshot()
    p = run(host, bindir, "--dry-run", "bind", "ens6")
    check(p.returncode == 0, "dry-run bind exits 0")
    check(f"dry-run: write 'vfio-pci' > {host.sys}/{sec_override}" in p.stdout,
          "dry-run bind prints the driver_override write")
    check(f"dry-run: write '{SECONDARY}' > {host.sys}/bus/pci/drivers/ena/unbind" in p.stdout,
          "dry-run bind prints the unbind from ena")
    check(f"dry-run: write '{SECONDARY}' > {host.sys}/bus/pci/drivers/vfio-pci/bind" in p.stdout,
          "dry-run bind prints the bind to vfio-pci")
    check("dry-run: run ip link set dev ens6 down" in p.stdout, "dry-run bind prints the link down")
    p = run(host, bindir, "--dry-run", "--hugepages", "64", "--persist", "hugepages")
    check(p.returncode == 0 and "dry-run: write '64' >" in p.stdout, "dry-run hugepages prints the write")
    p = run(host, bindir, "--dry-run", "--force", "bind", "ens5")
    check(p.returncode == 0 and f"'{PRIMARY}' > {host.sys}/bus/pci/drivers/vfio-pci/bind" in p.stdout,
          "dry-run --force bind of the primary prints its actions")
    p = run(host, bindir, "--dry-run", "tap-up", "host0", "172.31.17.188/20", "172.31.16.1")
    check(p.returncode == 0 and "dry-run: run ip route replace default via 172.31.16.1 dev host0" in p.stdout,
          "dry-run tap-up prints the default route")
    check(host.take_writes() == [], "dry runs: the kernel saw no write")
    check(stub_lines(log) == [], "dry runs: no command was run")
    check(host.snapshot() == before, "dry runs: no file, link or directory changed")

    # --- the primary ENI is refused ---
    p = run(host, bindir, "bind", "ens5")
    check(p.returncode == 2 and "default route" in p.stderr, "bind of the default-route NIC is refused, exit 2")
    p = run(host, bindir, "bind", PRIMARY)
    check(p.returncode == 2 and "default route" in p.stderr, "... also when named by PCI address")
    check(host.take_writes() == [] and stub_lines(log) == [], "the refusal wrote nothing and ran nothing")
    check(host.driver_of(PRIMARY) == "ena" and host.netdev(PRIMARY), "the primary stays with ena as ens5")

    # --- bind the secondary by interface name ---
    p = run(host, bindir, "bind", "ens6")
    check(p.returncode == 0, "bind ens6 exits 0")
    w = host.take_writes()
    check(w == [(sec_override, "vfio-pci"),
                ("bus/pci/drivers/ena/unbind", SECONDARY),
                ("bus/pci/drivers/vfio-pci/bind", SECONDARY)],
          f"bind writes driver_override, ena/unbind, vfio-pci/bind in that order (saw {w})")
    check(stub_lines(log) == ["ip link set dev ens6 down"], "bind takes the link down first")
    check(host.driver_of(SECONDARY) == "vfio-pci", "0000:00:06.0 is bound to vfio-pci")
    check(not host.netdev(SECONDARY), "ens6 is gone from the kernel")
    check(read(os.path.join(host.sys, sec_override)).strip() == "vfio-pci", "driver_override holds vfio-pci")
    check(f'devargs = "{SECONDARY}"' in p.stdout, "bind says the devargs to use")

    p = run(host, bindir, "bind", "00:06.0")
    check(p.returncode == 0 and "nothing to do" in p.stdout, "bind again (short PCI address): nothing to do")
    check(host.take_writes() == [] and stub_lines(log) == [], "the second bind wrote nothing")
    p = run(host, bindir, "bind", "ens6")
    check(p.returncode == 2 and "give its PCI address" in p.stderr,
          "a bound NIC's old interface name is refused with a hint")

    # --- status shows the binding and the write-combining state of its BAR ---
    write(os.path.join(host.sys, "kernel/debug/x86/pat_memtype_list"),
          "PAT memtype list:\nPAT: [mem 0x00000000fe900000-0x00000000fea00000] write-combining\n"
          "PAT: [mem 0x00000000febf8000-0x00000000febfc000] uncached-minus\n")
    p = run(host, bindir, "status")
    check(p.returncode == 0, "status exits 0 on an instance with ENA")
    check("c6in.xlarge" in p.stdout, "status names the instance type")
    check("enhanced networking: yes" in p.stdout, "status sees enhanced networking")
    check("default route:    ens5" in p.stdout, "status names the default-route interface")
    line = [x for x in p.stdout.splitlines() if SECONDARY in x]
    check(len(line) == 1 and "driver vfio-pci" in line[0] and "0xfe900000: write-combining" in line[0],
          f"status: 0000:00:06.0 on vfio-pci, its prefetchable BAR write-combined ({line})")
    line = [x for x in p.stdout.splitlines() if PRIMARY in x]
    check(len(line) == 1 and "driver ena" in line[0] and "interface ens5 mtu 9001" in line[0],
          f"status: 0000:00:05.0 on ena as ens5, MTU 9001 ({line})")

    # --- unbind refuses while a process holds the VFIO group ---
    fd = os.path.join(host.proc, "4242", "fd")
    os.makedirs(fd)
    os.symlink("/dev/vfio/noiommu-0", os.path.join(fd, "9"))
    write(os.path.join(host.proc, "4242", "comm"), "mirrorpipe\n")
    p = run(host, bindir, "unbind", SECONDARY)
    check(p.returncode == 2 and "4242 (mirrorpipe)" in p.stderr, "unbind refused while the engine holds the group")
    check(host.take_writes() == [] and host.driver_of(SECONDARY) == "vfio-pci", "the refused unbind wrote nothing")
    shutil.rmtree(os.path.join(host.proc, "4242"))

    # --- unbind: back to ena, ens6 comes back ---
    p = run(host, bindir, "unbind", SECONDARY)
    check(p.returncode == 0, "unbind exits 0")
    w = host.take_writes()
    check(w == [("bus/pci/drivers/vfio-pci/unbind", SECONDARY),
                (sec_override, ""),
                ("bus/pci/drivers/ena/bind", SECONDARY)],
          f"unbind writes vfio-pci/unbind, clears driver_override, ena/bind in that order (saw {w})")
    check(host.driver_of(SECONDARY) == "ena" and host.netdev(SECONDARY), "0000:00:06.0 is back with ena as ens6")
    check("as interface ens6" in p.stdout, "unbind names the interface that came back")
    p = run(host, bindir, "unbind", "ens6")
    check(p.returncode == 0 and "nothing to do" in p.stdout, "unbind again: nothing to do")
    check(host.take_writes() == [], "the second unbind wrote nothing")

    # --- hugepages from a configuration ---
    hp = os.path.join(host.sys, "kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")
    ena = os.path.join(SRC, "examples", "mirror-ena.toml")
    p = run(host, bindir, "-c", ena, "hugepages")
    # mirror-ena.toml: 2 workers, two PCI ports with 1024-descriptor rings: 2 x 2 x 2048 = 8192
    # ring buffers + 2 x (32 + 2048 + 512) + 4096 = 17472 buffers of 128 + 128 + 9216 (MTU 9001
    # + 22, rounded up to 1 KiB) + 64 = 9536 bytes: 158.9 MiB, x 1.1 + 256 MiB = 430.8 MiB:
    # 216 pages of 2 MiB.
    check(p.returncode == 0 and read(hp).strip() == "216", f"mirror-ena.toml reserves 216 hugepages ({read(hp).strip()})")
    check("17472 packet buffers" in p.stdout, "the count comes with its derivation")
    before = host.snapshot()
    p = run(host, bindir, "-c", ena, "hugepages")
    check(p.returncode == 0 and host.snapshot() == before, "hugepages again: nothing changes")
    p = run(host, bindir, "--hugepages", "100", "hugepages")
    check(read(hp).strip() == "216", "fewer pages than reserved: the reservation is kept")
    p = run(host, bindir, "--hugepages", "300", "--persist", "hugepages")
    check(p.returncode == 0 and read(hp).strip() == "300", "--hugepages 300 reserves 300")
    check(read(os.path.join(host.etc, "sysctl.d/80-mirrorpipe-hugepages.conf")).splitlines()[-1] == "vm.nr_hugepages = 300",
          "--persist writes vm.nr_hugepages to sysctl.d")
    check(stub_lines(log) == [], "hugetlbfs already mounted: no mount")
    p = run(host, bindir, "-c", os.path.join(SRC, "examples", "replay.toml"), "hugepages")
    check(p.returncode == 0 and "none needed" in p.stdout, "a --no-huge configuration needs no hugepages")

    # --- the driver: vfio-pci loaded, no-IOMMU mode switched on ---
    shutil.rmtree(os.path.join(host.sys, "bus/pci/drivers/vfio-pci"))
    p = run(host, bindir, "--persist", "driver")
    check(p.returncode == 0, "driver exits 0")
    check(stub_lines(log) == ["modprobe vfio-pci"], "driver runs modprobe vfio-pci")
    param = os.path.join(host.sys, "module/vfio/parameters/enable_unsafe_noiommu_mode")
    check(read(param).strip() == "1", "no IOMMU: enable_unsafe_noiommu_mode is set")
    check("options vfio enable_unsafe_noiommu_mode=1" in read(os.path.join(host.etc, "modprobe.d/mirrorpipe-vfio.conf")),
          "--persist writes the vfio option to modprobe.d")
    check("write combining" in p.stdout, "driver says what write combining needs")
    os.symlink("../../devices/virtual/iommu/dmar0", os.path.join(host.sys, "class/iommu/dmar0"))
    write(param, "N\n")
    p = run(host, bindir, "driver")
    check(p.returncode == 0 and read(param).strip() == "N" and stub_lines(log) == [],
          "with an IOMMU: vfio-pci loaded already, no-IOMMU mode left off")
    os.unlink(os.path.join(host.sys, "class/iommu/dmar0"))

    # --- all: hugepages, driver, every PCI port of the configuration ---
    cfg = os.path.join(host.root, "target.toml")
    write(cfg, read(os.path.join(SRC, "examples", "mirror-target-tap.toml")))
    write(hp, "0\n")
    p = run(host, bindir, "-c", cfg, "all")
    check(p.returncode == 0, "all exits 0")
    check(host.driver_of(SECONDARY) == "vfio-pci", "all binds the configuration's 0000:00:06.0")
    check(int(read(hp)) > 0, "all reserves hugepages")
    check(host.driver_of(PRIMARY) == "ena", "all leaves the primary alone")
    w = host.take_writes()
    check(("bus/pci/drivers/vfio-pci/bind", SECONDARY) in w, "all wrote the bind")
    stub_lines(log)
    p = run(host, bindir, "unbind", SECONDARY)
    check(p.returncode == 0 and host.driver_of(SECONDARY) == "ena", "and unbind gives it back")

    # --- usage errors ---
    p = run(host, bindir, "bind", "eth9")
    check(p.returncode == 2 and "no interface 'eth9'" in p.stderr, "an unknown interface is a usage error")
    p = run(host, bindir, "--driver", "uio_pci_generic", "driver")
    check(p.returncode == 2, "an unsupported --driver is a usage error")
    p = run(host, bindir, "frobnicate")
    check(p.returncode == 2, "an unknown command is a usage error")


if __name__ == "__main__":
    sys.exit(main())
