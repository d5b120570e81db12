import { chat, eventually, getJson, postJson, request, startWithSimulator, type SimulatedService } from './support/service-harness';

const PROVIDER_KEYS = ['prov-key-one-7c1e9a', 'prov-key-two-3b8d2f'];
const ADMIN_KEY = 'admin-key-9f3b1d7e5a2c4e6f';
const admin = { authorization: `Bearer ${ADMIN_KEY}` };

/** API keys answered 401/403 rest and come back (by a probe, or an operator); readiness and stats say so. */
describe('API key health', () => {
  let running: SimulatedService | undefined;

  async function boot(env: Record<string, string>) {
    running = await startWithSimulator(
      { apiKeys: PROVIDER_KEYS },
      { LLM_SIM_API_KEY: PROVIDER_KEYS.join(','), LLM_MAX_RETRIES: '0', SERVICE_ADMIN_KEY: ADMIN_KEY, ...env },
    );
    return running;
  }
  afterEach(async () => {
    await running?.stop();
    running = undefined;
  });

  const url = () => running!.service.url;
  const complete = () => postJson(`${url()}/v1/chat/completions`, chat('hello keys', { model: 'sim/sim-1' }), { headers: admin });
  const ready = () => getJson(`${url()}/health/ready`);
  async function keyStats() {
    const stats = await getJson(`${url()}/v1/llm/stats/sim`, { headers: admin });
    // By position, never by value, whatever state the keys are in.
    for (const key of PROVIDER_KEYS) expect(stats.text).not.toContain(key);
    return stats.json.apiKeys;
  }
  /** Every key refused once: an upstream's passing 401s, one per key (the call retries on the other key at once). */
  async function refuseEveryKey(status = 401) {
    running!.simulator.setFaults({ status, count: 2 });
    const refused = await complete();
    expect(refused.status).toBe(status); // the provider's own answer, passed on
    expect(running!.simulator.counters().requests).toBe(2);
  }

  it('rests every refused key, fails fast and reports not ready while they rest, then a probe brings each back', async () => {
    await boot({ LLM_KEY_REST_MS: '500', LLM_KEY_REST_MAX_MS: '2000' });
    await refuseEveryKey();

    // While both rest: no call reaches the provider, the caller is told when to come back, readiness says why.
    const fast = await complete();
    expect(fast.status).toBe(503);
    expect(fast.json.error).toMatchObject({ code: 'UPSTREAM_UNAVAILABLE' });
    expect(fast.json.error.message).toMatch(/all 2 keys were refused \(401\)/);
    expect(Number(fast.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(running!.simulator.counters().requests).toBe(2);
    const notReady = await ready();
    expect(notReady.status).toBe(503);
    expect(notReady.json.error['upstream:sim'].reason).toMatch(/all 2 api keys refused \(401\); next probe in \d+ s/);
    expect(notReady.json.error['upstream:sim'].apiKeys).toEqual({ total: 2, usable: 0, refused: 2, rateLimited: 0 });
    const resting = await keyStats();
    expect(resting).toMatchObject({ total: 2, usable: 0, refused: 2, rateLimited: 0 });
    for (const [i, key] of resting.keys.entries()) {
      expect(key).toMatchObject({ position: i + 1, state: 'refused', consecutiveRefusals: 1, lastStatus: 401 });
      expect(key.restMsLeft).toBeGreaterThan(0);
      expect(key.restMsLeft).toBeLessThanOrEqual(500);
      expect(Date.parse(key.restingUntil)).toBeGreaterThan(Date.now() - 1_000);
    }

    // The rests end: ready again so traffic can probe; each probe that is accepted puts its key back.
    await eventually(async () => expect((await ready()).status).toBe(200), 3_000, 50);
    expect((await complete()).status).toBe(200);
    expect((await complete()).status).toBe(200);
    const back = await keyStats();
    expect(back).toMatchObject({ total: 2, usable: 2, refused: 0 });
    expect(back.keys.map((k: { state: string; consecutiveRefusals: number; lastStatus: number }) => [k.state, k.consecutiveRefusals, k.lastStatus])).toEqual([
      ['active', 0, 200],
      ['active', 0, 200],
    ]);
  });

  it('doubles the rest of a key refused again by its probe', async () => {
    await boot({ LLM_KEY_REST_MS: '400', LLM_KEY_REST_MAX_MS: '5000' });
    await refuseEveryKey(403);
    await eventually(async () => expect((await ready()).status).toBe(200), 3_000, 50);
    // Both probes refused again (the call tries the second key at once).
    running!.simulator.setFaults({ status: 403, count: 2 });
    expect((await complete()).status).toBe(403);
    const keys = (await keyStats()).keys;
    for (const key of keys) {
      expect(key).toMatchObject({ state: 'refused', consecutiveRefusals: 2, lastStatus: 403 });
      expect(key.restMsLeft).toBeGreaterThan(400);
      expect(key.restMsLeft).toBeLessThanOrEqual(800);
    }
    expect((await ready()).json.error['upstream:sim'].reason).toMatch(/all 2 api keys refused \(403\)/);
  });

  it('puts refused keys back on an operator request: one position, then all', async () => {
    await boot({ LLM_KEY_REST_MS: '600000', LLM_KEY_REST_MAX_MS: '600000' });
    await refuseEveryKey();
    expect((await ready()).status).toBe(503);

    const one = await request('POST', `${url()}/v1/admin/pools/sim/keys/2/enable`, { headers: admin });
    expect(one.status).toBe(200);
    expect(JSON.parse(one.text)).toMatchObject({ upstream: 'sim', enabled: [2], apiKeys: { usable: 1, refused: 1 } });
    expect((await ready()).status).toBe(200);
    expect((await complete()).status).toBe(200);
    expect((await keyStats()).keys.map((k: { state: string }) => k.state)).toEqual(['refused', 'active']);

    const all = await request('POST', `${url()}/v1/admin/pools/sim/keys/enable`, { headers: admin });
    expect(JSON.parse(all.text)).toMatchObject({ enabled: [1], apiKeys: { usable: 2, refused: 0 } });
    for (const key of PROVIDER_KEYS) expect(one.text + all.text).not.toContain(key);

    // Bad positions and upstreams are the operator's mistake: 4xx envelopes. Callers may not do it at all.
    for (const position of ['3', '0', 'first']) {
      const bad = await request('POST', `${url()}/v1/admin/pools/sim/keys/${position}/enable`, { headers: admin });
      expect(bad.status).toBe(400);
      expect(JSON.parse(bad.text).error.code).toBe('BAD_REQUEST');
    }
    expect((await request('POST', `${url()}/v1/admin/pools/nowhere/keys/enable`, { headers: admin })).status).toBe(404);
    expect((await request('POST', `${url()}/v1/admin/pools/sim/keys/enable`)).status).toBe(401);
  });
});
