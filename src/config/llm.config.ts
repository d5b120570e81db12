import { readFileSync } from 'node:fs';
import { registerAs } from '@nestjs/config';
import { EnvReader, parseOrThrow } from './env-reader';

export type WireFormat = 'openai' | 'anthropic';

/** The knobs of one upstream's connection pool; all durations in milliseconds. */
export interface PoolSettings {
  maxConnections: number;
  maxKeepAlive: number;
  keepAliveExpiryMs: number;
  socketTtlMs: number;
  connectTimeoutMs: number;
  timeoutMs: number;
  poolTimeoutMs: number;
  maxQueue: number;
  maxRetries: number;
  idleTimeoutMs: number;
  circuitFailureThreshold: number;
  circuitOpenMs: number;
  /** First rest of an API key answered 401/403 (with two keys or more); each refusal in a row doubles it. */
  keyRestMs: number;
  /** The longest rest of a refused key: it is always probed again after at most this long. */
  keyRestMaxMs: number;
  /** A response body (decompressed, streamed or not) longer than this fails the call: 502 UPSTREAM_RESPONSE_TOO_LARGE. */
  maxResponseBytes: number;
  /** One SSE event (or a line without its newline) longer than this ends the stream the same way. */
  maxSseEventBytes: number;
}

export interface UpstreamConfig {
  /** Lower-case name used in `upstream/model` and in stats. */
  name: string;
  wire: WireFormat;
  /** Base URL the wire paths are appended to; empty for the embedded simulator until it listens. */
  baseUrl: string;
  apiKeys: string[];
  defaultModel?: string;
  pool: PoolSettings;
  /** `upstream/model` to answer instead while this upstream's circuit is open or it cannot be reached. */
  fallback?: string;
  /** The embedded simulator stands in for a provider (no keys configured). */
  embedded: boolean;
}

export interface LlmConfig {
  upstreams: UpstreamConfig[];
  defaultUpstream: string;
  /** Extra trusted CA (PEM), added to Node's bundled roots. */
  extraCaPem?: string;
  /** `production`: NODE_ENV=production and LLM_SIMULATOR=on: every response and /health/ready say the simulator runs. */
  simulator: { enabled: boolean; production: boolean; ttftMs: number; tokensPerSecond: number };
  /** GET /v1/models: how long an upstream's own model list is reused (0 = never asked) and how long asking may take. */
  models: { cacheMs: number; timeoutMs: number };
}

/** Pool knob -> env suffix; `LLM_<SUFFIX>` sets the default, `LLM_<UPSTREAM>_<SUFFIX>` one upstream. */
const POOL_KNOBS: Record<keyof PoolSettings, { suffix: string; min: number; max: number; unit: string }> = {
  maxConnections: { suffix: 'MAX_CONNECTIONS', min: 1, max: 10_000, unit: 'sockets' },
  maxKeepAlive: { suffix: 'MAX_KEEPALIVE', min: 0, max: 10_000, unit: 'idle sockets' },
  keepAliveExpiryMs: { suffix: 'KEEPALIVE_EXPIRY_MS', min: 100, max: 3_600_000, unit: 'ms' },
  socketTtlMs: { suffix: 'SOCKET_TTL_MS', min: 0, max: 86_400_000, unit: 'ms, 0 = unlimited' },
  connectTimeoutMs: { suffix: 'CONNECT_TIMEOUT_MS', min: 1, max: 600_000, unit: 'ms' },
  timeoutMs: { suffix: 'TIMEOUT_MS', min: 1, max: 3_600_000, unit: 'ms' },
  poolTimeoutMs: { suffix: 'POOL_TIMEOUT_MS', min: 1, max: 600_000, unit: 'ms' },
  maxQueue: { suffix: 'MAX_QUEUE', min: 0, max: 1_000_000, unit: 'requests' },
  maxRetries: { suffix: 'MAX_RETRIES', min: 0, max: 10, unit: 'retries' },
  idleTimeoutMs: { suffix: 'IDLE_TIMEOUT_MS', min: 1, max: 3_600_000, unit: 'ms' },
  circuitFailureThreshold: { suffix: 'CIRCUIT_FAILURES', min: 1, max: 1_000, unit: 'consecutive failures' },
  circuitOpenMs: { suffix: 'CIRCUIT_OPEN_MS', min: 100, max: 3_600_000, unit: 'ms' },
  keyRestMs: { suffix: 'KEY_REST_MS', min: 10, max: 86_400_000, unit: 'ms' },
  keyRestMaxMs: { suffix: 'KEY_REST_MAX_MS', min: 10, max: 86_400_000, unit: 'ms' },
  maxResponseBytes: { suffix: 'MAX_RESPONSE_BYTES', min: 1_024, max: 1_073_741_824, unit: 'bytes' },
  maxSseEventBytes: { suffix: 'MAX_SSE_EVENT_BYTES', min: 1_024, max: 1_073_741_824, unit: 'bytes' },
};

