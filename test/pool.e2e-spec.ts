import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UpstreamSimulator, type SimulatorOptions } from '../src/simulator/upstream-simulator';
import {
  chat,
  eventually,
  getJson,
  postJson,
  runConcurrently,
  sleep,
  startService,
  routesTo,
  startWithSimulator,
  type RunningService,
} from './support/service-harness';
import { spawnLiveService } from './support/spawn-service';

/**
 * The pool over real sockets on 127.0.0.1: every assertion compares what the
 * service reports with what the upstream simulator itself counted.
 */
describe('upstream pool (real sockets against the simulator)', () => {
  let simulator: UpstreamSimulator;
  let service: RunningService | undefined;

  async function boot(simOptions: SimulatorOptions, env: Record<string, string> = {}) {
    ({ simulator, service } = await startWithSimulator(simOptions, env));
    return service;
  }
  const stats = async () => (await getJson(`${service!.url}/v1/llm/stats/sim`)).json;
  const complete = (content = 'hello pool') => postJson(`${service!.url}/v1/chat/completions`, chat(content, { model: 'sim/sim-1' }));

  afterEach(async () => {
    await service?.close();
    service = undefined;
    await simulator?.stop();
  });

  it('serves 200 sequential requests over exactly one connection', async () => {
    await boot({});
    for (let i = 0; i < 200; i++) expect((await complete(`question ${i}`)).status).toBe(200);

    const s = await stats();
    expect(simulator.counters().connections).toBe(1);
    expect(simulator.counters().requests).toBe(200);
    expect(s.sockets.created).toBe(1);
    expect(s.requests).toMatchObject({ total: 200, reused: 199, succeeded: 200, failed: 0 });
    expect(s.requests.reuseRate).toBeCloseTo(0.995, 3);
  });

  it('never opens more than LLM_MAX_CONNECTIONS nor has more in flight at the upstream', async () => {
    await boot({ latencyMs: 10 }, { LLM_MAX_CONNECTIONS: '10' });
    const results = await runConcurrently(200, 20, () => complete());
    expect(results.every((r) => r.status === 200)).toBe(true);

    const upstream = simulator.counters();
    const s = await stats();
    expect(upstream.connections).toBeLessThanOrEqual(10);
    expect(upstream.peakInFlight).toBeLessThanOrEqual(10);
    expect(upstream.peakInFlight).toBeGreaterThan(1); // the load did overlap
    expect(s.requests.peakInFlight).toBeLessThanOrEqual(10);
    expect(s.sockets.created).toBe(upstream.connections);
    expect(s.requests.total).toBe(upstream.requests);
  });

  /** Bursts of `width` concurrent requests, each burst awaited: every burst frees all sockets at once. */
  async function bursts(count: number, width: number) {
    for (let i = 0; i < count; i++) {
      const results = await Promise.all(Array.from({ length: width }, () => complete()));
      expect(results.every((r) => r.status === 200)).toBe(true);
    }
  }

  it('holds many calls in flight without a listener-leak warning: each attempt listens for the pool\'s shutdown', async () => {
    // Its own process: Node prints the warning on the process' stderr, once, where an operator would read it.
    simulator = new UpstreamSimulator({ latencyMs: 50, ttftMs: 0, tokensPerSecond: 0 });
    await simulator.start();
    const spawned = await spawnLiveService({ ...routesTo(simulator), LLM_MAX_CONNECTIONS: '64', LOG_LEVEL: 'warn' });
    try {
      const results = await runConcurrently(40, 40, () => postJson(`${spawned.url}/v1/chat/completions`, chat('hello', { model: 'sim/sim-1' })));
      expect(results.every((r) => r.status === 200)).toBe(true);
      expect(simulator.counters().peakInFlight).toBeGreaterThan(10); // more than Node's default of 10 listeners
      await sleep(100);
      expect(spawned.output()).not.toContain('MaxListenersExceededWarning');
    } finally {
      spawned.child.kill('SIGKILL');
      await spawned.exited;
    }
  });

  it('churns (max - keepalive) sockets per burst when keep-alive covers less than the connection limit, and says so', async () => {
    await boot({ latencyMs: 20 }, { LLM_MAX_CONNECTIONS: '9', LLM_MAX_KEEPALIVE: '6' });
    await bursts(20, 9);

    const s = await stats();
    expect(s.config).toMatchObject({ maxConnections: 9, maxKeepAlive: 6, churnedSocketsAtSaturation: 3 });
    expect(s.config.keepAliveCoverage).toBeCloseTo(0.6667, 3);
    // Each burst frees 9 sockets at once and only 6 may stay: up to 3 per burst are closed and re-opened
    // (a request that starts after another of its burst ended can reuse that socket, so "up to").
    expect(s.sockets.idle).toBe(6);
    expect(s.sockets.closedByReason.keepalive_limit).toBe(s.sockets.created - 6);
    expect(s.sockets.closedByReason.keepalive_limit).toBeGreaterThanOrEqual(40);
    expect(s.sockets.closedByReason.keepalive_limit).toBeLessThanOrEqual(60);
    await eventually(() => {
      const upstream = simulator.counters();
      expect(upstream.connections).toBe(s.sockets.created);
      expect(upstream.closedByClient).toBe(s.sockets.closed);
    });
  });

  it('keeps every socket when keep-alive covers the connection limit', async () => {
    await boot({ latencyMs: 20 }, { LLM_MAX_CONNECTIONS: '9' });
    await bursts(20, 9);
    const s = await stats();
    expect(s.config.keepAliveCoverage).toBe(1);
    expect(s.sockets.created).toBe(9);
    expect(s.sockets.closed).toBe(0);
    expect(simulator.counters().connections).toBe(9);
  });

  it('closes idle sockets after LLM_KEEPALIVE_EXPIRY_MS and reports why', async () => {
    await boot({}, { LLM_KEEPALIVE_EXPIRY_MS: '150' });
    await complete();
    await sleep(400);
    await complete();

    const s = await stats();
    expect(simulator.counters().connections).toBe(2);
    expect(s.sockets.created).toBe(2);
    expect(s.sockets.closedByReason.idle_expiry).toBe(1);
    await eventually(() => expect(simulator.counters().closedByClient).toBe(1));
  });

  it('recycles sockets older than LLM_SOCKET_TTL_MS and reports why', async () => {
    await boot({}, { LLM_SOCKET_TTL_MS: '250' });
    for (let i = 0; i < 12; i++) {
      await complete();
      await sleep(60);
    }
    const s = await stats();
    expect(s.sockets.closedByReason.ttl).toBeGreaterThanOrEqual(2);
    expect(s.sockets.created).toBe(simulator.counters().connections);
    expect(s.sockets.created).toBe(s.sockets.closed + s.sockets.open);
    expect(s.requests.reused).toBeGreaterThan(0);
  });

  it('counts a socket the server closed as closed by the server', async () => {
    await boot({ keepAliveTimeoutMs: 3_000 }, { LLM_KEEPALIVE_EXPIRY_MS: '2500' });
    await complete();
    // The simulator closes the idle socket itself: ask it to, by lowering its keep-alive timeout.
    simulator.configure({ keepAliveTimeoutMs: 100 });
    await complete(); // reuses the socket, which now gets the short timeout after this response
    await eventually(async () => expect((await stats()).sockets.closedByReason.server_closed).toBe(1));
    expect(simulator.counters().closedByServer).toBe(1);
  });

  it('answers 503 with Retry-After when the queue is full or the wait is too long', async () => {
    await boot({ ttftMs: 800 }, { LLM_MAX_CONNECTIONS: '1', LLM_MAX_QUEUE: '1', LLM_POOL_TIMEOUT_MS: '200' });
    const [first, queued, refused] = await Promise.all([complete(), sleep(20).then(() => complete()), sleep(60).then(() => complete())]);

    expect(first.status).toBe(200);
    for (const rejected of [queued, refused]) {
      expect(rejected.status).toBe(503);
      expect(rejected.headers.get('retry-after')).toBe('1');
      expect(rejected.json.error).toMatchObject({ status: 503, code: 'POOL_EXHAUSTED', upstream: 'sim' });
      expect(rejected.json.error.message).toContain('"sim" is exhausted');
    }
    expect(refused.json.error.details.reason).toBe('queue_full');
    expect(queued.json.error.details.reason).toBe('wait_timeout');
    expect(queued.json.error.details.waitedMs).toBeGreaterThanOrEqual(190);

    const s = await stats();
    expect(s.poolExhausted).toEqual({ total: 2, queueFull: 1, waitTimeout: 1 });
    expect(simulator.counters().requests).toBe(1); // refused requests never reached the upstream
  });

  it('reuses TLS connections: one handshake for many requests', async () => {
    simulator = new UpstreamSimulator({ tls: true });
    await simulator.start();
    const caFile = join(mkdtempSync(join(tmpdir(), 'llm-ca-')), 'ca.pem');
    writeFileSync(caFile, simulator.caPem!);
    service = await startService({ LLM_SIMULATOR: 'off', LLM_UPSTREAMS: `sim=${simulator.openAiBaseUrl}`, LLM_CA_FILE: caFile });

    await runConcurrently(50, 1, () => complete());
    const s = await stats();
    const upstream = simulator.counters();
    expect(s.origin).toMatch(/^https:/);
    expect(upstream.tlsHandshakes).toBe(1);
    expect(s.sockets.tlsHandshakes).toBe(upstream.tlsHandshakes);
    expect(upstream.tlsHandshakes).toBeLessThanOrEqual(upstream.connections);
    expect(s.requests.reused).toBe(49);
  });

  it('rejects an upstream with a certificate it does not trust', async () => {
    await boot({ tls: true });
    const response = await complete();
    expect(response.status).toBe(502);
    expect(response.json.error.code).toBe('UPSTREAM_UNAVAILABLE');
    expect(simulator.counters().tlsHandshakes).toBe(0);
  });
});
