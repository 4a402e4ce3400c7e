// `mirrorpipe gwlb-emulate`: plays the Gateway Load Balancer's side toward an appliance (ours or
// any other) on a Linux interface, and checks every returned packet against GWLB's rules.
#pragma once

#include <string>

namespace mirrorpipe {

struct EmulateOptions {
  std::string iface;         // the interface toward the appliance
  std::string local_ip;      // GWLB's address (no kernel needs to own it)
  std::string appliance_ip;
  std::string appliance_mac;  // empty: resolved with ARP
  std::string read;           // inner packets from a capture (GWLB Geneve, or IP frames: one cookie per flow)
  unsigned generate = 0;      // or this many generated flows (TCP, UDP, ICMP, GRE, IPv6)
  bool reuse_cookie = false;  // send every flow again, same 5-tuple, new cookie
  double timeout_s = 1.0;     // wait for each return
  std::string write;          // the returned frames, as a pcap with their receive times ('-': stdout)
  std::string json;           // the report as JSON ('-': stdout)
};

// Returns 0 when something was sent and every packet sent came back once and passed every
// check, 1 otherwise or when writing -w, --json or the report failed (the report is printed all
// the same). Throws std::invalid_argument (exit 2) for a usage error, an unreadable capture, an
// unknown interface or an output path that cannot be opened, before anything is sent.
int run_gwlb_emulator(const EmulateOptions& o);

}  // namespace mirrorpipe
