import * as assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { InspectionStack, InspectionStackProps } from '../lib/inspection-stack';
import {
  assertBashSyntax, heredoc, ingressRules, mirrorpipeCheck, onlyLogicalId, sortRules, userDataText,
} from './helpers';

function synth(props: InspectionStackProps = {}): Template {
  return Template.fromStack(new InspectionStack(new App(), 'I', props));
}

const VPC_CIDR = { Ref: 'VpcCidr' };

describe('InspectionStack', () => {
  const t = synth();

  it('has a Gateway Load Balancer whose listener forwards to a GENEVE 6081 target group', () => {
    t.resourceCountIs('AWS::ElasticLoadBalancingV2::LoadBalancer', 1);
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Type: 'gateway' });
    const tg = onlyLogicalId(t, 'AWS::ElasticLoadBalancingV2::TargetGroup');
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Protocol: 'GENEVE', Port: 6081, TargetType: 'instance',
    });
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      LoadBalancerArn: { Ref: onlyLogicalId(t, 'AWS::ElasticLoadBalancingV2::LoadBalancer') },
      DefaultActions: [{ Type: 'forward', TargetGroupArn: { Ref: tg } }],
    });
    // A GWLB listener has neither protocol nor port.
    const listener = Object.values(t.findResources('AWS::ElasticLoadBalancingV2::Listener'))[0].Properties;
    assert.equal(listener.Protocol, undefined);
    assert.equal(listener.Port, undefined);
    t.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', { TargetGroupARNs: [{ Ref: tg }] });
  });

  it('health-checks with HTTP 200 on 8080 by default', () => {
    t.hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      HealthCheckProtocol: 'HTTP', HealthCheckPort: '8080', HealthCheckPath: '/', Matcher: { HttpCode: '200' },
      HealthCheckEnabled: true,
    });
  });

  it('takes the health check port and protocol from the props', () => {
    const t2 = synth({ healthCheckProtocol: 'TCP', healthCheckPort: 9000 });
    const tg = Object.values(t2.findResources('AWS::ElasticLoadBalancingV2::TargetGroup'))[0].Properties;
    assert.equal(tg.HealthCheckProtocol, 'TCP');
    assert.equal(tg.HealthCheckPort, '9000');
    assert.equal(tg.HealthCheckPath, undefined, 'no path on a TCP check');
    const sg = onlyLogicalId(t2, 'AWS::EC2::SecurityGroup');
    assert.deepEqual(sortRules(ingressRules(t2, sg)), sortRules([
      { proto: 'udp', from: 6081, to: 6081, cidr: VPC_CIDR },
      { proto: 'tcp', from: 9000, to: 9000, cidr: VPC_CIDR },
    ]));
    assert.match(heredoc(userDataText(t2), '/etc/systemd/system/mirrorpipe-health.socket'), /^ListenStream=9000$/m);
    assert.throws(() => synth({ healthCheckPort: 6081 }), /not 6081/);
  });

  it('lets in exactly Geneve (UDP 6081) and the health check, from the VPC', () => {
    const sg = onlyLogicalId(t, 'AWS::EC2::SecurityGroup');
    assert.deepEqual(sortRules(ingressRules(t, sg)), sortRules([
      { proto: 'udp', from: 6081, to: 6081, cidr: VPC_CIDR },
      { proto: 'tcp', from: 8080, to: 8080, cidr: VPC_CIDR },
    ]));
  });

  it('runs an ENA instance type with a jumbo MTU', () => {
    t.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ InstanceType: 'c6in.xlarge' }),
    });
    synth({ instanceType: 'm6i.2xlarge' }).hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ InstanceType: 'm6i.2xlarge' }),
    });
    assert.throws(() => synth({ instanceType: 'c5.large' }), /not one of the ENA, 9001-MTU types/);
  });

  it('publishes a VPC endpoint service for GWLB endpoints', () => {
    t.hasResourceProperties('AWS::EC2::VPCEndpointService', {
      GatewayLoadBalancerArns: [{ Ref: onlyLogicalId(t, 'AWS::ElasticLoadBalancingV2::LoadBalancer') }],
      AcceptanceRequired: false,
    });
    t.resourceCountIs('AWS::EC2::VPCEndpointServicePermissions', 0);
    synth({ allowedPrincipals: ['arn:aws:iam::111122223333:root'] })
      .hasResourceProperties('AWS::EC2::VPCEndpointServicePermissions', { AllowedPrincipals: ['arn:aws:iam::111122223333:root'] });
  });

  it('attaches to a Transit Gateway with appliance mode only when one is given', () => {
    t.resourceCountIs('AWS::EC2::TransitGatewayAttachment', 0);
    const t2 = synth({ transitGatewayId: 'tgw-0123456789abcdef0' });
    t2.hasResourceProperties('AWS::EC2::TransitGatewayAttachment', {
      TransitGatewayId: 'tgw-0123456789abcdef0',
      VpcId: { Ref: 'VpcId' },
      Options: { ApplianceModeSupport: 'enable' },
    });
  });

  it('keeps GWLB\'s 5-tuple stickiness by default, 3-tuple or 2-tuple on request', () => {
    const attrs = (tt: Template) => Object.fromEntries(
      (Object.values(tt.findResources('AWS::ElasticLoadBalancingV2::TargetGroup'))[0].Properties.TargetGroupAttributes as
        { Key: string; Value: string }[]).map((a) => [a.Key, a.Value]));
    assert.equal(attrs(t)['stickiness.enabled'], undefined);
    assert.equal(attrs(synth({ flowStickiness: '3-tuple' }))['stickiness.type'], 'source_ip_dest_ip_proto');
    assert.equal(attrs(synth({ flowStickiness: '2-tuple' }))['stickiness.type'], 'source_ip_dest_ip');
    assert.throws(() => synth({ flowStickiness: '3-tuple', transitGatewayId: 'tgw-0123456789abcdef0' }), /appliance mode/);
  });

  it('boots: writes an appliance configuration mirrorpipe accepts, with GWLB\'s idle timeout', () => {
    const ud = userDataText(synth({ tcpIdleTimeoutS: 600 }), { PackageBucket: 'b', PackageKey: 'k.deb' });
    assertBashSyntax(ud);
    assert.match(ud, /^systemctl enable mirrorpipe-health\.socket mirrorpipe@appliance\.service$/m);
    const toml = heredoc(ud, '/etc/mirrorpipe/appliance.toml')
      .replaceAll('$PCI', '0000:00:05.0').replaceAll('$IP', '10.0.1.10');
    assert.match(toml, /^role = "appliance"$/m);
    assert.match(toml, /^tcp_idle_timeout_s = 600$/m);
    if (!mirrorpipeCheck(toml)) console.log('# MIRRORPIPE not set: the configuration was not run through mirrorpipe check');
    assert.throws(() => synth({ tcpIdleTimeoutS: 30 }), /60-6000/);
  });
});
