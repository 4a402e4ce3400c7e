#!/usr/bin/python3
"""A fake GWLB appliance for the gwlb-emulate tests, written apart from mirrorpipe: it reads
GWLB Geneve from a packet socket, parses it with its own code and sends it back with scapy, right
or wrong on purpose.

    fake_appliance.py IFACE CONTROL LOG READY SECONDS

CONTROL is a JSON file read again whenever it changes: {"run": NAME, "mode": MODE, "every": K}.
A new run name starts afresh (packet count, stale-cookie memory). Modes:
    correct           each packet back as GWLB expects: addresses swapped, ports and Geneve kept
    stale             the Geneve header first seen for the inner 5-tuple, for every later packet
                      of that 5-tuple (the stale-cookie fault after a 5-tuple is reused)
    inner             the inner packet's last byte changed (UDP checksum recomputed)
    ip_options        the outer IPv4 header with 4 bytes of options (checksums right)
    duplicate         every return sent twice
    bad_udp_checksum  a wrong, non-zero UDP checksum
The fault applies to the packets numbered n with n % K == K - 1 (every packet for K = 1;
`stale` ignores K). {"stop": true} ends it; so does SECONDS. Every packet received is logged to
LOG as one JSON line: run, n, sport, cookie, inner (hex), faulty, copies sent.
"""
import json
import os
import socket
import struct
import sys
import time

from scapy.all import IP, UDP, Ether, IPOption, IPv6, Raw

ETH_P_ALL = 3
PACKET_OUTGOING = 4


def geneve_parts(g):
    """(header bytes, cookie or None, inner bytes) of a Geneve payload."""
    optlen = (g[0] & 0x3F) * 4
    header = g[:8 + optlen]
    cookie, at = None, 8
    while at + 4 <= 8 + optlen:
        cls, typ, ln = struct.unpack("!HBB", g[at:at + 4])
        data = (ln & 0x1F) * 4
        if cls == 0x0108 and typ == 3 and data == 4:
            cookie = struct.unpack("!I", g[at + 4:at + 8])[0]
        at += 4 + data
    return header, cookie, g[8 + optlen:]


def five_tuple(inner):
    p = IPv6(inner) if inner[0] >> 4 == 6 else IP(inner)
    proto = p.nh if inner[0] >> 4 == 6 else p.proto
    ports = (p.sport, p.dport) if proto in (6, 17) else ()
    return (p.src, p.dst, proto) + ports


def main():
    iface, control, log_path, ready, seconds = sys.argv[1:6]
    end = time.monotonic() + float(seconds)
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.settimeout(0.2)
    my_mac = s.getsockname()[4]
    log = open(log_path, "a")
    open(ready, "w").write("ready\n")
    cfg, cfg_mtime, run, n, seen = {}, None, None, 0, {}
    while time.monotonic() < end:
        try:
            mtime = os.stat(control).st_mtime_ns
        except FileNotFoundError:
            mtime = None
        if mtime != cfg_mtime:
            cfg_mtime = mtime
            try:
                cfg = json.load(open(control))
            except (OSError, ValueError):
                cfg = {}
            if cfg.get("stop"):
                break
            if cfg.get("run") != run:
                run, n, seen = cfg.get("run"), 0, {}
        try:
            data, addr = s.recvfrom(65535)
        except socket.timeout:
            continue
        if addr[2] == PACKET_OUTGOING or len(data) < 42 or data[12:14] != b"\x08\x00":
            continue
        ihl = (data[14] & 0x0F) * 4
        if data[23] != 17:
            continue
        udp = 14 + ihl
        sport, dport, ulen = struct.unpack("!HHH", data[udp:udp + 6])
        if dport != 6081:
            continue
        header, cookie, inner = geneve_parts(data[udp + 8:udp + ulen])
        got = inner
        mode, every = cfg.get("mode", "correct"), max(1, int(cfg.get("every", 1)))
        faulty = mode != "correct" and (mode == "stale" or n % every == every - 1)
        ip_src = socket.inet_ntoa(data[26:30])
        ip_dst = socket.inet_ntoa(data[30:34])
        options = []
        copies = 1
        if faulty and mode == "stale":
            key = five_tuple(inner)
            if key in seen:
                faulty = seen[key] != header
                header = seen[key]
            else:
                seen[key] = header
                faulty = False
        elif faulty and mode == "inner":
            inner = inner[:-1] + bytes([inner[-1] ^ 0xFF])
        elif faulty and mode == "ip_options":
            options = [IPOption(b"\x01\x01\x01\x00")]
        elif faulty and mode == "duplicate":
            copies = 2
        reply = (Ether(src=my_mac, dst=data[6:12]) /
                 IP(src=ip_dst, dst=ip_src, ttl=64, id=0, options=options) /
                 UDP(sport=sport, dport=6081) / Raw(header + inner))
        frame = bytearray(bytes(reply))
        if faulty and mode == "bad_udp_checksum":
            at = 14 + (frame[14] & 0x0F) * 4 + 6
            good = struct.unpack("!H", frame[at:at + 2])[0]
            frame[at:at + 2] = struct.pack("!H", (good ^ 0x00FF) or 0x1234)
        for _ in range(copies):
            s.send(bytes(frame))
        log.write(json.dumps({"run": run, "n": n, "sport": sport, "cookie": cookie, "inner": got.hex(),
                              "faulty": faulty, "copies": copies}) + "\n")
        log.flush()
        n += 1
    log.close()


if __name__ == "__main__":
    main()
