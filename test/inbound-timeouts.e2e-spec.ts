import { connect, type Socket } from 'node:net';
import { chat, postJson, postStream, readSse, startWithSimulator, type SimulatedService } from './support/service-harness';

const REQUEST_TIMEOUT_MS = 1_000;
// Node checks for expired requests every second (connectionsCheckingInterval): a timeout fires within one more.
const CLOSED_WITHIN_MS = REQUEST_TIMEOUT_MS + 1_000 + 1_000;
// The 10-minute proof, off by default: LLM_E2E_LONG_STREAM_MS=600000 npx jest test/inbound-timeouts.e2e-spec.ts
const LONG_STREAM_MS = Number(process.env.LLM_E2E_LONG_STREAM_MS ?? 0);

interface RawExchange {
  /** Everything the service wrote before it closed the socket. */
  received: string;
  /** From connecting to the socket's close. */
  elapsedMs: number;
}

/** Opens a raw connection, sends `head` and then one byte of `trickle` every `everyMs` until the service closes it. */
function trickle(port: number, head: string, trickleByte: string, everyMs: number, giveUpMs: number): Promise<RawExchange> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const socket: Socket = connect(port, '127.0.0.1');
    let received = '';
    const timer = setInterval(() => socket.writable && socket.write(trickleByte), everyMs);
    const giveUp = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the service kept a trickling request open for ${giveUpMs} ms`));
    }, giveUpMs);
    socket.on('data', (chunk) => (received += chunk.toString('utf8')));
    socket.on('error', () => undefined); // a reset after the 408 is the close we wait for
    socket.on('close', () => {
      clearInterval(timer);
      clearTimeout(giveUp);
      resolve({ received, elapsedMs: performance.now() - started });
    });
    socket.write(head);
  });
}

describe('inbound timeouts: slow requests are cut, long responses are not', () => {
  let running: SimulatedService;
  let port: number;

  beforeAll(async () => {
    running = await startWithSimulator({}, { SERVICE_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS), LLM_PROVIDER: 'sim', LLM_MODEL: 'sim-1', SERVICE_RATE_LIMIT_PER_MINUTE: '0' });
    port = Number(new URL(running.service.url).port);
  });
  afterAll(() => running?.stop());
  beforeEach(() => running.simulator.configure({ ttftMs: 0, tokensPerSecond: 0 }));

  it('answers 408 with the error envelope and closes 20 connections trickling a large body', async () => {
    const head = 'POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 3900000\r\n\r\n{"messages":';
    const exchanges = await Promise.all(Array.from({ length: 20 }, () => trickle(port, head, ' ', 100, 10_000)));
    for (const { received, elapsedMs } of exchanges) {
      expect(elapsedMs).toBeGreaterThanOrEqual(REQUEST_TIMEOUT_MS - 50);
      expect(elapsedMs).toBeLessThan(CLOSED_WITHIN_MS);
      expect(received).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
      const body = JSON.parse(received.slice(received.indexOf('\r\n\r\n') + 4));
      expect(body.error).toMatchObject({ status: 408, code: 'REQUEST_TIMEOUT' });
    }
    // Nothing of the cut requests reached an upstream.
    expect(running.simulator.counters().requests).toBe(0);
  });

  it('closes a connection whose headers never end (slowloris)', async () => {
    const { received, elapsedMs } = await trickle(port, 'GET /health/live HTTP/1.1\r\nhost: 127.0.0.1\r\n', 'x', 100, 10_000);
    expect(elapsedMs).toBeLessThan(CLOSED_WITHIN_MS);
    expect(received).toMatch(/^HTTP\/1\.1 408 /);
  });

  it('still serves a request that arrives in time, on the same kind of connection', async () => {
    const response = await postJson(`${running.service.url}/v1/chat/completions`, chat('Where is the Eiffel Tower?'), { signal: AbortSignal.timeout(5_000) });
    expect(response.status).toBe(200);
  });

  it('lets a streamed answer run 4x longer than the request timeout, intact', async () => {
    const messages = chat('[doc-1] The Eiffel Tower is in Paris. It was completed in 1889 and is 330 metres tall.\nWhere is the Eiffel Tower?', { max_tokens: 20 });
    const whole = await postJson(`${running.service.url}/v1/chat/completions`, messages, { signal: AbortSignal.timeout(5_000) });
    const expected: string = whole.json.choices[0].message.content;
    const tokens = expected.match(/\s*\S+/g)!.length;
    // Paced so the stream lasts about 4 s after a request that arrived at once.
    running.simulator.configure({ tokensPerSecond: tokens / (4 * REQUEST_TIMEOUT_MS / 1_000) });
    const started = performance.now();
    const response = await postStream(`${running.service.url}/v1/chat/completions`, { ...messages, stream: true }, AbortSignal.timeout(15_000));
    const events = await readSse(response);
    const elapsedMs = performance.now() - started;
    expect(elapsedMs).toBeGreaterThan(3 * REQUEST_TIMEOUT_MS);
    expect(events.at(-1)!.data).toBe('[DONE]');
    expect(events.some((event) => event.event === 'error')).toBe(false);
    const text = events.slice(0, -1).map((event) => JSON.parse(event.data).choices[0]?.delta?.content ?? '').join('');
    expect(text).toBe(expected);
  });
});

(LONG_STREAM_MS > 0 ? describe : describe.skip)('a stream of LLM_E2E_LONG_STREAM_MS under the default 30 s request timeout', () => {
  it('completes intact', async () => {
    const running = await startWithSimulator({}, { LLM_PROVIDER: 'sim', LLM_MODEL: 'sim-1', LLM_TIMEOUT_MS: String(LONG_STREAM_MS + 60_000) });
    try {
      const messages = chat('[doc-1] The Eiffel Tower is in Paris. It was completed in 1889 and is 330 metres tall.\nWhere is the Eiffel Tower?', { max_tokens: 20 });
      const whole = await postJson(`${running.service.url}/v1/chat/completions`, messages);
      const expected: string = whole.json.choices[0].message.content;
      running.simulator.configure({ tokensPerSecond: expected.match(/\s*\S+/g)!.length / (LONG_STREAM_MS / 1_000) });
      const started = performance.now();
      const events = await readSse(await postStream(`${running.service.url}/v1/chat/completions`, { ...messages, stream: true }));
      expect(performance.now() - started).toBeGreaterThan(LONG_STREAM_MS * 0.9);
      expect(events.at(-1)!.data).toBe('[DONE]');
      expect(events.slice(0, -1).map((event) => JSON.parse(event.data).choices[0]?.delta?.content ?? '').join('')).toBe(expected);
    } finally {
      await running.stop();
    }
  }, LONG_STREAM_MS + 60_000);
});
