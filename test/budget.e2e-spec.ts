import type { UpstreamSimulator } from '../src/simulator/upstream-simulator';
import { chat, getJson, postJson, startWithSimulator, type RunningService } from './support/service-harness';

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
        LLM_BUDGET_LIMIT_USD: '0.001',
      },
    ));
  });
  afterAll(() => stop?.());

  it('answers 429 once the month has spent the limit, and shows spend per upstream and model', async () => {
    const prompt = Array.from({ length: 1_000 }, (_, i) => `w${i}`).join(' ');
    const first = await postJson(`${service.url}/v1/chat/completions`, chat(prompt, { model: 'sim/sim-1' }));
    expect(first.status).toBe(200);

    const refused = await postJson(`${service.url}/v1/chat/completions`, chat('one more', { model: 'sim/sim-1' }));
    expect(refused.status).toBe(429);
    expect(refused.json.error).toMatchObject({ code: 'BUDGET_EXCEEDED', status: 429 });
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(simulator.counters().requests).toBe(1); // the refused call never reached the upstream

    const { spend } = (await getJson(`${service.url}/v1/llm/stats`)).json;
    expect(spend.budgetLimitUsd).toBe(0.001);
    const usage = first.json.usage;
    const expected = (usage.prompt_tokens * 1 + usage.completion_tokens * 2) / 1e6;
    expect(spend.totalUsd).toBeCloseTo(expected, 9);
    expect(spend.byModel).toEqual([
      { upstream: 'sim', model: 'sim-1', requests: 1, promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens, costUsd: spend.totalUsd, unpriced: false },
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
        LLM_BUDGET_LIMIT_USD: '0.001',
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
    const prompt = Array.from({ length: 1_000 }, (_, i) => `w${i}`).join(' ');
    expect((await postJson(`${service.url}/v1/chat/completions`, chat(prompt, { model: 'sim/sim-1' }))).status).toBe(200);

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
