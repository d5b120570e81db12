import type { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { chat, eventually, getJson, postJson, postStream, request, runConcurrently, startWithSimulator, type RunningService } from './support/service-harness';

describe('monthly budget', () => {
  let simulator: UpstreamSimulator;
  let service: RunningService;
  let stop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ simulator, service, stop } = await startWithSimulator(
      {},
      {
        // $1 per 1M prompt tokens, $2 per 1M completion tokens: 1 000 prompt tokens cost $0.001.
        LLM_PRICES: JSON.stringify({ 'sim-1': { input: 1, output: 2 } }),
        LLM_BUDGET_LIMIT_USD: '0.0015',
      },
    ));
  });
  afterAll(() => stop?.());

  it("answers 429 once a call's worst case no longer fits the month's budget, and shows spend per upstream, model and caller", async () => {
    const prompt = Array.from({ length: 1_000 }, (_, i) => `w${i}`).join(' ');
    // Worst case: ~1 222 prompt tokens (estimated) + 50 completion tokens ≈ $0.0013, under the $0.0015 limit.
    const first = await postJson(`${service.url}/v1/chat/completions`, chat(prompt, { model: 'sim/sim-1', max_tokens: 50 }));
    expect(first.status).toBe(200);

    const refused = await postJson(`${service.url}/v1/chat/completions`, chat('one more', { model: 'sim/sim-1' }));
    expect(refused.status).toBe(429);
    expect(refused.json.error).toMatchObject({ code: 'BUDGET_EXCEEDED', status: 429 });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(simulator.counters().requests).toBe(1); // the refused call (worst case 4 096 completion tokens ≈ $0.008) never reached the upstream

    const { spend } = (await getJson(`${service.url}/v1/llm/stats`)).json;
    expect(spend.budgetLimitUsd).toBe(0.0015);
    expect(spend.reservedUsd).toBe(0);
    const usage = first.json.usage;
    const expected = (usage.prompt_tokens * 1 + usage.completion_tokens * 2) / 1e6;
    expect(spend.totalUsd).toBeCloseTo(expected, 9);
    expect(spend.byModel).toEqual([
      { upstream: 'sim', model: 'sim-1', requests: 1, promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens, estimatedUsage: 0, costUsd: spend.totalUsd, unpriced: false },
    ]);
    // Without SERVICE_API_KEYS every call is the anonymous caller's.
    expect(spend.byCaller).toEqual([
      { caller: 'anonymous', requests: 1, promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens, estimatedUsage: 0, costUsd: spend.totalUsd },
    ]);
  });
});

describe('monthly budget, once spent', () => {
  let service: RunningService;
  let stop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ service, stop } = await startWithSimulator(
      {},
      {
        LLM_PRICES: JSON.stringify({ 'sim-1': { input: 1, output: 2 } }),
        LLM_BUDGET_LIMIT_USD: '0.0015',
        SEARCH_EMBEDDING_MODEL: 'sim/sim-embed-1',
      },
    ));
  });
  afterAll(() => stop?.());

  it('refuses LLM calls with 429 while search still answers, lexically', async () => {
    const indexed = await postJson(`${service.url}/v1/documents`, {
      documents: [
        { id: 'pool', text: 'A connection pool reuses keep-alive sockets.' },
        { id: 'fruit', text: 'Bananas are yellow.' },
      ],
    });
    expect(indexed.status).toBe(201);
    // 2 000 one-letter words: estimated at 4 characters a token (1 000 tokens, $0.001 + 50 completion tokens: fits),
    // counted by the upstream as 2 000 tokens ($0.002): the call's estimation error spends the whole budget.
    const prompt = 'a '.repeat(2_000);
    expect((await postJson(`${service.url}/v1/chat/completions`, chat(prompt, { model: 'sim/sim-1', max_tokens: 50 }))).status).toBe(200);

    const synthesis = await postJson(`${service.url}/v1/synthesis`, { question: 'What reuses sockets?', sources: [{ id: 'a', text: 'A pool.' }], model: 'sim/sim-1' });
    expect(synthesis.status).toBe(429);
    expect(synthesis.json.error.code).toBe('BUDGET_EXCEEDED');

    const search = await postJson(`${service.url}/v1/search`, { query: 'keep-alive sockets pool' });
    expect(search.status).toBe(200);
    expect(search.json.mode).toBe('lexical');
    expect(search.json.degraded).toMatch(/budget/i);
    expect(search.json.hits[0].id).toBe('pool');
  });
});

