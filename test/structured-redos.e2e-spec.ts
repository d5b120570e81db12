import { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { startInstance, type Instance } from './support/fleet';
import { postJson, routesTo } from './support/service-harness';

/**
 * A caller's schema whose `pattern` backtracks catastrophically on the model's reply. The service
 * runs as its own process here: were the pattern run on its event loop, the test (in another
 * process) still measures, and fails, instead of freezing along with it.
 */
describe('/v1/search/structured with a backtracking pattern', () => {
  let simulator: UpstreamSimulator;
  let instance: Instance | undefined;

  beforeAll(async () => {
    simulator = new UpstreamSimulator();
    await simulator.start();
    instance = await startInstance({ ...routesTo(simulator), LLM_PROVIDER: 'sim', LLM_MODEL: 'sim-1', SEARCH_SCHEMA_TIMEOUT_MS: '1000' });
    const indexed = await postJson(`${instance.url}/v1/documents`, { documents: [{ id: 'a', text: 'the letter a, many times' }] });
    expect(indexed.status).toBe(201);
  }, 90_000);
  afterAll(async () => {
    await instance?.stop();
    await simulator.stop();
  });

  it('keeps /health/live answering within 100 ms while it runs, then refuses the schema with a 400', async () => {
    // `^(a+)+$` with maxLength (which ajv's secure meta-schema asks for) against 40 characters that do not match:
    // 2^40 backtracking steps. Both attempts get that reply.
    const reply = JSON.stringify(`${'a'.repeat(39)}!`);
    simulator.setFaults({ replyText: reply, count: 2, path: '/chat/completions' });
    const schema = { type: 'string', maxLength: 64, pattern: '^(a+)+$' };

    const started = performance.now();
    let done = false;
    const structured = postJson(`${instance!.url}/v1/search/structured`, { query: 'letter a', schema }).finally(() => (done = true));
    const probes: number[] = [];
    while (!done) {
      const sent = performance.now();
      const live = await fetch(`${instance!.url}/health/live`, { signal: AbortSignal.timeout(5_000) }).catch(() => undefined);
      expect(live?.status).toBe(200);
      probes.push(performance.now() - sent);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const response = await structured;
    const tookMs = performance.now() - started;

    expect(probes.length).toBeGreaterThanOrEqual(10);
    expect(Math.max(...probes)).toBeLessThan(100);
    expect(response.status).toBe(400);
    expect(response.json.error).toMatchObject({
      status: 400,
      code: 'BAD_REQUEST',
      message: expect.stringMatching(/^schema took longer than 1000 ms \(SEARCH_SCHEMA_TIMEOUT_MS\)/),
    });
    // Stopped at the limit (plus the model call), not after the pattern's own end.
    expect(tookMs).toBeLessThan(5_000);
  }, 60_000);

  it('still checks schemas with patterns afterwards, on a fresh worker', async () => {
    simulator.setFaults({ replyText: JSON.stringify('aaaa'), count: 1, path: '/chat/completions' });
    const response = await postJson(`${instance!.url}/v1/search/structured`, { query: 'letter a', schema: { type: 'string', maxLength: 64, pattern: '^(a+)+$' } });
    expect(response.status).toBe(200);
    expect(response.json.data).toBe('aaaa');
  }, 30_000);
});
