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