describe('usage an upstream got wrong', () => {
  let simulator: UpstreamSimulator;
  let service: RunningService;
  let stop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ simulator, service, stop } = await startWithSimulator(
      {},
      { LLM_PRICES: JSON.stringify({ 'sim-1': { input: 1, output: 2 } }), LLM_BUDGET_LIMIT_USD: '1' },
      { anthropic: true },
    ));
  });
  afterAll(() => stop?.());
  afterEach(() => simulator.setFaults(null));

  const spendOf = async () => (await getJson(`${service.url}/v1/llm/stats`)).json.spend;

  // Each of these once made spend NaN (or negative), and a NaN budget refuses every later call until restart.
  it.each([
    ['no prompt_tokens', 'sim', false, { prompt_tokens: null }],
    ['a negative prompt_tokens', 'sim', false, { prompt_tokens: -1_000_000 }],
    ['string token counts', 'sim', false, { prompt_tokens: '12', completion_tokens: 'many' }],
    ['no prompt_tokens, streamed', 'sim', true, { prompt_tokens: null }],
    ['no input_tokens (Anthropic)', 'claude', false, { input_tokens: null }],
    ['a string output_tokens (Anthropic), streamed', 'claude', true, { output_tokens: 'x' }],
  ])('%s: the call is charged by estimate, counted, and the budget keeps working', async (_name, upstream, stream, usage) => {
    const before = await spendOf();
    simulator.setFaults({ count: 1, usage });
    const prompt = 'How do pools reuse sockets? '.repeat(20);
    const call = await postJson(`${service.url}/v1/chat/completions`, chat(prompt, { model: `${upstream}/sim-1`, stream }));
    expect(call.status).toBe(200);
    if (!stream) {
      // The caller sees the counts it was charged for: numbers, never the upstream's garbage.
      expect(Number.isInteger(call.json.usage.prompt_tokens) && call.json.usage.prompt_tokens > 0).toBe(true);
      expect(Number.isInteger(call.json.usage.completion_tokens) && call.json.usage.completion_tokens >= 0).toBe(true);
    }

    const after = await spendOf();
    expect(Number.isFinite(after.totalUsd)).toBe(true);
    expect(after.totalUsd).toBeGreaterThan(before.totalUsd);
    expect(after.estimatedUsage).toBe(before.estimatedUsage + 1);
    expect(after.byModel.every((line: { costUsd: number; promptTokens: number }) => line.costUsd >= 0 && line.promptTokens >= 0)).toBe(true);

    const next = await postJson(`${service.url}/v1/chat/completions`, chat('And after that?', { model: 'sim/sim-1', max_tokens: 20 }));
    expect(next.status).toBe(200);
  });
});

describe('spend stats under many model names', () => {
  let service: RunningService;
  let stop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ service, stop } = await startWithSimulator({}, { LLM_PRICES: JSON.stringify({ 'sim-1': { input: 1, output: 2 } }) }));
  });
  afterAll(() => stop?.());

  it('keeps per-model spend bounded (top models, then "(other)") whatever model names callers send', async () => {
    const models = 400;
    await runConcurrently(models, 16, async (i) => {
      const call = await postJson(`${service.url}/v1/chat/completions`, chat('hi', { model: `sim/made-up-${i}\r\nFORGED log line`, max_tokens: 4 }));
      expect(call.status).toBe(200);
    });
    const stats = await getJson(`${service.url}/v1/llm/stats`);
    const { byModel } = stats.json.spend;
    expect(byModel.length).toBeLessThanOrEqual(101);
    const other = byModel.find((line: { model: string }) => line.model === '(other)');
    expect(other.requests).toBeGreaterThanOrEqual(models - 100);
    expect(byModel.reduce((n: number, line: { requests: number }) => n + line.requests, 0)).toBe(models);
    expect(JSON.stringify(stats.json).length).toBeLessThan(64 * 1024);

    const metrics = await request('GET', `${service.url}/metrics`);
    const spendSeries = metrics.text.split('\n').filter((line) => line.startsWith('llm_budget_spend_usd_total{'));
    expect(spendSeries.length).toBeLessThanOrEqual(5);
  });
});

describe('budget holds of streams', () => {
  let simulator: UpstreamSimulator;
  let service: RunningService;
  let stop: (() => Promise<void>) | undefined;

  beforeAll(async () => {
    ({ simulator, service, stop } = await startWithSimulator(
      { ttftMs: 10, tokensPerSecond: 0 },
      // Well above the moment a caller below leaves, so that stream is cut by the caller, not by the idle timer.
      { LLM_PRICES: JSON.stringify({ 'sim-1': { input: 1, output: 2 } }), LLM_BUDGET_LIMIT_USD: '1', LLM_IDLE_TIMEOUT_MS: '1000' },
    ));
  });
  afterAll(() => stop?.());
  afterEach(() => simulator.setFaults(null));

  it('settles a stream cut short: its hold ends and what was generated is charged, by estimate', async () => {
    simulator.setFaults({ count: 1, stallAfterTokens: 3 });
    const response = await postStream(`${service.url}/v1/chat/completions`, chat('How do pools reuse sockets?', { model: 'sim/sim-1', stream: true, max_tokens: 200 }));
    expect(response.status).toBe(200);
    // The upstream stalls after 3 tokens; the idle timeout cuts the stream.
    expect(await response.text()).toMatch(/event: error/);

    await eventually(async () => {
      const { spend } = (await getJson(`${service.url}/v1/llm/stats`)).json;
      expect(spend.reservedUsd).toBe(0);
      expect(spend.reservations).toBe(0);
      expect(spend.byModel).toEqual([expect.objectContaining({ model: 'sim-1', requests: 1, estimatedUsage: 1 })]);
      expect(spend.totalUsd).toBeGreaterThan(0);
    });
  });

  it('settles a stream its caller abandoned while the upstream had stalled: its hold ends and it is charged, by estimate', async () => {
    const before = (await getJson(`${service.url}/v1/llm/stats`)).json.spend.totalUsd as number;
    simulator.setFaults({ count: 1, stallAfterTokens: 3 });
    const controller = new AbortController();
    const response = await postStream(`${service.url}/v1/chat/completions`, chat('How do pools reuse sockets?', { model: 'sim/sim-1', stream: true, max_tokens: 200 }), controller.signal);
    expect(response.status).toBe(200);
    await response.body!.getReader().read();
    controller.abort();

    await eventually(async () => {
      const { spend } = (await getJson(`${service.url}/v1/llm/stats`)).json;
      expect(spend.reservedUsd).toBe(0);
      expect(spend.reservations).toBe(0);
      expect(spend.byModel).toEqual([expect.objectContaining({ model: 'sim-1', requests: 2, estimatedUsage: 2 })]);
      expect(spend.totalUsd).toBeGreaterThan(before);
    });
  });
});
