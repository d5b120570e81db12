import { DEFAULT_PRICES, priceOf } from './price-table';

describe('price table', () => {
  it('prices a model by exact name, else by its longest matching prefix', () => {
    expect(priceOf(DEFAULT_PRICES, 'gpt-4o-mini')).toEqual({ input: 0.15, output: 0.6 });
    expect(priceOf(DEFAULT_PRICES, 'gpt-4o-mini-2024-07-18')).toEqual({ input: 0.15, output: 0.6 });
    expect(priceOf(DEFAULT_PRICES, 'gpt-4o-2024-08-06')).toEqual({ input: 2.5, output: 10 });
    expect(priceOf(DEFAULT_PRICES, 'claude-3-5-haiku-latest')).toEqual({ input: 0.8, output: 4 });
  });

  it('has no price for an unknown model', () => {
    expect(priceOf(DEFAULT_PRICES, 'llama-3-8b')).toBeUndefined();
  });
});
