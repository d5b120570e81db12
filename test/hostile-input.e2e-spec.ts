import fc from 'fast-check';
import { startWithSimulator, type RunningService } from './support/service-harness';

/** A valid body per endpoint: fuzzing starts from it, so the mutations reach deep validation, not only the first check. */
const ENDPOINTS: { method: 'POST' | 'GET' | 'DELETE'; path: string; valid?: Record<string, unknown> }[] = [
  { method: 'POST', path: '/v1/chat/completions', valid: { model: 'sim/sim-1', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 } },
  { method: 'POST', path: '/v1/embeddings', valid: { model: 'sim/sim-embed-1', input: ['a', 'b'] } },
  { method: 'POST', path: '/v1/synthesis', valid: { question: 'Where?', sources: [{ id: 'd1', text: 'It is in Paris.' }], model: 'sim/sim-1' } },
  { method: 'POST', path: '/v1/documents', valid: { documents: [{ id: 'd1', text: 'hello world', metadata: { lang: 'en' } }] } },
  { method: 'POST', path: '/v1/search', valid: { query: 'hello', topK: 3 } },
  { method: 'POST', path: '/v1/search/structured', valid: { query: 'hello', topK: 2, model: 'sim/sim-1' } },
];

type Json = unknown;

/** Replaces the value at one random path of `value` with `replacement`. */
function mutate(value: Json, path: number[], replacement: Json): Json {
  if (path.length === 0 || value === null || typeof value !== 'object') return replacement;
  const keys = Object.keys(value as object);
  if (keys.length === 0) return replacement;
  const key = keys[path[0] % keys.length];
  const copy: Record<string, unknown> = Array.isArray(value) ? [...value] as unknown as Record<string, unknown> : { ...(value as object) };
  copy[key] = mutate((value as Record<string, unknown>)[key], path.slice(1), replacement);
  return copy;
}

const hostileValue = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.string({ maxLength: 20 }),
  fc.integer(),
  fc.double(),
  fc.constant(null),
  fc.constant(''),
  fc.constant('x'.repeat(300_000)),
  fc.constant(-1),
  fc.constant(1e308),
  fc.array(fc.constant({}), { minLength: 3000, maxLength: 3000 }),
);

describe('hostile and malformed input: only 4xx, never a crash or a 5xx', () => {
  let service: RunningService;
  let stop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ service, stop } = await startWithSimulator());
  });
  afterAll(() => stop?.());

  async function send(method: string, path: string, body: string | Buffer | undefined, contentType = 'application/json') {
    const response = await fetch(`${service.url}${path}`, { method, headers: body === undefined ? {} : { 'content-type': contentType }, body });
    const text = await response.text();
    return { status: response.status, text };
  }

  function expectClientError(result: { status: number; text: string }, what: string) {
    if (result.status >= 500) throw new Error(`${what} → ${result.status}: ${result.text.slice(0, 300)}`);
    if (result.status >= 400) {
      const body = JSON.parse(result.text) as { error: { status: number; code: string; message: string } };
      expect(body.error.status).toBe(result.status);
      expect(typeof body.error.code).toBe('string');
      expect(typeof body.error.message).toBe('string');
    }
  }

  it.each(ENDPOINTS.filter((e) => e.valid))('$path: mutated bodies get 4xx (or a valid answer), never 5xx', async ({ method, path, valid }) => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.nat(), { maxLength: 5 }), hostileValue, async (where, replacement) => {
        const body = JSON.stringify(mutate(valid, where, replacement));
        expectClientError(await send(method, path, body), `${path} ${body.slice(0, 200)}`);
      }),
      { numRuns: 40 },
    );
  }, 60_000);

  it.each(ENDPOINTS.filter((e) => e.method === 'POST'))('$path: any JSON at all gets a 4xx, never 5xx', async ({ method, path }) => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 5 }), async (value) => {
        const body = JSON.stringify(value);
        expectClientError(await send(method, path, body), `${path} ${body.slice(0, 200)}`);
      }),
      { numRuns: 40 },
    );
  }, 60_000);

  const RAW_CASES: [string, string | Buffer, string, number][] = [
    ['invalid UTF-8', Buffer.from([0x7b, 0x22, 0x71, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0xc3, 0x28, 0x22, 0x7d]), 'application/json', 400],
    ['a __proto__ key', '{"__proto__": {"polluted": true}, "query": "x"}', 'application/json', 400],
    ['a constructor.prototype key', '{"constructor": {"prototype": {"polluted": true}}, "query": "x"}', 'application/json', 400],
    ['deep nesting', '['.repeat(100_000) + ']'.repeat(100_000), 'application/json', 400],
    ['truncated JSON', '{"query": "x"', 'application/json', 400],
    ['an empty body', '', 'application/json', 400],
    ['a form body', 'query=x', 'application/x-www-form-urlencoded', 415],
    ['XML', '<query>x</query>', 'application/xml', 415],
    ['a body over the size limit', JSON.stringify({ query: 'x'.repeat(5 * 1024 * 1024) }), 'application/json', 413],
  ];

  it.each(ENDPOINTS.filter((e) => e.method === 'POST').flatMap((e) => RAW_CASES.map(([name, ...rest]) => [e.path, name, ...rest] as const)))(
    '%s: %s gets a clear 4xx',
    async (path, _, body, contentType, status) => {
      const result = await send('POST', path, body, contentType);
      expectClientError(result, `${path} ${_}`);
      expect(result.status).toBe(status);
    },
  );

  it('leaves no pollution behind and the process healthy', async () => {
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((await send('GET', '/health/live', undefined)).status).toBe(200);
  });
});
