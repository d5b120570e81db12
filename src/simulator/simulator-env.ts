import type { SimulatorOptions } from './upstream-simulator';

export type SimulatorEnvResult = { ok: true; options: SimulatorOptions } | { ok: false; problems: string[] };

type Env = Record<string, string | undefined>;

function readInteger(env: Env, name: string, fallback: number, min: number, max: number, problems: string[]): number {
  const raw = env[name]?.trim();
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    problems.push(`${name}=${raw}: expected an integer from ${min} to ${max}`);
    return fallback;
  }
  return value;
}

function readBoolean(env: Env, name: string, fallback: boolean, problems: string[]): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['true', '1', 'yes'].includes(raw)) return true;
  if (['false', '0', 'no'].includes(raw)) return false;
  problems.push(`${name}=${env[name]}: expected true or false`);
  return fallback;
}

/**
 * The standalone simulator's settings. Its defaults are a plausible hosted
 * model (200 ms to first token, 50 tokens/s), unlike the library defaults,
 * which are instant so tests stay fast. Every bad variable is reported at once.
 */
export function parseSimulatorEnv(env: Env): SimulatorEnvResult {
  const problems: string[] = [];
  const host = env.SIMULATOR_HOST?.trim() || '127.0.0.1';
  const options: SimulatorOptions = {
    host,
    port: readInteger(env, 'SIMULATOR_PORT', 8090, 0, 65535, problems),
    tls: readBoolean(env, 'SIMULATOR_TLS', false, problems),
    ttftMs: readInteger(env, 'SIMULATOR_TTFT_MS', 200, 0, 600_000, problems),
    tokensPerSecond: readInteger(env, 'SIMULATOR_TOKENS_PER_SECOND', 50, 0, 1_000_000, problems),
    keepAliveTimeoutMs: readInteger(env, 'SIMULATOR_KEEPALIVE_TIMEOUT_MS', 5000, 0, 3_600_000, problems),
  };
  return problems.length > 0 ? { ok: false, problems } : { ok: true, options };
}
