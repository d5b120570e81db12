import { InvalidSchema, SchemaChecker, SchemaCheckTimeout } from './schema-checker';

const BACKTRACKING = JSON.stringify({ type: 'string', maxLength: 64, pattern: '^(a+)+$' });
const OBJECT = JSON.stringify({ type: 'object', properties: { n: { type: 'number' } }, required: ['n'] });

/** The longest the event loop went without running a 5 ms interval, while `work` ran. */
async function longestStall<T>(work: Promise<T>): Promise<{ result: PromiseSettledResult<T>; stallMs: number }> {
  let last = performance.now();
  let stallMs = 0;
  const interval = setInterval(() => {
    const now = performance.now();
    stallMs = Math.max(stallMs, now - last);
    last = now;
  }, 5);
  const [result] = await Promise.allSettled([work]);
  clearInterval(interval);
  return { result, stallMs };
}

describe('SchemaChecker', () => {
  let checker: SchemaChecker;

  beforeEach(() => {
    checker = new SchemaChecker(300);
  });
  afterEach(() => checker.close());

  it('answers [] for a valid reply and ajv errors for an invalid one', async () => {
    expect(await checker.check(OBJECT, { n: 1 })).toEqual([]);
    expect(await checker.check(OBJECT, { n: 'x' })).toEqual([{ instancePath: '/n', keyword: 'type', message: 'must be number', params: { type: 'number' } }]);
  }, 30_000);

  it('compiles a schema, or says why it cannot be used', async () => {
    await expect(checker.compile(BACKTRACKING)).resolves.toBeUndefined();
    await expect(checker.compile(JSON.stringify({ type: 'strng' }))).rejects.toThrow(/^schema is not a valid JSON Schema: schema is invalid: data\/type/);
    await expect(checker.compile(JSON.stringify({ $async: true, type: 'object' }))).rejects.toEqual(new InvalidSchema('schema must not be $async'));
  }, 30_000);

  it('stops a catastrophic pattern at the time limit without stalling the event loop, then checks on', async () => {
    await checker.check(OBJECT, { n: 1 }); // the worker is up: its start-up is not what is measured
    const started = performance.now();
    const { result, stallMs } = await longestStall(checker.check(BACKTRACKING, `${'a'.repeat(39)}!`));
    const tookMs = performance.now() - started;
    expect(result.status).toBe('rejected');
    expect((result as PromiseRejectedResult).reason).toBeInstanceOf(SchemaCheckTimeout);
    expect(tookMs).toBeGreaterThanOrEqual(290);
    expect(tookMs).toBeLessThan(3_000);
    expect(stallMs).toBeLessThan(100);
    // A fresh worker takes the next check; the same pattern on a short input is quick.
    expect(await checker.check(BACKTRACKING, 'aaaa')).toEqual([]);
  }, 30_000);

  it('runs checks one after the other, each with its own time limit', async () => {
    const results = await Promise.allSettled([
      checker.check(BACKTRACKING, `${'a'.repeat(39)}!`),
      checker.check(OBJECT, { n: 2 }),
      checker.check(BACKTRACKING, `${'a'.repeat(39)}!`),
      checker.check(OBJECT, {}),
    ]);
    expect(results.map((r) => (r.status === 'fulfilled' ? r.value.length : (r.reason as Error).name))).toEqual(['SchemaCheckTimeout', 0, 'SchemaCheckTimeout', 1]);
  }, 30_000);

  it('rejects what is pending once closed', async () => {
    const pending = expect(checker.check(BACKTRACKING, `${'a'.repeat(39)}!`)).rejects.toThrow('closed');
    await checker.close();
    await pending;
    await expect(checker.check(OBJECT, { n: 1 })).rejects.toThrow('closed');
  }, 30_000);
});
