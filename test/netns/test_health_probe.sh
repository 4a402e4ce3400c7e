#!/usr/bin/env bash
# HealthProbe (engine/control/health_check.h) judged by the Linux TCP stack, in namespaces.
#
#   ns probe: vp (up, no IPv4)  ── veth ──  ns analyzer: va 10.197.0.2/24
#     health_probe_driver on vp, AF_PACKET,      python3 -m http.server :8080 (200)
#     as 10.197.0.1 / 02:00:00:00:00:01          a small server :8082 (503, logs each request)
#                                                nothing on :8081
#
# The driver holds the probe's address the way an engine port does: no kernel interface has
# 10.197.0.1 and vp's MAC is not 02:00:00:00:00:01. Why the probe side's kernel stays silent
# (no RST for the SYN-ACKs of connections it never opened, no ICMP, no ARP answer of its own):
#  - the analyzer's frames go to 02:00:00:00:00:01, not vp's MAC: the kernel marks them
#    PACKET_OTHERHOST and IPv4 drops them on arrival (ip_rcv), before any TCP;
#  - even a frame to vp's own MAC (the last case below runs the probe on it) finds no local
#    address in the namespace and forwarding off: IPv4 drops it as not local, and TCP, the
#    only one that would answer with a RST, never sees it; an ARP request for 10.197.0.1 is
#    not for an address of the kernel's, so only the driver answers it.
# AF_PACKET's ETH_P_ALL tap sees every frame before IPv4 decides (whatever its destination MAC),
# so the driver gets them all. The test checks the silence: the probe namespace's TCP counters
# (InSegs, OutSegs, OutRsts) and ICMP OutMsgs stay at 0.
#
# The analyzer's va sends with checksum offload off: veth would otherwise hand the driver
# frames with partial TCP checksums (TP_STATUS_CSUMNOTREADY), which the probe rightly refuses;
# a NIC delivers whole ones. The probe's own frames carry full checksums, and the analyzer's
# kernel verifies them (veth marks nothing as already checked): a wrong checksum would be a
# timeout here.
#
# Cases: TCP to a listener (pass; the analyzer counts each RST in TcpAttemptFails and keeps no
# SYN-RECV), TCP to a closed port (fail, refused: the kernel's RST), HTTP 200 (pass; the
# server's log has the request, no socket left behind), HTTP 503 (fail with matcher 200-399,
# pass with 500-599; the request's headers as the server read them), HTTP after the listener
# was killed (fail, refused), the SYN lost while the link is down and answered after its
# retransmission (pass after 1 s), the link down for a whole check and a member address nobody
# has (fail at the timeout), and the probe on vp's own MAC. Needs root; no skip.
set -euo pipefail
# $1 (MIRRORPIPE) and $2 (SOURCE_DIR), which every test gets, are not needed here.
driver=$(readlink -f "${3:?usage: test_health_probe.sh MIRRORPIPE SOURCE_DIR HEALTH_PROBE_DRIVER}")
py=/usr/bin/python3
. "$(dirname "$0")/lib.sh"
work=$mp_work
tag=mph$$
nsp=${tag}p
nsa=${tag}a
mp_netns "$nsp"
mp_netns "$nsa"
ip link add vp netns "$nsp" type veth peer name va netns "$nsa"
ip -n "$nsp" link set vp up
ip -n "$nsa" addr add 10.197.0.2/24 dev va
ip -n "$nsa" link set va up
ip netns exec "$nsa" ethtool -K va tx off >/dev/null
ip netns exec "$nsp" sysctl -qw net.ipv4.ip_forward=0
ip netns exec "$nsa" sysctl -qw net.ipv4.ip_forward=0
mac_a=$(ip netns exec "$nsa" cat /sys/class/net/va/address)
mac_p=$(ip netns exec "$nsp" cat /sys/class/net/vp/address)
probe_mac=02:00:00:00:00:01
probe_ip=10.197.0.1
member=10.197.0.2

failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }

# snmp NS GROUP FIELD: a counter of /proc/net/snmp in namespace NS (e.g. Tcp AttemptFails).
snmp() {
  ip netns exec "$1" awk -v g="$2:" -v f="$3" \
    '$1 == g { if (!n) { for (i = 2; i <= NF; i++) col[$i] = i; n = 1 } else print $(col[f]) }' /proc/net/snmp
}

# Sockets of the analyzer on PORT other than the listener (SYN-RECV, FIN-WAIT, TIME-WAIT...).
leftover() { ip netns exec "$nsa" ss -Htan state all "( sport = :$1 )" | grep -v LISTEN || true; }
no_leftover() { [ -z "$(leftover "$1")" ]; }
listening() { ip netns exec "$nsa" ss -Hltn "( sport = :$1 )" | grep -q LISTEN; }

