/**
 * Writes deploy/k8s/configmap.yaml from .env.example, so the cluster's defaults
 * are the documented ones: `npm run deploy:configmap`. Every active `NAME=value`
 * line becomes a key; comments, including commented-out provider lines, are
 * skipped (provider keys belong in the Secret). A test checks that the committed
 * file equals what this generates.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { stringify } from 'yaml';

export const ENV_EXAMPLE_FILE = join(__dirname, '..', '.env.example');
export const CONFIGMAP_FILE = join(__dirname, 'k8s', 'configmap.yaml');
export const CONFIGMAP_NAME = 'llm-service-config';

/** The active `NAME=value` lines of a dotenv file, in order; anything else that is not a comment or blank is an error. */
export function parseEnvExample(text: string): Record<string, string> {
  const vars: Record<string, string> = {};
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const match = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!match) throw new Error(`.env.example line ${index + 1}: expected NAME=value or a # comment, got ${JSON.stringify(line)}`);
    const [, name, value] = match;
    if (name in vars) throw new Error(`.env.example line ${index + 1}: ${name} is set twice`);
    vars[name] = unquote(value.trim());
  });
  return vars;
}

function unquote(value: string): string {
  const quoted = /^(['"])(.*)\1$/.exec(value);
  return quoted ? quoted[2] : value;
}

export function renderConfigMap(vars: Record<string, string>): string {
  const header = [
    '# Generated from .env.example by `npm run deploy:configmap`: do not edit, change .env.example and regenerate.',
    '# Secrets (provider and service keys) are not here: see secret.template.yaml.',
  ].join('\n');
  const configMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: CONFIGMAP_NAME, labels: { 'app.kubernetes.io/name': 'llm-service' } },
    // Strings all: a ConfigMap holds no numbers, and the yaml writer quotes "3000" so it stays one.
    data: vars,
  };
  return `${header}\n${stringify(configMap, { lineWidth: 0 })}`;
}

export function generateConfigMap(envExample = readFileSync(ENV_EXAMPLE_FILE, 'utf8')): string {
  return renderConfigMap(parseEnvExample(envExample));
}

if (require.main === module) {
  const text = generateConfigMap();
  writeFileSync(CONFIGMAP_FILE, text);
  const keys = Object.keys(parseEnvExample(readFileSync(ENV_EXAMPLE_FILE, 'utf8'))).length;
  process.stdout.write(`wrote ${relative(process.cwd(), CONFIGMAP_FILE)} (${keys} keys from .env.example)\n`);
}
