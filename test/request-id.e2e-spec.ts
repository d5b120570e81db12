import { chat, getJson, postJson, postStream, readSse, request, startWithSimulator, type SimulatedService } from './support/service-harness';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('request ids (x-request-id)', () => {
  let env: SimulatedService;
  let base: string;
  beforeAll(async () => {
    env = await startWithSimulator({}, { LLM_MAX_RETRIES: '0', LLM_MODEL: 'sim-1' });
    base = env.service.url;
  });
  afterAll(() => env?.stop());
  afterEach(() => env.simulator.setFaults(null));

  it("echoes a caller's valid id and sends it upstream; the upstream's own id is the simulator's", async () => {
    const id = 'caller-trace.42:abc_DEF-9';
    const answer = await postJson(`${base}/v1/chat/completions`, chat('hello'), { headers: { 'x-request-id': id } });
    expect(answer.status).toBe(200);
    expect(answer.headers.get('x-request-id')).toBe(id);
    const seen = env.simulator.received.at(-1)!;
    expect(seen.path).toBe('/v1/chat/completions');
    expect(seen.requestId).toBe(id);
  });

  it('generates a UUID when the caller sends none, or one that is too long or has other characters (never a 400)', async () => {
    for (const sent of [undefined, 'x'.repeat(129), 'has space', 'semi;colon', 'quote"d', 'line%0Abreak', '']) {
      const answer = await getJson(`${base}/health/live`, { headers: sent === undefined ? {} : { 'x-request-id': sent } });
      expect({ sent, status: answer.status }).toEqual({ sent, status: 200 });
      expect(answer.headers.get('x-request-id')).toMatch(UUID);
    }
    // Exactly 128 allowed characters are kept.
    const longest = 'a'.repeat(128);
    expect((await getJson(`${base}/health/live`, { headers: { 'x-request-id': longest } })).headers.get('x-request-id')).toBe(longest);
  });

  it('gives every request its own id', async () => {
    const ids = new Set<string | null>();
    for (let i = 0; i < 5; i++) ids.add((await getJson(`${base}/health/live`)).headers.get('x-request-id'));
    expect(ids.size).toBe(5);
  });

  it('puts the id in every error body as error.request_id, matching the header', async () => {
    const failures = [
      await postJson(`${base}/v1/chat/completions`, { messages: 'not a list' }, { headers: { 'x-request-id': 'bad-body-1' } }),
      await request('GET', `${base}/v1/no-such-route`, { headers: { 'x-request-id': 'not-found-1' } }),
      await request('POST', `${base}/v1/chat/completions`, { headers: { 'content-type': 'application/json', 'x-request-id': 'bad-json-1' } }),
    ];
    env.simulator.setFaults({ status: 500, count: 1 });
    failures.push(await postJson(`${base}/v1/chat/completions`, chat('hi'), { headers: { 'x-request-id': 'upstream-500' } }));
    for (const failure of failures) {
      const body = JSON.parse(failure.text);
      expect(failure.status).toBeGreaterThanOrEqual(400);
      expect(body.error.request_id).toBe(failure.headers.get('x-request-id'));
    }
    expect(failures.map((f) => f.headers.get('x-request-id'))).toEqual(['bad-body-1', 'not-found-1', 'bad-json-1', 'upstream-500']);
    // Generated ids too.
    const anonymous = await request('GET', `${base}/v1/no-such-route`);
    expect(JSON.parse(anonymous.text).error.request_id).toMatch(UUID);
    expect(JSON.parse(anonymous.text).error.request_id).toBe(anonymous.headers.get('x-request-id'));
  });

  it("names both ids in a stream's error event: ours, and the upstream's for the answer that failed", async () => {
    env.simulator.setFaults({ streamErrorAfterTokens: 2, count: 1 });
    const response = await postStream(`${base}/v1/chat/completions`, chat('tell me a story', { stream: true }), undefined);
    expect(response.headers.get('x-request-id')).toMatch(UUID);
    const events = await readSse(response);
    const error = events.find((event) => event.event === 'error');
    expect(error).toBeDefined();
    const envelope = JSON.parse(error!.data).error;
    expect(envelope.request_id).toBe(response.headers.get('x-request-id'));
    expect(envelope.upstream_request_id).toBe(env.simulator.received.at(-1)!.upstreamRequestId);
    expect(envelope.upstream_request_id).toMatch(/^req_sim_\d+$/);
  });
});
