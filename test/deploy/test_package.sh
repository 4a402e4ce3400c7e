#!/usr/bin/env bash
# The Debian package, end to end: cpack -G DEB in the build directory, its control fields and
# contents read back with dpkg-deb, installed with apt-get from the file, used (mirrorpipe
# --version, man -w, the man pages, the completion, the unit verified where it was installed,
# the preparation script), then removed and purged, and every file it brought checked gone.
# Needs root (it installs a package on this host); skips otherwise, and when a mirrorpipe
# package is installed already (not ours to remove).
#
#   test_package.sh PROJECT_SOURCE_DIR PROJECT_BINARY_DIR VERSION
# shellcheck disable=SC2317  # functions called through need and trap
set -euo pipefail
src=$1 build=$2 version=$3

skip() { echo "SKIP: $*"; exit 77; }
[[ $(id -u) -eq 0 ]] || skip "installing the package needs root"
if ! command -v dpkg-deb >/dev/null || ! command -v apt-get >/dev/null; then
  skip "not a Debian host (no dpkg-deb/apt-get)"
fi
command -v cpack >/dev/null || skip "no cpack"
if dpkg-query -W -f='${Status}' mirrorpipe 2>/dev/null | grep -q 'installed'; then
  skip "a mirrorpipe package is already installed on this host: not touching it"
fi

fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }
quiet() { "$@" >/dev/null 2>&1; }
need() {  # need DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}

out=$build/package-test
rm -rf "$out"
etc_before=0
[[ -e /etc/mirrorpipe ]] && etc_before=1
installed=0
cleanup() {
  if ((installed)); then
    DEBIAN_FRONTEND=noninteractive apt-get purge -y -q mirrorpipe >/dev/null 2>&1 || dpkg --purge mirrorpipe >/dev/null 2>&1 || true
  fi
  rm -rf "$out"
}
trap cleanup EXIT

# --- build -----------------------------------------------------------------------------------
(cd "$build" && cpack -G DEB -B "$out") || { echo "FAIL cpack -G DEB"; exit 1; }
deb=$(find "$out" -maxdepth 1 -name "mirrorpipe_${version}_*.deb" | head -1)
[[ -n $deb ]] || { echo "FAIL no mirrorpipe_${version}_*.deb in $out"; ls -la "$out"; exit 1; }
ok "cpack built ${deb##*/}"

# --- control fields --------------------------------------------------------------------------
field() { dpkg-deb -f "$deb" "$1"; }
need "Package: mirrorpipe" test "$(field Package)" = mirrorpipe
need "Version: $version" test "$(field Version)" = "$version"
need "Architecture: $(dpkg --print-architecture)" test "$(field Architecture)" = "$(dpkg --print-architecture)"
need "Maintainer set" test -n "$(field Maintainer)"
need "Description with a summary and a body" test "$(field Description | wc -l)" -gt 3
depends=$(field Depends)
echo "     Depends: $depends"
# Every package named in Depends must be one of Debian's own: known to apt on this Debian host.
known() { apt-cache show --no-all-versions "$1" >/dev/null 2>&1; }
IFS=',' read -ra deps <<<"$depends"
for d in "${deps[@]}"; do
  name=$(awk '{print $1}' <<<"$d")
  need "Depends: $name is a Debian package" known "$name"
done
# DPDK: inside the binary (a static build, cmake/Dpdk.cmake: no librte_*.so linked, the drivers
# built in), else its shared libraries and the driver plugins, named in Depends.
musts="libpcap0.8 libtomlplusplus3"
needed=$(readelf -d "$build/mirrorpipe" | awk -F'[][]' '/NEEDED/ {print $2}')
if grep -q '^librte_' <<<"$needed"; then
  musts="$musts librte-eal23 librte-ethdev23 librte-net-ena23 librte-mempool-ring23"
else
  musts="$musts libnuma1 libxdp1 libbpf1"  # DPDK's own dependencies, linked with it
  need "no DPDK package in Depends (a static build)" test -z "$(grep -oE 'librte-[a-z0-9-]+' <<<"$depends" || true)"
  for sym in net_ena_pmd_info net_iavf_pmd_info net_ixgbe_vf_pmd_info net_af_xdp_pmd_info mp_hdlr_init_ops_mp_mc; do
    need "built in: $sym" grep -qw "$sym" <(nm "$build/mirrorpipe" 2>/dev/null)
  done
fi
for must in $musts; do
  need "Depends names $must" grep -qE "(^|, )$must( |,|$)" <<<"$depends"
done
# The binary links nothing that Depends does not cover: every shared library it needs belongs to
# one of the packages named.
while read -r lib; do
  pkg=$(dpkg -S "$(readlink -f "$lib")" 2>/dev/null | head -1 | cut -d: -f1) || pkg=
  [[ -n $pkg ]] || pkg=$(dpkg -S "$lib" 2>/dev/null | head -1 | cut -d: -f1) || true
  case $pkg in
    libc6|libgcc-s1|libstdc++6|'') continue ;;  # essential or the C++ runtime, named by shlibdeps
  esac
  # transitive dependencies of a named package are fine: check the direct ones only
  if ! grep -qE "(^|, )$pkg( |,|$)" <<<"$depends"; then
    direct=$(readelf -d "$build/mirrorpipe" | awk -F'[][]' '/NEEDED/ {print $2}')
    if grep -qx "${lib##*/}" <<<"$direct"; then bad "the binary needs ${lib##*/} from $pkg, not in Depends"; fi
  fi
