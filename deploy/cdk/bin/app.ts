#!/usr/bin/env node
// The mirrorpipe CDK app: two environment-agnostic stacks, synthesized without any AWS account
// or lookup (`npm run synth`, or `npx cdk synth` with the CDK CLI).
//
// Context (cdk synth -c KEY=VALUE, or cdk.json):
//   deb=PATH                  upload this .deb as an asset (else: parameters PackageBucket/PackageKey)
//   instanceType=TYPE         one of SUPPORTED_INSTANCE_TYPES (default c6in.xlarge)
//   filterRules=JSON          the Traffic Mirroring filter rules (default: mirror everything)
//   transitGatewayId=tgw-...  attach the inspection VPC to this Transit Gateway, appliance mode on
//   healthCheckProtocol=TCP|HTTP|HTTPS, healthCheckPort=N   the GWLB target group's health check
import { App } from 'aws-cdk-lib';
import { InspectionStack } from '../lib/inspection-stack';
import { MirrorFilterRule, MirrorTargetStack } from '../lib/mirror-target-stack';
import { PackageSource } from '../lib/fleet';

const app = new App({ outdir: process.env.CDK_OUTDIR ?? 'cdk.out' });
const ctx = (k: string): string | undefined => app.node.tryGetContext(k) ?? undefined;

const deb = ctx('deb') ?? process.env.MIRRORPIPE_DEB;
const packageSource: PackageSource = deb ? { debFile: deb } : {};
const instanceType = ctx('instanceType');
const rules = ctx('filterRules');

new MirrorTargetStack(app, 'MirrorpipeMirrorTarget', {
  packageSource,
  instanceType,
  filterRules: rules ? (JSON.parse(rules) as MirrorFilterRule[]) : undefined,
});

const hcPort = ctx('healthCheckPort');
new InspectionStack(app, 'MirrorpipeInspection', {
  packageSource,
  instanceType,
  transitGatewayId: ctx('transitGatewayId'),
  healthCheckProtocol: ctx('healthCheckProtocol') as 'TCP' | 'HTTP' | 'HTTPS' | undefined,
  healthCheckPort: hcPort ? Number(hcPort) : undefined,
});

app.synth();
