import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { chat, eventually, getJson, postJson, postStream, readSse, startService, routesTo, type RunningService } from './support/service-harness';

/**
 * A strictly sequential caller (each request sent once the previous response has ended) must find the
 * socket of its previous request free: the slot and the socket are released before its response ends.
 */
describe('pool accounting is exact', () => {
  const stats = async (service: RunningService, upstream: string) => (await getJson(`${service.url}/v1/llm/stats/${upstream}`)).json;

  async function sequentially(service: RunningService, model: string, count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      const body = chat(`question ${i} about the Eiffel Tower`, { model, stream: i % 2 === 0 });
      if (i % 2 === 0) {
        const response = await postStream(`${service.url}/v1/chat/completions`, body);
        expect(response.status).toBe(200);
        const events = await readSse(response); // read to its end
        expect(events.at(-1)?.data).toBe('[DONE]');
      } else {
        expect((await postJson(`${service.url}/v1/chat/completions`, body)).status).toBe(200);
      }
    }
  }

  describe('with a keep-alive upstream', () => {
    let simulator: UpstreamSimulator;
    let service: RunningService;

    beforeAll(async () => {
      simulator = new UpstreamSimulator({ tokensPerSecond: 0 });
      await simulator.start();
      service = await startService({ ...routesTo(simulator, { anthropic: true }), LLM_PROVIDER: 'sim', LLM_MAX_RETRIES: '0' });
    });
    afterAll(async () => {
      await service?.close();
      await simulator?.stop();
    });

    it.each([
      ['OpenAI', 'sim', 'sim/sim-1'],
      ['Anthropic', 'claude', 'claude/sim-1'],
    ])('200 sequential mixed streamed and whole requests to an %s upstream use exactly 1 connection', async (_, upstream, model) => {
      simulator.resetCounters();
      // The body's end comes 15 ms after the stream's last event, in its own packet, as uvicorn and nginx send it.
      simulator.setFaults({ streamEndDelayMs: 15 });
      await sequentially(service, model, 200);
      const pool = await stats(service, upstream);
      expect(pool.sockets.created).toBe(1);
      expect(pool.requests).toMatchObject({ total: 200, reused: 199, peakInFlight: 1 });
      expect(simulator.counters()).toMatchObject({ connections: 1, requests: 200, peakInFlight: 1, maxRequestsPerConnection: 200 });
    });
  });

  describe('with an upstream that closes a connection after 20 requests (nginx keepalive_requests)', () => {
    let simulator: UpstreamSimulator;
    let service: RunningService;

    beforeAll(async () => {
      simulator = new UpstreamSimulator({ maxRequestsPerConnection: 20 });
      await simulator.start();
      service = await startService({ ...routesTo(simulator), LLM_PROVIDER: 'sim', LLM_MAX_RETRIES: '0' });
    });
    afterAll(async () => {
      await service?.close();
      await simulator?.stop();
    });

    it('counts every close as server_closed, none as aborted, and opens one connection per 20 requests', async () => {
      simulator.setFaults({ streamEndDelayMs: 15 });
      await sequentially(service, 'sim/sim-1', 100);
      const pool = await stats(service, 'sim');
      expect(pool.sockets.created).toBe(5);
      expect(pool.sockets.closedByReason).toMatchObject({ server_closed: 5, aborted: 0, error: 0 });
      expect(pool.requests).toMatchObject({ total: 100, staleSocketRetries: 0, failed: 0 });
      expect(simulator.counters()).toMatchObject({ connections: 5, closedByServer: 5, maxRequestsPerConnection: 20 });
    });
  });

  // A server that is not ours: Python's standard library HTTP/1.1 server (threaded), where python3 is installed.
  const python = spawnSync('python3', ['--version']).status === 0;
  (python ? describe : describe.skip).each([
    ['keeps its connections open', 0, 1],
    ['closes a connection after 20 requests', 20, 5],
  ])('with a Python http.server upstream that %s', (_, maxRequests, connections) => {
    let upstream: ChildProcess;
    let origin: string;
    let service: RunningService;

    beforeAll(async () => {
      upstream = spawn('python3', [join(__dirname, 'support/stdlib-upstream.py'), String(maxRequests)], { stdio: ['ignore', 'pipe', 'inherit'] });
      const [port] = (await once(upstream.stdout!, 'data')) as [Buffer];
      origin = `http://127.0.0.1:${String(port).trim()}`;
      service = await startService({ LLM_SIMULATOR: 'off', LLM_UPSTREAMS: `py=${origin}`, LLM_PY_MODEL: 'stdlib-1', LLM_MAX_RETRIES: '0' });
    });
    afterAll(async () => {
      await service?.close();
      upstream?.kill();
    });

    it(`100 sequential mixed requests use exactly ${connections} connection(s), every close counted as the server's`, async () => {
      await sequentially(service, 'py/stdlib-1', 100);
      const pool = await stats(service, 'py');
      expect(pool.sockets.created).toBe(connections);
      expect(pool.requests).toMatchObject({ total: 100, failed: 0, staleSocketRetries: 0, peakInFlight: 1 });
      expect((await getJson(`${origin}/stats`)).json).toEqual({ connections, requests: 100 });
      if (maxRequests) await eventually(async () => expect((await stats(service, 'py')).sockets.closedByReason).toMatchObject({ server_closed: connections, aborted: 0, error: 0 }));
    });
  });
});
