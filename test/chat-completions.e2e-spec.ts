import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { LlmService } from '../src/llm/llm.service';
import type { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import {
  chat,
  eventually,
  getJson,
  postJson,
  postStream,
  readSse,
  sleep,
  startService,
  startWithSimulator,
  type RunningService,
} from './support/service-harness';

describe('POST /v1/chat/completions through the pools', () => {
  let simulator: UpstreamSimulator;
  let service: RunningService;
  let stop: (() => Promise<void>) | undefined;
  const url = () => `${service.url}/v1/chat/completions`;

  beforeAll(async () => {
    ({ simulator, service, stop } = await startWithSimulator(
      {},
      {
        LLM_PROVIDER: 'sim',
        LLM_MODEL: 'sim-1',
        // Errors must reach the caller as the upstream sent them; retries have their own tests.
        LLM_MAX_RETRIES: '0',
      },
      { anthropic: true },
    ));
  });
  afterAll(() => stop?.());
  beforeEach(() => {
    simulator.setFaults(null);
    simulator.configure({ ttftMs: 0, tokensPerSecond: 0, latencyMs: 0 });
  });

  const sources = 'Answer from the sources.\n[doc-1] The Eiffel Tower is in Paris.\n[doc-2] Bananas are yellow.\nWhere is the Eiffel Tower?';

  it.each([
    ['an OpenAI upstream', 'sim/sim-1'],
    ['an Anthropic upstream, translated both ways', 'claude/sim-1'],
    ['the default upstream and model', undefined],
  ])('answers whole from %s', async (_, model) => {
    const response = await postJson(url(), chat(sources, model ? { model } : {}));
    expect(response.status).toBe(200);
    expect(response.json.object).toBe('chat.completion');
    expect(response.json.choices[0].message.content).toBe('The Eiffel Tower is in Paris. [doc-1]');
    expect(response.json.choices[0].finish_reason).toBe('stop');
    expect(response.json.usage.completion_tokens).toBeGreaterThan(0);
  });

  it.each([
    ['OpenAI', 'sim/sim-1'],
    ['Anthropic', 'claude/sim-1'],
  ])('streams from an %s upstream as the tokens arrive, not buffered', async (_, model) => {
    simulator.configure({ tokensPerSecond: 25 }); // 8 tokens: ~320 ms from first to last
    const started = performance.now();
    const response = await postStream(url(), chat(sources, { model, stream: true }));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/event-stream');
    const events = await readSse(response);

    expect(events.at(-1)).toEqual({ event: undefined, data: '[DONE]', at: expect.any(Number) });
    const chunks = events.slice(0, -1).map((e) => JSON.parse(e.data));
    const text = chunks.map((c) => c.choices[0]?.delta?.content ?? '').join('');
    expect(text).toBe('The Eiffel Tower is in Paris. [doc-1]');
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.choices.length === 1)).toBe(true); // no usage chunk unasked
    // The first token reached us long before the upstream finished generating.
    expect(events[1].at - started).toBeLessThan(events.at(-1)!.at - started - 150);
  });

  it('passes usage through when the caller asks for it', async () => {
    const response = await postStream(url(), chat('hello', { model: 'claude/sim-1', stream: true, stream_options: { include_usage: true } }));
    const events = await readSse(response);
    const usage = events.slice(0, -1).map((e) => JSON.parse(e.data)).find((c) => c.usage);
    expect(usage.usage).toMatchObject({ prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 });
  });

  it('returns an upstream error with its status, Retry-After and a JSON envelope', async () => {
    simulator.setFaults({ status: 429, retryAfterS: 7, count: 1 });
    const response = await postJson(url(), chat('hi', { model: 'sim/sim-1' }));
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('7');
    expect(response.json.error).toMatchObject({ status: 429, code: 'UPSTREAM_ERROR', upstream: 'sim' });
    expect(response.json.error.message).toMatch(/^upstream "sim" answered 429: /);
  });

  it('returns an upstream error before a stream starts with its status, not a broken stream', async () => {
    simulator.setFaults({ status: 503, count: 1 });
    const response = await postJson(url(), chat('hi', { model: 'claude/sim-1', stream: true }));
    expect(response.status).toBe(503);
    expect(response.json.error.code).toBe('UPSTREAM_ERROR');
  });

  it('reports a reset upstream connection as 502, never a hang', async () => {
    // Twice: a reset on a reused socket alone is taken for a stale socket and repeated once.
    simulator.setFaults({ reset: true, count: 2 });
    const response = await postJson(url(), chat('hi', { model: 'sim/sim-1' }));
    expect(response.status).toBe(502);
    expect(response.json.error.code).toBe('UPSTREAM_UNAVAILABLE');
  });

  it('aborts the upstream request when the caller disconnects mid-stream, and frees the slot', async () => {
    const before = (await getJson(`${service.url}/v1/llm/stats/sim`)).json;
    simulator.configure({ tokensPerSecond: 20 });
    const controller = new AbortController();
    const response = await postStream(
      url(),
      chat('one two three four five six seven eight nine ten eleven twelve', { model: 'sim/sim-1', stream: true }),
      controller.signal,
    );
    const reader = response.body!.getReader();
    await reader.read(); // the stream has started
    controller.abort();

    await eventually(() => expect(simulator.counters().abortedByClient).toBe(1));
    await eventually(async () => {
      const after = (await getJson(`${service.url}/v1/llm/stats/sim`)).json;
      expect(after.requests.inFlight).toBe(0);
      expect(after.errorsByKind.client_closed).toBe(before.errorsByKind.client_closed + 1);
      expect(after.sockets.closedByReason.aborted).toBe(before.sockets.closedByReason.aborted + 1);
    });
  });

  it('names an unknown upstream as a 4xx', async () => {
    // "nope/x" is not an upstream, so the whole string is a model on the default upstream;
    // an empty model with no default is a 400.
    const response = await postJson(url(), chat('hi', { model: 'nope/x' }));
    expect(response.status).toBe(200);
    expect(response.json.model).toBe('nope/x');
    expect((await getJson(`${service.url}/v1/llm/stats/nope`)).status).toBe(404);
  });

  it.each([
    ['no messages', { messages: [] }, 'messages'],
    ['a bad role', { messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role'],
    ['a numeric content', { messages: [{ role: 'user', content: 42 }] }, 'messages[0].content'],
    ['stream as a string', { messages: [{ role: 'user', content: 'x' }], stream: 'yes' }, 'stream'],
    ['temperature out of range', { messages: [{ role: 'user', content: 'x' }], temperature: 9 }, 'temperature'],
  ])('refuses %s with 400 and the field named', async (_, body, field) => {
    const response = await postJson(url(), body);
    expect(response.status).toBe(400);
    expect(response.json.error).toMatchObject({ status: 400, code: 'BAD_REQUEST', param: expect.any(String) });
    expect(response.json.error.details.fields.map((f: { field: string }) => f.field)).toContain(field);
  });

  it.each([
    ['invalid JSON', '{"messages": [', 'application/json', 400],
    ['a __proto__ key', '{"messages":[{"role":"user","content":"x"}],"__proto__":{"admin":true}}', 'application/json', 400],
    ['a text body', 'hello', 'text/plain', 415],
  ])('refuses %s with a 4xx envelope', async (_, body, contentType, status) => {
    const response = await fetch(url(), { method: 'POST', headers: { 'content-type': contentType }, body });
    expect(response.status).toBe(status);
    const json = (await response.json()) as { error: { status: number; code: string } };
    expect(json.error.status).toBe(status);
  });

  it('serves embeddings through LlmService, injected anywhere', async () => {
    const llm = service.app.get(LlmService);
    const result = await llm.embeddings({ model: 'sim/sim-embed-1', input: ['red apples', 'green apples'] });
    expect(result.data).toHaveLength(2);
    expect((result.data[0].embedding as number[]).length).toBe(256);
    await expect(llm.embeddings({ model: 'claude/sim-1', input: 'x' })).rejects.toMatchObject({ code: 'UNSUPPORTED', status: 400 });
  });
});

describe('a server that announces its keep-alive timeout', () => {
  let server: Server;
  let service: RunningService;

  afterEach(async () => {
    await service?.close();
    await new Promise((resolve) => server.close(resolve));
  });

  it('closes idle sockets before the server would (Keep-Alive: timeout=N beats a longer expiry)', async () => {
    // A plain Node server: it answers `Keep-Alive: timeout=2` and would close idle sockets at 2 s.
    let connections = 0;
    server = createServer((_, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ id: 'x', object: 'chat.completion', created: 0, model: 'm', choices: [] }));
    });
    server.keepAliveTimeout = 2_000;
    server.on('connection', () => connections++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    service = await startService({ LLM_SIMULATOR: 'off', LLM_UPSTREAMS: `node=http://127.0.0.1:${port}/v1`, LLM_KEEPALIVE_EXPIRY_MS: '4000' });

    expect((await postJson(`${service.url}/v1/chat/completions`, chat('x', { model: 'node/m' }))).status).toBe(200);
    await sleep(1_400); // past the hinted 2 s minus a 1 s margin, well before our own 4 s expiry
    const stats = (await getJson(`${service.url}/v1/llm/stats/node`)).json;
    expect(stats.sockets.closedByReason.idle_expiry).toBe(1);
    expect(stats.sockets.open).toBe(0);
    expect(connections).toBe(1);
  });
});
