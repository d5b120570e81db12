import { DrainService } from '../src/lifecycle/drain.service';
import { PoolRegistry } from '../src/pool/pool-registry';
import { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { chat, eventually, postJson, postStream, readSse, startService, type HttpResult, type RunningService } from './support/service-harness';

/**
 * Calls still running when the grace period ends are cut by our own shutdown: the caller is told
 * SHUTTING_DOWN (retry elsewhere), and the upstream is not blamed: its circuit and error counts stay clean.
 */
describe('calls cut by our own shutdown', () => {
  let slow: UpstreamSimulator;
  let drip: UpstreamSimulator;
  let service: RunningService;
  const question = 'one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen';

  beforeEach(async () => {
    // Whole answers take 3 s; streams send their headers at once, then 4 tokens a second for several seconds.
    slow = new UpstreamSimulator({ latencyMs: 3_000 });
    drip = new UpstreamSimulator({ tokensPerSecond: 4 });
    await Promise.all([slow.start(), drip.start()]);
    service = await startService({
      LLM_SIMULATOR: 'off',
      LLM_UPSTREAMS: `slow=${slow.openAiBaseUrl},drip=${drip.openAiBaseUrl}`,
      LLM_MAX_RETRIES: '2',
      // Two failures would be enough to open the circuit: the cut must not count as one.
      LLM_CIRCUIT_FAILURES: '2',
    });
  });
  afterEach(async () => {
    await Promise.all([slow.stop(), drip.stop()]);
  });

  const wholeCalls = (n: number) => Array.from({ length: n }, () => postJson(`${service.url}/v1/chat/completions`, chat(question, { model: 'slow/sim-1' })));

  function expectShuttingDown(responses: HttpResult[]) {
    for (const response of responses) {
      expect(response.status).toBe(503);
      expect(response.json.error).toMatchObject({ code: 'SHUTTING_DOWN' });
      expect(response.headers.get('retry-after')).toBe('1');
    }
  }

  /** The upstream was not blamed: circuit closed and untouched, no failed call, no retry, only the shutdown bucket counted. */
  function expectUpstreamUnblamed(pools: PoolRegistry, name: string, cut: number) {
    const s = pools.get(name).snapshot();
    expect(s.circuit).toMatchObject({ state: 'closed', consecutiveFailures: 0, transitions: { opened: 0, halfOpened: 0, closed: 0 }, lastFailure: null });
    expect(s.requests).toMatchObject({ failedCalls: 0, retries: 0, staleSocketRetries: 0 });
    const { shutdown, ...others } = s.errorsByKind as Record<string, number>;
    expect(shutdown).toBe(cut);
    expect(Object.values(others).every((n) => n === 0)).toBe(true);
  }

  it('after the grace period: answers 503 SHUTTING_DOWN (or ends the stream with that error event) and leaves the circuit closed', async () => {
    const whole = wholeCalls(6);
    const streams = Array.from({ length: 2 }, async () => {
      const response = await postStream(`${service.url}/v1/chat/completions`, chat(question, { model: 'drip/sim-1', stream: true }));
      return { status: response.status, events: await readSse(response) };
    });
    await eventually(() => {
      expect(slow.counters().inFlight).toBe(6);
      expect(drip.counters().inFlight).toBe(2);
    }, 5_000, 10);

    // What main.ts does on SIGTERM, with a grace period shorter than the calls.
    const pools = service.app.get(PoolRegistry);
    const started = Date.now();
    const outcome = await service.app.get(DrainService).drainThenCut(1_000);
    expect(outcome).toEqual({ completed: false, cut: 8, stillOpen: 0 });
    await service.app.close();
    // The cut answers were written before the server closed, so it closed at once (not after the keep-alive timeout).
    expect(Date.now() - started).toBeLessThan(5_000);

    expectShuttingDown(await Promise.all(whole));
    for (const { status, events } of await Promise.all(streams)) {
      expect(status).toBe(200);
      const last = events[events.length - 1];
      expect(last.event).toBe('error');
      expect(JSON.parse(last.data).error).toMatchObject({ code: 'SHUTTING_DOWN' });
    }
    expectUpstreamUnblamed(pools, 'slow', 6);
    expectUpstreamUnblamed(pools, 'drip', 2);
    // Nothing was sent again after the cut.
    expect(slow.counters().requests).toBe(6);
    expect(drip.counters().requests).toBe(2);
  }, 30_000);

  it('closing the app under running calls (no drain first) still answers SHUTTING_DOWN and blames no upstream', async () => {
    const whole = wholeCalls(4);
    await eventually(() => expect(slow.counters().inFlight).toBe(4), 5_000, 10);
    const pools = service.app.get(PoolRegistry);
    await service.app.close();
    expectShuttingDown(await Promise.all(whole));
    expectUpstreamUnblamed(pools, 'slow', 4);
    expect(slow.counters().requests).toBe(4);
  }, 30_000);
});
