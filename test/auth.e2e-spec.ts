import { readEnv } from '../src/config/validate-env';
import { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { startServiceWithLogs } from './support/log-capture';
import {
  chat,
  eventually,
  request,
  routesTo,
  runConcurrently,
  startWithSimulator,
  type HttpResult,
  type RunningService,
  type SimulatedService,
} from './support/service-harness';

const CALLER_KEY = 'caller-key-6b1f0e2a9c4d7e8f';
const OTHER_CALLER_KEY = 'caller-key-0d3c5a7b9e1f2a4c';
const ADMIN_KEY = 'admin-key-5e8a2c4f6b0d1e3a';
const WRONG_KEY = 'caller-key-6b1f0e2a9c4d7e80'; // one character off a real key

type KeyKind = 'none' | 'wrong' | 'caller' | 'admin';
const KEYS: Record<KeyKind, string | undefined> = { none: undefined, wrong: WRONG_KEY, caller: CALLER_KEY, admin: ADMIN_KEY };

function call(base: string, route: string, authorization?: string, body?: unknown): Promise<HttpResult> {
  const [method, path] = route.split(' ');
  return request(method, `${base}${path}`, {
    body: method === 'POST' ? (body ?? {}) : undefined,
    headers: authorization === undefined ? {} : { authorization },
    signal: AbortSignal.timeout(10_000),
  });
}

const bearer = (key: string | undefined) => (key === undefined ? undefined : `Bearer ${key}`);
const CHAT_BODY = chat('hello auth', { model: 'sim/sim-1' });

/** Each route class and what each kind of key gets from it. */
const MATRIX: [route: string, expected: Record<KeyKind, number>][] = [
  ['POST /v1/chat/completions', { none: 401, wrong: 401, caller: 200, admin: 200 }],
  ['GET /v1/llm/stats', { none: 401, wrong: 401, caller: 200, admin: 200 }],
  ['GET /v1/llm/stats/sim', { none: 401, wrong: 401, caller: 200, admin: 200 }],
  ['GET /health/live', { none: 200, wrong: 200, caller: 200, admin: 200 }],
  ['GET /health/ready', { none: 200, wrong: 200, caller: 200, admin: 200 }],
  ['GET /docs-json', { none: 200, wrong: 200, caller: 200, admin: 200 }],
  ['POST /v1/admin/stats/reset', { none: 401, wrong: 401, caller: 403, admin: 200 }],
  ['POST /v1/admin/pools/sim/sockets/destroy', { none: 401, wrong: 401, caller: 403, admin: 200 }],
];

describe('caller and admin keys', () => {
  let simulator: UpstreamSimulator;
  let service: RunningService;
  let stop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ simulator, service, stop } = await startWithSimulator(
      {},
      { SERVICE_API_KEYS: `${CALLER_KEY}, ${OTHER_CALLER_KEY}`, SERVICE_ADMIN_KEY: ADMIN_KEY, SERVICE_RATE_LIMIT_PER_MINUTE: '0' },
    ));
  });
  afterAll(() => stop?.());

  const cases = MATRIX.flatMap(([route, expected]) => (Object.keys(expected) as KeyKind[]).map((kind) => [route, kind, expected[kind]] as const));

  it.each(cases)('%s with %s key → %i', async (route, kind, status) => {
    const response = await call(service.url, route, bearer(KEYS[kind]), route.includes('chat') ? CHAT_BODY : undefined);
    expect(response.status).toBe(status);
    if (status === 401) {
      expect(response.json).toEqual({
        error: {
          status: 401,
          code: 'UNAUTHORIZED',
          type: 'invalid_request_error',
          message: 'A valid API key is required: Authorization: Bearer <key>',
          request_id: response.headers.get('x-request-id'),
        },
      });
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm="llm-service"/);
    }
    if (status === 403) expect(response.json.error).toMatchObject({ status: 403, code: 'FORBIDDEN' });
  });

  it('answers a missing and a wrong key with the same body, naming no key', async () => {
    const missing = await call(service.url, 'GET /v1/llm/stats');
    const wrong = await call(service.url, 'GET /v1/llm/stats', bearer(WRONG_KEY));
    // The same body but for each request's own id.
    const withoutId = (text: string) => JSON.stringify({ ...JSON.parse(text), error: { ...JSON.parse(text).error, request_id: undefined } });
    expect(withoutId(wrong.text)).toBe(withoutId(missing.text));
    expect(missing.headers.get('www-authenticate')).toBe('Bearer realm="llm-service"');
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer realm="llm-service", error="invalid_token"');
    for (const key of [CALLER_KEY, OTHER_CALLER_KEY, ADMIN_KEY, WRONG_KEY]) expect(wrong.text).not.toContain(key);
  });

  it('accepts every configured key, and the scheme in any case', async () => {
    expect((await call(service.url, 'GET /v1/llm/stats', bearer(OTHER_CALLER_KEY))).status).toBe(200);
    expect((await call(service.url, 'GET /v1/llm/stats', `bearer ${CALLER_KEY}`)).status).toBe(200);
  });

  it.each([
    ['the key alone', CALLER_KEY],
    ['another scheme', `Basic ${CALLER_KEY}`],
    ['an empty bearer', 'Bearer '],
    ['trailing garbage', `Bearer ${CALLER_KEY} extra`],
    ['a prefix of a key', `Bearer ${CALLER_KEY.slice(0, -1)}`],
    ['a key with a suffix', `Bearer ${CALLER_KEY}x`],
  ])('refuses %s', async (_, authorization) => {
    expect((await call(service.url, 'GET /v1/llm/stats', authorization)).status).toBe(401);
  });

  it('never sends a refused request upstream', async () => {
    const before = simulator.counters().requests;
    await call(service.url, 'POST /v1/chat/completions', bearer(WRONG_KEY), CHAT_BODY);
    await call(service.url, 'POST /v1/chat/completions', undefined, CHAT_BODY);
    expect(simulator.counters().requests).toBe(before);
  });
});

