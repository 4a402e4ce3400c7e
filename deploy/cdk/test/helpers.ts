// Reading synthesized templates: security-group rules wherever CDK put them, user data as the
// text an instance runs, and the configuration it writes, checked by `mirrorpipe check`.
import * as assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';

export interface Rule { proto: string; from: unknown; to: unknown; cidr: unknown }

/** Every ingress rule of the security group LOGICAL_ID: inline, and separate resources. */
export function ingressRules(t: Template, sgLogicalId: string): Rule[] {
  const rules: Rule[] = [];
  const sg = t.toJSON().Resources[sgLogicalId];
  assert.ok(sg, `no resource ${sgLogicalId}`);
  for (const r of sg.Properties.SecurityGroupIngress ?? []) {
    rules.push({ proto: r.IpProtocol, from: r.FromPort, to: r.ToPort, cidr: r.CidrIp ?? r.SourceSecurityGroupId });
  }
  const separate = t.findResources('AWS::EC2::SecurityGroupIngress');
  for (const res of Object.values(separate) as { Properties: Record<string, unknown> }[]) {
    const p = res.Properties;
    if (JSON.stringify(p.GroupId) !== JSON.stringify({ 'Fn::GetAtt': [sgLogicalId, 'GroupId'] })) continue;
    rules.push({ proto: p.IpProtocol as string, from: p.FromPort, to: p.ToPort, cidr: p.CidrIp ?? p.SourceSecurityGroupId });
  }
  return rules;
}

export function sortRules(rules: Rule[]): Rule[] {
  return [...rules].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
}

export function onlyLogicalId(t: Template, type: string): string {
  const ids = Object.keys(t.findResources(type));
  assert.equal(ids.length, 1, `one ${type}: ${ids.join(', ')}`);
  return ids[0];
}

/** The launch template's user data as text, each {Ref: P} replaced by VALUES[P] (or <P>). */
export function userDataText(t: Template, values: Record<string, string> = {}): string {
  const lt = t.findResources('AWS::EC2::LaunchTemplate');
  const ids = Object.keys(lt);
  assert.equal(ids.length, 1);
  const ud = lt[ids[0]].Properties.LaunchTemplateData.UserData['Fn::Base64'];
  const render = (x: unknown): string => {
    if (typeof x === 'string') return x;
    if (x && typeof x === 'object') {
      const o = x as Record<string, unknown>;
      if ('Fn::Join' in o) {
        const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
        return parts.map(render).join(sep);
      }
      if ('Ref' in o) return values[o.Ref as string] ?? `<${o.Ref}>`;
      if ('Fn::GetAtt' in o) return `<${(o['Fn::GetAtt'] as string[]).join('.')}>`;
      if ('Fn::Sub' in o) return String(o['Fn::Sub']);
    }
    throw new Error(`cannot render ${JSON.stringify(x)}`);
  };
  return render(ud);
}

/** The body of the here-document `cat > FILE <<EOF ... EOF` in a script. */
export function heredoc(script: string, file: string): string {
  const m = script.match(new RegExp(`cat > ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} <<'?EOF'?\\n([\\s\\S]*?)\\nEOF\\n`));
  assert.ok(m, `no here-document for ${file}`);
  return m[1];
}

/** bash -n: the script parses. */
export function assertBashSyntax(script: string): void {
  const r = spawnSync('bash', ['-n'], { input: script, encoding: 'utf8' });
  assert.equal(r.status, 0, `bash -n: ${r.stderr}`);
}

/**
 * `mirrorpipe check` on a configuration, when the binary is known (MIRRORPIPE, set by the test
 * suite to the built binary); returns false when it is not, so the caller can say so.
 */
export function mirrorpipeCheck(toml: string): boolean {
  const mp = process.env.MIRRORPIPE;
  if (!mp) return false;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mp-cdk-'));
  const file = path.join(dir, 'config.toml');
  fs.writeFileSync(file, toml);
  try {
    execFileSync(mp, ['check', '-c', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: string; stdout?: string };
    assert.fail(`mirrorpipe check rejected the configuration:\n${err.stderr ?? ''}${err.stdout ?? ''}\n${toml}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return true;
}
