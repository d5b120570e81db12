import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import type { FaultOptions } from '../src/simulator/upstream-simulator';
import { chat, eventually, getJson, postJson, postStream, sleep, startWithSimulator, type SimulatedService } from './support/service-harness';

const MiB = 1024 * 1024;
// The bound from issue #9: the service's memory must not follow what a hostile upstream sends.
const MAX_RSS_GROWTH_BYTES = 100 * MiB;

/** Runs `call`, sampling RSS every few ms; resolves with its result and how far RSS rose above where it started. */
async function withPeakRss<T>(call: () => Promise<T>): Promise<{ result: T; growth: number }> {
  (global as { gc?: () => void }).gc?.();
  const baseline = process.memoryUsage.rss();
  let peak = baseline;
  const sampler = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 5);
  try {
    const result = await call();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { result, growth: peak - baseline };
  } finally {
    clearInterval(sampler);
  }
}

/** Upstreams that misbehave on the wire: what the caller sees, what the pool counts, and what it costs us in memory. */
describe('hostile upstreams', () => {
  let running: SimulatedService | undefined;
  const url = () => running!.service.url;
  const stats = async () => (await getJson(`${url()}/v1/llm/stats/sim`)).json;
  const complete = () => postJson(`${url()}/v1/chat/completions`, chat('hello hostile world', { model: 'sim/sim-1' }));
  /** A streamed call read to its end; only the last 4 KiB are kept (where an error event is), so the reader costs no memory. */
  const stream = async () => {
    const response = await postStream(`${url()}/v1/chat/completions`, chat('hello hostile world', { model: 'sim/sim-1', stream: true }));
    const decoder = new TextDecoder();
    let tail = '';
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) tail = (tail + decoder.decode(chunk, { stream: true })).slice(-4 * 1024);
    return tail;
  };

  afterEach(async () => {
    await running?.stop();
    running = undefined;
  });

  /** After a hostile call: the slot is free, and the next ordinary call is answered. */
  async function expectPoolRecovered(): Promise<void> {
    running!.simulator.setFaults(null);
    await eventually(async () => expect((await stats()).requests.inFlight).toBe(0));
    const normal = await complete();
    expect(normal.status).toBe(200);
    expect(normal.json.choices[0].message.content).toBeTruthy();
  }

  describe('memory stays bounded whatever the body (LLM_MAX_RESPONSE_BYTES, LLM_MAX_SSE_EVENT_BYTES)', () => {
    beforeEach(async () => {
      // Default bounds (32 MiB, 1 MiB); a short deadline bounds each case even if a bound were missing.
      running = await startWithSimulator({}, { LLM_TIMEOUT_MS: '4000', LLM_MAX_RETRIES: '0', LLM_CIRCUIT_FAILURES: '50' });
    });

    const cases: [string, FaultOptions, () => Promise<string>, RegExp][] = [
      ['a whole answer that never ends', { endlessBody: true }, async () => (await complete()).text, /a response larger than 33554432 bytes/],
      ['a whole answer of 200 MB', { bodyBytes: 200 * 1_000_000 }, async () => (await complete()).text, /a response larger than 33554432 bytes/],
      ['a stream of 200 MB', { bodyBytes: 200 * 1_000_000 }, stream, /a response larger than 33554432 bytes/],
      ['a stream whose line never ends', { unterminatedSse: true }, stream, /an SSE event larger than 1048576 bytes/],
    ];

    it.each(cases)('%s: 502 UPSTREAM_RESPONSE_TOO_LARGE, upstream socket closed, RSS growth under 100 MB', async (name, fault, call, message) => {
      const { simulator } = running!;
      simulator.setFaults({ ...fault, count: 1 });
      const started = Date.now();
      const { result: text, growth } = await withPeakRss(call);
      process.stdout.write(`hostile upstream, ${name}: RSS growth ${Math.round(growth / MiB)} MB\n`);
      expect(growth).toBeLessThan(MAX_RSS_GROWTH_BYTES);
      expect(Date.now() - started).toBeLessThan(3_500); // the bound ended it, not the 4 s deadline
      expect(text).toContain('"status":502,"code":"UPSTREAM_RESPONSE_TOO_LARGE"');
      expect(text).toMatch(message);
      // We hung up on the upstream: its request was cut, not finished.
      await eventually(() => expect(simulator.counters().abortedByClient).toBe(1));
      const s = await stats();
      expect(s.errorsByKind.response_too_large).toBe(1);
      expect(s.requests).toMatchObject({ failedCalls: 1, succeeded: 0 });
      expect(s.circuit.consecutiveFailures).toBe(1); // a misbehaving upstream: it counts against the circuit
      await expectPoolRecovered();
    });

    it('relays a large answer under the bound', async () => {
      running!.simulator.setFaults({ bodyBytes: 8 * MiB, count: 1 });
      const response = await complete();
      expect(response.status).toBe(200);
      expect(response.json.choices[0].message.content.length).toBeGreaterThan(8 * MiB - 1_000);
    });
  });

  it('applies a per-upstream LLM_<NAME>_MAX_RESPONSE_BYTES', async () => {
    running = await startWithSimulator({}, { LLM_SIM_MAX_RESPONSE_BYTES: '65536', LLM_MAX_RETRIES: '0' });
    running.simulator.setFaults({ bodyBytes: 100_000, count: 1 });
    const response = await complete();
    expect(response.status).toBe(502);
    expect(response.json.error).toMatchObject({ code: 'UPSTREAM_RESPONSE_TOO_LARGE', details: { limitBytes: 65536 } });
    expect((await stats()).config).toMatchObject({ maxResponseBytes: 65536, maxSseEventBytes: 1048576 });
  });

  describe('a redirect is a failure, never a completion', () => {
    beforeEach(async () => {
      running = await startWithSimulator({}, { LLM_MAX_RETRIES: '2' });
    });

    it.each([
      ['whole', complete],
      ['streamed', async () => postJson(`${url()}/v1/chat/completions`, chat('hello hostile world', { model: 'sim/sim-1', stream: true }))],
    ])('%s: a 302 carrying a completion is a 502 UPSTREAM_ERROR, not retried, not billed', async (_name, call) => {
      running!.simulator.setFaults({ redirectStatus: 302, count: 1 });
      const response = await call();
      expect(response.status).toBe(502);
      expect(response.json.error).toMatchObject({ code: 'UPSTREAM_ERROR', upstream: 'sim', details: { upstreamStatus: 302 } });
      expect(response.json.error.message).toContain('answered 302');
      expect(response.text).not.toContain('chatcmpl-sim');
      expect(running!.simulator.counters().requests).toBe(1);
      const s = await stats();
      expect(s.errorsByKind.http_3xx).toBe(1);
      expect(s.requests).toMatchObject({ succeeded: 0, failedCalls: 1 });
      const billed = (await getJson(`${url()}/v1/llm/stats`)).json.spend.byModel.filter((entry: { upstream: string }) => entry.upstream === 'sim');
      expect(billed).toEqual([]);
      await expectPoolRecovered();
    });
  });

  describe('callers that stop reading a fast stream', () => {
    const IDLE_MS = 400;
    const DEADLINE_MS = 5_000;
    const readers: ClientRequest[] = [];

    beforeEach(async () => {
      running = await startWithSimulator(
        {},
        {
          LLM_IDLE_TIMEOUT_MS: String(IDLE_MS),
          LLM_TIMEOUT_MS: String(DEADLINE_MS),
          LLM_CIRCUIT_FAILURES: '3',
          LLM_MAX_RETRIES: '0',
          // The stream is far longer than the buffers between it and the stalled reader; it must not hit the bound.
          LLM_MAX_RESPONSE_BYTES: String(1024 * MiB),
        },
      );
    });

    afterEach(() => {
      for (const reader of readers.splice(0)) reader.destroy();
    });

    /** Starts a stream, takes its first bytes, then stops reading (the socket stays open). */
    function stalledReader(): Promise<IncomingMessage> {
      const body = JSON.stringify(chat('hello slow reader', { model: 'sim/sim-1', stream: true }));
      return new Promise((resolve, reject) => {
        const request = httpRequest(`${url()}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' } }, (response) => {
          response.once('data', () => {
            response.pause();
            resolve(response);
          });
        });
        request.once('error', reject);
        readers.push(request);
        request.end(body);
      });
    }

    it('neither the idle timer nor the circuit blames the upstream; the deadline frees the slots as caller-side failures', async () => {
      const { simulator } = running!;
      simulator.setFaults({ bodyBytes: 1_000 * 1_000_000 }); // as fast as it is read
      await Promise.all(Array.from({ length: 5 }, () => stalledReader()));
      // Long enough for every buffer between the upstream and the stalled readers to fill, and for the idle timer to fire many times over.
      await sleep(IDLE_MS * 5);
      simulator.setFaults(null);

      let s = await stats();
      expect(s.requests.inFlight).toBe(5);
      expect(s.timeouts.idle).toBe(0);
      expect(s.circuit.state).toBe('closed');
      // An unrelated caller is served, and the instance stays ready.
      expect((await complete()).status).toBe(200);
      expect((await getJson(`${url()}/health/ready`)).status).toBe(200);

      // The whole-call deadline still applies: the stalled calls end, their slots are freed, and it is the callers' doing.
      await eventually(async () => expect((await stats()).requests.inFlight).toBe(0), DEADLINE_MS + 2_000, 100);
      s = await stats();
      expect(s.errorsByKind).toMatchObject({ client_stalled: 5, idle_timeout: 0, request_timeout: 0 });
      expect(s.requests.failedCalls).toBe(0);
      expect(s.circuit).toMatchObject({ state: 'closed', consecutiveFailures: 0 });
      await eventually(() => expect(simulator.counters().inFlight).toBe(0)); // the upstream requests were cut
      await expectPoolRecovered();
    }, 20_000);

    it('still ends a stream whose upstream goes silent while its caller reads', async () => {
      running!.simulator.setFaults({ stallAfterTokens: 2, count: 1 });
      const text = await stream();
      expect(text).toMatch(/"code":"UPSTREAM_TIMEOUT"/);
      expect((await stats()).timeouts.idle).toBe(1);
    });
  });
});
