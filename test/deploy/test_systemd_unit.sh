#!/usr/bin/env bash
# systemd-analyze verify on deploy/systemd/mirrorpipe@.service, its Exec lines pointed at the
# built binary (verify checks that every Exec path exists and is executable), with the man pages
# of Documentation= looked up in the build's man directory when they were built. Any message
# from verify is a failure, not only its exit code: unknown keys are reported and still exit 0.
# A broken copy of the unit must fail, so that a verify that checks nothing cannot pass.
#
#   test_systemd_unit.sh MIRRORPIPE_BINARY PROJECT_SOURCE_DIR BUILD_MAN_DIR
set -euo pipefail
mp=$1 src=$2 mandir=$3
unit=$src/deploy/systemd/mirrorpipe@.service

if ! command -v systemd-analyze >/dev/null; then
  echo "SKIP: systemd-analyze is not installed (Debian package systemd)"
  exit 77
fi
[[ -x $mp ]] || { echo "FAIL: no binary at $mp"; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
ok() { echo "ok   $*"; }
bad() { echo "FAIL $*"; fail=1; }

# What the unit must say (the verify below checks syntax and paths, not intent).
need() {  # need DESCRIPTION COMMAND...
  local what=$1; shift
  if "$@"; then ok "$what"; else bad "$what"; fi
}
# shellcheck disable=SC2317  # called through need
has_line() { grep -qx -- "$1" "$unit"; }
need "ExecStartPre checks the configuration" has_line 'ExecStartPre=/usr/bin/mirrorpipe check -c /etc/mirrorpipe/%i.toml'
need "ExecStart runs /etc/mirrorpipe/%i.toml" has_line 'ExecStart=/usr/bin/mirrorpipe run -c /etc/mirrorpipe/%i.toml'
need "reload is SIGHUP to the main process" has_line "ExecReload=/bin/kill -HUP \$MAINPID"
need "Restart=on-failure" has_line 'Restart=on-failure'
need "stdout and stderr to the journal" has_line 'StandardOutput=journal'
need "capabilities bounded to DPDK's" grep -q '^CapabilityBoundingSet=CAP_IPC_LOCK CAP_SYS_RAWIO' "$unit"
need "devices closed" has_line 'DevicePolicy=closed'
need "VFIO devices allowed" has_line 'DeviceAllow=char-vfio rw'
need "read-only system" has_line 'ProtectSystem=strict'

sed "s#/usr/bin/mirrorpipe#$mp#g" "$unit" >"$tmp/mirrorpipe@.service"
grep -q "^ExecStart=$mp run" "$tmp/mirrorpipe@.service" || bad "the Exec lines were not rewritten"

man_opt=(--man=no)
if [[ -f $mandir/man1/mirrorpipe.1.gz && -f $mandir/man8/mirrorpipe-prepare-instance.8.gz ]]; then
  man_opt=(--man=yes)
  export MANPATH=$mandir:
  echo "Documentation= man pages looked up in $mandir"
else
  echo "man pages not built (no scdoc): Documentation= not checked"
fi

for name in mirrorpipe@.service mirrorpipe@target.service; do
  [[ $name == mirrorpipe@.service ]] || cp "$tmp/mirrorpipe@.service" "$tmp/$name"
  rc=0
  out=$(cd "$tmp" && systemd-analyze verify "${man_opt[@]}" "$tmp/$name" 2>&1) || rc=$?
  if ((rc == 0)) && [[ -z $out ]]; then
    ok "systemd-analyze verify $name: no message"
  else
    bad "systemd-analyze verify $name (exit $rc):"
    printf '    %s\n' "$out"
  fi
done

# The control: an ExecStart that does not exist and an unknown key must be reported.
sed -e "s#^ExecStart=$mp#ExecStart=$tmp/no-such-binary#" -e 's/^Restart=on-failure/Restart=on-failure\nRestartWhenever=yes/' \
  "$tmp/mirrorpipe@.service" >"$tmp/broken@.service"
rc=0
out=$(cd "$tmp" && systemd-analyze verify --man=no "$tmp/broken@.service" 2>&1) || rc=$?
if ((rc != 0)) && grep -q "no-such-binary" <<<"$out" && grep -q "RestartWhenever" <<<"$out"; then
  ok "a broken copy fails verify (missing binary, unknown key)"
else
  bad "a broken copy passed verify (exit $rc): $out"
fi

((fail == 0)) && echo "all passed" || echo "some checks failed"
exit $fail
