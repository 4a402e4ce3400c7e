// What both stacks share: the VPC they go into, the instance types mirrorpipe is meant for, and
// an Auto Scaling group of mirrorpipe instances whose user data installs the Debian package,
// writes the configuration and starts mirrorpipe@NAME.
import * as path from 'path';
import * as fs from 'fs';
import { CfnParameter, CfnParameterProps, Duration, Fn, Stack, Token } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3assets from 'aws-cdk-lib/aws-s3-assets';
import { Construct } from 'constructs';

/**
 * Instance types with ENA (enhanced networking) and a 9001-byte MTU, on the Nitro system, with
 * at least 4 vCPUs (the main thread, the workers, the kernel's own work behind the exception
 * TAP). The network-optimised families (c6in, c5n, m6in) have the highest packet-per-second
 * allowances for their size; c6i/m6i/c7i are the general choice.
 */
export const SUPPORTED_INSTANCE_TYPES: readonly string[] = [
  'c5n.xlarge', 'c5n.2xlarge', 'c5n.4xlarge', 'c5n.9xlarge', 'c5n.18xlarge',
  'c6in.xlarge', 'c6in.2xlarge', 'c6in.4xlarge', 'c6in.8xlarge', 'c6in.12xlarge', 'c6in.16xlarge', 'c6in.32xlarge',
  'm6in.xlarge', 'm6in.2xlarge', 'm6in.4xlarge', 'm6in.8xlarge',
  'c6i.xlarge', 'c6i.2xlarge', 'c6i.4xlarge', 'c6i.8xlarge',
  'm6i.xlarge', 'm6i.2xlarge', 'm6i.4xlarge', 'm6i.8xlarge',
  'c7i.xlarge', 'c7i.2xlarge', 'c7i.4xlarge', 'c7i.8xlarge',
];

export function checkInstanceType(t: string): string {
  if (!SUPPORTED_INSTANCE_TYPES.includes(t)) {
    throw new Error(`instance type ${t}: not one of the ENA, 9001-MTU types mirrorpipe is deployed on ` +
      `(${SUPPORTED_INSTANCE_TYPES.join(', ')})`);
  }
  return t;
}

/** Where the instances go: a VPC given as a construct, or imported from stack parameters. */
export interface NetworkProps {
  /** An existing VPC construct (an app that builds its own); else stack parameters. */
  readonly vpc?: ec2.IVpc;
  /** With `vpc`: its subnets to use; default its private subnets. */
  readonly subnets?: ec2.SubnetSelection;
  /** Without `vpc`: how many subnets (and AZs) the parameters list. Default 2. */
  readonly subnetCount?: number;
}

export interface Network {
  readonly vpc: ec2.IVpc;
  readonly subnets: ec2.SubnetSelection;
  readonly subnetIds: string[];
  readonly vpcCidr: string;
}

/**
 * The network, without lookups: synthesis needs no AWS account, and the template deploys to any
 * region. Parameters VpcId, VpcCidr and SubnetIds describe an existing VPC.
 */
export function network(scope: Construct, props: NetworkProps): Network {
  if (props.vpc) {
    const selection = props.subnets ?? { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS };
    return {
      vpc: props.vpc,
      subnets: selection,
      subnetIds: props.vpc.selectSubnets(selection).subnetIds,
      vpcCidr: props.vpc.vpcCidrBlock,
    };
  }
  const n = props.subnetCount ?? 2;
  const vpcId = new CfnParameter(scope, 'VpcId', {
    type: 'AWS::EC2::VPC::Id', description: 'The VPC of the mirrorpipe instances and their load balancer',
  });
  const vpcCidr = new CfnParameter(scope, 'VpcCidr', {
    type: 'String', description: 'The VPC\'s IPv4 CIDR: the load balancer\'s health checks and traffic come from it',
    allowedPattern: '^\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}\\.\\d{1,3}/\\d{1,2}$',
  });
  const subnetIds = new CfnParameter(scope, 'SubnetIds', {
    type: 'List<AWS::EC2::Subnet::Id>',
    description: `${n} private subnets in different AZs, with a route to the internet (NAT) or VPC endpoints for S3 and Debian's mirrors`,
  });
  const ids = Array.from({ length: n }, (_, i) => Fn.select(i, subnetIds.valueAsList));
  // The zones only label the imported subnets; everything here addresses them by ID.
  const vpc = ec2.Vpc.fromVpcAttributes(scope, 'Vpc', {
    vpcId: vpcId.valueAsString,
    vpcCidrBlock: vpcCidr.valueAsString,
    availabilityZones: Array.from({ length: n }, (_, i) => Fn.select(i, Fn.getAzs())),
    privateSubnetIds: ids,
  });
  return { vpc, subnets: { subnets: vpc.privateSubnets }, subnetIds: ids, vpcCidr: vpcCidr.valueAsString };
}

