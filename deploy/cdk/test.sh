#!/usr/bin/env bash
# The CDK app's test: `npm ci` when node_modules is missing or older than package-lock.json,
# the TypeScript compiled, both stacks synthesized offline into cdk.out (no AWS account, no
# lookups, no validation warning), then the assertions on the templates (node's test runner,
# aws-cdk-lib/assertions). MIRRORPIPE=path/to/mirrorpipe also runs the configurations the
# instances write through `mirrorpipe check`.
set -euo pipefail
cd "${BASH_SOURCE[0]%/*}"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "SKIP: node and npm are needed (Debian packages nodejs and npm)"
  exit 77
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if ((major < 20)); then
  echo "SKIP: node $major is too old (aws-cdk-lib needs node 20 or later)"
  exit 77
fi

# npm writes node_modules/.package-lock.json on every install: older than package-lock.json (or
# absent) means node_modules does not match the lock file.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
  echo "== npm ci"
  npm ci --no-audit --no-fund
fi

echo "== tsc"
rm -rf dist
node_modules/.bin/tsc -p .

echo "== synth"
rm -rf cdk.out
out=$(CDK_OUTDIR=cdk.out node dist/bin/app.js 2>&1) || { echo "$out"; echo "FAIL: synth"; exit 1; }
if [[ -n $out ]]; then
  echo "$out"
  echo "FAIL: synth printed warnings or errors"
  exit 1
fi
for stack in MirrorpipeMirrorTarget MirrorpipeInspection; do
  [[ -s cdk.out/$stack.template.json ]] || { echo "FAIL: no cdk.out/$stack.template.json"; exit 1; }
  echo "cdk.out/$stack.template.json: $(node -p "Object.keys(require('./cdk.out/$stack.template.json').Resources).length") resources"
done
# Environment-agnostic, nothing looked up: the manifest lists no missing context.
node -e '
  const m = require("./cdk.out/manifest.json");
  if ((m.missing || []).length) { console.error("FAIL: context lookups:", JSON.stringify(m.missing)); process.exit(1); }
  for (const [name, a] of Object.entries(m.artifacts)) {
    if (a.type === "aws:cloudformation:stack" && a.environment !== "aws://unknown-account/unknown-region") {
      console.error("FAIL: " + name + " is bound to " + a.environment); process.exit(1);
    }
  }'

echo "== tests"
node --test dist/test/*.test.js
