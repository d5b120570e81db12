import type { Readable } from 'node:stream';
import { HttpAgent } from 'agentkeepalive';
import axios, { AxiosError, AxiosHeaders, type AxiosInstance, type AxiosResponse } from 'axios';
import { UpstreamSimulator } from '../simulator/upstream-simulator';
import { RESPONSE_TOO_LARGE } from './upstream-errors';
import { upstreamHttpAdapter } from './upstream-http.adapter';

/** The pooled adapter over real sockets, against the simulator, configured as LlmModule configures axios. */
describe('upstreamHttpAdapter', () => {
  const KEY = 'sk-adapter-test';
  let simulator: UpstreamSimulator;
  let agent: HttpAgent;
  let client: AxiosInstance;
  const body = (extra: Record<string, unknown> = {}) => ({ model: 'sim-1', messages: [{ role: 'user', content: 'hello there' }], ...extra });
  const post = (extra: Parameters<AxiosInstance['request']>[0] = {}) =>
    client.request({
      method: 'POST',
      url: `${simulator.origin}/v1/chat/completions`,
      data: body(),
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      ...extra,
    });

  beforeAll(async () => {
    simulator = new UpstreamSimulator({ apiKeys: [KEY], ttftMs: 0, tokensPerSecond: 0 });
    await simulator.start();
  });
  afterAll(() => simulator.stop());
  beforeEach(() => {
    simulator.setFaults(null);
    agent = new HttpAgent({ keepAlive: true, maxSockets: 4, freeSocketTimeout: 4_000 });
    client = axios.create({ adapter: upstreamHttpAdapter, httpAgent: agent, maxRedirects: 0, proxy: false, validateStatus: () => true, timeout: 0 });
  });
  afterEach(() => agent.destroy());

  it('answers JSON parsed by axios, response headers as AxiosHeaders, request headers merged whatever their case', async () => {
    const response = await post({ headers: { 'Content-Type': 'application/json', AUTHORIZATION: `Bearer ${KEY}`, 'X-Request-ID': 'req-adapter-1' } });
    expect(response.status).toBe(200);
    expect(response.data).toMatchObject({ object: 'chat.completion', choices: [expect.objectContaining({ message: expect.objectContaining({ role: 'assistant' }) })] });
    expect(response.headers).toBeInstanceOf(AxiosHeaders);
    expect((response.headers as AxiosHeaders).get('Content-Type')).toBe('application/json');
    expect(response.headers['content-type']).toBe('application/json');
    // The upstream accepted the upper-case Authorization and saw our request id.
    expect(simulator.received.at(-1)?.requestId).toBe('req-adapter-1');
    expect(simulator.receivedBodies.at(-1)?.body).toEqual(body());
    // The default transform's JSON body went out whole, with its length.
    expect(response.request.getHeader('content-length')).toBe(String(Buffer.byteLength(JSON.stringify(body()))));
  });

  it('sends the headers axios would: its User-Agent and Accept-Encoding unless the call names its own, no null or false header', async () => {
    const defaults = await post();
    expect(defaults.request.getHeader('user-agent')).toBe(`axios/${axios.VERSION}`);
    expect(defaults.request.getHeader('accept-encoding')).toBe('gzip, compress, deflate, br');
    const own = await post({
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, 'USER-AGENT': 'llm-service-test', 'accept-encoding': 'identity', 'x-dropped': null, 'x-off': false },
    });
    expect(own.status).toBe(200);
    expect(own.request.getHeader('user-agent')).toBe('llm-service-test');
    expect(own.request.getHeader('accept-encoding')).toBe('identity');
    expect(own.request.getHeader('x-dropped')).toBeUndefined();
    expect(own.request.getHeader('x-off')).toBeUndefined();
    // One User-Agent line, whatever case the call used.
    expect(own.request.getRawHeaderNames().filter((name: string) => name.toLowerCase() === 'user-agent')).toHaveLength(1);
  });

  it('sends a non-ASCII JSON body whole, its Content-Length in bytes', async () => {
    const data = body({ messages: [{ role: 'user', content: 'héllo wörld 😀 — ≠' }] });
    const response = await post({ data });
    expect(response.status).toBe(200);
    expect(simulator.receivedBodies.at(-1)?.body).toEqual(data);
    expect(response.request.getHeader('content-length')).toBe(String(Buffer.byteLength(JSON.stringify(data))));
  });

  it('applies validateStatus as axios does: rejected statuses are AxiosErrors carrying the response', async () => {
    const strict = axios.create({ adapter: upstreamHttpAdapter, httpAgent: agent, maxRedirects: 0, proxy: false });
    const error = (await strict
      .request({ method: 'POST', url: `${simulator.origin}/v1/chat/completions`, data: body(), headers: { authorization: 'Bearer wrong' } })
      .catch((e: unknown) => e)) as AxiosError;
    expect(error).toBeInstanceOf(AxiosError);
    expect(error.code).toBe(AxiosError.ERR_BAD_REQUEST);
    expect(error.response?.status).toBe(401);
    expect(error.response?.data).toMatchObject({ error: expect.any(Object) });
    // With the service's validateStatus every status is an answer.
    expect((await post({ headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
  });

  it.each(['gzip', 'deflate', 'deflate-raw', 'br'] as const)('decompresses a %s body', async (contentEncoding) => {
    const plain = await post();
    simulator.setFaults({ contentEncoding, count: 1 });
    const compressed = await post();
    expect(compressed.status).toBe(200);
    expect(compressed.headers['content-encoding']).toBeUndefined();
    expect((compressed.data as { choices: unknown }).choices).toEqual((plain.data as { choices: unknown }).choices);
  });

  it('fails a whole body past maxContentLength as too large, and drops its socket mid-body', async () => {
    const limit = 16 * 1024;
    await post(); // a pooled socket, to see it go
    const closedBefore = agent.getCurrentStatus().closeSocketCount;
    simulator.setFaults({ bodyBytes: 4 * 1024 * 1024, count: 1 });
    const error = (await post({ maxContentLength: limit }).catch((e: unknown) => e)) as AxiosError;
    expect(error).toBeInstanceOf(AxiosError);
    expect(error.code).toBe(RESPONSE_TOO_LARGE);
    await waitFor(() => agent.getCurrentStatus().closeSocketCount > closedBefore);
    // The next call is answered normally, on another socket.
    expect((await post({ maxContentLength: limit })).status).toBe(200);
  });

  it('counts a compressed body decompressed: a small gzip body that inflates past the bound is too large', async () => {
    simulator.setFaults({ replyText: 'many words '.repeat(20_000), contentEncoding: 'gzip', count: 1 });
    const error = (await post({ maxContentLength: 16 * 1024 }).catch((e: unknown) => e)) as AxiosError;
    expect(error.code).toBe(RESPONSE_TOO_LARGE);
    expect((await post({ maxContentLength: 16 * 1024 })).status).toBe(200);
  });

  it('bounds a streamed body too when maxContentLength is set', async () => {
    simulator.setFaults({ bodyBytes: 200_000, count: 1 });
    const response = await post({ data: body({ stream: true }), responseType: 'stream', maxContentLength: 16 * 1024 });
    const error = await drain(response.data as Readable).catch((e: unknown) => e);
    expect((error as AxiosError).code).toBe(RESPONSE_TOO_LARGE);
  });

  it('streams a body as it arrives with responseType stream', async () => {
    const response = await post({ data: body({ stream: true }), responseType: 'stream' });
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toMatch(/text\/event-stream/);
    const text = await drain(response.data as Readable);
    expect(text).toContain('data: [DONE]');
  });

  it('aborts on the signal before the answer: a CanceledError, and the upstream sees the request go', async () => {
    simulator.setFaults({ stallBeforeHeadersMs: 10_000, count: 1 });
    const controller = new AbortController();
    const started = performance.now();
    setTimeout(() => controller.abort(), 50);
    const error = await post({ signal: controller.signal }).catch((e: unknown) => e);
    expect(axios.isCancel(error)).toBe(true);
    expect((error as AxiosError).code).toBe(AxiosError.ERR_CANCELED);
    expect(performance.now() - started).toBeLessThan(2_000);
    await waitFor(() => simulator.counters().abortedByClient >= 1);
  });

  it('aborts a streamed body on the signal: its reader hears the cancel, the socket is destroyed', async () => {
    simulator.setFaults({ stallAfterTokens: 1, count: 1 });
    const controller = new AbortController();
    const response = await post({ data: body({ stream: true }), responseType: 'stream', signal: controller.signal });
    const stream = response.data as Readable;
    const ended = drain(stream).catch((e: unknown) => e);
    setTimeout(() => controller.abort(), 50);
    expect(axios.isCancel(await ended)).toBe(true);
    expect(stream.destroyed).toBe(true);
  });

  it('refuses a signal already aborted without sending anything', async () => {
    const before = simulator.counters().requests;
    const error = await post({ signal: AbortSignal.abort() }).catch((e: unknown) => e);
    expect(axios.isCancel(error)).toBe(true);
    expect(simulator.counters().requests).toBe(before);
  });

  it('tells a reset on a reused (stale) socket: request.reusedSocket and no response', async () => {
    expect((await post()).status).toBe(200); // the socket is now pooled
    simulator.setFaults({ reset: true, count: 1 });
    const error = (await post().catch((e: unknown) => e)) as AxiosError & { request?: { reusedSocket?: boolean } };
    expect(error).toBeInstanceOf(AxiosError);
    expect(error.code).toBe('ECONNRESET');
    expect(error.request?.reusedSocket).toBe(true);
    expect(error.response).toBeUndefined();
  });

  it('tells a reset on a fresh socket apart: reusedSocket false', async () => {
    simulator.setFaults({ reset: true, count: 1 });
    const error = (await post().catch((e: unknown) => e)) as AxiosError & { request?: { reusedSocket?: boolean } };
    expect(error.code).toBe('ECONNRESET');
    expect(error.request?.reusedSocket).toBe(false);
  });

  it('fails a refused connection as an AxiosError with the system code', async () => {
    const closed = new UpstreamSimulator();
    await closed.start();
    const origin = closed.origin;
    await closed.stop();
    const error = (await client.post(`${origin}/v1/chat/completions`, body()).catch((e: unknown) => e)) as AxiosError;
    expect(error).toBeInstanceOf(AxiosError);
    expect(error.code).toBe('ECONNREFUSED');
  });

  it('refuses options it does not implement instead of ignoring them', async () => {
    const error = (await post({ params: { a: 1 } }).catch((e: unknown) => e)) as AxiosError;
    expect(error.code).toBe(AxiosError.ERR_NOT_SUPPORT);
  });

  it('reuses the pooled socket for sequential calls', async () => {
    const responses: AxiosResponse[] = [];
    for (let i = 0; i < 3; i++) responses.push(await post());
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(agent.getCurrentStatus().createSocketCount).toBe(1);
    expect(responses.slice(1).every((r) => (r.request as { reusedSocket: boolean }).reusedSocket)).toBe(true);
  });
});

async function drain(stream: Readable): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += (chunk as Buffer).toString();
  return text;
}

async function waitFor(condition: () => boolean, timeoutMs = 3_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
