/**
 * The Portkey AI gateway (open-source, 1.15.2), a reference point for scenario 3: the same OpenAI-format
 * call through another gateway, against the same simulator. It is installed with npm on first use into
 * bench/.tools/ (not a project dependency: only the bench runs it), and started as its own process like
 * every other side, with its provider pointed at the simulator through Portkey's own headers.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';

export const PORTKEY_VERSION = '1.15.2';
const TOOLS = join(__dirname, '..', '.tools', `portkey-gateway-${PORTKEY_VERSION}`);
export const PORTKEY_ENTRY = join(TOOLS, 'node_modules', '@portkey-ai', 'gateway', 'build', 'start-server.js');

/** The gateway's entry point, installed if missing; or why it could not be (the bench then says so and goes on). */
export function installPortkey(): { entry: string } | { problem: string } {
  if (existsSync(PORTKEY_ENTRY)) return { entry: PORTKEY_ENTRY };
  mkdirSync(TOOLS, { recursive: true });
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const result = spawnSync(
    npm,
    ['install', '--prefix', TOOLS, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', '--loglevel=error', `@portkey-ai/gateway@${PORTKEY_VERSION}`],
    { encoding: 'utf8', timeout: 300_000 },
  );
  if (existsSync(PORTKEY_ENTRY)) return { entry: PORTKEY_ENTRY };
  return { problem: `npm install @portkey-ai/gateway@${PORTKEY_VERSION} failed (${result.status ?? result.signal ?? result.error?.message}): ${`${result.stderr}`.trim().slice(0, 300)}` };
}

/** The headers that send a call through Portkey to an OpenAI-compatible upstream at `baseUrl`. */
export function portkeyHeaders(baseUrl: string, apiKey: string): Record<string, string> {
  return { 'x-portkey-provider': 'openai', 'x-portkey-custom-host': baseUrl, authorization: `Bearer ${apiKey}` };
}