export const POOL_DEFAULTS: Omit<PoolSettings, 'maxKeepAlive'> = {
  maxConnections: 64,
  // Below the 5 s idle timeout of Node and uvicorn (vLLM) servers, so we close an idle socket before they do.
  keepAliveExpiryMs: 4_000,
  // Recycle sockets every 5 minutes so DNS and load-balancer changes are picked up.
  socketTtlMs: 300_000,
  connectTimeoutMs: 5_000,
  // The official SDKs allow a call 10 minutes; a long non-streamed completion can take minutes.
  timeoutMs: 600_000,
  poolTimeoutMs: 5_000,
  maxQueue: 256,
  // The official SDKs retry twice.
  maxRetries: 2,
  // A stream silent this long has stalled; generous, since a model may pause between tokens.
  idleTimeoutMs: 60_000,
  circuitFailureThreshold: 5,
  circuitOpenMs: 30_000,
  // A refused key is usually revoked, sometimes a provider's passing glitch: probe it after a minute,
  // then ever less often, but never less than every 30 minutes, so a key put right comes back by itself.
  keyRestMs: 60_000,
  keyRestMaxMs: 1_800_000,
  // Held in memory whole before it is parsed, so at most this per connection (× LLM_MAX_CONNECTIONS at worst).
  // A long completion is well under 1 MiB; 32 MiB leaves room for large embedding batches. Measured before the
  // limit: an endless body took the process to 3.5 GB, six 100 MB bodies at once to 2.2 GB.
  maxResponseBytes: 32 * 1024 * 1024,
  // A chat delta is a few hundred bytes; without a bound, a stream that never sends a newline grew the
  // parser's buffer to 2.3 GB.
  maxSseEventBytes: 1024 * 1024,
};

/** What configures a provider: named in the boot refusal when none is set. */
const PROVIDER_VARIABLES = ['OPENAI_API_KEY', 'OPENAI_BASE_URL', 'ANTHROPIC_API_KEY', 'ANTHROPIC_BASE_URL', 'LLM_UPSTREAMS'];

const BUILT_IN_MODELS: Record<string, string> = {
  openai: 'gpt-4o-mini',
  anthropic: 'claude-3-5-haiku-latest',
  simulator: 'sim-1',
  'simulator-anthropic': 'sim-1',
};

// `LLM_<NAME>_<KNOB>` must never read as a global knob (e.g. an upstream "pool" + TIMEOUT_MS).
const RESERVED_NAMES = new Set(['stream', 'pool', 'connect', 'max', 'keepalive', 'socket', 'idle', 'circuit', 'key', 'ready', 'ca', 'upstreams', 'budget', 'prices']);
const NAME_PATTERN = /^[a-z][a-z0-9-]{0,39}$/;

