// mirrorpipe as a VPC Traffic Mirroring target: an Auto Scaling group of engines behind an
// internal Network Load Balancer with a UDP 4789 listener, the Traffic Mirroring target that
// points at the NLB, a filter whose rules come from the props, and a session from the monitored
// ENI given as a parameter.
import { CfnOutput, CfnParameter, Duration, Stack, StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { Construct } from 'constructs';
import { targetConfig } from './engine-config';
import { EngineFleet, NetworkProps, PackageSource, network } from './fleet';

/** VXLAN, as Traffic Mirroring sends it (RFC 7348's port). */
export const VXLAN_PORT = 4789;

/** One Traffic Mirroring filter rule (AWS::EC2::TrafficMirrorFilterRule). */
export interface MirrorFilterRule {
  readonly direction: 'ingress' | 'egress';
  /** 1-32766, unique per direction; rules are evaluated in ascending order, first match wins. */
  readonly ruleNumber: number;
  readonly action: 'accept' | 'reject';
  /** IANA protocol number (6 TCP, 17 UDP, 1 ICMP); absent: all protocols. */
  readonly protocol?: number;
  readonly sourceCidr: string;
  readonly destinationCidr: string;
  readonly sourcePorts?: [number, number];
  readonly destinationPorts?: [number, number];
  readonly description?: string;
}

/** Mirror everything, both directions: what a filter with no rule of a direction does not do. */
export const MIRROR_ALL: readonly MirrorFilterRule[] = [
  { direction: 'ingress', ruleNumber: 100, action: 'accept', sourceCidr: '0.0.0.0/0', destinationCidr: '0.0.0.0/0', description: 'all inbound' },
  { direction: 'egress', ruleNumber: 100, action: 'accept', sourceCidr: '0.0.0.0/0', destinationCidr: '0.0.0.0/0', description: 'all outbound' },
];

export interface MirrorTargetStackProps extends StackProps, NetworkProps {
  /** Instance type: one of SUPPORTED_INSTANCE_TYPES. Default c6in.xlarge. */
  readonly instanceType?: string;
  readonly minCapacity?: number;
  readonly maxCapacity?: number;
  readonly desiredCapacity?: number;
  /** Engine workers per instance (one core each). Default 2. */
  readonly workers?: number;
  /** Where the instances get the .deb. Default: parameters PackageBucket and PackageKey. */
  readonly packageSource?: PackageSource;
  /** Default of the HealthCheckPort parameter: the TCP listener behind the exception TAP. Default 8080. */
  readonly healthCheckPort?: number;
  /** The Traffic Mirroring filter's rules. Default MIRROR_ALL. */
  readonly filterRules?: readonly MirrorFilterRule[];
  /** The session's VXLAN network identifier, also the only VNI the engines accept. Default 5569041. */
  readonly sessionVni?: number;
  /** Session number, 1-32766 (1 is the highest priority). Default 1. */
  readonly sessionNumber?: number;
  /** Bytes of each packet to mirror (PacketLength); absent: whole packets. */
  readonly packetLength?: number;
  /** Sources allowed to send VXLAN (the mirrored ENIs). Default: the VPC's CIDR. */
  readonly mirrorSourceCidrs?: string[];
  readonly keyName?: string;
}

export class MirrorTargetStack extends Stack {
  readonly fleet: EngineFleet;
  readonly loadBalancer: elbv2.NetworkLoadBalancer;
  readonly targetGroup: elbv2.NetworkTargetGroup;
  readonly mirrorTarget: ec2.CfnTrafficMirrorTarget;
  readonly mirrorFilter: ec2.CfnTrafficMirrorFilter;
  readonly mirrorSession: ec2.CfnTrafficMirrorSession;

  constructor(scope: Construct, id: string, props: MirrorTargetStackProps = {}) {
    super(scope, id, props);
    this.templateOptions.description =
      'mirrorpipe: Traffic Mirroring target (NLB UDP 4789 -> Auto Scaling group of DPDK engines)';
    const net = network(this, props);
    const vni = props.sessionVni ?? 5569041;
    checkRange('sessionVni', vni, 0, 16777215);
    const sources = props.mirrorSourceCidrs ?? [net.vpcCidr];
    const rules = props.filterRules ?? MIRROR_ALL;
    checkFilterRules(rules);

    const healthPort = new CfnParameter(this, 'HealthCheckPort', {
      type: 'Number', default: props.healthCheckPort ?? 8080, minValue: 1, maxValue: 65535,
      description: 'TCP port of the health-check listener on the instances (behind the exception TAP); not 4789',
    });
    const monitoredEni = new CfnParameter(this, 'MonitoredEniId', {
      type: 'String', allowedPattern: '^eni-[0-9a-f]{8,17}$',
      description: 'The network interface whose traffic is mirrored (the session\'s source)',
    });

    this.fleet = new EngineFleet(this, 'Targets', {
      network: net,
      configName: 'target',
      configToml: targetConfig({
        pci: '$PCI', ip: '$IP', workers: props.workers ?? 2, allowSources: sources, allowVnis: [vni],
      }),
      instanceType: props.instanceType ?? 'c6in.xlarge',
      minCapacity: props.minCapacity ?? 2,
      maxCapacity: props.maxCapacity ?? 4,
      desiredCapacity: props.desiredCapacity,
      packageSource: props.packageSource ?? {},
      healthCheckPort: healthPort.valueAsString,
      keyName: props.keyName,
      // The NLB keeps the client's address for UDP to instance targets: VXLAN arrives from the
      // mirrored ENIs themselves. Its health checks come from its own addresses in the VPC.
      ingress: [
        ...sources.map((cidr) => ({
          peer: ec2.Peer.ipv4(cidr), port: ec2.Port.udp(VXLAN_PORT),
          description: 'VXLAN from Traffic Mirroring sources (through the NLB)',
        })),
        {
          peer: ec2.Peer.ipv4(net.vpcCidr), port: ec2.Port.tcp(healthPort.valueAsNumber),
          description: 'NLB health checks',
        },
      ],
    });

    this.loadBalancer = new elbv2.NetworkLoadBalancer(this, 'Nlb', {
      vpc: net.vpc,
      vpcSubnets: net.subnets,
      internetFacing: false,
      crossZoneEnabled: true,  // a source's flows spread over every healthy target, in any AZ
    });
    this.targetGroup = new elbv2.NetworkTargetGroup(this, 'Vxlan', {
      vpc: net.vpc,
      port: VXLAN_PORT,
      protocol: elbv2.Protocol.UDP,
      targetType: elbv2.TargetType.INSTANCE,
      targets: [this.fleet.autoScalingGroup],
      deregistrationDelay: Duration.seconds(30),
      healthCheck: {
        protocol: elbv2.Protocol.TCP,
        port: healthPort.valueAsString,
        interval: Duration.seconds(10),
        healthyThresholdCount: 3,
        unhealthyThresholdCount: 3,
      },
    });
    this.loadBalancer.addListener('Vxlan', {
      port: VXLAN_PORT,
      protocol: elbv2.Protocol.UDP,
      defaultTargetGroups: [this.targetGroup],
    });

    this.mirrorTarget = new ec2.CfnTrafficMirrorTarget(this, 'MirrorTarget', {
      networkLoadBalancerArn: this.loadBalancer.loadBalancerArn,
      description: 'mirrorpipe engines behind an NLB (UDP 4789)',
    });
    this.mirrorFilter = new ec2.CfnTrafficMirrorFilter(this, 'MirrorFilter', {
      description: 'mirrorpipe: what the session mirrors',
    });
    rules.forEach((r) => {
      new ec2.CfnTrafficMirrorFilterRule(this, `Rule${r.direction === 'ingress' ? 'In' : 'Out'}${r.ruleNumber}`, {
        trafficMirrorFilterId: this.mirrorFilter.ref,
        trafficDirection: r.direction,
        ruleNumber: r.ruleNumber,
        ruleAction: r.action,
        protocol: r.protocol,
        sourceCidrBlock: r.sourceCidr,
        destinationCidrBlock: r.destinationCidr,
        sourcePortRange: r.sourcePorts ? { fromPort: r.sourcePorts[0], toPort: r.sourcePorts[1] } : undefined,
        destinationPortRange: r.destinationPorts
          ? { fromPort: r.destinationPorts[0], toPort: r.destinationPorts[1] } : undefined,
        description: r.description,
      });
    });
    if (props.packetLength !== undefined) checkRange('packetLength', props.packetLength, 1, 8500);
    this.mirrorSession = new ec2.CfnTrafficMirrorSession(this, 'MirrorSession', {
      networkInterfaceId: monitoredEni.valueAsString,
      trafficMirrorTargetId: this.mirrorTarget.ref,
      trafficMirrorFilterId: this.mirrorFilter.ref,
      sessionNumber: props.sessionNumber ?? 1,
      virtualNetworkId: vni,
      packetLength: props.packetLength,
      description: 'mirrorpipe session',
    });

    new CfnOutput(this, 'NlbDnsName', { value: this.loadBalancer.loadBalancerDnsName });
    new CfnOutput(this, 'TrafficMirrorTargetId', { value: this.mirrorTarget.ref });
    new CfnOutput(this, 'TrafficMirrorFilterId', { value: this.mirrorFilter.ref });
  }
}

function checkRange(what: string, v: number, lo: number, hi: number): void {
  if (!Number.isInteger(v) || v < lo || v > hi) throw new Error(`${what} ${v}: not an integer in ${lo}-${hi}`);
}

/** AWS's limits on filter rules, checked at synthesis rather than at deployment. */
export function checkFilterRules(rules: readonly MirrorFilterRule[]): void {
  // At most 10 rules per filter (AWS Traffic Mirroring quotas).
  if (rules.length > 10) throw new Error(`${rules.length} filter rules: a Traffic Mirroring filter takes at most 10`);
  const seen = new Set<string>();
  for (const r of rules) {
    checkRange('ruleNumber', r.ruleNumber, 1, 32766);
    const k = `${r.direction}/${r.ruleNumber}`;
    if (seen.has(k)) throw new Error(`filter rule number ${r.ruleNumber} used twice for ${r.direction}`);
    seen.add(k);
    if (r.protocol !== undefined) checkRange('protocol', r.protocol, 0, 255);
    for (const range of [r.sourcePorts, r.destinationPorts]) {
      if (!range) continue;
      if (r.protocol !== 6 && r.protocol !== 17) throw new Error(`rule ${k}: port ranges need protocol 6 (TCP) or 17 (UDP)`);
      checkRange('port', range[0], 0, 65535);
      checkRange('port', range[1], range[0], 65535);
    }
    const v6 = [r.sourceCidr, r.destinationCidr].map((c) => c.includes(':'));
    if (v6[0] !== v6[1]) throw new Error(`rule ${k}: source and destination CIDRs must be both IPv4 or both IPv6`);
  }
}