/** Where the instances get the mirrorpipe .deb from. */
export type PackageSource =
  /** A .deb built here (`cpack -G DEB`), uploaded as a CDK asset. */
  | { readonly debFile: string }
  /** An object already in S3; default: stack parameters PackageBucket and PackageKey. */
  | { readonly bucket?: string; readonly key?: string };

export interface EngineFleetProps {
  readonly network: Network;
  /** The configuration's name: /etc/mirrorpipe/NAME.toml, run by mirrorpipe@NAME. */
  readonly configName: string;
  /** The configuration, with the shell variables $PCI and $IP filled in at boot. */
  readonly configToml: string;
  readonly instanceType: string;
  readonly minCapacity: number;
  readonly maxCapacity: number;
  readonly desiredCapacity?: number;
  readonly packageSource: PackageSource;
  /** The health-check listener the load balancer probes through the exception TAP. */
  readonly healthCheckPort: number | string;
  /** Security group ingress: exactly these rules. */
  readonly ingress: { peer: ec2.IPeer; port: ec2.Port; description: string }[];
  /** An EC2 key pair for SSH (through the exception TAP); none by default. */
  readonly keyName?: string;
}

/**
 * An Auto Scaling group of mirrorpipe instances. Each instance at boot: installs the package,
 * learns its address, subnet and primary ENI, writes /etc/mirrorpipe/NAME.toml, and starts
 * mirrorpipe@NAME, whose drop-in prepares the host (hugepages, vfio-pci, the primary ENI bound:
 * the load balancer sends to the primary address) and gives the exception TAP the instance's
 * address and default route once the engine runs. A small systemd socket answers the load
 * balancer's health checks (TCP, or HTTP 200) from behind the TAP: when the engine stops, the
 * TAP goes and the checks fail, and the group replaces the instance.
 */
export class EngineFleet extends Construct {
  readonly securityGroup: ec2.SecurityGroup;
  readonly autoScalingGroup: autoscaling.AutoScalingGroup;
  readonly launchTemplate: ec2.LaunchTemplate;
  readonly role: iam.Role;

