import { Inject, Injectable, Logger } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { LlmErrorCode, LlmException } from '../common/llm.exception';
import { costConfig } from './cost.config';
import { priceOf } from './price-table';

export interface TokenUsage {
  prompt_tokens: number;
  completion_tokens?: number;
}

interface SpendLine {
  upstream: string;
  model: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  costUsd: number;
  /** Tokens of a model with no price: spent, but not in costUsd. */
  unpriced: boolean;
}

/**
 * Turns token usage into USD and enforces the monthly budget (UTC calendar
 * month). Spend is kept per process: with several replicas, each enforces its own share.
 */
@Injectable()
export class SpendTracker {
  private readonly logger = new Logger('Spend');
  private month = monthOf(new Date());
  private lines = new Map<string, SpendLine>();
  private readonly warnedUnpriced = new Set<string>();

  constructor(@Inject(costConfig.KEY) private readonly config: ConfigType<typeof costConfig>) {}

  costOf(_upstream: string, model: string, usage: TokenUsage): number {
    const price = priceOf(this.config.prices, model);
    if (!price) return 0;
    return (usage.prompt_tokens * price.input + (usage.completion_tokens ?? 0) * price.output) / 1_000_000;
  }

  /** Throws 429 BUDGET_EXCEEDED once this month's spend has reached LLM_BUDGET_LIMIT_USD. */
  assertWithinBudget(): void {
    const limit = this.config.budgetLimitUsd;
    if (limit === undefined) return;
    const spent = this.monthToDate();
    if (spent < limit) return;
    const now = new Date();
    const nextMonth = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
    throw new LlmException(LlmErrorCode.BUDGET_EXCEEDED, `monthly LLM budget of $${limit} reached ($${spent.toFixed(4)} spent in ${this.month})`, {
      retryAfterSeconds: Math.ceil((nextMonth - now.getTime()) / 1000),
      details: { limitUsd: limit, spentUsd: round(spent), month: this.month },
    });
  }

  record(upstream: string, model: string, usage: TokenUsage): number {
    this.rollMonth();
    const key = `${upstream}\u0000${model}`;
    const line = this.lines.get(key) ?? { upstream, model, requests: 0, promptTokens: 0, completionTokens: 0, costUsd: 0, unpriced: false };
    const cost = this.costOf(upstream, model, usage);
    line.requests++;
    line.promptTokens += usage.prompt_tokens;
    line.completionTokens += usage.completion_tokens ?? 0;
    line.costUsd += cost;
    line.unpriced = !priceOf(this.config.prices, model);
    this.lines.set(key, line);
    if (line.unpriced && !this.warnedUnpriced.has(model)) {
      this.warnedUnpriced.add(model);
      this.logger.warn(`model "${model}" has no price: its tokens are counted but cost $0 (set LLM_PRICES or LLM_PRICES_FILE)`);
    }
    return cost;
  }

  snapshot() {
    this.rollMonth();
    return {
      month: this.month,
      totalUsd: round(this.monthToDate()),
      budgetLimitUsd: this.config.budgetLimitUsd ?? null,
      byModel: [...this.lines.values()].map((line) => ({ ...line, costUsd: round(line.costUsd) })),
    };
  }

  private monthToDate(): number {
    this.rollMonth();
    let total = 0;
    for (const line of this.lines.values()) total += line.costUsd;
    return total;
  }

  private rollMonth(): void {
    const month = monthOf(new Date());
    if (month === this.month) return;
    this.month = month;
    this.lines = new Map();
  }
}

function monthOf(date: Date): string {
  return date.toISOString().slice(0, 7);
}

function round(usd: number): number {
  return Math.round(usd * 1e6) / 1e6;
}
