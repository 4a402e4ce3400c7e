// The mirrorpipe configurations the instances run, as TOML text. Values are strings so that an
// instance's own facts (its PCI address, its IP) can be shell variables filled in at boot, and
// stack parameters CloudFormation tokens; the test renders them with concrete values and runs
// `mirrorpipe check` on the result.

export interface TargetConfigValues {
  /** PCI address of the ENI the engine takes (the primary ENI, the one the NLB sends to). */
  readonly pci: string;
  /** The instance's primary private IPv4 address: the engine answers ARP and ping for it. */
  readonly ip: string;
  /** Worker threads, one core each. */
  readonly workers: number;
  /** Outer source prefixes allowed to send mirrored traffic (the mirrored ENIs). */
  readonly allowSources: string[];
  /** Traffic Mirroring session VNIs accepted. */
  readonly allowVnis: number[];
}

/** A Traffic Mirroring target: examples/mirror-target-tap.toml with this instance's facts. */
export function targetConfig(v: TargetConfigValues): string {
  return `# mirrorpipe as a Traffic Mirroring target behind an NLB (UDP 4789), written at boot.
# Based on /usr/share/doc/mirrorpipe/examples/mirror-target-tap.toml.
[engine]
workers = ${v.workers}
stats_interval_s = 10

[eal]
args = ["--file-prefix", "mirrorpipe-target"]

[decap]
vxlan_ports = [4789]
geneve_ports = [6081]
verify_checksums = false

[[ports]]
name = "from-aws"
role = "tunnel-input"
devargs = "${v.pci}"
mtu = 9001
# The only ENI belongs to the engine: it answers ARP and ping for the instance's address and
# hands everything else that is not tunnel traffic (SSH, the NLB's health checks, the instance
# metadata service's replies) to the kernel through the TAP host0.
ip = "${v.ip}"
exception_tap = "host0"
allow_sources = [${v.allowSources.map((s) => `"${s}"`).join(", ")}]
allow_vnis = [${v.allowVnis.join(", ")}]

[[ports]]
name = "analyzers"
role = "output"
devargs = "net_tap0,iface=mirror0"   # Zeek, Suricata or tcpdump read the original frames here
mtu = 9001

[[routes]]
input = "from-aws"
output = "analyzers"
`;
}

export interface ApplianceConfigValues {
  readonly pci: string;
  readonly ip: string;
  readonly workers: number;
  /** GWLB's TCP idle timeout (350 s unless changed on the GWLB). */
  readonly tcpIdleTimeoutS: number;
  /** Flow-table entries per worker. */
  readonly flowTableSize: number;
}

/** An inline GWLB appliance: examples/gwlb-appliance.toml with this instance's facts. */
export function applianceConfig(v: ApplianceConfigValues): string {
  return `# mirrorpipe as an inline appliance behind a Gateway Load Balancer, written at boot.
# Based on /usr/share/doc/mirrorpipe/examples/gwlb-appliance.toml.
[engine]
workers = ${v.workers}
stats_interval_s = 10

[eal]
args = ["--file-prefix", "mirrorpipe-appliance"]   # mirrorpipe verdict --file-prefix mirrorpipe-appliance ...

[appliance]
flow_table_size = ${v.flowTableSize}
tcp_idle_timeout_s = ${v.tcpIdleTimeoutS}
idle_timeout_s = 120
ttl = 64

[[ports]]
name = "gwlb"
role = "appliance"
devargs = "${v.pci}"
mtu = 8568                 # GWLB's 8500-byte inner packets + 68 bytes of Geneve overhead
ip = "${v.ip}"
exception_tap = "host0"    # SSH and GWLB's health checks reach the kernel here
inject_from = "inspect"

[[ports]]
name = "inspect"
role = "output"
devargs = "net_tap_inspect,iface=mp-inspect"   # an inspection engine reads (and writes) here

[[sessions]]
name = "inline"
input = "gwlb"
sinks = ["inspect"]
`;
}