  constructor(scope: Construct, id: string, props: EngineFleetProps) {
    super(scope, id);
    checkInstanceType(props.instanceType);
    const stack = Stack.of(this);

    this.securityGroup = new ec2.SecurityGroup(this, 'SecurityGroup', {
      vpc: props.network.vpc,
      description: `mirrorpipe ${props.configName}: the tunnel port and the health check, nothing else`,
      allowAllOutbound: true,  // package installation, re-mirrored traffic, replies
    });
    for (const rule of props.ingress) {
      this.securityGroup.addIngressRule(rule.peer, rule.port, rule.description);
    }

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'mirrorpipe instances: read the package from S3',
    });

    let s3Uri: string;
    const src = props.packageSource;
    if ('debFile' in src) {
      if (!fs.existsSync(src.debFile)) {
        throw new Error(`package ${src.debFile} does not exist (cd build && cpack -G DEB)`);
      }
      const asset = new s3assets.Asset(this, 'Package', { path: path.resolve(src.debFile) });
      asset.grantRead(this.role);
      s3Uri = asset.s3ObjectUrl;
    } else {
      const bucket = src.bucket ?? packageParameter(stack, 'PackageBucket', 'S3 bucket holding the mirrorpipe .deb');
      const key = src.key ?? packageParameter(stack, 'PackageKey', 'S3 key of the mirrorpipe .deb (mirrorpipe_VERSION_amd64.deb)');
      this.role.addToPolicy(new iam.PolicyStatement({
        actions: ['s3:GetObject'],
        resources: [stack.formatArn({ service: 's3', region: '', account: '', resource: bucket, resourceName: key })],
      }));
      s3Uri = `s3://${bucket}/${key}`;
    }

    const imageId = stackParameter(stack, 'ImageId', {
      type: 'AWS::EC2::Image::Id',
      description: 'A Debian 12 (bookworm) amd64 AMI: the package depends on Debian 12\'s DPDK 22.11',
    });

    const userData = ec2.UserData.forLinux();
    userData.addCommands(...bootstrapScript({
      s3Uri,
      configName: props.configName,
      configToml: props.configToml,
      healthCheckPort: String(props.healthCheckPort),
    }));
    // The AMI from the parameter, the same in every region (no lookup at synthesis).
    const machineImage: ec2.IMachineImage = {
      getImage: () => ({ imageId, osType: ec2.OperatingSystemType.LINUX, userData }),
    };

    this.launchTemplate = new ec2.LaunchTemplate(this, 'LaunchTemplate', {
      machineImage,
      instanceType: new ec2.InstanceType(props.instanceType),
      securityGroup: this.securityGroup,
      role: this.role,
      userData,
      requireImdsv2: true,
      keyPair: props.keyName ? ec2.KeyPair.fromKeyPairName(this, 'KeyPair', props.keyName) : undefined,
    });

    this.autoScalingGroup = new autoscaling.AutoScalingGroup(this, 'Group', {
      vpc: props.network.vpc,
      vpcSubnets: props.network.subnets,
      launchTemplate: this.launchTemplate,
      minCapacity: props.minCapacity,
      maxCapacity: props.maxCapacity,
      desiredCapacity: props.desiredCapacity,
      // The load balancer's health check decides: an instance whose engine is down stops
      // answering it and is replaced. The grace period covers the package installation.
      healthChecks: autoscaling.HealthChecks.withAdditionalChecks({
        additionalTypes: [autoscaling.AdditionalHealthCheckType.ELB],
        gracePeriod: Duration.minutes(10),
      }),
    });
  }
}

/** A stack parameter, created once however many fleets ask for it. */
function stackParameter(stack: Stack, name: string, props: CfnParameterProps): string {
  const existing = stack.node.tryFindChild(name) as CfnParameter | undefined;
  return (existing ?? new CfnParameter(stack, name, props)).valueAsString;
}

function packageParameter(stack: Stack, name: string, description: string): string {
  return stackParameter(stack, name, { type: 'String', description, minLength: 1 });
}

export interface BootstrapValues {
  readonly s3Uri: string;
  readonly configName: string;
  readonly configToml: string;
  readonly healthCheckPort: string;
}

/**
 * The boot script, line by line. Runs once (cloud-init). The host is prepared again by the
 * unit's drop-in at every start of the engine, so a reboot binds the NIC again before the
 * engine runs.
 */
