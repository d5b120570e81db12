import { readFileSync } from 'node:fs';
import { registerAs } from '@nestjs/config';
import { EnvReader, parseOrThrow } from '../config/env-reader';
import { DEFAULT_PRICES, type ModelPrice } from './price-table';

export interface CostConfig {
  /** USD per calendar month (UTC); undefined = no limit. */
  budgetLimitUsd?: number;
  prices: Record<string, ModelPrice>;
}

function parsePrices(env: EnvReader, name: string, json: string | undefined): Record<string, ModelPrice> {
  if (json === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch {
    env.fail(name, json.slice(0, 80), 'a JSON object {"model": {"input": USD per 1M tokens, "output": USD per 1M tokens}}');
    return {};
  }
  const prices: Record<string, ModelPrice> = {};
  const entries = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? Object.entries(parsed) : [];
  for (const [model, price] of entries) {
    const { input, output = 0 } = (price ?? {}) as Partial<ModelPrice>;
    if (typeof input !== 'number' || typeof output !== 'number' || input < 0 || output < 0) {
      env.fail(name, model, 'each model priced as {"input": number ≥ 0, "output": number ≥ 0} (USD per 1M tokens)');
      continue;
    }
    prices[model] = { input, output };
  }
  if (entries.length === 0) env.fail(name, json.slice(0, 80), 'a non-empty JSON object of model prices');
  return prices;
}

export function parseCostEnv(env: EnvReader): CostConfig {
  const file = env.raw('LLM_PRICES_FILE');
  let fileJson: string | undefined;
  if (file) {
    try {
      fileJson = readFileSync(file, 'utf8');
    } catch {
      env.fail('LLM_PRICES_FILE', file, 'a readable JSON file of model prices');
    }
  }
  return {
    budgetLimitUsd: env.decimal('LLM_BUDGET_LIMIT_USD', 0, 'USD per calendar month'),
    // Later sources win: built-in defaults, then the file, then the inline variable.
    prices: { ...DEFAULT_PRICES, ...parsePrices(env, 'LLM_PRICES_FILE', fileJson), ...parsePrices(env, 'LLM_PRICES', env.raw('LLM_PRICES')) },
  };
}

export const costConfig = registerAs('cost', () => parseOrThrow(process.env, parseCostEnv));
