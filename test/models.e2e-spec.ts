import OpenAI from 'openai';
import type { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { eventually, getJson, postJson, startWithSimulator, type RunningService } from './support/service-harness';

describe('GET /v1/models', () => {
  let simulator: UpstreamSimulator;
  let service: RunningService;
  let stop: (() => Promise<void>) | undefined;
  let client: OpenAI;

  beforeAll(async () => {
    ({ simulator, service, stop } = await startWithSimulator(
      {},
      { LLM_PROVIDER: 'sim', LLM_MODEL: 'sim-1', LLM_CLAUDE_MODEL: 'claude-sonnet-x', LLM_SIM_FALLBACK: 'claude/claude-haiku-x', LLM_MODELS_CACHE_MS: '400' },
      { anthropic: true },
    ));
    client = new OpenAI({ baseURL: `${service.url}/v1`, apiKey: 'unused', maxRetries: 0 });
  });
  afterAll(() => stop?.());
  beforeEach(() => simulator.setFaults(null));

  it("lists the configured routes and each upstream's own models with the official client", async () => {
    const ids: string[] = [];
    for await (const model of client.models.list()) {
      expect(model).toMatchObject({ object: 'model', owned_by: model.id.split('/')[0], created: expect.any(Number) });
      ids.push(model.id);
    }
    // Configured: each upstream's default and fallback; then both simulator wires' own /v1/models, each id once.
    expect(ids).toEqual(['sim/sim-1', 'claude/claude-haiku-x', 'claude/claude-sonnet-x', 'sim/sim-embed-1', 'claude/sim-1', 'claude/sim-embed-1']);
    expect(simulator.counters().requestsByPath['/v1/models']).toBe(2); // once per upstream
  });

  it('retrieves one model by its upstream/model id, and 404s an unknown one', async () => {
    expect(await client.models.retrieve('claude/sim-embed-1')).toMatchObject({ id: 'claude/sim-embed-1', object: 'model', owned_by: 'claude' });
    const raw = await getJson(`${service.url}/v1/models/sim/sim-1`);
    expect(raw.json).toEqual({ id: 'sim/sim-1', object: 'model', created: 0, owned_by: 'sim' });
    const missing = await client.models.retrieve('sim/nope').catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('serves a stale list at once and refreshes it in the background; a chat call never waits on it', async () => {
    await client.models.list(); // warm
    await new Promise((resolve) => setTimeout(resolve, 450)); // stale now
    // Listing hangs upstream: the stale list is answered at once all the same ...
    simulator.setFaults({ stallBeforeHeadersMs: 1_500, path: '/models' });
    const before = simulator.counters().requestsByPath['/v1/models'];
    const started = performance.now();
    const list = await getJson(`${service.url}/v1/models`);
    expect(performance.now() - started).toBeLessThan(300);
    expect(list.json.data.map((m: { id: string }) => m.id)).toContain('claude/sim-1');
    // ... and while the refresh still hangs, a chat call is answered at once.
    const chatStarted = performance.now();
    expect((await postJson(`${service.url}/v1/chat/completions`, { messages: [{ role: 'user', content: 'hi' }] })).status).toBe(200);
    expect(performance.now() - chatStarted).toBeLessThan(300);
    expect(simulator.counters().requestsByPath['/v1/models']).toBe(before + 2); // the background refreshes did go out
  });

  it('keeps the last good list when an upstream fails to list, and still lists the configured routes', async () => {
    await new Promise((resolve) => setTimeout(resolve, 2_100)); // the previous test's hung refresh is over, and its list stale
    simulator.setFaults({ status: 500, path: '/models' });
    const faults = simulator.counters().faultsInjected;
    await getJson(`${service.url}/v1/models`); // triggers the failing refreshes
    await eventually(() => expect(simulator.counters().faultsInjected).toBe(faults + 2));
    const ids = (await getJson(`${service.url}/v1/models`)).json.data.map((m: { id: string }) => m.id);
    expect(ids).toEqual(expect.arrayContaining(['sim/sim-1', 'sim/sim-embed-1', 'claude/sim-1']));
  });
});
