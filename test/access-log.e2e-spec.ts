import type { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { loggedJsonLines, loggedText, startWithSimulatorAndLogs } from './support/log-capture';
import { chat, eventually, postJson, readSse, request } from './support/service-harness';

const CALLER_KEYS = ['access-log-caller-one-0123456789', 'access-log-caller-two-9876543210'];
const PROVIDER_KEY = 'sk-proj-AccessLogProviderKey0123456789abcdef';
const QUERY_TOKEN = 'query-token-that-must-not-be-logged';
const PROMPT = 'a prompt whose words stay out of the logs';

describe('access log: one JSON line per request, fields present, no secrets', () => {
  let simulator: UpstreamSimulator;
  let stop: (() => Promise<void>) | undefined;
  let url: string;
  let output: string[];
  const auth = (i: number) => ({ authorization: `Bearer ${CALLER_KEYS[i]}` });

  const allOutput = () => loggedText(output);
  /** The access lines written so far, parsed (every line must be JSON). */
  const accessLines = () => loggedJsonLines(output).filter((line) => line.context === 'Access');
  const lineOf = async (requestId: string) => {
    let found: any;
    await eventually(() => {
      found = accessLines().find((line) => line.request_id === requestId);
      expect(found).toBeDefined();
    });
    return found;
  };

  beforeAll(async () => {
    const running = await startWithSimulatorAndLogs(
      { apiKeys: [PROVIDER_KEY] },
      {
        LLM_SIM_API_KEY: PROVIDER_KEY,
        LLM_MODEL: 'sim-1',
        LLM_MAX_RETRIES: '1',
        LLM_PRICES: '{"sim-1":{"input":1,"output":2}}',
        SERVICE_API_KEYS: CALLER_KEYS.join(','),
        LOG_FORMAT: 'json',
        LOG_LEVEL: 'info',
      },
    );
    ({ simulator, stop } = running);
    ({ url, logs: output } = running.service);
  });

  afterAll(() => stop?.());

  it('writes a completion call with its route, caller name, upstream, model, attempts, tokens, cost and both ids', async () => {
    const answer = await postJson(`${url}/v1/chat/completions?access_token=${QUERY_TOKEN}`, chat(PROMPT), { headers: { ...auth(1), 'x-request-id': 'access-1' } });
    expect(answer.status).toBe(200);
    const line = await lineOf('access-1');
    expect(line).toMatchObject({
      level: 'info',
      method: 'POST',
      route: '/v1/chat/completions',
      status: 200,
      caller: 'key-2',
      upstream: 'sim',
      model: 'sim-1',
      attempts: 1,
      tokens_in: answer.json.usage.prompt_tokens,
      tokens_out: answer.json.usage.completion_tokens,
      request_id: 'access-1',
      upstream_request_id: simulator.received.at(-1)!.upstreamRequestId,
    });
    expect(line.cost_usd).toBeCloseTo((answer.json.usage.prompt_tokens * 1 + answer.json.usage.completion_tokens * 2) / 1e6, 9);
    expect(typeof line.duration_ms).toBe('number');
    expect(typeof line.time).toBe('string');
    expect(line).not.toHaveProperty('error');
  });

  it('counts retries as attempts, and a stream gets its line when it ends, with its usage', async () => {
    simulator.setFaults({ status: 503, retryAfterMs: 10, count: 1 });
    const retried = await postJson(`${url}/v1/chat/completions`, chat('again'), { headers: { ...auth(0), 'x-request-id': 'access-retry' } });
    simulator.setFaults(null);
    expect(retried.status).toBe(200);
    expect(await lineOf('access-retry')).toMatchObject({ attempts: 2, caller: 'key-1', status: 200 });

    const stream = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth(0), 'x-request-id': 'access-stream' },
      body: JSON.stringify(chat(PROMPT, { stream: true })),
    });
    await readSse(stream);
    const line = await lineOf('access-stream');
    expect(line).toMatchObject({ status: 200, upstream: 'sim', model: 'sim-1', attempts: 1 });
    expect(line.tokens_out).toBeGreaterThan(0);
    expect(line).not.toHaveProperty('aborted');
  });

  it('writes refusals and errors with their code, the route pattern (not the URL) and no caller key', async () => {
    await request('GET', `${url}/v1/documents/some-document-id?access_token=${QUERY_TOKEN}`, { headers: { ...auth(0), 'x-request-id': 'access-404' } });
    expect(await lineOf('access-404')).toMatchObject({ method: 'GET', route: '/v1/documents/:id', status: 404, error: 'NOT_FOUND' });

    await postJson(`${url}/v1/chat/completions`, chat('no key'), { headers: { authorization: 'Bearer not-a-configured-key-0000', 'x-request-id': 'access-401' } });
    expect(await lineOf('access-401')).toMatchObject({ status: 401, caller: 'anonymous', error: 'UNAUTHORIZED' });

    await request('GET', `${url}/v1/nowhere/${QUERY_TOKEN}`, { headers: { 'x-request-id': 'access-unmatched' } });
    expect(await lineOf('access-unmatched')).toMatchObject({ route: '(unmatched)', status: 404 });
  });

  it('notes a stream the caller abandoned', async () => {
    simulator.configure({ tokensPerSecond: 20 });
    const controller = new AbortController();
    const response = await fetch(`${url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...auth(0), 'x-request-id': 'access-abandoned' },
      body: JSON.stringify(chat('a long story', { stream: true, max_tokens: 200 })),
      signal: controller.signal,
    });
    await response.body!.getReader().read();
    controller.abort();
    simulator.configure({ tokensPerSecond: 0 });
    expect(await lineOf('access-abandoned')).toMatchObject({ status: 200, aborted: true, upstream: 'sim' });
    // The upstream call ends with the caller: the simulator saw it aborted.
    await eventually(() => expect(simulator.counters().abortedByClient).toBeGreaterThanOrEqual(1));
  });

  it('never logs a caller key, the provider key, a query token or the prompt; every line is one JSON object', () => {
    const all = allOutput();
    for (const secret of [...CALLER_KEYS, PROVIDER_KEY, QUERY_TOKEN, PROMPT, 'access_token']) expect({ secret, found: all.includes(secret) }).toEqual({ secret, found: false });
    for (const line of all.split('\n').filter(Boolean)) expect(() => JSON.parse(line)).not.toThrow();
    expect(accessLines().length).toBeGreaterThanOrEqual(7);
  });
});
