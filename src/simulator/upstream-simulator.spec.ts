import * as http from 'node:http';
import * as https from 'node:https';
import { performance } from 'node:perf_hooks';
import { UpstreamSimulator, type SimulatorOptions } from './upstream-simulator';

/** Everything a client observed about one exchange. */
interface Exchange {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  chunks: Array<{ atMs: number; text: string }>;
  firstByteMs: number;
  totalMs: number;
}

interface RequestOptions {
  method?: string;
  body?: unknown;
  rawBody?: string | Buffer;
  headers?: Record<string, string>;
  agent?: http.Agent;
}

const simulators: UpstreamSimulator[] = [];
const agents: http.Agent[] = [];

async function startSimulator(options: SimulatorOptions = {}): Promise<UpstreamSimulator> {
  const simulator = new UpstreamSimulator(options);
  simulators.push(simulator);
  await simulator.start();
  return simulator;
}

function keepAliveAgent(tls = false): http.Agent {
  const agent = tls ? new https.Agent({ keepAlive: true }) : new http.Agent({ keepAlive: true });
  agents.push(agent);
  return agent;
}

function send(simulator: UpstreamSimulator, path: string, options: RequestOptions = {}): Promise<Exchange> {
  const url = new URL(path, simulator.origin);
  const transport = url.protocol === 'https:' ? https : http;
  const payload = options.rawBody ?? (options.body === undefined ? undefined : JSON.stringify(options.body));
  return new Promise<Exchange>((resolve, reject) => {
    const started = performance.now();
    const request = transport.request(
      url,
      {
        method: options.method ?? (payload === undefined ? 'GET' : 'POST'),
        agent: options.agent,
        ca: simulator.caPem,
        headers: { ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...options.headers },
        // Every exchange is bounded: a hung simulator fails the test instead of stalling it.
        signal: AbortSignal.timeout(5000),
      },
      (response) => {
        const chunks: Exchange['chunks'] = [];
        response.setEncoding('utf8');
        response.on('data', (text: string) => chunks.push({ atMs: performance.now() - started, text }));
        response.on('error', reject);
        response.on('end', () => {
          const totalMs = performance.now() - started;
          resolve({
            status: response.statusCode ?? 0,
            headers: response.headers,
            body: chunks.map((chunk) => chunk.text).join(''),
            chunks,
            firstByteMs: chunks[0]?.atMs ?? totalMs,
            totalMs,
          });
        });
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}

function sseEvents(body: string): Array<{ event?: string; data: string }> {
  return body
    .split('\n\n')
    .filter((block) => block.trim().length > 0)
    .map((block) => {
      const lines = block.split('\n');
      const event = lines.find((line) => line.startsWith('event: '))?.slice('event: '.length);
      const data = lines.filter((line) => line.startsWith('data: ')).map((line) => line.slice('data: '.length));
      return { event, data: data.join('\n') };
    });
}

async function waitFor(condition: () => boolean, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function cosine(a: number[], b: number[]): number {
  return a.reduce((sum, value, index) => sum + value * b[index], 0);
}

const SOURCES = '[doc-1] Paris is the capital of France.\n[doc-2] Berlin is the capital of Germany.';
const CHAT = { model: 'sim-1', messages: [{ role: 'system', content: SOURCES }, { role: 'user', content: 'Which city is the capital of France?' }] };
const LONG_QUESTION = Array.from({ length: 30 }, (_, index) => `word${index}`).join(' ');
const MESSAGES = { model: 'sim-1', max_tokens: 100, messages: [{ role: 'user', content: `${SOURCES}\nWhich city is the capital of France?` }] };

afterEach(async () => {
  for (const agent of agents.splice(0)) agent.destroy();
  await Promise.all(simulators.splice(0).map((simulator) => simulator.stop()));
});

describe('UpstreamSimulator connection counting', () => {
  it('serves 10 sequential keep-alive requests on one connection', async () => {
    const simulator = await startSimulator();
    const agent = keepAliveAgent();
    for (let index = 0; index < 10; index++) {
      expect((await send(simulator, '/v1/chat/completions', { body: CHAT, agent })).status).toBe(200);
    }
    const counters = simulator.counters();
    expect(counters).toMatchObject({ connections: 1, openConnections: 1, requests: 10, maxRequestsPerConnection: 10, inFlight: 0 });
    expect(counters.requestsByPath).toEqual({ '/v1/chat/completions': 10 });
  }, 10_000);

  it('sees one connection per request without keep-alive, each closed by the server', async () => {
    const simulator = await startSimulator();
    const agent = new http.Agent({ keepAlive: false });
    agents.push(agent);
    for (let index = 0; index < 10; index++) {
      expect((await send(simulator, '/v1/models', { agent })).status).toBe(200);
    }
    await waitFor(() => simulator.counters().closedConnections === 10);
    // The client sends `Connection: close`, so the server ends each socket after its response.
    expect(simulator.counters()).toMatchObject({
      connections: 10,
      openConnections: 0,
      closedByServer: 10,
      closedByClient: 0,
      maxRequestsPerConnection: 1,
    });
  }, 10_000);

  it('does one TLS handshake for 5 keep-alive requests', async () => {
    const simulator = await startSimulator({ tls: true });
    expect(simulator.origin).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(simulator.caPem).toContain('BEGIN CERTIFICATE');
    const agent = keepAliveAgent(true);
    for (let index = 0; index < 5; index++) {
      expect((await send(simulator, '/v1/chat/completions', { body: CHAT, agent })).status).toBe(200);
    }
    expect(simulator.counters()).toMatchObject({ connections: 1, tlsHandshakes: 1, tlsSessionsResumed: 0, maxRequestsPerConnection: 5 });
  }, 10_000);

  it('counts TLS session resumption separately from full handshakes', async () => {
    const simulator = await startSimulator({ tls: true });
    const agent = new https.Agent({ keepAlive: false });
    agents.push(agent);
    for (let index = 0; index < 3; index++) {
      expect((await send(simulator, '/v1/models', { agent })).status).toBe(200);
    }
    const counters = simulator.counters();
    expect(counters.connections).toBe(3);
    expect(counters.tlsHandshakes + counters.tlsSessionsResumed).toBe(3);
    expect(counters.tlsSessionsResumed).toBeGreaterThanOrEqual(1);
  }, 10_000);

  it('closes an idle keep-alive socket itself after keepAliveTimeoutMs', async () => {
    const simulator = await startSimulator({ keepAliveTimeoutMs: 200 });
    const agent = keepAliveAgent();
    const exchange = await send(simulator, '/v1/models', { agent });
    // No Keep-Alive hint: like uvicorn, the server says nothing and just closes.
    expect(exchange.headers['keep-alive']).toBeUndefined();
    const idleSince = performance.now();
    await waitFor(() => simulator.counters().closedConnections === 1);
    expect(performance.now() - idleSince).toBeGreaterThanOrEqual(150);
    expect(simulator.counters()).toMatchObject({ connections: 1, openConnections: 0, closedByServer: 1, closedByClient: 0 });
  }, 10_000);

  it('attributes the close to the client when the client drops its keep-alive socket', async () => {
    const simulator = await startSimulator();
    const agent = keepAliveAgent();
    await send(simulator, '/v1/models', { agent });
    agent.destroy();
    await waitFor(() => simulator.counters().closedConnections === 1);
    expect(simulator.counters()).toMatchObject({ closedByClient: 1, closedByServer: 0, openConnections: 0 });
  }, 10_000);

  it('tracks concurrency in flight and at peak', async () => {
    const simulator = await startSimulator({ ttftMs: 150 });
    const agent = keepAliveAgent();
    const pending = [1, 2, 3].map(() => send(simulator, '/v1/chat/completions', { body: CHAT, agent }));
    await waitFor(() => simulator.counters().inFlight === 3);
    await Promise.all(pending);
    expect(simulator.counters()).toMatchObject({ inFlight: 0, peakInFlight: 3, connections: 3 });
  }, 10_000);

  it('does not count control requests, and resetCounters keeps live connections', async () => {
    const simulator = await startSimulator();
    const agent = keepAliveAgent();
    await send(simulator, '/v1/models', { agent });
    const stats = JSON.parse((await send(simulator, '/_sim/stats', { agent })).body);
    expect(stats).toMatchObject({ requests: 1, connections: 1, maxRequestsPerConnection: 1 });
    simulator.resetCounters();
    expect(simulator.counters()).toMatchObject({ connections: 0, requests: 0, openConnections: 1, maxRequestsPerConnection: 0 });
    await send(simulator, '/v1/models', { agent });
    expect(simulator.counters()).toMatchObject({ connections: 0, requests: 1, maxRequestsPerConnection: 1 });
  }, 10_000);
});

describe('UpstreamSimulator wire formats', () => {
  it('answers an OpenAI chat completion', async () => {
    const simulator = await startSimulator();
    const exchange = await send(simulator, '/v1/chat/completions', { body: { ...CHAT, max_tokens: 500 } });
    expect(exchange.status).toBe(200);
    expect(exchange.headers['content-type']).toBe('application/json');
    const completion = JSON.parse(exchange.body);
    expect(completion).toMatchObject({
      id: 'chatcmpl-sim-1',
      object: 'chat.completion',
      model: 'sim-1',
      choices: [{ index: 0, message: { role: 'assistant' }, finish_reason: 'stop' }],
    });
    expect(completion.choices[0].message.content).toBe('Paris is the capital of France. [doc-1] Berlin is the capital of Germany. [doc-2]');
    expect(completion.usage).toEqual({ prompt_tokens: 21, completion_tokens: 14, total_tokens: 35 });
  }, 10_000);

  it('streams an OpenAI completion as several chunks in the right order', async () => {
    const simulator = await startSimulator({ tokensPerSecond: 200 });
    const exchange = await send(simulator, '/v1/chat/completions', {
      body: { ...CHAT, max_tokens: 5, stream: true, stream_options: { include_usage: true } },
    });
    expect(exchange.headers['content-type']).toMatch(/^text\/event-stream/);
    expect(exchange.chunks.length).toBeGreaterThan(3);
    const events = sseEvents(exchange.body);
    expect(events[events.length - 1].data).toBe('[DONE]');
    const chunks = events.slice(0, -1).map((event) => JSON.parse(event.data));
    expect(chunks[0].choices[0].delta).toEqual({ role: 'assistant', content: '' });
    const tokens = chunks.slice(1, -2).map((chunk) => chunk.choices[0].delta.content);
    expect(tokens).toEqual(['Paris', ' is', ' the', ' capital', ' of']);
    expect(chunks[chunks.length - 2].choices[0]).toMatchObject({ delta: {}, finish_reason: 'length' });
    expect(chunks[chunks.length - 1]).toMatchObject({ choices: [], usage: { prompt_tokens: 21, completion_tokens: 5, total_tokens: 26 } });
  }, 10_000);

  it('answers an Anthropic message and refuses one without max_tokens', async () => {
    const simulator = await startSimulator();
    const exchange = await send(simulator, '/v1/messages', { body: { ...MESSAGES, max_tokens: 3 } });
    expect(JSON.parse(exchange.body)).toEqual({
      id: 'msg_sim_1',
      type: 'message',
      role: 'assistant',
      model: 'sim-1',
      content: [{ type: 'text', text: 'Paris is the' }],
      stop_reason: 'max_tokens',
      stop_sequence: null,
      usage: { input_tokens: 21, output_tokens: 3 },
    });
    const refused = await send(simulator, '/v1/messages', { body: { model: 'sim-1', messages: MESSAGES.messages } });
    expect(refused.status).toBe(400);
    expect(JSON.parse(refused.body)).toEqual({ type: 'error', error: { type: 'invalid_request_error', message: 'max_tokens: Field required' } });
  }, 10_000);

  it('streams an Anthropic message with the real event sequence', async () => {
    const simulator = await startSimulator({ tokensPerSecond: 200 });
    const exchange = await send(simulator, '/v1/messages', { body: { ...MESSAGES, system: [{ type: 'text', text: 'Be brief.' }], stream: true } });
    expect(exchange.chunks.length).toBeGreaterThan(3);
    const events = sseEvents(exchange.body);
    const names = events.map((event) => event.event);
    const deltas = names.filter((name) => name === 'content_block_delta').length;
    expect(names).toEqual([
      'message_start',
      'content_block_start',
      ...Array<string>(deltas).fill('content_block_delta'),
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    const payloads = events.map((event) => JSON.parse(event.data));
    expect(payloads[0].message.usage.input_tokens).toBe(23);
    const text = payloads.filter((payload) => payload.type === 'content_block_delta').map((payload) => payload.delta.text).join('');
    expect(text).toBe('Paris is the capital of France. [doc-1] Berlin is the capital of Germany. [doc-2]');
    expect(deltas).toBe(14);
    expect(payloads[payloads.length - 2]).toEqual({
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { output_tokens: 14 },
    });
  }, 10_000);

  it('waits ttftMs before the first byte and paces tokens', async () => {
    const simulator = await startSimulator({ ttftMs: 100, tokensPerSecond: 50 });
    const exchange = await send(simulator, '/v1/chat/completions', {
      body: { model: 'sim-1', stream: true, messages: [{ role: 'user', content: 'one two three four five' }] },
    });
    // 'Echo: one two three four five' is 6 tokens: the first at ~100 ms, then 5 more 20 ms apart.
    expect(exchange.firstByteMs).toBeGreaterThanOrEqual(90);
    expect(exchange.totalMs).toBeGreaterThanOrEqual(180);
    const nonStreamed = await startSimulator({ ttftMs: 100 });
    expect((await send(nonStreamed, '/v1/chat/completions', { body: CHAT })).firstByteMs).toBeGreaterThanOrEqual(90);
  }, 10_000);

  it('answers embeddings deterministically, with similar texts closer', async () => {
    const simulator = await startSimulator();
    const input = ['the cat sat on the mat', 'a cat sat on a mat', 'stock markets fell sharply today'];
    const first = JSON.parse((await send(simulator, '/v1/embeddings', { body: { model: 'sim-embed-1', input } })).body);
    const again = JSON.parse((await send(simulator, '/v1/embeddings', { body: { model: 'sim-embed-1', input } })).body);
    expect(first).toEqual(again);
    expect(first).toMatchObject({ object: 'list', model: 'sim-embed-1', usage: { prompt_tokens: 17, total_tokens: 17 } });
    const [cat, otherCat, stocks] = first.data.map((item: { embedding: number[] }) => item.embedding);
    expect(cat).toHaveLength(256);
    expect(cosine(cat, cat)).toBeCloseTo(1, 6);
    // Four of six words shared, the other two differ ("the" vs "a"): cosine 4/8.
    expect(cosine(cat, otherCat)).toBeCloseTo(0.5, 6);
    expect(cosine(cat, otherCat)).toBeGreaterThan(cosine(cat, stocks) + 0.4);

    const small = JSON.parse((await send(simulator, '/v1/embeddings', { body: { model: 'm', input: 'cat', dimensions: 64 } })).body);
    expect(small.data[0].embedding).toHaveLength(64);
    const encoded = JSON.parse(
      (await send(simulator, '/v1/embeddings', { body: { model: 'm', input: 'cat', dimensions: 64, encoding_format: 'base64' } })).body,
    );
    const decoded = Array.from(new Float32Array(new Uint8Array(Buffer.from(encoded.data[0].embedding, 'base64')).buffer));
    expect(decoded).toEqual(small.data[0].embedding.map((value: number) => Math.fround(value)));
  }, 10_000);

  it('lists models in the format the headers ask for', async () => {
    const simulator = await startSimulator();
    const openAi = JSON.parse((await send(simulator, '/v1/models')).body);
    expect(openAi.data.map((model: { id: string }) => model.id)).toEqual(['sim-1', 'sim-embed-1']);
    const anthropic = JSON.parse((await send(simulator, '/v1/models', { headers: { 'anthropic-version': '2023-06-01' } })).body);
    expect(anthropic).toMatchObject({ has_more: false, first_id: 'sim-1', data: [{ type: 'model', id: 'sim-1' }, { id: 'sim-embed-1' }] });
  }, 10_000);

  it('rejects a wrong API key in each wire format', async () => {
    const simulator = await startSimulator({ apiKeys: ['good-key'] });
    const openAi = await send(simulator, '/v1/chat/completions', { body: CHAT, headers: { authorization: 'Bearer bad-key' } });
    expect(openAi.status).toBe(401);
    expect(JSON.parse(openAi.body).error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_api_key' });
    const anthropic = await send(simulator, '/v1/messages', { body: MESSAGES, headers: { 'x-api-key': 'bad-key' } });
    expect(anthropic.status).toBe(401);
    expect(JSON.parse(anthropic.body)).toMatchObject({ type: 'error', error: { type: 'authentication_error' } });
    expect((await send(simulator, '/v1/embeddings', { body: { model: 'm', input: 'x' } })).status).toBe(401);
    expect((await send(simulator, '/v1/chat/completions', { body: CHAT, headers: { authorization: 'Bearer good-key' } })).status).toBe(200);
    expect((await send(simulator, '/v1/messages', { body: MESSAGES, headers: { 'x-api-key': 'good-key' } })).status).toBe(200);
  }, 10_000);

  it('answers bad requests in the wire format of the path', async () => {
    const simulator = await startSimulator();
    const invalidOpenAi = await send(simulator, '/v1/chat/completions', { rawBody: '{"model": ' });
    expect(invalidOpenAi.status).toBe(400);
    expect(JSON.parse(invalidOpenAi.body).error.type).toBe('invalid_request_error');
    const invalidAnthropic = await send(simulator, '/v1/messages', { rawBody: 'nope' });
    expect(invalidAnthropic.status).toBe(400);
    expect(JSON.parse(invalidAnthropic.body).type).toBe('error');
    const unknown = await send(simulator, '/v2/nothing');
    expect(unknown.status).toBe(404);
    expect(JSON.parse(unknown.body).error.message).toContain('/v2/nothing');
    const tooLarge = await send(simulator, '/v1/chat/completions', { rawBody: Buffer.alloc(10 * 1024 * 1024 + 1, 0x20) });
    expect(tooLarge.status).toBe(413);
    expect(simulator.counters().requests).toBe(4);
  }, 10_000);
});

describe('UpstreamSimulator faults', () => {
  it('answers 429 with Retry-After for the next 2 requests, then normally', async () => {
    const simulator = await startSimulator();
    simulator.setFaults({ status: 429, retryAfterS: 3, retryAfterMs: 2500, count: 2 });
    for (let index = 0; index < 2; index++) {
      const exchange = await send(simulator, '/v1/chat/completions', { body: CHAT });
      expect(exchange.status).toBe(429);
      expect(exchange.headers['retry-after']).toBe('3');
      expect(exchange.headers['retry-after-ms']).toBe('2500');
      expect(JSON.parse(exchange.body).error).toMatchObject({ type: 'requests', code: 'rate_limit_exceeded' });
    }
    expect((await send(simulator, '/v1/chat/completions', { body: CHAT })).status).toBe(200);
    expect(simulator.counters().faultsInjected).toBe(2);
  }, 10_000);

  it('applies a path-limited fault in that path’s wire format only', async () => {
    const simulator = await startSimulator();
    simulator.setFaults({ status: 529, path: '/messages' });
    expect((await send(simulator, '/v1/chat/completions', { body: CHAT })).status).toBe(200);
    const overloaded = await send(simulator, '/v1/messages', { body: MESSAGES });
    expect(overloaded.status).toBe(529);
    expect(JSON.parse(overloaded.body)).toMatchObject({ type: 'error', error: { type: 'overloaded_error' } });
    simulator.setFaults(null);
    expect((await send(simulator, '/v1/messages', { body: MESSAGES })).status).toBe(200);
  }, 10_000);

  it('resets the connection without a response byte', async () => {
    const simulator = await startSimulator();
    simulator.setFaults({ reset: true, count: 1 });
    const agent = keepAliveAgent();
    const failure = await send(simulator, '/v1/chat/completions', { body: CHAT, agent }).then(
      () => undefined,
      (error: NodeJS.ErrnoException) => error,
    );
    expect(failure?.code === 'ECONNRESET' || failure?.message === 'socket hang up').toBe(true);
    expect((await send(simulator, '/v1/chat/completions', { body: CHAT, agent })).status).toBe(200);
    await waitFor(() => simulator.counters().closedConnections === 1);
    expect(simulator.counters()).toMatchObject({ faultsInjected: 1, closedByServer: 1, closedByClient: 0, abortedByClient: 0, connections: 2 });
  }, 10_000);

  it('stalls a stream after N tokens, then continues', async () => {
    const simulator = await startSimulator();
    simulator.setFaults({ stallAfterTokens: 2, stallMs: 300 });
    const exchange = await send(simulator, '/v1/chat/completions', {
      body: { model: 'sim-1', stream: true, messages: [{ role: 'user', content: 'one two three' }] },
    });
    const beforeStall = exchange.chunks.filter((chunk) => chunk.atMs < 150).map((chunk) => chunk.text).join('');
    const tokensBeforeStall = sseEvents(beforeStall).slice(1).map((event) => JSON.parse(event.data).choices[0].delta.content);
    expect(tokensBeforeStall).toEqual(['Echo:', ' one']);
    expect(exchange.totalMs).toBeGreaterThanOrEqual(280);
    expect(sseEvents(exchange.body).pop()?.data).toBe('[DONE]');
  }, 10_000);

  it('stalls before headers, and replaces the answer with replyText', async () => {
    const simulator = await startSimulator();
    simulator.setFaults({ stallBeforeHeadersMs: 150, replyText: '{"answer": "unterminated', count: 1 });
    const exchange = await send(simulator, '/v1/messages', { body: MESSAGES });
    expect(exchange.firstByteMs).toBeGreaterThanOrEqual(140);
    expect(JSON.parse(exchange.body).content[0].text).toBe('{"answer": "unterminated');
  }, 10_000);

  it('counts a client that goes away mid-stream as an abort', async () => {
    const simulator = await startSimulator({ tokensPerSecond: 20 });
    const agent = keepAliveAgent();
    await new Promise<void>((resolve, reject) => {
      const request = http.request(
        new URL('/v1/chat/completions', simulator.origin),
        { method: 'POST', agent, headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(5000) },
        (response) => response.once('data', () => (request.destroy(), resolve())),
      );
      request.on('error', (error) => (error.name === 'AbortError' ? reject(error) : undefined));
      request.end(JSON.stringify({ model: 'sim-1', stream: true, messages: [{ role: 'user', content: LONG_QUESTION }] }));
    });
    await waitFor(() => simulator.counters().abortedByClient === 1 && simulator.counters().closedConnections === 1);
    expect(simulator.counters()).toMatchObject({ abortedByClient: 1, inFlight: 0, closedByClient: 1, closedByServer: 0 });
  }, 10_000);

  it('is driven over HTTP by the control endpoints', async () => {
    const simulator = await startSimulator();
    const armed = await send(simulator, '/_sim/faults', { body: { status: 503, count: 1 } });
    expect(JSON.parse(armed.body)).toEqual({ faults: { status: 503, count: 1 } });
    expect((await send(simulator, '/v1/embeddings', { body: { model: 'm', input: 'x' } })).status).toBe(503);
    expect((await send(simulator, '/v1/embeddings', { body: { model: 'm', input: 'x' } })).status).toBe(200);
    expect((await send(simulator, '/_sim/faults', { body: { stauts: 500 } })).status).toBe(400);
    const configured = JSON.parse((await send(simulator, '/_sim/config', { body: { ttftMs: 25 } })).body);
    expect(configured).toEqual({ ttftMs: 25, tokensPerSecond: 0, latencyMs: 0, keepAliveTimeoutMs: 5000 });
    expect((await send(simulator, '/_sim/config', { body: { ttftMs: -1 } })).status).toBe(400);
    const reset = JSON.parse((await send(simulator, '/_sim/reset', { method: 'POST' })).body);
    expect(reset).toMatchObject({ requests: 0, faultsInjected: 0 });
  }, 10_000);

  it('stops idempotently, cutting a stream stalled forever', async () => {
    const simulator = await startSimulator();
    simulator.setFaults({ stallAfterTokens: 1 });
    const stalled = send(simulator, '/v1/chat/completions', { body: { ...CHAT, stream: true } }).then(
      () => 'completed',
      () => 'cut',
    );
    await waitFor(() => simulator.counters().inFlight === 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    await Promise.all([simulator.stop(), simulator.stop()]);
    expect(await stalled).toBe('cut');
    expect(simulator.counters()).toMatchObject({ openConnections: 0, abortedByClient: 0, closedByServer: 1 });
  }, 10_000);
});
