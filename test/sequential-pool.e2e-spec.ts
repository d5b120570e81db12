import { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { chat, getJson, postJson, postStream, readSse, startService, routesTo, type RunningService } from './support/service-harness';

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
});