# probe NAME EXPECTED [DRIVER ARGS...]: runs the driver (at most 30 s) in the probe namespace;
# its stdout must be EXPECTED (the check results, one a line, joined by spaces). The detail
# lines go to the test's output; $elapsed_ms holds the last check's time, $outcomes the
# outcomes.
probe() {
  local name=$1 expected=$2
  shift 2
  local out=$work/$name.out err=$work/$name.err
  if ! timeout 30 ip netns exec "$nsp" "$driver" --iface vp --mac "$probe_mac" --ip "$probe_ip" \
      --next-hop-mac "$mac_a" --member "$member" "$@" >"$out" 2>"$err"; then
    cat "$err"; fail "$name: the driver failed"; return 0
  fi
  sed "s/^/  $name: /" "$err"
  local got
  got=$(tr '\n' ' ' <"$out" | sed 's/ $//')
  [ "$got" = "$expected" ] || fail "$name: results '$got', expected '$expected'"
  elapsed_ms=$(sed -n 's/^check [0-9]*: .* in \([0-9.]*\) ms.*/\1/p' "$err" | tail -1)
  outcomes=$(sed -n 's/^check [0-9]*: [a-z]* (\([a-z-]*\),.*/\1/p' "$err" | tr '\n' ' ' | sed 's/ $//')
}

# between VALUE LO HI: LO <= VALUE < HI (milliseconds, decimals allowed).
between() { awk -v v="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(v >= lo && v < hi) }'; }

# The analyzer: python's own http.server (200 for /, an index.html) and a small server that
# answers 503 and logs what it read of each request.
mkdir -p "$work/www"
echo ok >"$work/www/index.html"
(cd "$work/www" && exec ip netns exec "$nsa" "$py" -m http.server 8080 --bind "$member" >"$work/http200.log" 2>&1) &
http200_pid=$!; mp_background
cat >"$work/server503.py" <<'PY'
import http.server, json, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(sys.argv[3], "a") as f:
            f.write(json.dumps({"line": self.requestline, "headers": list(self.headers.items())}) + "\n")
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
http.server.HTTPServer((sys.argv[1], int(sys.argv[2])), H).serve_forever()
PY
ip netns exec "$nsa" "$py" "$work/server503.py" "$member" 8082 "$work/requests503.jsonl" >"$work/http503.log" 2>&1 &
server503_pid=$!; mp_background
mp_wait_for 10 listening 8080 || { cat "$work/http200.log"; echo "FAIL: http.server did not listen"; exit 1; }
mp_wait_for 10 listening 8082 || { cat "$work/http503.log"; echo "FAIL: the 503 server did not listen"; exit 1; }

echo "TCP to a listener: pass, twice (the first one after the analyzer's ARP for the probe)"
attempt_fails=$(snmp "$nsa" Tcp AttemptFails)
probe tcp_open "pass pass" --protocol tcp --port 8080 --count 2 --interval 0.5 --timeout 0.5 --seed 1
grep -q "[1-9][0-9]* ARP replies" "$work/tcp_open.err" || fail "tcp_open: the driver answered no ARP request"
got=$(( $(snmp "$nsa" Tcp AttemptFails) - attempt_fails ))
[ "$got" -eq 2 ] || fail "tcp_open: the analyzer's TcpAttemptFails grew by $got, expected 2 (one accepted RST per check)"
mp_wait_for 2 no_leftover 8080 || fail "tcp_open: the analyzer kept $(leftover 8080)"
between "$elapsed_ms" 0 1000 || fail "tcp_open: $elapsed_ms ms"

echo "TCP to a closed port: fail (refused)"
out_rsts=$(snmp "$nsa" Tcp OutRsts)
probe tcp_closed "fail" --protocol tcp --port 8081 --timeout 2 --interval 2 --seed 2
[ "$outcomes" = refused ] || fail "tcp_closed: outcome '$outcomes', expected refused"
got=$(( $(snmp "$nsa" Tcp OutRsts) - out_rsts ))
[ "$got" -ge 1 ] || fail "tcp_closed: the analyzer sent no RST"
between "$elapsed_ms" 0 1000 || fail "tcp_closed: $elapsed_ms ms"

echo "HTTP 200: pass, twice; the connection closed by the probe's RST leaves nothing behind"
probe http_200 "pass pass" --protocol http --port 8080 --path / --count 2 --interval 0.5 --timeout 0.5 --seed 3
[ "$outcomes" = "pass pass" ] || fail "http_200: outcomes '$outcomes'"
n=$(grep -c '"GET / HTTP/1.1" 200' "$work/http200.log" || true)
[ "$n" -eq 2 ] || { cat "$work/http200.log"; fail "http_200: http.server logged $n requests, expected 2"; }
mp_wait_for 2 no_leftover 8080 || fail "http_200: the analyzer kept $(leftover 8080)"
between "$elapsed_ms" 0 1000 || fail "http_200: $elapsed_ms ms"

echo "HTTP 503: fail with matcher 200-399, pass with 500-599"
probe http_503 "fail" --protocol http --port 8082 --path /health --timeout 2 --interval 2 --seed 4
[ "$outcomes" = status-mismatch ] || fail "http_503: outcome '$outcomes', expected status-mismatch"
grep -q "http status 503" "$work/http_503.err" || fail "http_503: no status 503 read"
probe http_503_matched "pass" --protocol http --port 8082 --path /health --match 500-599 --timeout 2 --interval 2 --seed 5
mp_wait_for 2 no_leftover 8082 || fail "http_503: the analyzer kept $(leftover 8082)"
# The request as the server parsed it.
"$py" - "$work/requests503.jsonl" "$member" <<'PY' || fail "http_503: the request the server read"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1])]
want = {"line": "GET /health HTTP/1.1",
        "headers": [["Host", sys.argv[2] + ":8082"], ["User-Agent", "mirrorpipe-health-check"], ["Connection", "close"]]}