export function bootstrapScript(v: BootstrapValues): string[] {
  const name = v.configName;
  if (!/^[a-z][a-z0-9-]*$/.test(name)) {
    throw new Error(`configuration name '${name}': lower-case letters, digits and dashes`);
  }
  if (!Token.isUnresolved(v.healthCheckPort) && !/^[0-9]+$/.test(v.healthCheckPort)) {
    throw new Error(`health-check port '${v.healthCheckPort}' is not a number`);
  }
  return [
    'set -euo pipefail',
    'exec > >(tee -a /var/log/mirrorpipe-bootstrap.log) 2>&1',
    'export DEBIAN_FRONTEND=noninteractive',
    '# 1. The package, from S3 (awscli from Debian), with its Debian dependencies (DPDK 22.11, libpcap).',
    'apt-get update -q',
    'apt-get install -y -q --no-install-recommends awscli curl',
    `aws s3 cp '${v.s3Uri}' /tmp/mirrorpipe.deb`,
    'apt-get install -y -q --no-install-recommends /tmp/mirrorpipe.deb',
    '# 2. This instance: its address, subnet and gateway (IMDSv2), and the primary ENI\'s PCI address.',
    'TOKEN=$(curl -sf -X PUT http://169.254.169.254/latest/api/token -H "X-aws-ec2-metadata-token-ttl-seconds: 300")',
    'md() { curl -sf -H "X-aws-ec2-metadata-token: $TOKEN" "http://169.254.169.254/latest/meta-data/$1"; }',
    'IP=$(md local-ipv4)',
    'MAC=$(md mac)',
    'CIDR=$(md "network/interfaces/macs/$MAC/subnet-ipv4-cidr-block")',
    'PREFIX=${CIDR#*/}',
    '# The VPC router is the subnet\'s first address.',
    'GW=$(python3 -c "import ipaddress, sys; print(ipaddress.ip_network(sys.argv[1])[1])" "$CIDR")',
    'IF=$(ip -o -4 route show default | awk \'{print $5; exit}\')',
    'PCI=$(basename "$(readlink "/sys/class/net/$IF/device")")',
    'echo "mirrorpipe bootstrap: $IF ($PCI) $IP/$PREFIX via $GW"',
    `# 3. The configuration: /etc/mirrorpipe/${name}.toml.`,
    'install -d -m 0755 /etc/mirrorpipe',
    `cat > /etc/mirrorpipe/${name}.toml <<EOF`,
    ...v.configToml.replace(/\n$/, '').split('\n'),
    'EOF',
    `mirrorpipe check -c /etc/mirrorpipe/${name}.toml`,
    '# 4. At every start: prepare the host (hugepages from the configuration, vfio-pci, the ENI',
    '#    bound; --force: it is the primary ENI, the exception TAP gives the host its network back),',
    '#    then give the TAP the address and default route once the engine has created it.',
    `install -d /etc/systemd/system/mirrorpipe@${name}.service.d`,
    `cat > /etc/systemd/system/mirrorpipe@${name}.service.d/ec2.conf <<EOF`,
    '[Service]',
    `ExecStartPre=+/usr/sbin/mirrorpipe-prepare-instance --force --persist -c /etc/mirrorpipe/${name}.toml all`,
    'ExecStartPost=+/usr/sbin/mirrorpipe-prepare-instance --wait 120 tap-up host0 $IP/$PREFIX $GW',
    'EOF',
    '# 5. The health-check listener behind the TAP: a TCP accept, and an HTTP 200 for HTTP checks.',
    'cat > /etc/systemd/system/mirrorpipe-health.socket <<EOF',
    '[Unit]',
    'Description=mirrorpipe load-balancer health check',
    `PartOf=mirrorpipe@${name}.service`,
    '[Socket]',
    `ListenStream=${v.healthCheckPort}`,
    'Accept=yes',
    '[Install]',
    'WantedBy=sockets.target',
    'EOF',
    'cat > /etc/systemd/system/mirrorpipe-health@.service <<\'EOF\'',
    '[Unit]',
    'Description=mirrorpipe load-balancer health check reply',
    '[Service]',
    'ExecStart=/bin/printf "HTTP/1.0 200 OK\\r\\nContent-Length: 3\\r\\nConnection: close\\r\\n\\r\\nok\\n"',
    'StandardInput=socket',
    'StandardOutput=socket',
    'DynamicUser=yes',
    'EOF',
    'systemctl daemon-reload',
    `systemctl enable mirrorpipe-health.socket mirrorpipe@${name}.service`,
    'systemctl start mirrorpipe-health.socket',
    '# The NIC leaves the kernel here: from now on the host reaches the network through the engine.',
    `systemctl start --no-block mirrorpipe@${name}.service`,
  ];
}