export function envName(upstream: string): string {
  return upstream.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/**
 * Reads one pool's knobs. The keep-alive limit follows the connection limit unless set,
 * because below it sockets churn under load; an upstream inherits an explicit global limit.
 */
function readPool(env: EnvReader, prefix: string, inherited: PoolSettings, inheritKeepAlive: boolean): PoolSettings {
  const pool = { ...inherited };
  for (const [key, knob] of Object.entries(POOL_KNOBS) as [keyof PoolSettings, (typeof POOL_KNOBS)[keyof PoolSettings]][]) {
    if (key !== 'maxKeepAlive') pool[key] = env.int(`${prefix}${knob.suffix}`, inherited[key], knob.min, knob.max, knob.unit);
  }
  const keepAliveDefault = inheritKeepAlive ? Math.min(inherited.maxKeepAlive, pool.maxConnections) : pool.maxConnections;
  const knob = POOL_KNOBS.maxKeepAlive;
  pool.maxKeepAlive = env.int(`${prefix}${knob.suffix}`, keepAliveDefault, knob.min, knob.max, knob.unit);
  // Named once, where it was set: an upstream inheriting a bad pair is not a second problem.
  if (pool.keyRestMaxMs < pool.keyRestMs && inherited.keyRestMaxMs >= inherited.keyRestMs) {
    env.fail(`${prefix}KEY_REST_MAX_MS`, String(pool.keyRestMaxMs), `at least ${prefix}KEY_REST_MS (${pool.keyRestMs})`);
  }
  if (pool.maxKeepAlive > pool.maxConnections) {
    env.fail(`${prefix}MAX_KEEPALIVE`, String(pool.maxKeepAlive), `at most ${prefix}MAX_CONNECTIONS (${pool.maxConnections})`);
  }
  return pool;
}

export function parseLlmEnv(env: EnvReader): LlmConfig {
  const defaults = readPool(env, 'LLM_', { ...POOL_DEFAULTS, maxKeepAlive: POOL_DEFAULTS.maxConnections }, false);
  const globalKeepAliveSet = env.raw('LLM_MAX_KEEPALIVE') !== undefined;

  const declared: Omit<UpstreamConfig, 'pool' | 'apiKeys' | 'defaultModel'>[] = [];
  const openAiKeys = env.list('OPENAI_API_KEY');
  if (openAiKeys.length > 0 || env.raw('OPENAI_BASE_URL')) {
    declared.push({ name: 'openai', wire: 'openai', baseUrl: env.url('OPENAI_BASE_URL', 'https://api.openai.com/v1'), embedded: false });
  }
  const anthropicKeys = env.list('ANTHROPIC_API_KEY');
  if (anthropicKeys.length > 0 || env.raw('ANTHROPIC_BASE_URL')) {
    declared.push({ name: 'anthropic', wire: 'anthropic', baseUrl: env.url('ANTHROPIC_BASE_URL', 'https://api.anthropic.com'), embedded: false });
  }
  for (const entry of env.list('LLM_UPSTREAMS')) {
    const eq = entry.indexOf('=');
    const name = eq > 0 ? entry.slice(0, eq).trim().toLowerCase() : '';
    if (!NAME_PATTERN.test(name) || RESERVED_NAMES.has(name) || name.startsWith('simulator')) {
      env.fail('LLM_UPSTREAMS', entry, 'entries name=url, name of lower-case letters, digits and dashes (not openai, anthropic, simulator*, or a reserved word)');
      continue;
    }
    if (declared.some((u) => u.name === name)) {
      env.fail('LLM_UPSTREAMS', entry, `a unique name (${name} is already defined)`);
      continue;
    }
    const wire = env.oneOf<WireFormat>(`LLM_${envName(name)}_WIRE`, 'openai', ['openai', 'anthropic']);
    declared.push({ name, wire, baseUrl: env.url('LLM_UPSTREAMS', '', entry.slice(eq + 1).trim()), embedded: false });
  }

  const simulatorMode = env.oneOf('LLM_SIMULATOR', 'auto', ['auto', 'on', 'off'] as const);
  // In production `auto` means off: a pod whose Secret misnames the provider key must fail its boot, not
  // report ready and answer every call with the simulator's stand-in text. Only an explicit `on` runs it there.
  const production = env.raw('NODE_ENV') === 'production';
  const simulatorEnabled = simulatorMode === 'on' || (simulatorMode === 'auto' && declared.length === 0 && !production);
  if (simulatorEnabled) {
    declared.push({ name: 'simulator', wire: 'openai', baseUrl: '', embedded: true });
    declared.push({ name: 'simulator-anthropic', wire: 'anthropic', baseUrl: '', embedded: true });
  }
  if (declared.length === 0) {
    const lookedFor = PROVIDER_VARIABLES.join(', ');
    if (production && simulatorMode === 'auto') {
      env.fail(
        'LLM_SIMULATOR',
        simulatorMode,
        `a configured provider with NODE_ENV=production, where auto does not start the simulator: none of ${lookedFor} is set ` +
          '(check the Secret\'s key names; LLM_SIMULATOR=on runs the simulator deliberately)',
      );
    } else env.fail('LLM_SIMULATOR', simulatorMode, `auto or on when no upstream is configured (looked for ${lookedFor}; none is set)`);
  }

  const upstreams: UpstreamConfig[] = declared.map((upstream) => {
    const prefix = `LLM_${envName(upstream.name)}_`;
    const apiKeys =
      upstream.name === 'openai' ? openAiKeys : upstream.name === 'anthropic' ? anthropicKeys : env.list(`${prefix}API_KEY`);
    return {
      ...upstream,
      apiKeys,
      defaultModel: env.raw(`${prefix}MODEL`) ?? BUILT_IN_MODELS[upstream.name],
      pool: readPool(env, prefix, defaults, globalKeepAliveSet),
    };
  });

  const names = upstreams.map((u) => u.name);
  for (const upstream of upstreams) {
    const name = `LLM_${envName(upstream.name)}_FALLBACK`;
    const fallback = env.raw(name);
    if (!fallback) continue;
    const target = fallback.slice(0, fallback.indexOf('/'));
    if (!fallback.includes('/') || !names.includes(target) || target === upstream.name) {
      env.fail(name, fallback, `another configured upstream as upstream/model (one of ${names.filter((n) => n !== upstream.name).join(', ') || 'none'})`);
    } else upstream.fallback = fallback;
  }
  const defaultUpstream = env.raw('LLM_PROVIDER')?.toLowerCase() ?? names[0] ?? 'simulator';
  if (names.length > 0 && !names.includes(defaultUpstream)) {
    env.fail('LLM_PROVIDER', defaultUpstream, `one of the configured upstreams: ${names.join(', ')}`);
  }
  const defaultModel = env.raw('LLM_MODEL');
  const chosen = upstreams.find((u) => u.name === defaultUpstream);
  if (chosen && defaultModel) chosen.defaultModel = defaultModel;

  let extraCaPem: string | undefined;
  const caFile = env.raw('LLM_CA_FILE');
  if (caFile) {
    try {
      extraCaPem = readFileSync(caFile, 'utf8');
      if (!extraCaPem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('not PEM');
    } catch {
      env.fail('LLM_CA_FILE', caFile, 'a readable PEM certificate file');
    }
  }

  return {
    upstreams,
    defaultUpstream,
    extraCaPem,
    simulator: {
      enabled: simulatorEnabled,
      production: simulatorEnabled && production,
      ttftMs: env.int('LLM_SIMULATOR_TTFT_MS', 150, 0, 600_000, 'ms'),
      tokensPerSecond: env.int('LLM_SIMULATOR_TOKENS_PER_SECOND', 60, 0, 1_000_000, 'tokens/s, 0 = unpaced'),
    },
    models: {
      cacheMs: env.int('LLM_MODELS_CACHE_MS', 300_000, 0, 86_400_000, 'ms, 0 = list configured routes only'),
      timeoutMs: env.int('LLM_MODELS_TIMEOUT_MS', 3_000, 100, 60_000, 'ms'),
    },
  };
}

export const llmConfig = registerAs('llm', () => parseOrThrow(process.env, parseLlmEnv));
export type LlmConfigType = LlmConfig;