done < <(ldd "$build/mirrorpipe" | awk '$3 ~ /^\// {print $3}')

# --- contents --------------------------------------------------------------------------------
contents=$(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's#^\./#/#')
has() { grep -qx "$1" <<<"$contents"; }
need "/usr/bin/mirrorpipe" has /usr/bin/mirrorpipe
need "/usr/sbin/mirrorpipe-prepare-instance" has /usr/sbin/mirrorpipe-prepare-instance
need "/usr/lib/systemd/system/mirrorpipe@.service" has /usr/lib/systemd/system/mirrorpipe@.service
need "bash completion" has /usr/share/bash-completion/completions/mirrorpipe
for f in "$src"/examples/*.toml; do
  need "example ${f##*/}" has "/usr/share/doc/mirrorpipe/examples/${f##*/}"
done
for f in "$src"/docs/man/*.scd; do
  page=${f##*/}; page=${page%.scd}
  need "man page $page" has "/usr/share/man/man${page##*.}/$page.gz"
done
if ! grep -q '^librte_' <<<"$needed"; then
  need "DPDK's copyright notice, for the DPDK built in" has /usr/share/doc/mirrorpipe/copyright.dpdk
fi
need "nothing under /usr/local or /etc" test -z "$(grep -E '^/(usr/local|etc)/' <<<"$contents" || true)"
need "the unit runs /usr/bin/mirrorpipe" grep -q '^ExecStart=/usr/bin/mirrorpipe run' \
  <(dpkg-deb --fsys-tarfile "$deb" | tar -xO ./usr/lib/systemd/system/mirrorpipe@.service)

# --- install ---------------------------------------------------------------------------------
installed=1
if DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$deb" >"$out/install.log" 2>&1; then
  ok "apt-get install ./${deb##*/}"
else
  bad "apt-get install failed:"; sed 's/^/    /' "$out/install.log"; exit 1
fi
need "dpkg says installed" grep -q 'install ok installed' <(dpkg-query -W -f='${Status}' mirrorpipe)
if v=$(/usr/bin/mirrorpipe --version); then ok "mirrorpipe --version exits 0: $v"; else bad "mirrorpipe --version failed"; fi
need "--version names $version" grep -q "$version" <<<"$v"
need "man -w mirrorpipe finds /usr/share/man/man1/mirrorpipe.1.gz" test "$(man -w mirrorpipe)" = /usr/share/man/man1/mirrorpipe.1.gz
need "man -w mirrorpipe-encap" test "$(man -w mirrorpipe-encap)" = /usr/share/man/man1/mirrorpipe-encap.1.gz
need "man 8 mirrorpipe-prepare-instance" test "$(man -w 8 mirrorpipe-prepare-instance)" = /usr/share/man/man8/mirrorpipe-prepare-instance.8.gz
need "man mirrorpipe-run renders its SIGNALS section" grep -q SIGHUP <(MANPAGER=cat MANWIDTH=100 man mirrorpipe-run 2>/dev/null)
need "mirrorpipe-prepare-instance --help" quiet /usr/sbin/mirrorpipe-prepare-instance --help
need "postinst made /etc/mirrorpipe" test -d /etc/mirrorpipe
completion=$(bash -c 'source /usr/share/bash-completion/completions/mirrorpipe
  COMP_WORDS=(mirrorpipe enc); COMP_CWORD=1; _mirrorpipe; echo "${COMPREPLY[*]}"')
need "bash completion completes 'mirrorpipe enc' to encap" test "$completion" = encap
need "mirrorpipe check on an installed example" quiet /usr/bin/mirrorpipe check -c /usr/share/doc/mirrorpipe/examples/mirror-target-tap.toml
if command -v systemd-analyze >/dev/null; then
  rc=0; v=$(systemd-analyze verify /usr/lib/systemd/system/mirrorpipe@.service 2>&1) || rc=$?
  need "systemd-analyze verify on the installed unit (binary and man pages in place)" test "$rc" = 0 -a -z "$v"
  [[ -z $v ]] || printf '    %s\n' "$v"
fi

# --- remove and purge ------------------------------------------------------------------------
if DEBIAN_FRONTEND=noninteractive apt-get remove -y -q mirrorpipe >"$out/remove.log" 2>&1; then
  ok "apt-get remove mirrorpipe"
else
  bad "apt-get remove failed:"; sed 's/^/    /' "$out/remove.log"
fi
left=()
while read -r f; do
  [[ -n $f && $f != */ ]] || continue
  [[ -e $f || -L $f ]] && left+=("$f")
done <<<"$contents"
need "every file of the package is gone (left: ${left[*]:-none})" test ${#left[@]} -eq 0
need "the binary is gone from PATH" test -z "$(command -v mirrorpipe || true)"
DEBIAN_FRONTEND=noninteractive dpkg --purge mirrorpipe >/dev/null 2>&1 || true
installed=0
need "dpkg knows nothing of it after the purge" test -z "$(dpkg-query -W -f='${Status}' mirrorpipe 2>/dev/null || true)"
if ((etc_before)); then
  echo "     /etc/mirrorpipe existed before the test: left as it was"
else
  need "the purge removed the empty /etc/mirrorpipe" test ! -e /etc/mirrorpipe
fi

((fail == 0)) && echo "all passed" || echo "some checks failed"
exit $fail