describe('routes by configuration', () => {
  let simulator: UpstreamSimulator;
  let running: SimulatedService | undefined;

  async function boot(env: Record<string, string>) {
    running = await startWithSimulator({}, env);
    simulator = running.simulator;
    return running.service;
  }
  afterEach(async () => {
    await running?.stop();
    running = undefined;
  });

  it('has no admin routes without SERVICE_ADMIN_KEY: 404, as for an unknown route', async () => {
    const { url } = await boot({ SERVICE_API_KEYS: CALLER_KEY });
    const unknown = await call(url, 'POST /v1/admin/nothing-here', bearer(CALLER_KEY));
    expect(unknown.status).toBe(404);
    for (const route of ['POST /v1/admin/stats/reset', 'POST /v1/admin/pools/sim/sockets/destroy']) {
      for (const key of [undefined, CALLER_KEY, ADMIN_KEY]) {
        const response = await call(url, route, bearer(key));
        expect(response.status).toBe(404);
        expect(response.json.error).toMatchObject({ status: 404, code: unknown.json.error.code });
        expect(response.headers.get('www-authenticate')).toBeNull();
      }
    }
  });

  it('leaves /v1/* open without SERVICE_API_KEYS, while admin routes still need the admin key', async () => {
    const { url } = await boot({ SERVICE_ADMIN_KEY: ADMIN_KEY });
    expect((await call(url, 'POST /v1/chat/completions', undefined, CHAT_BODY)).status).toBe(200);
    expect((await call(url, 'GET /v1/llm/stats', bearer(WRONG_KEY))).status).toBe(200);
    expect((await call(url, 'POST /v1/admin/stats/reset')).status).toBe(401);
    expect((await call(url, 'POST /v1/admin/stats/reset', bearer(WRONG_KEY))).status).toBe(401);
    expect((await call(url, 'POST /v1/admin/stats/reset', bearer(ADMIN_KEY))).status).toBe(200);
  });

  it('destroys the idle sockets of a pool: the upstream sees them closed by us, the stats say why', async () => {
    const { url } = await boot({ SERVICE_ADMIN_KEY: ADMIN_KEY });
    simulator.configure({ latencyMs: 50 });
    const results = await Promise.all(Array.from({ length: 3 }, () => call(url, 'POST /v1/chat/completions', undefined, CHAT_BODY)));
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    simulator.configure({ latencyMs: 0 });
    expect((await call(url, 'GET /v1/llm/stats/sim')).json.sockets).toMatchObject({ open: 3, idle: 3, active: 0 });
    expect(simulator.counters()).toMatchObject({ connections: 3, openConnections: 3, closedByClient: 0 });

    const destroyed = await call(url, 'POST /v1/admin/pools/sim/sockets/destroy', bearer(ADMIN_KEY));
    expect(destroyed.status).toBe(200);
    expect(destroyed.json).toEqual({ upstream: 'sim', destroyed: 3 });

    await eventually(() => expect(simulator.counters()).toMatchObject({ openConnections: 0, closedByClient: 3, closedByServer: 0 }));
    const sockets = (await call(url, 'GET /v1/llm/stats/sim')).json.sockets;
    expect(sockets).toMatchObject({ created: 3, open: 0, idle: 0, closed: 3 });
    expect(sockets.closedByReason).toMatchObject({ admin: 3, server_closed: 0 });

    // The pool simply opens a new connection for the next request.
    expect((await call(url, 'POST /v1/chat/completions', undefined, CHAT_BODY)).status).toBe(200);
    expect(simulator.counters().connections).toBe(4);
    expect((await call(url, 'POST /v1/admin/pools/sim/sockets/destroy', bearer(ADMIN_KEY))).json).toEqual({ upstream: 'sim', destroyed: 1 });
  });

  it('answers 404 UNKNOWN_UPSTREAM when destroying the sockets of a pool that does not exist', async () => {
    const { url } = await boot({ SERVICE_ADMIN_KEY: ADMIN_KEY });
    const response = await call(url, 'POST /v1/admin/pools/nope/sockets/destroy', bearer(ADMIN_KEY));
    expect(response.status).toBe(404);
    expect(response.json.error.code).toBe('UNKNOWN_UPSTREAM');
  });

  it('resets the statistics: counters and latency windows zeroed, open sockets carried over', async () => {
    const { url } = await boot({ SERVICE_ADMIN_KEY: ADMIN_KEY });
    await runConcurrently(5, 1, () => call(url, 'POST /v1/chat/completions', undefined, CHAT_BODY));
    const before = (await call(url, 'GET /v1/llm/stats/sim')).json;
    expect(before.requests).toMatchObject({ total: 5, succeeded: 5 });
    expect(before.latencyMs.upstream.count).toBe(5);

    const reset = await call(url, 'POST /v1/admin/stats/reset', bearer(ADMIN_KEY));
    expect(reset.status).toBe(200);
    expect(Date.parse(reset.json.resetAt)).not.toBeNaN();
    expect(reset.json.upstreams).toEqual([
      { upstream: 'sim', requests: 5, succeeded: 5, failed: 0, socketsCreated: 1, socketsClosed: 0, latencySamples: 5 },
    ]);

    const after = (await call(url, 'GET /v1/llm/stats/sim')).json;
    expect(after.requests).toMatchObject({ total: 0, reused: 0, succeeded: 0, failed: 0, retries: 0 });
    expect(after.latencyMs.upstream).toEqual({ count: 0, p50: 0, p95: 0, p99: 0, max: 0 });
    expect(after.latencyMs.acquireWait.count).toBe(0);
    expect(after.sockets).toMatchObject({ created: 1, open: 1, closed: 0, idle: 1 });
    expect(Object.values(after.sockets.closedByReason).every((n) => n === 0)).toBe(true);
    expect(Object.values(after.errorsByKind).every((n) => n === 0)).toBe(true);

    // Counting goes on from zero, on the carried-over socket.
    await call(url, 'POST /v1/chat/completions', undefined, CHAT_BODY);
    const next = (await call(url, 'GET /v1/llm/stats/sim')).json;
    expect(next.requests).toMatchObject({ total: 1, reused: 1, succeeded: 1 });
    expect(next.sockets).toMatchObject({ created: 1, open: 1 });
    expect(simulator.counters().connections).toBe(1);
  });
});

