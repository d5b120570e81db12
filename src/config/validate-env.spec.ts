import { ConfigValidationError } from './env-reader';
import { parseLlmEnv } from './llm.config';
import { EnvReader } from './env-reader';
import { validateEnv } from './validate-env';

function problemsOf(env: Record<string, string>): string[] {
  try {
    validateEnv(env);
    return [];
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigValidationError);
    return (error as ConfigValidationError).problems;
  }
}

function llm(env: Record<string, string>) {
  const reader = new EnvReader(env);
  const config = parseLlmEnv(reader);
  expect(reader.problems).toEqual([]);
  return config;
}

describe('environment validation', () => {
  it('accepts an empty environment: every variable has a default', () => {
    expect(problemsOf({})).toEqual([]);
  });

  it('names every bad variable and what it expects, in one error', () => {
    const problems = problemsOf({
      PORT: '99999',
      LLM_MAX_CONNECTIONS: 'lots',
      LLM_KEEPALIVE_EXPIRY_MS: '-5',
      LLM_SIMULATOR: 'maybe',
      OPENAI_BASE_URL: 'ftp://example',
      LLM_READY_WINDOW_MS: '1.5',
    });
    expect(problems).toEqual([
      'PORT="99999": expected an integer from 0 to 65535',
      'LLM_MAX_CONNECTIONS="lots": expected an integer from 1 to 10000 (sockets)',
      'LLM_KEEPALIVE_EXPIRY_MS="-5": expected an integer from 100 to 3600000 (ms)',
      'OPENAI_BASE_URL="ftp://example": expected an http:// or https:// URL',
      'LLM_SIMULATOR="maybe": expected one of auto, on, off',
      'LLM_READY_WINDOW_MS="1.5": expected an integer from 100 to 3600000 (ms)',
    ]);
  });

  it('refuses a keep-alive limit above the connection limit', () => {
    expect(problemsOf({ LLM_MAX_CONNECTIONS: '4', LLM_MAX_KEEPALIVE: '8' })).toEqual([
      'LLM_MAX_KEEPALIVE="8": expected at most LLM_MAX_CONNECTIONS (4)',
    ]);
  });

  it('refuses a longest key rest below the first one', () => {
    expect(problemsOf({ LLM_KEY_REST_MS: '60000', LLM_KEY_REST_MAX_MS: '1000' })).toEqual([
      'LLM_KEY_REST_MAX_MS="1000": expected at least LLM_KEY_REST_MS (60000)',
    ]);
  });

  it('never echoes credentials found in a URL', () => {
    const problems = problemsOf({ OPENAI_BASE_URL: 'https://user:sk-secret@api.example.com/v1' });
    expect(problems.join()).not.toContain('sk-secret');
    expect(problems[0]).toMatch(/^OPENAI_BASE_URL="<redacted>"/);
  });

  it('refuses malformed and reserved upstream names', () => {
    const problems = problemsOf({ LLM_UPSTREAMS: 'pool=http://a:1/v1,Bad Name=http://b:1,ok=notaurl' });
    expect(problems).toHaveLength(3);
    expect(problems.every((p) => p.startsWith('LLM_UPSTREAMS='))).toBe(true);
  });
});

describe('LLM configuration', () => {
  it('defaults the keep-alive limit to the connection limit', () => {
    const config = llm({ LLM_MAX_CONNECTIONS: '12' });
    expect(config.upstreams[0].pool).toMatchObject({ maxConnections: 12, maxKeepAlive: 12 });
  });

  it('keeps idle sockets for less than the 5 s that Node and uvicorn servers allow', () => {
    expect(llm({}).upstreams[0].pool.keepAliveExpiryMs).toBeLessThan(5_000);
  });

  it('starts the embedded simulator only when no provider is configured', () => {
    expect(llm({}).upstreams.map((u) => u.name)).toEqual(['simulator', 'simulator-anthropic']);
    expect(llm({}).simulator.enabled).toBe(true);
    const configured = llm({ OPENAI_API_KEY: 'sk-a,sk-b', LLM_UPSTREAMS: 'vllm-a=http://vllm-a:8000/v1' });
    expect(configured.simulator.enabled).toBe(false);
    expect(configured.upstreams.map((u) => [u.name, u.wire, u.baseUrl])).toEqual([
      ['openai', 'openai', 'https://api.openai.com/v1'],
      ['vllm-a', 'openai', 'http://vllm-a:8000/v1'],
    ]);
    expect(configured.upstreams[0].apiKeys).toEqual(['sk-a', 'sk-b']);
    expect(configured.defaultUpstream).toBe('openai');
  });

  it('lets each upstream override any pool knob, inheriting the rest', () => {
    const config = llm({
      ANTHROPIC_API_KEY: 'k',
      LLM_UPSTREAMS: 'vllm-a=http://vllm-a:8000/v1',
      LLM_MAX_CONNECTIONS: '20',
      LLM_POOL_TIMEOUT_MS: '900',
      LLM_VLLM_A_MAX_CONNECTIONS: '4',
      LLM_ANTHROPIC_MAX_KEEPALIVE: '10',
      LLM_PROVIDER: 'vllm-a',
      LLM_MODEL: 'meta-llama/Llama-3.1-8B-Instruct',
    });
    const [anthropic, vllm] = config.upstreams;
    expect(anthropic.pool).toMatchObject({ maxConnections: 20, maxKeepAlive: 10, poolTimeoutMs: 900 });
    expect(vllm.pool).toMatchObject({ maxConnections: 4, maxKeepAlive: 4, poolTimeoutMs: 900 });
    expect(config.defaultUpstream).toBe('vllm-a');
    expect(vllm.defaultModel).toBe('meta-llama/Llama-3.1-8B-Instruct');
  });

  it('caps an inherited explicit keep-alive limit at the upstream connection limit', () => {
    const config = llm({ LLM_UPSTREAMS: 'small=http://s:1', LLM_MAX_CONNECTIONS: '20', LLM_MAX_KEEPALIVE: '15', LLM_SMALL_MAX_CONNECTIONS: '5' });
    expect(config.upstreams[0].pool).toMatchObject({ maxConnections: 5, maxKeepAlive: 5 });
  });
});
