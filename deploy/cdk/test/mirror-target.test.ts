import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, it } from 'node:test';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { MirrorFilterRule, MirrorTargetStack, MirrorTargetStackProps } from '../lib/mirror-target-stack';
import {
  assertBashSyntax, heredoc, ingressRules, mirrorpipeCheck, onlyLogicalId, sortRules, userDataText,
} from './helpers';

function synth(props: MirrorTargetStackProps = {}): Template {
  const app = new App();
  return Template.fromStack(new MirrorTargetStack(app, 'T', props));
}

const VPC_CIDR = { Ref: 'VpcCidr' };
const HC_PORT = { Ref: 'HealthCheckPort' };

describe('MirrorTargetStack', () => {
  const t = synth();

  it('has an internal NLB with one UDP 4789 listener to a UDP 4789 target group', () => {
    t.resourceCountIs('AWS::ElasticLoadBalancingV2::LoadBalancer', 1);
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Type: 'network', Scheme: 'internal' });
    t.resourceCountIs('AWS::ElasticLoadBalancingV2::Listener', 1);
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      Protocol: 'UDP', Port: 4789,
      DefaultActions: [{ Type: 'forward', TargetGroupArn: { Ref: onlyLogicalId(t, 'AWS::ElasticLoadBalancingV2::TargetGroup') } }],
    });
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Protocol: 'UDP', Port: 4789, TargetType: 'instance',
    });
  });

  it('health-checks the targets with TCP on the HealthCheckPort parameter (default 8080)', () => {
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      HealthCheckProtocol: 'TCP', HealthCheckPort: HC_PORT,
    });
    t.hasParameter('HealthCheckPort', { Type: 'Number', Default: 8080 });
    assert.equal(synth({ healthCheckPort: 9100 }).toJSON().Parameters.HealthCheckPort.Default, 9100);
  });

  it('registers the Auto Scaling group in the target group and replaces instances the NLB finds unhealthy', () => {
    const tg = onlyLogicalId(t, 'AWS::ElasticLoadBalancingV2::TargetGroup');
    t.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      TargetGroupARNs: [{ Ref: tg }], HealthCheckType: 'ELB', MinSize: '2', MaxSize: '4',
    });
  });

  it('lets in exactly VXLAN (UDP 4789) and the health check, from the VPC', () => {
    const sg = onlyLogicalId(t, 'AWS::EC2::SecurityGroup');
    assert.deepEqual(sortRules(ingressRules(t, sg)), sortRules([
      { proto: 'udp', from: 4789, to: 4789, cidr: VPC_CIDR },
      { proto: 'tcp', from: HC_PORT, to: HC_PORT, cidr: VPC_CIDR },
    ]));
  });

  it('lets VXLAN in from the mirror sources given, and nothing else', () => {
    const t2 = synth({ mirrorSourceCidrs: ['10.1.0.0/16', '10.2.0.0/16'] });
    const sg = onlyLogicalId(t2, 'AWS::EC2::SecurityGroup');
    assert.deepEqual(sortRules(ingressRules(t2, sg)), sortRules([
      { proto: 'udp', from: 4789, to: 4789, cidr: '10.1.0.0/16' },
      { proto: 'udp', from: 4789, to: 4789, cidr: '10.2.0.0/16' },
      { proto: 'tcp', from: HC_PORT, to: HC_PORT, cidr: VPC_CIDR },
    ]));
    const toml = heredoc(userDataText(t2), '/etc/mirrorpipe/target.toml');
    assert.match(toml, /^allow_sources = \["10\.1\.0\.0\/16", "10\.2\.0\.0\/16"\]$/m);
  });

  it('runs an ENA instance type with a jumbo MTU, c6in.xlarge by default', () => {
    t.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        InstanceType: 'c6in.xlarge', ImageId: { Ref: 'ImageId' }, MetadataOptions: { HttpTokens: 'required' },
      }),
    });
    synth({ instanceType: 'c5n.2xlarge' }).hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ InstanceType: 'c5n.2xlarge' }),
    });
    assert.throws(() => synth({ instanceType: 't3.micro' }), /t3\.micro: not one of the ENA, 9001-MTU types/);
  });

  it('points the Traffic Mirroring target at the NLB and the session at the monitored ENI', () => {
    const nlb = onlyLogicalId(t, 'AWS::ElasticLoadBalancingV2::LoadBalancer');
    t.hasResourceProperties('AWS::EC2::TrafficMirrorTarget', { NetworkLoadBalancerArn: { Ref: nlb } });
    t.hasResourceProperties('AWS::EC2::TrafficMirrorSession', {
      NetworkInterfaceId: { Ref: 'MonitoredEniId' },
      TrafficMirrorTargetId: { Ref: onlyLogicalId(t, 'AWS::EC2::TrafficMirrorTarget') },
      TrafficMirrorFilterId: { Ref: onlyLogicalId(t, 'AWS::EC2::TrafficMirrorFilter') },
      SessionNumber: 1,
      VirtualNetworkId: 5569041,
    });
    t.hasParameter('MonitoredEniId', { Type: 'String', AllowedPattern: '^eni-[0-9a-f]{8,17}$' });
  });

  it('mirrors everything in both directions when no rule is given', () => {
    const rules = Object.values(t.findResources('AWS::EC2::TrafficMirrorFilterRule'))
      .map((r) => r.Properties).sort((a, b) => a.TrafficDirection.localeCompare(b.TrafficDirection));
    assert.deepEqual(rules.map((r) => [r.TrafficDirection, r.RuleNumber, r.RuleAction, r.SourceCidrBlock, r.DestinationCidrBlock]), [
      ['egress', 100, 'accept', '0.0.0.0/0', '0.0.0.0/0'],
      ['ingress', 100, 'accept', '0.0.0.0/0', '0.0.0.0/0'],
    ]);
  });

  it('builds the filter rules from the props', () => {
    const rules: MirrorFilterRule[] = [
      { direction: 'ingress', ruleNumber: 10, action: 'reject', protocol: 17, sourceCidr: '0.0.0.0/0', destinationCidr: '0.0.0.0/0', destinationPorts: [53, 53] },
      { direction: 'ingress', ruleNumber: 20, action: 'accept', protocol: 6, sourceCidr: '0.0.0.0/0', destinationCidr: '10.0.0.0/8', destinationPorts: [443, 443] },
      { direction: 'egress', ruleNumber: 20, action: 'accept', protocol: 6, sourceCidr: '10.0.0.0/8', destinationCidr: '0.0.0.0/0', sourcePorts: [443, 443] },
    ];
    const t2 = synth({ filterRules: rules, sessionVni: 7001, packetLength: 128 });
    t2.resourceCountIs('AWS::EC2::TrafficMirrorFilterRule', 3);
    const filter = { Ref: onlyLogicalId(t2, 'AWS::EC2::TrafficMirrorFilter') };
    t2.hasResourceProperties('AWS::EC2::TrafficMirrorFilterRule', {
      TrafficMirrorFilterId: filter, TrafficDirection: 'ingress', RuleNumber: 10, RuleAction: 'reject', Protocol: 17,
      DestinationPortRange: { FromPort: 53, ToPort: 53 },
    });
    t2.hasResourceProperties('AWS::EC2::TrafficMirrorFilterRule', {
      TrafficMirrorFilterId: filter, TrafficDirection: 'ingress', RuleNumber: 20, RuleAction: 'accept', Protocol: 6,
      DestinationCidrBlock: '10.0.0.0/8', DestinationPortRange: { FromPort: 443, ToPort: 443 },
    });
    t2.hasResourceProperties('AWS::EC2::TrafficMirrorFilterRule', {
      TrafficMirrorFilterId: filter, TrafficDirection: 'egress', RuleNumber: 20, SourcePortRange: { FromPort: 443, ToPort: 443 },
    });
    t2.hasResourceProperties('AWS::EC2::TrafficMirrorSession', { VirtualNetworkId: 7001, PacketLength: 128 });
    // The engines accept the session's VNI and no other.
    assert.match(heredoc(userDataText(t2), '/etc/mirrorpipe/target.toml'), /^allow_vnis = \[7001\]$/m);
  });

  it('refuses filter rules AWS would refuse', () => {
    const r = (n: number, extra: Partial<MirrorFilterRule> = {}): MirrorFilterRule =>
      ({ direction: 'ingress', ruleNumber: n, action: 'accept', sourceCidr: '0.0.0.0/0', destinationCidr: '0.0.0.0/0', ...extra });
    assert.throws(() => synth({ filterRules: [r(1), r(1)] }), /used twice/);
    assert.throws(() => synth({ filterRules: Array.from({ length: 11 }, (_, i) => r(i + 1)) }), /at most 10/);
    assert.throws(() => synth({ filterRules: [r(1, { destinationPorts: [80, 80] })] }), /port ranges need protocol/);
    assert.throws(() => synth({ filterRules: [r(0)] }), /ruleNumber 0/);
    assert.throws(() => synth({ filterRules: [r(1, { destinationCidr: '::/0' })] }), /both IPv4 or both IPv6/);
    assert.throws(() => synth({ packetLength: 9000 }), /packetLength 9000/);
  });

  it('boots: installs the package, writes a configuration mirrorpipe accepts, starts mirrorpipe@target', () => {
    const ud = userDataText(t, { PackageBucket: 'my-bucket', PackageKey: 'mirrorpipe_0.1.0_amd64.deb', HealthCheckPort: '8080' });
    assertBashSyntax(ud);
    assert.match(ud, /^aws s3 cp 's3:\/\/my-bucket\/mirrorpipe_0\.1\.0_amd64\.deb' \/tmp\/mirrorpipe\.deb$/m);
    assert.match(ud, /^apt-get install -y -q --no-install-recommends \/tmp\/mirrorpipe\.deb$/m);
    assert.match(ud, /^mirrorpipe check -c \/etc\/mirrorpipe\/target\.toml$/m);
    assert.match(ud, /^ExecStartPre=\+\/usr\/sbin\/mirrorpipe-prepare-instance --force --persist -c \/etc\/mirrorpipe\/target\.toml all$/m);
    assert.match(ud, /^ExecStartPost=\+\/usr\/sbin\/mirrorpipe-prepare-instance --wait 120 tap-up host0 \$IP\/\$PREFIX \$GW$/m);
    assert.match(heredoc(ud, '/etc/systemd/system/mirrorpipe-health.socket'), /^ListenStream=8080$/m);
    assert.match(ud, /^systemctl enable mirrorpipe-health\.socket mirrorpipe@target\.service$/m);
    const toml = heredoc(ud, '/etc/mirrorpipe/target.toml')
      .replaceAll('$PCI', '0000:00:05.0').replaceAll('$IP', '10.0.1.10').replaceAll('<VpcCidr>', '10.0.0.0/16');
    assert.match(toml, /^exception_tap = "host0"$/m);
    if (!mirrorpipeCheck(toml)) console.log('# MIRRORPIPE not set: the configuration was not run through mirrorpipe check');
  });

  it('reads the package from S3: the parameters, or a .deb uploaded as an asset', () => {
    const policy = JSON.stringify(t.findResources('AWS::IAM::Policy'));
    assert.match(policy, /s3:GetObject/);
    assert.match(policy, /"Ref":"PackageBucket"/);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mp-deb-'));
    const deb = path.join(dir, 'mirrorpipe_0.1.0_amd64.deb');
    fs.writeFileSync(deb, 'not really a package');
    try {
      const t2 = synth({ packageSource: { debFile: deb } });
      assert.equal(t2.toJSON().Parameters.PackageBucket, undefined, 'no PackageBucket parameter with an asset');
      assert.match(userDataText(t2), /^aws s3 cp 's3:\/\/[^/]+\/[0-9a-f]{64}\.deb' \/tmp\/mirrorpipe\.deb$/m);
      assert.throws(() => synth({ packageSource: { debFile: path.join(dir, 'missing.deb') } }), /does not exist/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('needs no AWS account or region (environment-agnostic, no lookups)', () => {
    const app = new App();
    const s = new MirrorTargetStack(app, 'Agnostic');
    assert.ok(s.resolve(s.region).Ref === 'AWS::Region');
    const asm = app.synth();
    assert.deepEqual(asm.manifest.missing ?? [], [], 'no context lookups');
  });
});
