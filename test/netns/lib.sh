# Shared by the network-namespace tests; sourced after `set -euo pipefail`.
# Namespaces and background processes registered here are always removed on exit, whatever
# happened; waits are bounded in time.

mp_namespaces=()
mp_pids=()
mp_work=$(mktemp -d)

mp_cleanup() {
  local pid ns
  for pid in "${mp_pids[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
  [ ${#mp_pids[@]} -gt 0 ] && sleep 0.3
  for pid in "${mp_pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for ns in "${mp_namespaces[@]}"; do ip netns del "$ns" 2>/dev/null || true; done
  if [ -n "${KEEP:-}" ]; then echo "kept $mp_work"; else rm -rf "$mp_work"; fi
}
trap mp_cleanup EXIT

# mp_netns NAME [ipv6]: a namespace with lo up; IPv6 off unless asked for, so that no router
# solicitation or MLD report slips in between the frames under test.
mp_netns() {
  ip netns add "$1"
  mp_namespaces+=("$1")
  ip -n "$1" link set lo up
  if [ "${2:-}" != ipv6 ]; then
    ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
  fi
}

# mp_background: registers the last background process ($!) for cleanup.
mp_background() { mp_pids+=("$!"); }

# mp_step TEXT: says which step a test is at, with the seconds since it started, so that a test
# stopped by ctest's timeout shows where it was.
mp_step() { echo "[+${SECONDS}s] $*"; }

# mp_wait_for SECONDS COMMAND...: succeeds as soon as COMMAND does; fails after SECONDS.
mp_wait_for() {
  local tenths=$(( $1 * 10 ))
  shift
  for _ in $(seq "$tenths"); do
    if "$@"; then return 0; fi
    sleep 0.1
  done
  return 1
}

# mp_wait_engine PID LOG [COMMAND...]: waits (at most 10 s) until the engine started as PID has
# logged its first summary line ("... info  summary: [ ...") to LOG and COMMAND (another reader's readiness, if given)
# succeeds; fails the test, with the engine's log, if the engine exits or never gets there.
mp_wait_engine() {
  local pid=$1 log=$2
  shift 2
  for _ in $(seq 100); do
    if grep -q ' summary: \[' "$log" && { [ $# -eq 0 ] || "$@"; }; then return 0; fi
    kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "FAIL: the engine exited"; exit 1; }
    sleep 0.1
  done
  cat "$log"; echo "FAIL: the engine did not start"; exit 1
}

# mp_stop_engine PID LOG [STATUS]: SIGINT, then at most 20 s for the engine to finish and exit
# STATUS (0 unless given: 1 for a run whose file outputs failed). An engine that does not stop
# fails the test with its log and every thread's stack (gdb), never a hang.
mp_stop_engine() {
  local pid=$1 log=$2 want=${3:-0} rc=0
  kill -INT "$pid" 2>/dev/null || true
  for _ in $(seq 200); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    cat "$log"
    echo "FAIL: the engine did not stop within 20 s of SIGINT; its threads:"
    command -v gdb >/dev/null && gdb -p "$pid" -batch -ex "thread apply all bt 15" 2>/dev/null | grep -E "^Thread|^#" | head -80
    kill -9 "$pid" 2>/dev/null || true
    exit 1
  fi
  wait "$pid" || rc=$?
  [ "$rc" = "$want" ] || { cat "$log"; echo "FAIL: engine exit $rc, expected $want"; exit 1; }
}

# mp_veth_pair NS_A IF_A NS_B IF_B: a veth pair between two namespaces, both ends up with GRO,
# GSO and TSO off (frames as sent), and running (carrier on, which the kernel sets a moment after
# "up") before it returns, so that an engine started next first reads the link as up.
mp_veth_pair() {
  local nsa=$1 ifa=$2 nsb=$3 ifb=$4 ns dev
  ip link add "$ifa" netns "$nsa" type veth peer name "$ifb" netns "$nsb"
  for pair in "$nsa $ifa" "$nsb $ifb"; do
    read -r ns dev <<<"$pair"
    ip -n "$ns" link set "$dev" up
    ip netns exec "$ns" ethtool -K "$dev" gro off gso off tso off >/dev/null 2>&1 || true
  done
  _mp_operstate_up() { [ "$(ip netns exec "$1" cat "/sys/class/net/$2/operstate")" = up ]; }
  mp_wait_for 5 _mp_operstate_up "$nsb" "$ifb" && mp_wait_for 5 _mp_operstate_up "$nsa" "$ifa" ||
    { echo "FAIL: the veth pair $ifa/$ifb did not come up"; exit 1; }
}
