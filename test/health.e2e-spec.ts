import type { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { chat, eventually, getJson, postJson, startWithSimulator, type RunningService } from './support/service-harness';

describe('health probes', () => {
  let simulator: UpstreamSimulator;
  let service: RunningService;
  let stop: (() => Promise<void>) | undefined;

  beforeEach(async () => {
    ({ simulator, service, stop } = await startWithSimulator(
      { ttftMs: 600 },
      {
        LLM_MAX_CONNECTIONS: '2',
        LLM_MAX_QUEUE: '1',
        LLM_POOL_TIMEOUT_MS: '2000',
        LLM_READY_WINDOW_MS: '500',
        LLM_READY_MAX_ACQUIRE_WAIT_MS: '150',
      },
    ));
  });
  afterEach(async () => {
    await stop?.();
    stop = undefined;
  });

  it('readiness goes down while the pool is exhausted and recovers; liveness stays up', async () => {
    expect((await getJson(`${service.url}/health/ready`)).status).toBe(200);

    // 2 in flight, 1 queued, 1 refused: the pool is exhausted for ~600 ms.
    const load = Promise.all(
      Array.from({ length: 4 }, () => postJson(`${service.url}/v1/chat/completions`, chat('busy', { model: 'sim/sim-1' }))),
    );
    await eventually(async () => {
      const ready = await getJson(`${service.url}/health/ready`);
      expect(ready.status).toBe(503);
      expect(ready.json.status).toBe('error');
      const sim = ready.json.error['upstream:sim'];
      expect(sim.status).toBe('down');
      expect(sim.reason).toMatch(/queue full|refused|waited/);
      expect(sim).toMatchObject({ maxConnections: 2, maxQueue: 1 });
    });
    const live = await getJson(`${service.url}/health/live`);
    expect(live.status).toBe(200);
    expect(live.json.status).toBe('ok');

    const statuses = (await load).map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 200, 503]);
    await eventually(async () => {
      const ready = await getJson(`${service.url}/health/ready`);
      expect(ready.status).toBe(200);
      expect(ready.json.info['upstream:sim'].status).toBe('up');
    }, 3_000);
  });

  it('liveness never looks at upstreams, even when one is down', async () => {
    await simulator.stop();
    const failed = await postJson(`${service.url}/v1/chat/completions`, chat('anyone?', { model: 'sim/sim-1' }));
    expect(failed.status).toBe(502);
    expect(failed.json.error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect((await getJson(`${service.url}/health/live`)).status).toBe(200);
  });
});
