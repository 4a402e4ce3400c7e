// mirrorpipe as an inline inspection tier: appliances in an Auto Scaling group behind a Gateway
// Load Balancer (GENEVE 6081 target group), the VPC endpoint service that GWLB endpoints in
// other VPCs connect to, and optionally the Transit Gateway attachment of this (inspection) VPC
// with appliance mode on, so that both directions of a flow cross the same AZ and appliance.
import { CfnOutput, Stack, StackProps } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { Construct } from 'constructs';
import { applianceConfig } from './engine-config';
import { EngineFleet, NetworkProps, PackageSource, network } from './fleet';

/** Geneve (RFC 8926's port), the only protocol and port a GWLB target group takes. */
export const GENEVE_PORT = 6081;

export type HealthCheckProtocol = 'TCP' | 'HTTP' | 'HTTPS';
/** GWLB flow stickiness: 5-tuple (default), 3-tuple (source, destination, protocol), 2-tuple. */
export type FlowStickiness = '5-tuple' | '3-tuple' | '2-tuple';

export interface InspectionStackProps extends StackProps, NetworkProps {
  readonly instanceType?: string;
  readonly minCapacity?: number;
  readonly maxCapacity?: number;
  readonly desiredCapacity?: number;
  readonly workers?: number;
  readonly packageSource?: PackageSource;
  /** Health check protocol. Default HTTP (the listener behind the TAP answers 200). */
  readonly healthCheckProtocol?: HealthCheckProtocol;
  /** Health check port. Default 8080. */
  readonly healthCheckPort?: number;
  /** HTTP(S) health check path. Default /. */
  readonly healthCheckPath?: string;
  /** Default 5-tuple. */
  readonly flowStickiness?: FlowStickiness;
  /** GWLB's TCP idle timeout, which the appliances' flow tables follow: 60-6000 s, default 350. */
  readonly tcpIdleTimeoutS?: number;
  /** Principals (account ARNs) allowed to create GWLB endpoints to this service. */
  readonly allowedPrincipals?: string[];
  /** Endpoint connections need acceptance. Default false. */
  readonly acceptanceRequired?: boolean;
  /** A Transit Gateway to attach this VPC to, with appliance mode. */
  readonly transitGatewayId?: string;
  /** Subnets of the Transit Gateway attachment (one per AZ). Default: the appliances' subnets. */
  readonly transitGatewaySubnetIds?: string[];
  readonly keyName?: string;
}

const STICKINESS: Record<FlowStickiness, string | undefined> = {
  '5-tuple': undefined,
  '3-tuple': 'source_ip_dest_ip_proto',
  '2-tuple': 'source_ip_dest_ip',
};

export class InspectionStack extends Stack {
  readonly fleet: EngineFleet;
  readonly gatewayLoadBalancer: elbv2.CfnLoadBalancer;
  readonly targetGroup: elbv2.CfnTargetGroup;
  readonly endpointService: ec2.CfnVPCEndpointService;
  readonly transitGatewayAttachment?: ec2.CfnTransitGatewayAttachment;

