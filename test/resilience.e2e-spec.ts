import { createServer as createTcpServer, type Server as TcpServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { UpstreamSimulator, type SimulatorOptions } from '../src/simulator/upstream-simulator';
import { chat, eventually, getJson, postJson, postStream, sleep, startService, startWithSimulator, type RunningService } from './support/service-harness';

/** Upstream faults from the simulator's fault knobs; what the caller sees and what stats say. */
describe('resilience against upstream faults', () => {
  let simulator: UpstreamSimulator;
  let service: RunningService | undefined;
  const extra: { stop(): Promise<void> }[] = [];

  async function boot(simOptions: SimulatorOptions, env: Record<string, string> = {}) {
    ({ simulator, service } = await startWithSimulator(simOptions, env));
  }
  const stats = async (name = 'sim') => (await getJson(`${service!.url}/v1/llm/stats/${name}`)).json;
  const complete = (extraBody: Record<string, unknown> = {}) =>
    postJson(`${service!.url}/v1/chat/completions`, chat('hello resilience', { model: 'sim/sim-1', ...extraBody }));

  afterEach(async () => {
    await service?.close();
    service = undefined;
    await simulator?.stop();
    for (const server of extra.splice(0)) await server.stop();
  });

  it('retries 5xx with backoff and succeeds', async () => {
    await boot({}, { LLM_MAX_RETRIES: '2' });
    simulator.setFaults({ status: 503, retryAfterMs: 20, count: 2 });
    const response = await complete();
    expect(response.status).toBe(200);
    expect(simulator.counters().requests).toBe(3);
    const s = await stats();
    expect(s.requests).toMatchObject({ retries: 2, failedCalls: 0, succeeded: 1 });
    expect(s.errorsByKind.http_5xx).toBe(2);
  });

  it('honours Retry-After through a 429 storm, then gives the caller the 429 and its Retry-After', async () => {
    await boot({}, { LLM_MAX_RETRIES: '2' });
    simulator.setFaults({ status: 429, retryAfterMs: 150, count: 10 });
    const started = Date.now();
    const response = await complete();
    expect(response.status).toBe(429);
    expect(Date.now() - started).toBeGreaterThanOrEqual(2 * 150 - 10); // waited as told, twice
    expect(simulator.counters().requests).toBe(3);
    expect((await stats()).requests).toMatchObject({ retries: 2, failedCalls: 1 });
  });

  it('does not wait out a Retry-After longer than a minute', async () => {
    await boot({}, { LLM_MAX_RETRIES: '2' });
    simulator.setFaults({ status: 429, retryAfterS: 120, count: 1 });
    const response = await complete();
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('120');
    expect(simulator.counters().requests).toBe(1);
  });

  it('does not retry a 4xx that retrying cannot fix', async () => {
    await boot({}, { LLM_MAX_RETRIES: '2' });
    simulator.setFaults({ status: 400, count: 1 });
    expect((await complete()).status).toBe(400);
    expect(simulator.counters().requests).toBe(1);
  });

  it('repeats a request once, transparently, when a reused socket turns out closed', async () => {
    await boot({}, { LLM_MAX_RETRIES: '0' });
    expect((await complete()).status).toBe(200); // warms one keep-alive socket
    simulator.setFaults({ reset: true, count: 1 }); // the reused socket is reset before any byte: a stale socket
    const response = await complete();
    expect(response.status).toBe(200);
    const s = await stats();
    expect(s.requests.staleSocketRetries).toBe(1);
    expect(s.requests.failedCalls).toBe(0);
    expect(simulator.counters().connections).toBe(2); // the repeat went out on a new connection
  });

  it('does not treat a reset on a new connection as stale', async () => {
    await boot({}, { LLM_MAX_RETRIES: '0' });
    simulator.setFaults({ reset: true, count: 1 });
    const response = await complete();
    expect(response.status).toBe(502);
    expect(response.json.error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect((await stats()).requests.staleSocketRetries).toBe(0);
  });

  it('shows callers no error when the upstream closes idle sockets before we expire them', async () => {
    // A server that closes idle sockets after 1 s, a pool that would keep them 3 s: requests spaced right at the gap.
    await boot({ keepAliveTimeoutMs: 1_000 }, { LLM_KEEPALIVE_EXPIRY_MS: '3000', LLM_MAX_RETRIES: '0' });
    const statuses: number[] = [];
    for (const gapMs of [1_100, 1_100, 990, 1_000, 1_010, 0]) {
      statuses.push((await complete()).status);
      await sleep(gapMs);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 200]);
    const s = await stats();
    expect(s.requests.failedCalls).toBe(0);
    // Each gap outlived the server's idle timeout (or raced it): the socket was gone or went stale, and nobody saw it.
    expect(s.sockets.closedByReason.server_closed + s.requests.staleSocketRetries).toBeGreaterThanOrEqual(2);
  }, 20_000);

  it('ends a stalled stream with an error event after LLM_IDLE_TIMEOUT_MS and frees the slot', async () => {
    await boot({ tokensPerSecond: 200 }, { LLM_IDLE_TIMEOUT_MS: '300' });
    simulator.setFaults({ stallAfterTokens: 2, count: 1 });
    const started = Date.now();
    const response = await postStream(
      `${service!.url}/v1/chat/completions`,
      chat('one two three four five six', { model: 'sim/sim-1', stream: true }),
    );
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(text).toMatch(/"delta":\{"content":"[^"]+"\}/); // tokens arrived before the stall
    expect(text).toMatch(/event: error\ndata: \{"error":\{"status":504,"code":"UPSTREAM_TIMEOUT"/);
    expect(text).toContain('stalled');
    expect(text).not.toContain('[DONE]');
    await eventually(async () => {
      const s = await stats();
      expect(s.timeouts.idle).toBe(1);
      expect(s.requests.inFlight).toBe(0);
    });
  });

  it('gives 504 when the whole request outlives LLM_TIMEOUT_MS', async () => {
    await boot({ ttftMs: 1_000 }, { LLM_TIMEOUT_MS: '250', LLM_MAX_RETRIES: '2' });
    const started = Date.now();
    const response = await complete();
    expect(response.status).toBe(504);
    expect(response.json.error.code).toBe('UPSTREAM_TIMEOUT');
    expect(Date.now() - started).toBeLessThan(900);
    expect((await stats()).timeouts.request).toBe(1);
  });

  it('gives 504 when the connection (TLS handshake included) takes longer than LLM_CONNECT_TIMEOUT_MS', async () => {
    // Accepts TCP and then says nothing: the TLS handshake never completes.
    const accepted = new Set<import('node:net').Socket>();
    const silent: TcpServer = createTcpServer((socket) => accepted.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    extra.push({
      stop: () => {
        for (const socket of accepted) socket.destroy();
        return new Promise<void>((resolve) => silent.close(() => resolve()));
      },
    });
    const port = (silent.address() as AddressInfo).port;
    simulator = new UpstreamSimulator();
    await simulator.start();
    service = await startService({
      LLM_SIMULATOR: 'off',
      LLM_UPSTREAMS: `mute=https://127.0.0.1:${port}/v1`,
      LLM_CONNECT_TIMEOUT_MS: '200',
      LLM_MAX_RETRIES: '0',
    });
    const response = await postJson(`${service.url}/v1/chat/completions`, chat('hi', { model: 'mute/m' }));
    expect(response.status).toBe(504);
    expect(response.json.error.message).toContain('could not connect');
    expect((await stats('mute')).timeouts.connect).toBe(1);
  });

  it('opens the circuit when the upstream is down, reports not ready, and recovers when it is back', async () => {
    await boot({}, { LLM_CIRCUIT_FAILURES: '3', LLM_CIRCUIT_OPEN_MS: '400', LLM_MAX_RETRIES: '0' });
    const port = simulator.port;
    await simulator.stop();

    for (let i = 0; i < 3; i++) expect((await complete()).status).toBe(502);
    const open = await complete();
    expect(open.status).toBe(503);
    expect(open.json.error.code).toBe('CIRCUIT_OPEN');
    expect(open.json.error.message).toContain('3 consecutive failures');
    expect(Number(open.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);

    const ready = await getJson(`${service!.url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(ready.json.error['upstream:sim']).toMatchObject({ status: 'down', circuit: 'open' });
    expect((await getJson(`${service!.url}/health/live`)).status).toBe(200);
    expect((await stats()).circuit).toMatchObject({ state: 'open', rejected: 1, transitions: { opened: 1 } });

    simulator = new UpstreamSimulator({ port });
    await simulator.start();
    await sleep(450);
    expect((await complete()).status).toBe(200); // the half-open probe
    expect((await getJson(`${service!.url}/health/ready`)).status).toBe(200);
    expect((await stats()).circuit).toMatchObject({ state: 'closed', transitions: { opened: 1, halfOpened: 1, closed: 1 } });
  });

  it('answers from the fallback upstream while the primary is down', async () => {
    const backup = new UpstreamSimulator();
    await backup.start();
    extra.push(backup);
    simulator = new UpstreamSimulator();
    await simulator.start();
    service = await startService({
      LLM_SIMULATOR: 'off',
      LLM_UPSTREAMS: `sim=${simulator.openAiBaseUrl},backup=${backup.openAiBaseUrl}`,
      LLM_SIM_FALLBACK: 'backup/sim-1',
      LLM_MAX_RETRIES: '0',
    });
    await simulator.stop();
    const response = await complete();
    expect(response.status).toBe(200);
    expect(response.headers.get('x-llm-upstream')).toBe('backup');
    expect(backup.counters().requests).toBe(1);
  });

  it('rests a refused API key and a rate-limited one, never showing a key', async () => {
    await boot({ apiKeys: ['key-good-1', 'key-good-2'] }, { LLM_SIM_API_KEY: 'key-revoked-0,key-good-1,key-good-2', LLM_MAX_RETRIES: '0' });
    const responses = [];
    for (let i = 0; i < 6; i++) responses.push(await complete());
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    let s = await stats();
    expect(s.apiKeys).toMatchObject({ total: 3, usable: 2, refused: 1, rateLimited: 0 });
    expect(s.apiKeys.keys[0]).toMatchObject({ position: 1, state: 'refused', lastStatus: 401 });
    expect(simulator.counters().requests).toBe(7); // one 401 on the revoked key, then all good

    simulator.setFaults({ status: 429, retryAfterS: 30, count: 1 });
    expect((await complete()).status).toBe(200); // the other good key answered
    s = await stats();
    expect(s.apiKeys).toMatchObject({ total: 3, usable: 1, refused: 1, rateLimited: 1 });
    expect(JSON.stringify(s)).not.toMatch(/key-(good|revoked)/);
  });
});