bad = [r for r in reqs if r != want]
print("  http_503: the server read %d requests, %d as expected: %s" % (len(reqs), len(reqs) - len(bad), want))
for r in bad:
    print("  got", r)
sys.exit(1 if bad or len(reqs) != 2 else 0)
PY

echo "HTTP after the listener was killed: fail (refused)"
kill "$http200_pid"
wait "$http200_pid" 2>/dev/null || true
mp_wait_for 5 bash -c "! ip netns exec $nsa ss -Hltn '( sport = :8080 )' | grep -q LISTEN" || fail "http.server still listens"
probe http_killed "fail" --protocol http --port 8080 --timeout 2 --interval 2 --seed 6
[ "$outcomes" = refused ] || fail "http_killed: outcome '$outcomes', expected refused"
between "$elapsed_ms" 0 1000 || fail "http_killed: $elapsed_ms ms"

echo "The first SYN lost (the analyzer's link down for 0.4 s): pass after the retransmission at 1 s"
# timeout 4 s: the first RTO is min(1 s, timeout / 4) = 1 s.
tx_dropped() { ip netns exec "$nsp" cat /sys/class/net/vp/statistics/tx_dropped; }
dropped=$(tx_dropped)
ip -n "$nsa" link set va down
(sleep 0.4; ip -n "$nsa" link set va up) &
mp_background
probe syn_retransmitted "pass" --protocol tcp --port 8082 --timeout 4 --interval 4 --seed 7
between "$elapsed_ms" 1000 1500 || fail "syn_retransmitted: $elapsed_ms ms, expected the retransmission after 1 s"
got=$(( $(tx_dropped) - dropped ))
[ "$got" -ge 1 ] || fail "syn_retransmitted: vp dropped $got frames, expected the first SYN"
mp_wait_for 5 bash -c "ip -n $nsa link show va | grep -q 'state UP'" || fail "va did not come up"

echo "The link down for the whole check: fail at the timeout (2 s)"
ip -n "$nsa" link set va down
probe link_down "fail" --protocol tcp --port 8082 --timeout 2 --interval 2 --seed 8
[ "$outcomes" = timeout ] || fail "link_down: outcome '$outcomes', expected timeout"
between "$elapsed_ms" 2000 2500 || fail "link_down: $elapsed_ms ms, expected the 2 s timeout"
ip -n "$nsa" link set va up
mp_wait_for 5 bash -c "ip -n $nsa link show va | grep -q 'state UP'" || fail "va did not come up"

echo "A member address nobody has (the analyzer drops it: not its own, no forwarding): fail at the timeout (1 s)"
member=10.197.0.77 probe nobody "fail" --protocol tcp --port 8082 --timeout 1 --interval 1 --seed 9
[ "$outcomes" = timeout ] || fail "nobody: outcome '$outcomes', expected timeout"
between "$elapsed_ms" 1000 1500 || fail "nobody: $elapsed_ms ms, expected the 1 s timeout"

echo "The probe on vp's own MAC (another address, so the analyzer ARPs again): pass, the kernel still silent"
probe_mac=$mac_p probe_ip=10.197.0.3 probe own_mac "pass" --protocol tcp --port 8082 --timeout 2 --interval 2 --seed 10

echo "The probe namespace's kernel never took part"
for counter in "Tcp InSegs" "Tcp OutSegs" "Tcp OutRsts" "Icmp OutMsgs"; do
  # shellcheck disable=SC2086
  v=$(snmp "$nsp" $counter)
  echo "  probe namespace $counter: $v"
  [ "$v" -eq 0 ] || fail "the probe namespace's kernel counted $counter = $v"
done

# Every segment of the probe's reached the analyzer's TCP with a checksum it accepted.
v=$(snmp "$nsa" Tcp InCsumErrors)
echo "  analyzer namespace Tcp InCsumErrors: $v"
[ "$v" -eq 0 ] || fail "the analyzer's kernel counted $v TCP checksum errors"

# (A background job ignores the SIGINT of lib.sh's cleanup: stopped here with SIGTERM.)
kill "$server503_pid"
wait "$server503_pid" 2>/dev/null || true

if [ "$failures" -ne 0 ]; then
  echo "health probe: $failures checks failed"
  exit 1
fi
echo "health probe: all checks passed"
