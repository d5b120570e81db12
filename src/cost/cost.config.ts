import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { registerAs } from '@nestjs/config';
import { EnvReader, parseOrThrow } from '../config/env-reader';
import { DEFAULT_PRICES, type ModelPrice } from './price-table';

export interface CostConfig {
  /** USD per calendar month (UTC); undefined = no limit. */
  budgetLimitUsd?: number;
  prices: Record<string, ModelPrice>;
  /** Completion tokens reserved for a call that sets no max_tokens (its worst case must be bounded to be reserved). */
  reserveMaxTokens: number;
  /** A reservation not settled within this long (its process died) stops counting against the budget. */
  reservationTtlMs: number;
  /** The embedded spend ledger (no DATABASE_URL): an append-only file; undefined = memory only. */
  ledgerFile?: string;
  /** Distinct upstream/model spend lines kept by name per month; later models are summed in "(other)". */
  maxModels: number;
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
  // Beside the search index by default, so one data volume keeps both; "off" keeps spend in memory only.
  const ledgerFile = env.string('LLM_LEDGER_FILE', join(resolve(env.string('SEARCH_DATA_DIR', './var/search')), 'llm-spend.jsonl'));
  return {
    budgetLimitUsd: env.decimal('LLM_BUDGET_LIMIT_USD', 0, 'USD per calendar month'),
    reserveMaxTokens: env.int('LLM_BUDGET_RESERVE_MAX_TOKENS', 4_096, 1, 10_000_000, 'completion tokens reserved when a call sets no max_tokens'),
    // Longer than any call may run (the SDKs allow 10 minutes), so only a dead process's reservations expire.
    reservationTtlMs: env.int('LLM_BUDGET_RESERVATION_TTL_MS', 900_000, 1_000, 86_400_000, 'ms'),
    ledgerFile: ledgerFile.toLowerCase() === 'off' ? undefined : resolve(ledgerFile),
    maxModels: env.int('LLM_SPEND_MAX_MODELS', 100, 1, 10_000, 'upstream/model lines per month'),
    // Later sources win: built-in defaults, then the file, then the inline variable.
    prices: { ...DEFAULT_PRICES, ...parsePrices(env, 'LLM_PRICES_FILE', fileJson), ...parsePrices(env, 'LLM_PRICES', env.raw('LLM_PRICES')) },
  };
}

export const costConfig = registerAs('cost', () => parseOrThrow(process.env, parseCostEnv));
