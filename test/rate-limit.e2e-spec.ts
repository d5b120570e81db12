import type { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { chat, getJson, requestJson, startWithSimulator, type SimulatedService } from './support/service-harness';

const KEY_A = 'caller-key-a-8f2e4c6a0b1d3e5f';
const KEY_B = 'caller-key-b-1a3c5e7f9b2d4f6a';

/** SERVICE_RATE_LIMIT_PER_MINUTE per caller on /v1/*, over real sockets. */
describe('rate limit per caller', () => {
  let simulator: UpstreamSimulator;
  let running: SimulatedService | undefined;

  async function boot(env: Record<string, string>) {
    running = await startWithSimulator({}, env);
    simulator = running.simulator;
    return running.service.url;
  }
  afterEach(async () => {
    await running?.stop();
    running = undefined;
  });

  const bearer = (key?: string): Record<string, string> => (key ? { authorization: `Bearer ${key}` } : {});
  const get = (url: string, key?: string) => getJson(url, { headers: bearer(key), signal: AbortSignal.timeout(10_000) });
  const complete = (base: string, key?: string) =>
    requestJson('POST', `${base}/v1/chat/completions`, {
      body: chat('hello limit', { model: 'sim/sim-1' }),
      headers: bearer(key),
      signal: AbortSignal.timeout(10_000),
    });
  const statuses = async (n: number, call: () => Promise<{ status: number }>) => {
    const seen: number[] = [];
    for (let i = 0; i < n; i++) seen.push((await call()).status);
    return seen;
  };

  it('answers the 6th call in a minute with 429, Retry-After and the error envelope; another key has its own budget', async () => {
    const base = await boot({ SERVICE_API_KEYS: `${KEY_A},${KEY_B}`, SERVICE_RATE_LIMIT_PER_MINUTE: '5' });
    const stats = `${base}/v1/llm/stats`;

    const allowed = [];
    for (let i = 0; i < 5; i++) allowed.push(await get(stats, KEY_A));
    expect(allowed.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(allowed.map((r) => r.headers.get('x-ratelimit-remaining'))).toEqual(['4', '3', '2', '1', '0']);
    expect(allowed[0].headers.get('x-ratelimit-limit')).toBe('5');

    const limited = await get(stats, KEY_A);
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers.get('retry-after'));
    expect(Number.isInteger(retryAfter)).toBe(true);
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(limited.json.error).toMatchObject({ status: 429, code: 'RATE_LIMITED', type: 'invalid_request_error' });
    expect(limited.json.error.message).toContain('5 requests per minute');
    expect(JSON.stringify(limited.json)).not.toContain(KEY_A);

    expect(await statuses(5, () => get(stats, KEY_B))).toEqual([200, 200, 200, 200, 200]);
    expect((await get(stats, KEY_B)).status).toBe(429);
    expect((await get(stats, KEY_A)).status).toBe(429);
  });

  it('leaves health unthrottled, and answers a refused key 401 rather than spending a budget', async () => {
    const base = await boot({ SERVICE_API_KEYS: KEY_A, SERVICE_RATE_LIMIT_PER_MINUTE: '5' });
    expect(await statuses(6, () => get(`${base}/v1/llm/stats`, KEY_A))).toEqual([200, 200, 200, 200, 200, 429]);

    const live = await statuses(20, () => get(`${base}/health/live`, KEY_A));
    const ready = await statuses(20, () => get(`${base}/health/ready`));
    expect(new Set([...live, ...ready])).toEqual(new Set([200]));
    expect((await get(`${base}/health/live`)).headers.get('x-ratelimit-limit')).toBeNull();

    expect(await statuses(8, () => get(`${base}/v1/llm/stats`, 'not-a-key-of-this-service'))).toEqual(Array(8).fill(401));
  });

  it('counts one budget per caller across routes; a limited call never reaches the upstream', async () => {
    const base = await boot({ SERVICE_API_KEYS: KEY_A, SERVICE_RATE_LIMIT_PER_MINUTE: '5' });
    expect(await statuses(3, () => get(`${base}/v1/llm/stats`, KEY_A))).toEqual([200, 200, 200]);
    expect(await statuses(3, () => complete(base, KEY_A))).toEqual([200, 200, 429]);
    expect(simulator.counters().requests).toBe(2);
  });

  it('limits by client address when auth is off', async () => {
    const base = await boot({ SERVICE_RATE_LIMIT_PER_MINUTE: '5' });
    expect(await statuses(6, () => get(`${base}/v1/llm/stats`))).toEqual([200, 200, 200, 200, 200, 429]);
    // Same address, so the same budget, whatever key-like header it sends.
    expect((await get(`${base}/v1/llm/stats`, 'any-bearer-token-at-all')).status).toBe(429);
  });

  it('limits nothing with SERVICE_RATE_LIMIT_PER_MINUTE=0', async () => {
    const base = await boot({ SERVICE_API_KEYS: KEY_A, SERVICE_RATE_LIMIT_PER_MINUTE: '0' });
    const seen = await statuses(30, () => get(`${base}/v1/llm/stats`, KEY_A));
    expect(new Set(seen)).toEqual(new Set([200]));
    expect((await get(`${base}/v1/llm/stats`, KEY_A)).headers.get('x-ratelimit-limit')).toBeNull();
  });

  it('defaults to 600 requests per minute', async () => {
    const base = await boot({ SERVICE_API_KEYS: KEY_A });
    const response = await get(`${base}/v1/llm/stats`, KEY_A);
    expect(response.headers.get('x-ratelimit-limit')).toBe('600');
    expect(response.headers.get('x-ratelimit-remaining')).toBe('599');
  });
});
