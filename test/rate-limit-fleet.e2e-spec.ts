import { startRedis, type RedisServer } from './support/engines';
import { startInstance, type Instance } from './support/fleet';
import { getJson } from './support/service-harness';

const KEY = 'fleet-rate-limit-key-0123456789';
const LIMIT = 20;
const auth = { headers: { authorization: `Bearer ${KEY}` } };

/**
 * The per-caller rate limit of a fleet: two real service processes counting in one Redis.
 * Before REDIS_URL each process counted alone: a limit of N/min let a caller make 2 × N calls
 * through two replicas (replicas × N, moving with the autoscaler).
 */
describe('fleet rate limit: two service processes, one Redis', () => {
  let redis: RedisServer | undefined;
  let a: Instance | undefined;
  let b: Instance | undefined;

  beforeAll(async () => {
    redis = await startRedis();
    if (!redis) return;
    const env = {
      REDIS_URL: redis.url,
      REDIS_COMMAND_TIMEOUT_MS: '300',
      REDIS_CONNECT_TIMEOUT_MS: '300',
      SERVICE_API_KEYS: KEY,
      SERVICE_RATE_LIMIT_PER_MINUTE: String(LIMIT),
      LLM_SIMULATOR: 'on',
    };
    [a, b] = await Promise.all([startInstance(env), startInstance(env)]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await redis?.stop();
  }, 60_000);

  it(`lets one caller make at most ${LIMIT} calls a minute across both`, async () => {
    if (!a || !b) return;
    const statuses = await Promise.all(
      Array.from({ length: 3 * LIMIT }, async (_, i) => (await getJson(`${(i % 2 === 0 ? a! : b!).url}/v1/llm/stats`, auth)).status),
    );
    expect(statuses.filter((status) => status !== 200 && status !== 429)).toEqual([]);
    expect(statuses.filter((status) => status === 200)).toHaveLength(LIMIT);
    expect((await getJson(`${a.url}/health/ready`)).json.details.rateLimit).toEqual({ status: 'up', scope: 'fleet', redis: 'up' });
    const metrics = await (await fetch(`${a.url}/metrics`, auth)).text();
    expect(metrics).toContain('llm_rate_limit_redis_up 1');
    expect(metrics).toMatch(/^llm_rate_limit_checks_total\{store="shared"\} [1-9]\d*$/m);

    const stats = (await getJson(`${b.url}/health/live`)).status;
    expect(stats).toBe(200); // probes are never limited
  });

  it('fails open to a per-pod count, without hanging, when Redis goes away', async () => {
    if (!a || !b || !redis) return;
    await redis.stop();
    redis = undefined;
    // The caller is blocked in Redis for the minute; with Redis gone each pod counts afresh.
    const started = performance.now();
    const statuses = await Promise.all(Array.from({ length: 6 }, async (_, i) => (await getJson(`${(i % 2 === 0 ? a! : b!).url}/health/ready`)).status));
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
    const call = await getJson(`${a.url}/v1/llm/stats`, auth);
    expect(call.status).toBe(200);
    expect(performance.now() - started).toBeLessThan(3_000);
    expect(call.json.rateLimit).toMatchObject({ store: 'redis', scope: 'pod', redis: { status: 'down' } });
    expect(a.output()).toMatch(/rate limit falls back to this pod's own count/);
    // Readiness stays 200 (failing open) and says why the limit is per pod now.
    const ready = await getJson(`${b.url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(ready.json.details.rateLimit).toEqual({ status: 'up', scope: 'pod', redis: 'down' });
  }, 30_000);
});