  constructor(scope: Construct, id: string, props: InspectionStackProps = {}) {
    super(scope, id, props);
    this.templateOptions.description =
      'mirrorpipe: inline inspection tier (GWLB GENEVE 6081 -> Auto Scaling group of DPDK appliances)';
    const net = network(this, props);
    const hcProtocol = props.healthCheckProtocol ?? 'HTTP';
    const hcPort = props.healthCheckPort ?? 8080;
    if (!Number.isInteger(hcPort) || hcPort < 1 || hcPort > 65535 || hcPort === GENEVE_PORT) {
      throw new Error(`healthCheckPort ${hcPort}: 1-65535 and not ${GENEVE_PORT}`);
    }
    const tcpIdle = props.tcpIdleTimeoutS ?? 350;
    if (!Number.isInteger(tcpIdle) || tcpIdle < 60 || tcpIdle > 6000) {
      throw new Error(`tcpIdleTimeoutS ${tcpIdle}: GWLB accepts 60-6000`);
    }

    this.fleet = new EngineFleet(this, 'Appliances', {
      network: net,
      configName: 'appliance',
      configToml: applianceConfig({
        pci: '$PCI', ip: '$IP', workers: props.workers ?? 2, tcpIdleTimeoutS: tcpIdle, flowTableSize: 262144,
      }),
      instanceType: props.instanceType ?? 'c6in.xlarge',
      minCapacity: props.minCapacity ?? 2,
      maxCapacity: props.maxCapacity ?? 4,
      desiredCapacity: props.desiredCapacity,
      packageSource: props.packageSource ?? {},
      healthCheckPort: hcPort,
      keyName: props.keyName,
      // GWLB sends Geneve and its health checks from its own addresses in this VPC.
      ingress: [
        { peer: ec2.Peer.ipv4(net.vpcCidr), port: ec2.Port.udp(GENEVE_PORT), description: 'Geneve from the GWLB' },
        { peer: ec2.Peer.ipv4(net.vpcCidr), port: ec2.Port.tcp(hcPort), description: `GWLB health checks (${hcProtocol})` },
      ],
    });

    this.gatewayLoadBalancer = new elbv2.CfnLoadBalancer(this, 'Gwlb', {
      type: 'gateway',
      subnets: net.subnetIds,
      loadBalancerAttributes: [{ key: 'load_balancing.cross_zone.enabled', value: 'true' }],
    });

    const attributes: elbv2.CfnTargetGroup.TargetGroupAttributeProperty[] = [
      { key: 'deregistration_delay.timeout_seconds', value: '60' },
    ];
    const stickiness = STICKINESS[props.flowStickiness ?? '5-tuple'];
    // AWS: configurable flow stickiness does not work with a Transit Gateway in appliance mode.
    if (stickiness && props.transitGatewayId) {
      throw new Error(`flowStickiness ${props.flowStickiness}: GWLB ignores it behind a Transit Gateway in appliance mode; keep 5-tuple`);
    }
    if (stickiness) {
      attributes.push({ key: 'stickiness.enabled', value: 'true' }, { key: 'stickiness.type', value: stickiness });
    }
    this.targetGroup = new elbv2.CfnTargetGroup(this, 'Geneve', {
      protocol: 'GENEVE',
      port: GENEVE_PORT,
      vpcId: net.vpc.vpcId,
      targetType: 'instance',
      healthCheckEnabled: true,
      healthCheckProtocol: hcProtocol,
      healthCheckPort: String(hcPort),
      healthCheckPath: hcProtocol === 'TCP' ? undefined : (props.healthCheckPath ?? '/'),
      matcher: hcProtocol === 'TCP' ? undefined : { httpCode: '200' },
      healthCheckIntervalSeconds: 10,
      healthyThresholdCount: 3,
      unhealthyThresholdCount: 3,
      targetGroupAttributes: attributes,
    });
    // The L1 target group (GWLB has no L2 construct): the group registers its instances in it.
    (this.fleet.autoScalingGroup.node.defaultChild as autoscaling.CfnAutoScalingGroup)
      .targetGroupArns = [this.targetGroup.ref];

    new elbv2.CfnListener(this, 'Listener', {
      loadBalancerArn: this.gatewayLoadBalancer.ref,
      defaultActions: [{ type: 'forward', targetGroupArn: this.targetGroup.ref }],
    });

    this.endpointService = new ec2.CfnVPCEndpointService(this, 'EndpointService', {
      gatewayLoadBalancerArns: [this.gatewayLoadBalancer.ref],
      acceptanceRequired: props.acceptanceRequired ?? false,
    });
    if (props.allowedPrincipals?.length) {
      new ec2.CfnVPCEndpointServicePermissions(this, 'EndpointServicePermissions', {
        serviceId: this.endpointService.ref,
        allowedPrincipals: props.allowedPrincipals,
      });
    }

    if (props.transitGatewayId) {
      // Appliance mode: the Transit Gateway keeps both directions of a flow on one attachment
      // AZ for the flow's life, so GWLB (per AZ) sees both and picks the same appliance.
      this.transitGatewayAttachment = new ec2.CfnTransitGatewayAttachment(this, 'TgwAttachment', {
        transitGatewayId: props.transitGatewayId,
        vpcId: net.vpc.vpcId,
        subnetIds: props.transitGatewaySubnetIds ?? net.subnetIds,
        options: { ApplianceModeSupport: 'enable' },
      });
    }

    new CfnOutput(this, 'EndpointServiceName', {
      value: `com.amazonaws.vpce.${this.region}.${this.endpointService.ref}`,
      description: 'Service name for GWLB endpoints (AWS::EC2::VPCEndpoint, type GatewayLoadBalancer)',
    });
    new CfnOutput(this, 'GatewayLoadBalancerArn', { value: this.gatewayLoadBalancer.ref });
  }
}
