import { Logger } from '@nestjs/common';
import { EmbeddedSpendStore } from './embedded-spend-store';
import type { CostConfig } from './cost.config';
import { RequestExchange } from '../observability/request-exchange';
import { SpendTracker } from './spend-tracker';

const USAGE = { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 };

/** A request whose caller ApiKeyGuard identified. */
const paidBy = (caller: string) => Object.assign(new RequestExchange('spend-spec', 0), { caller });

function tracker(config: Partial<CostConfig> = {}): SpendTracker {
  return new SpendTracker({ prices: {}, reserveMaxTokens: 100, reservationTtlMs: 60_000, maxModels: 100, ...config }, new EmbeddedSpendStore());
}

describe('SpendTracker', () => {
  afterEach(() => jest.restoreAllMocks());

  it('warns about an unpriced model once per model, up to a cap, and never lets a model name forge a log line', async () => {
    const warnings: string[] = [];
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => void warnings.push(String(message)));
    const spend = tracker();
    for (let i = 0; i < 3_000; i++) await (await spend.reserve({ upstream: 'sim', model: `made-up-${i}\r\nFORGED` }, { promptTokens: 1 }, paidBy('key-1'))).settle(USAGE, false);
    await (await spend.reserve({ upstream: 'sim', model: 'made-up-0\r\nFORGED' }, { promptTokens: 1 }, paidBy('key-1'))).settle(USAGE, false);
    expect(warnings.length).toBeLessThanOrEqual(25);
    expect(warnings.some((line) => /[\r\n]/.test(line))).toBe(false);
  });

  it('books each call to the month it settles in, across a month boundary (the month is cached, not stale)', async () => {
    jest.useFakeTimers({ now: Date.UTC(2026, 0, 31, 23, 59, 59, 990), doNotFake: ['setTimeout', 'setImmediate', 'nextTick', 'queueMicrotask'] });
    try {
      const spend = tracker();
      await (await spend.reserve({ upstream: 'sim', model: 'm' }, { promptTokens: 1 }, paidBy('key-1'))).settle(USAGE, false);
      expect(await spend.snapshot()).toMatchObject({ month: '2026-01', byModel: [expect.objectContaining({ requests: 1 })] });
      jest.setSystemTime(Date.UTC(2026, 1, 1, 0, 0, 0, 5));
      await (await spend.reserve({ upstream: 'sim', model: 'm' }, { promptTokens: 1 }, paidBy('key-1'))).settle(USAGE, false);
      expect(await spend.snapshot()).toMatchObject({ month: '2026-02', byModel: [expect.objectContaining({ requests: 1 })] });
      // A clock set back (NTP) is followed too.
      jest.setSystemTime(Date.UTC(2026, 0, 31, 12));
      expect(await spend.snapshot()).toMatchObject({ month: '2026-01', byModel: [expect.objectContaining({ requests: 1 })] });
    } finally {
      jest.useRealTimers();
    }
  });

  it('reserves atomically in one process: 100 concurrent calls at the edge of the budget, only those that fit run', async () => {
    // $1 per 1M tokens both ways; each call's worst case is 1 000 000 tokens = $1. $9 of $10 spent.
    const spend = tracker({ prices: { m: { input: 1, output: 1 } }, budgetLimitUsd: 10, reserveMaxTokens: 900_000 });
    await (await spend.reserve({ upstream: 'u', model: 'm' }, { promptTokens: 0, maxCompletionTokens: 0 }, paidBy('key-1'))).settle(
      { prompt_tokens: 9_000_000, completion_tokens: 0, total_tokens: 9_000_000 },
      false,
    );
    const outcomes = await Promise.all(
      Array.from({ length: 100 }, async () => {
        try {
          const hold = await spend.reserve({ upstream: 'u', model: 'm' }, { promptTokens: 100_000 }, paidBy('key-2'));
          // A real call takes a while; all 100 are in flight together.
          await new Promise((resolve) => setTimeout(resolve, 20));
          await hold.settle({ prompt_tokens: 100_000, completion_tokens: 900_000, total_tokens: 1_000_000 }, false);
          return 'ran';
        } catch (error) {
          return (error as { code?: string }).code;
        }
      }),
    );
    expect(outcomes.filter((outcome) => outcome === 'ran')).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome === 'BUDGET_EXCEEDED')).toHaveLength(99);
    const snapshot = await spend.snapshot();
    expect(snapshot.available && snapshot.totalUsd).toBeCloseTo(10, 6);
    expect(snapshot.available && snapshot.reservedUsd).toBe(0);
  });

  it('lets a crashed call\'s reservation expire', async () => {
    const spend = tracker({ prices: { m: { input: 1, output: 1 } }, budgetLimitUsd: 1, reserveMaxTokens: 1_000_000, reservationTtlMs: 1_000 });
    await spend.reserve({ upstream: 'u', model: 'm' }, { promptTokens: 0 }, paidBy('key-1')); // never settled
    await expect(spend.reserve({ upstream: 'u', model: 'm' }, { promptTokens: 0 }, paidBy('key-1'))).rejects.toMatchObject({ code: 'BUDGET_EXCEEDED' });
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    await expect(spend.reserve({ upstream: 'u', model: 'm' }, { promptTokens: 0 }, paidBy('key-1'))).resolves.toBeDefined();
  });
});