describe('security configuration', () => {
  const problemsOf = (env: Record<string, string>) => readEnv(env).problems;

  it('refuses short keys and an admin key that is also a caller key, without printing them', () => {
    const problems = problemsOf({ SERVICE_API_KEYS: `short-secret,${CALLER_KEY}`, SERVICE_ADMIN_KEY: CALLER_KEY });
    expect(problems).toEqual([
      'SERVICE_API_KEYS="<redacted>": expected comma-separated keys of at least 16 characters each',
      'SERVICE_ADMIN_KEY="<redacted>": expected a key that is not also one of SERVICE_API_KEYS',
    ]);
    expect(problemsOf({ SERVICE_ADMIN_KEY: 'tiny-admin' })).toEqual(['SERVICE_ADMIN_KEY="<redacted>": expected a key of at least 16 characters']);
  });

  it('expects a non-negative rate limit', () => {
    expect(problemsOf({ SERVICE_RATE_LIMIT_PER_MINUTE: '-1' })).toEqual([
      'SERVICE_RATE_LIMIT_PER_MINUTE="-1": expected an integer from 0 to 1000000 (requests per caller, 0 = no limit)',
    ]);
  });
});

describe('secrets never leave the process', () => {
  const PROVIDER_KEY = 'sk-test-secret-123';
  const REFUSED_PROVIDER_KEY = 'sk-refused-secret-456';
  const SECRETS = [PROVIDER_KEY, REFUSED_PROVIDER_KEY, CALLER_KEY, ADMIN_KEY, WRONG_KEY];

  let simulator: UpstreamSimulator | undefined;
  afterEach(async () => {
    await simulator?.stop();
    simulator = undefined;
  });

  it('keeps provider and caller keys out of responses, stats and logs, failures included', async () => {
    simulator = new UpstreamSimulator({ apiKeys: [PROVIDER_KEY] });
    await simulator.start();
    const service = await startServiceWithLogs({
      LLM_SIMULATOR: 'off',
      LLM_UPSTREAMS: `sim=${simulator.openAiBaseUrl},refused=${simulator.openAiBaseUrl}`,
      LLM_SIM_API_KEY: PROVIDER_KEY,
      LLM_REFUSED_API_KEY: REFUSED_PROVIDER_KEY,
      LLM_PROVIDER: 'sim',
      SERVICE_API_KEYS: CALLER_KEY,
      SERVICE_ADMIN_KEY: ADMIN_KEY,
    });
    const seen: string[] = [];
    const record = (response: HttpResult) => {
      seen.push(String(response.status), response.text, JSON.stringify([...response.headers.entries()]));
      return response;
    };
    const as = (key: string | undefined, route: string, body?: unknown) => call(service.url, route, bearer(key), body).then(record);
    try {
      const ok = await as(CALLER_KEY, 'POST /v1/chat/completions', CHAT_BODY);
      expect(ok.status).toBe(200); // the simulator accepted our provider key: it was sent
      const streamed = await as(CALLER_KEY, 'POST /v1/chat/completions', { ...CHAT_BODY, stream: true });
      expect(streamed.status).toBe(200);

      // The upstream refuses a key; then fails with a 500, then resets the connection.
      const refused = await as(CALLER_KEY, 'POST /v1/chat/completions', chat('hello', { model: 'refused/sim-1' }));
      expect(refused.status).toBeGreaterThanOrEqual(400);
      simulator.setFaults({ status: 500 }); // every attempt, so retries cannot hide it
      expect((await as(CALLER_KEY, 'POST /v1/chat/completions', CHAT_BODY)).status).toBeGreaterThanOrEqual(500);
      simulator.setFaults({ reset: true });
      expect((await as(CALLER_KEY, 'POST /v1/chat/completions', CHAT_BODY)).status).toBeGreaterThanOrEqual(500);
      simulator.setFaults(null);

      // Refused callers, an invalid body, the stats, the admin routes and the probes.
      expect((await as(WRONG_KEY, 'POST /v1/chat/completions', CHAT_BODY)).status).toBe(401);
      expect((await as(undefined, 'GET /v1/llm/stats')).status).toBe(401);
      expect((await as(CALLER_KEY, 'POST /v1/admin/stats/reset')).status).toBe(403);
      expect((await as(CALLER_KEY, 'POST /v1/chat/completions', { messages: 'not a list' })).status).toBe(400);
      expect((await as(CALLER_KEY, 'GET /v1/llm/stats')).status).toBe(200);
      expect((await as(ADMIN_KEY, 'GET /v1/llm/stats/sim')).status).toBe(200);
      expect((await as(ADMIN_KEY, 'GET /v1/llm/stats/refused')).status).toBe(200);
      expect((await as(ADMIN_KEY, 'POST /v1/admin/pools/sim/sockets/destroy')).status).toBe(200);
      expect((await as(ADMIN_KEY, 'POST /v1/admin/stats/reset')).status).toBe(200);
      await as(undefined, 'GET /health/ready');
      await as(undefined, 'GET /health/live');
    } finally {
      await service.close();
    }

    const logs = service.logs.join('');
    // The capture worked and saw the failures: otherwise "no secret in the logs" would prove nothing.
    expect(logs).toContain('pool of');
    expect(logs).toContain('/v1/* needs one of 1 API key(s)');
    expect(simulator.counters().requests).toBeGreaterThanOrEqual(4);
    const everything = [logs, ...seen].join('\n');
    for (const secret of SECRETS) {
      expect(everything).not.toContain(secret);
      expect(everything).not.toContain(secret.slice(3)); // nor a key missing its prefix
    }
  });

  it('warns at boot that /v1/* is open when no SERVICE_API_KEYS is set', async () => {
    simulator = new UpstreamSimulator();
    await simulator.start();
    const service = await startServiceWithLogs({ ...routesTo(simulator), LOG_FORMAT: 'pretty' });
    await service.close();
    expect(service.logs.join('')).toMatch(/WARN.*SERVICE_API_KEYS is not set: \/v1\/\* is open to anyone who can reach this service/);
  });
});
