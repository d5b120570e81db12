import { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { chat, eventually, postJson, postStream, routesTo } from './support/service-harness';
import { spawnLiveService } from './support/spawn-service';

describe('graceful shutdown (SIGTERM to the real process)', () => {
  let simulator: UpstreamSimulator;

  beforeAll(async () => {
    simulator = new UpstreamSimulator({ tokensPerSecond: 20 });
    await simulator.start();
  });
  afterAll(() => simulator.stop());

  it('finishes every accepted stream, refuses new work, reports not ready, then exits 0', async () => {
    const service = await spawnLiveService({
      ...routesTo(simulator),
      SHUTDOWN_GRACE_MS: '10000',
    });
    const { url } = service;
    try {
      // 12 streams of 12 tokens at 20 tokens/s: each takes ~600 ms.
      const question = 'one two three four five six seven eight nine ten eleven twelve';
      const streams = Array.from({ length: 12 }, async () => {
        const response = await postStream(`${url}/v1/chat/completions`, chat(question, { model: 'sim/sim-1', stream: true }));
        return { status: response.status, body: await response.text() };
      });
      await eventually(() => expect(simulator.counters().inFlight).toBe(12), 5_000, 10);
      service.child.kill('SIGTERM');

      await eventually(async () => {
        const ready = await fetch(`${url}/health/ready`);
        expect(ready.status).toBe(503);
        expect(((await ready.json()) as { error: Record<string, unknown> }).error.shutdown).toMatchObject({ status: 'down' });
      }, 2_000, 20);
      const refused = await postJson(`${url}/v1/chat/completions`, chat('too late', { model: 'sim/sim-1' }));
      expect(refused.status).toBe(503);
      expect(refused.json.error.code).toBe('SHUTTING_DOWN');

      const results = await Promise.all(streams);
      for (const result of results) {
        expect(result.status).toBe(200);
        expect(result.body.trim().endsWith('data: [DONE]')).toBe(true);
      }
      expect(await service.exited).toBe(0);
      expect(service.output()).toContain('SIGTERM: draining');
      expect(simulator.counters().abortedByClient).toBe(0);
    } finally {
      service.child.kill('SIGKILL');
    }
  }, 40_000);

  it('answers calls still running when the grace period ends 503 SHUTTING_DOWN, then exits 0 at once', async () => {
    const slow = new UpstreamSimulator({ latencyMs: 4_000 });
    await slow.start();
    const service = await spawnLiveService({ ...routesTo(slow), SHUTDOWN_GRACE_MS: '1000', LLM_CIRCUIT_FAILURES: '2' });
    const { url } = service;
    try {
      const calls = Array.from({ length: 4 }, () => postJson(`${url}/v1/chat/completions`, chat('slow question', { model: 'sim/sim-1' })));
      await eventually(() => expect(slow.counters().inFlight).toBe(4), 5_000, 10);
      const signalled = Date.now();
      service.child.kill('SIGTERM');
      for (const response of await Promise.all(calls)) {
        expect(response.status).toBe(503);
        expect(response.json.error.code).toBe('SHUTTING_DOWN');
      }
      expect(await service.exited).toBe(0);
      // Grace (1 s) plus the cut: not the calls' 4 s, nor the 65 s inbound keep-alive timeout.
      expect(Date.now() - signalled).toBeLessThan(3_500);
      expect(service.output()).toContain('4 requests still in flight were cut off (503 SHUTTING_DOWN)');
      expect(service.output()).not.toMatch(/circuit|CIRCUIT_OPEN/);
      expect(slow.counters().requests).toBe(4); // nothing retried after the cut
    } finally {
      service.child.kill('SIGKILL');
      await slow.stop();
    }
  }, 40_000);
});
