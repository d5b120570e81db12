import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { startInstance } from './support/fleet';
import { chat, getJson, postJson, routesTo, startService, type RunningService } from './support/service-harness';

// $0.01 a token either way.
const PRICES = JSON.stringify({ 'sim-1': { input: 10_000, output: 10_000 } });

/** The embedded spend ledger (no DATABASE_URL): one process, its spend in a file that outlives it. */
describe('embedded spend ledger', () => {
  let simulator: UpstreamSimulator;
  let dataDir: string;
  let service: RunningService | undefined;

  beforeAll(async () => {
    simulator = new UpstreamSimulator({ ttftMs: 20, tokensPerSecond: 0 });
    await simulator.start();
  });
  beforeEach(() => (dataDir = mkdtempSync(join(tmpdir(), 'llm-ledger-'))));
  afterEach(async () => {
    await service?.close();
    service = undefined;
    rmSync(dataDir, { recursive: true, force: true });
  });
  afterAll(() => simulator.stop());

  const boot = async (env: Record<string, string> = {}) =>
    (service = await startService({ ...routesTo(simulator), SEARCH_DATA_DIR: dataDir, LLM_PRICES: PRICES, SERVICE_RATE_LIMIT_PER_MINUTE: '0', ...env }));
  const spendOf = async () => (await getJson(`${service!.url}/v1/llm/stats`)).json.spend;
  const call = (max_tokens = 10) => postJson(`${service!.url}/v1/chat/completions`, chat('hello there', { model: 'sim/sim-1', max_tokens }));

  it('keeps the month across a restart (today a restart reset it to $0), and a torn last line costs only that line', async () => {
    await boot();
    for (let i = 0; i < 3; i++) expect((await call()).status).toBe(200);
    const before = await spendOf();
    expect(before.totalUsd).toBeGreaterThan(0);
    await service!.close();
    // A crash in the middle of a write leaves at most a partial last line.
    appendFileSync(join(dataDir, 'llm-spend.jsonl'), '{"month":"2026-');

    await boot();
    const after = await spendOf();
    expect(after.totalUsd).toBeCloseTo(before.totalUsd, 9);
    expect(after.store).toBe('embedded');
    expect(after.byModel).toEqual(before.byModel);
    expect((await call()).status).toBe(200);
    expect((await spendOf()).byModel[0].requests).toBe(4);
  });

  it('enforces the budget with in-process reservations: 100 concurrent calls at the edge stay within it', async () => {
    // Each call may cost up to $0.13 (3-token prompt estimate + 10 completion tokens); $0.5 fits three at a time.
    await boot({ LLM_BUDGET_LIMIT_USD: '0.5' });
    const statuses = await Promise.all(Array.from({ length: 100 }, async () => (await call()).status));
    expect(statuses.filter((status) => status !== 200 && status !== 429)).toEqual([]);
    const served = statuses.filter((status) => status === 200).length;
    expect(served).toBeGreaterThanOrEqual(3);
    expect(served).toBeLessThan(50);
    const spend = await spendOf();
    expect(spend.totalUsd).toBeLessThanOrEqual(0.5 + 1e-9);
    expect(spend.reservedUsd).toBe(0);
  });

  it('writes where LLM_LEDGER_FILE says, one JSON line per settled call', async () => {
    const file = join(dataDir, 'elsewhere', 'spend.jsonl');
    await boot({ LLM_LEDGER_FILE: file });
    expect((await call()).status).toBe(200);
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line));
    expect(lines).toEqual([expect.objectContaining({ upstream: 'sim', model: 'sim-1', caller: 'anonymous', requests: 1 })]);
  });
});

describe('embedded spend ledger, process killed', () => {
  it('loses no answered call\'s spend to kill -9: each line is written before the answer', async () => {
    const simulator = new UpstreamSimulator({ ttftMs: 5, tokensPerSecond: 0 });
    await simulator.start();
    const instance = await startInstance({ ...routesTo(simulator), LLM_PRICES: PRICES, SERVICE_RATE_LIMIT_PER_MINUTE: '0' });
    try {
      let answered = 0;
      let killed = false;
      const caller = async () => {
        while (!killed) {
          const response = await postJson(`${instance.url}/v1/chat/completions`, chat('hello there', { model: 'sim/sim-1', max_tokens: 5 })).catch(() => undefined);
          if (response?.status === 200) answered++;
        }
      };
      const callers = Array.from({ length: 4 }, caller);
      while (answered < 40) await new Promise((resolve) => setTimeout(resolve, 5));
      instance.kill('SIGKILL');
      killed = true;
      await Promise.all(callers);

      await instance.restart();
      const { spend } = (await getJson(`${instance.url}/v1/llm/stats`)).json;
      // Every answered call is in the ledger; a call cut by the kill after its line was written may be too.
      expect(spend.byModel[0].requests).toBeGreaterThanOrEqual(answered);
      expect(spend.byModel[0].requests).toBeLessThanOrEqual(answered + 4);
    } finally {
      await instance.stop();
      await simulator.stop();
    }
  }, 120_000);
});
