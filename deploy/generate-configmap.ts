/**
 * Writes deploy/k8s/configmap.yaml from .env.example, so the cluster's defaults
 * are the documented ones: `npm run deploy:configmap`. Every active `NAME=value`
 * line becomes a key; comments, including commented-out provider lines, are
 * skipped (provider keys belong in the Secret). Then PRODUCTION_OVERRIDES, the few
 * values a fleet must not run with, replace or add theirs. A test checks that the
 * committed file equals what this generates.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { stringify } from 'yaml';

export const ENV_EXAMPLE_FILE = join(__dirname, '..', '.env.example');
export const CONFIGMAP_FILE = join(__dirname, 'k8s', 'configmap.yaml');
export const CONFIGMAP_NAME = 'llm-service-config';

/**
 * Where production differs from the documented (developer-friendly) defaults. Each is a variable
 * documented in .env.example; keep this list short, every entry is a default a laptop wants and a fleet must not have.
 */
export const PRODUCTION_OVERRIDES: Readonly<Record<string, string>> = {
  // Never answer with stand-in text: a pod without a provider must fail its boot (NODE_ENV=production does
  // this for auto too; off says it outright).
  LLM_SIMULATOR: 'off',
  // Documents are the operator's, in PostgreSQL: no demo corpus seeded into them.
  SEARCH_SAMPLE_CORPUS: 'false',
  // For the cluster's log pipeline, whatever the container runtime says about a TTY.
  LOG_FORMAT: 'json',
  // The image's directory (Dockerfile). Nothing writes there with DATABASE_URL set, which the Deployment requires.
  SEARCH_DATA_DIR: '/var/lib/llm-service/search',
};

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
    `# Production overrides of .env.example (deploy/generate-configmap.ts): ${Object.keys(PRODUCTION_OVERRIDES).join(', ')}.`,
  ].join('\n');
  const configMap = {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: CONFIGMAP_NAME, labels: { 'app.kubernetes.io/name': 'llm-service' } },
    // Strings all: a ConfigMap holds no numbers or booleans.
    data: vars,
  };
  // Every value double-quoted: kubectl reads YAML 1.1, where a bare off, on, yes or no is a boolean, and a
  // ConfigMap with a boolean in its data is refused.
  return `${header}\n${stringify(configMap, { lineWidth: 0, defaultStringType: 'QUOTE_DOUBLE', defaultKeyType: 'PLAIN' })}`;
}

/** The ConfigMap's data: .env.example's active values, then the production overrides (in .env.example's order, new keys last). */
export function productionValues(envExample = readFileSync(ENV_EXAMPLE_FILE, 'utf8')): Record<string, string> {
  return { ...parseEnvExample(envExample), ...PRODUCTION_OVERRIDES };
}

export function generateConfigMap(envExample = readFileSync(ENV_EXAMPLE_FILE, 'utf8')): string {
  return renderConfigMap(productionValues(envExample));
}

if (require.main === module) {
  const text = generateConfigMap();
  writeFileSync(CONFIGMAP_FILE, text);
  const keys = Object.keys(productionValues()).length;
  const overrides = Object.keys(PRODUCTION_OVERRIDES).length;
  process.stdout.write(`wrote ${relative(process.cwd(), CONFIGMAP_FILE)} (${keys} keys from .env.example, ${overrides} production overrides)\n`);
}
