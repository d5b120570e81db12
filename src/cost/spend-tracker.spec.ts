import { Logger } from '@nestjs/common';
import { SpendTracker } from './spend-tracker';

describe('SpendTracker', () => {
  afterEach(() => jest.restoreAllMocks());

  it('warns about an unpriced model once per model, up to a cap, and never lets a model name forge a log line', () => {
    const warnings: string[] = [];
    jest.spyOn(Logger.prototype, 'warn').mockImplementation((message: unknown) => void warnings.push(String(message)));
    const spend = new SpendTracker({ prices: {} });
    for (let i = 0; i < 3_000; i++) spend.record('sim', `made-up-${i}\r\nFORGED`, { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 });
    spend.record('sim', 'made-up-0\r\nFORGED', { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 });
    expect(warnings.length).toBeLessThanOrEqual(25);
    expect(warnings.some((line) => /[\r\n]/.test(line))).toBe(false);
  });
});
