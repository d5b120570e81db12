import { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { startPostgres, type PostgresCluster } from './support/engines';
import { startInstance, type Instance } from './support/fleet';
import { chat, eventually, getJson, postJson, routesTo, startService, type RunningService } from './support/service-harness';

const KEYS = ['fleet-caller-one-0123456789', 'fleet-caller-two-0123456789'];
const auth = (i: number) => ({ headers: { authorization: `Bearer ${KEYS[i]}` } });

/**
 * The budget of a fleet: two real service processes sharing one PostgreSQL spend ledger.
 * Before this, each process kept its own spend: with $9 spent of $10, 100 concurrent calls that
 * cost about $0.12 each all succeeded and spend reached $21 (N replicas could spend N × the limit).
 */
describe('fleet budget: two service processes, one PostgreSQL ledger', () => {
  let pg: PostgresCluster | undefined;
  let simulator: UpstreamSimulator;
  let a: Instance | undefined;
  let b: Instance | undefined;
  let databaseUrl: string;

  beforeAll(async () => {
    pg = await startPostgres();
    if (!pg) return;
    simulator = new UpstreamSimulator({ ttftMs: 50, tokensPerSecond: 0 });
    await simulator.start();
    databaseUrl = await pg.createDatabase();
    const env = {
      DATABASE_URL: databaseUrl,
      ...routesTo(simulator),
      SERVICE_API_KEYS: KEYS.join(','),
      SERVICE_RATE_LIMIT_PER_MINUTE: '0',
      // $0.01 a token either way: a call with a 3-token prompt estimate and max_tokens 10 may cost up to $0.13.
      LLM_PRICES: JSON.stringify({ 'sim-1': { input: 10_000, output: 10_000 } }),
      LLM_BUDGET_LIMIT_USD: '10',
    };
    [a, b] = await Promise.all([startInstance(env), startInstance(env)]);
  }, 120_000);
  afterAll(async () => {
    await Promise.all([a?.stop(), b?.stop()]);
    await simulator?.stop();
    await pg?.stop();
  }, 60_000);

  const spendOf = async (instance: Instance, key = 0) => (await getJson(`${instance.url}/v1/llm/stats`, auth(key))).json.spend;

  it('100 concurrent calls split over A and B at the edge of the budget never take the fleet past it', async () => {
    if (!pg || !a || !b) return;
    const month = new Date().toISOString().slice(0, 7);
    // Earlier this month the fleet spent $9.
    await pg.query(`INSERT INTO llm_spend (month, upstream, model, caller, requests, cost_usd) VALUES ($1, 'sim', 'sim-1', 'key-1', 90, 9)`, [month], databaseUrl);
    const before = simulator.counters().requests;

    const statuses = await Promise.all(
      Array.from({ length: 100 }, async (_, i) => {
        const instance = i % 2 === 0 ? a! : b!;
        const call = await postJson(`${instance.url}/v1/chat/completions`, chat('hello there', { model: 'sim/sim-1', max_tokens: 10 }), auth(i % 2));
        if (call.status === 429) expect(call.json.error.code).toBe('BUDGET_EXCEEDED');
        return call.status;
      }),
    );
    const served = statuses.filter((status) => status === 200).length;
    expect(statuses.filter((status) => status !== 200 && status !== 429)).toEqual([]);
    // $1 of headroom and a worst case of $0.13 a call: at most 7 hold a reservation at once; more run as
    // earlier ones settle below their worst case. Most of the 100 are refused.
    expect(served).toBeGreaterThanOrEqual(1);
    expect(served).toBeLessThan(50);
    expect(simulator.counters().requests - before).toBe(served); // refused calls never reached the upstream

    const [viaA, viaB] = await Promise.all([spendOf(a), spendOf(b, 1)]);
    // Both instances read the fleet's ledger, and every reservation was settled.
    expect(viaA.totalUsd).toBeCloseTo(viaB.totalUsd, 9);
    expect(viaA.store).toBe('postgres');
    expect(viaA.reservedUsd).toBe(0);
    // Worst cases were held, so even one call's estimation error is not needed here: the limit holds.
    expect(viaA.totalUsd).toBeLessThanOrEqual(10 + 1e-9);
    expect(viaA.totalUsd).toBeGreaterThan(9);

    // Spend per caller: named by the key's position, never by the key.
    const callers = Object.fromEntries(viaA.byCaller.map((line: { caller: string; requests: number }) => [line.caller, line.requests]));
    expect(Object.keys(callers).sort()).toEqual(['key-1', 'key-2']);
    expect(callers['key-1'] + callers['key-2']).toBe(90 + served);
    const body = JSON.stringify(viaA);
    for (const key of KEYS) expect(body).not.toContain(key);
  }, 60_000);

  it('keeps the spend when both restart', async () => {
    if (!pg || !a || !b) return;
    const before = await spendOf(a);
    await Promise.all([a.restart(), b.restart()]);
    for (const [instance, key] of [[a, 0], [b, 1]] as const) {
      const after = await spendOf(instance, key);
      expect(after.totalUsd).toBeCloseTo(before.totalUsd, 9);
      expect(after.byCaller).toEqual(before.byCaller);
    }
    // Still at the edge after the restart: a call whose worst case does not fit is refused on either.
    const refused = await postJson(`${b.url}/v1/chat/completions`, chat('hello there', { model: 'sim/sim-1', max_tokens: 1_000 }), auth(1));
    expect(refused.status).toBe(429);
  }, 120_000);
});

describe('spend ledger in PostgreSQL while PostgreSQL is away', () => {
  let pg: PostgresCluster | undefined;
  let simulator: UpstreamSimulator;
  const services: RunningService[] = [];

  beforeAll(async () => {
    pg = await startPostgres();
    simulator = new UpstreamSimulator({ ttftMs: 10, tokensPerSecond: 0 });
    await simulator.start();
  }, 60_000);
  afterAll(async () => {
    await Promise.all(services.map((service) => service.close()));
    await simulator.stop();
    await pg?.stop();
  }, 60_000);

  const boot = async (env: Record<string, string>) => {
    const service = await startService({
      ...routesTo(simulator),
      DATABASE_URL: await pg!.createDatabase(),
      DATABASE_CONNECT_TIMEOUT_MS: '1000',
      DATABASE_STATEMENT_TIMEOUT_MS: '1000',
      LLM_PRICES: JSON.stringify({ 'sim-1': { input: 10_000, output: 10_000 } }),
      ...env,
    });
    services.push(service);
    await eventually(async () => expect((await getJson(`${service.url}/v1/llm/stats`)).json.spend.available).toBe(true), 10_000);
    return service;
  };
  const call = (service: RunningService) => postJson(`${service.url}/v1/chat/completions`, chat('hello there', { model: 'sim/sim-1', max_tokens: 5 }));

  it('refuses budgeted calls with 503 DATABASE_UNAVAILABLE, within the connect timeout, and recovers by itself', async () => {
    if (!pg) return;
    const service = await boot({ LLM_BUDGET_LIMIT_USD: '100' });
    expect((await call(service)).status).toBe(200);
    await pg.halt();
    try {
      const started = performance.now();
      const refused = await call(service);
      expect(refused.status).toBe(503);
      expect(refused.json.error.code).toBe('DATABASE_UNAVAILABLE');
      expect(performance.now() - started).toBeLessThan(3_000);
      // Stats stay up and say the ledger is not readable.
      const stats = await getJson(`${service.url}/v1/llm/stats`);
      expect(stats.status).toBe(200);
      expect(stats.json.spend).toMatchObject({ available: false, store: 'postgres' });
    } finally {
      await pg.start();
    }
    await eventually(async () => expect((await call(service)).status).toBe(200), 15_000);
  }, 60_000);

  it('without a budget, serves chat while PostgreSQL is away and records its spend once it is back', async () => {
    if (!pg) return;
    const service = await boot({});
    await pg.halt();
    try {
      for (let i = 0; i < 3; i++) expect((await call(service)).status).toBe(200);
    } finally {
      await pg.start();
    }
    await eventually(async () => {
      const { spend } = (await getJson(`${service.url}/v1/llm/stats`)).json;
      expect(spend.available).toBe(true);
      expect(spend.pendingSettles).toBe(0);
      expect(spend.byModel).toEqual([expect.objectContaining({ model: 'sim-1', requests: 3 })]);
    }, 20_000);
  }, 60_000);
});
