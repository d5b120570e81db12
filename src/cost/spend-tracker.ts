import { Inject, Injectable, Logger } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { LlmErrorCode, LlmException } from '../common/llm.exception';
import { costConfig } from './cost.config';
import { priceOf } from './price-table';
import type { TokenUsage } from './token-usage';

/** Distinct upstream/model lines kept by name each month; later models add up in one "(other)" line per upstream. */
export const MAX_SPEND_LINES = 100;
/** Unpriced models warned about by name; a caller can send any number of model names, the log must not grow with them. */
const MAX_UNPRICED_WARNINGS = 20;
export const OTHER_MODELS = '(other)';

interface SpendLine {
  upstream: string;
  model: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  /** Calls whose usage was missing or malformed upstream and was estimated. */
  estimatedUsage: number;
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

  costOf(_upstream: string, model: string, usage: Pick<TokenUsage, 'prompt_tokens' | 'completion_tokens'>): number {
    const price = priceOf(this.config.prices, model);
    if (!price) return 0;
    const cost = (usage.prompt_tokens * price.input + usage.completion_tokens * price.output) / 1_000_000;
    // Counts are validated upstream of here (checkedUsage); this is the last line of defence for the budget.
    return Number.isFinite(cost) && cost > 0 ? cost : 0;
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

  /** Adds a call's usage (validated by checkedUsage) to this month's spend; `estimated` when the upstream's counts were not usable. */
  record(upstream: string, model: string, usage: TokenUsage, estimated = false): number {
    this.rollMonth();
    const cost = this.costOf(upstream, model, usage);
    const unpriced = !priceOf(this.config.prices, model);
    const line = this.lineFor(upstream, model);
    line.requests++;
    line.promptTokens += usage.prompt_tokens;
    line.completionTokens += usage.completion_tokens;
    if (estimated) line.estimatedUsage++;
    line.costUsd += cost;
    line.unpriced ||= unpriced;
    if (unpriced) this.warnUnpriced(model);
    return cost;
  }

  /** The model's own line, or its upstream's "(other)" line once MAX_SPEND_LINES models have been seen this month. */
  private lineFor(upstream: string, model: string): SpendLine {
    const key = `${upstream}\u0000${model}`;
    let line = this.lines.get(key);
    if (line) return line;
    // "(other)" lines may go past the cap: there is one per configured upstream at most.
    if (this.lines.size >= MAX_SPEND_LINES && model !== OTHER_MODELS) return this.lineFor(upstream, OTHER_MODELS);
    line = { upstream, model, requests: 0, promptTokens: 0, completionTokens: 0, estimatedUsage: 0, costUsd: 0, unpriced: false };
    this.lines.set(key, line);
    return line;
  }

  private warnUnpriced(model: string): void {
    if (this.warnedUnpriced.has(model) || this.warnedUnpriced.size > MAX_UNPRICED_WARNINGS) return;
    this.warnedUnpriced.add(model);
    if (this.warnedUnpriced.size > MAX_UNPRICED_WARNINGS) {
      this.logger.warn(`more than ${MAX_UNPRICED_WARNINGS} models have no price: further ones are not logged (see byModel in /v1/llm/stats)`);
      return;
    }
    // JSON.stringify escapes control characters: a model name is caller input and must not forge log lines.
    this.logger.warn(`model ${JSON.stringify(model)} has no price: its tokens are counted but cost $0 (set LLM_PRICES or LLM_PRICES_FILE)`);
  }

  snapshot() {
    this.rollMonth();
    return {
      month: this.month,
      totalUsd: round(this.monthToDate()),
      budgetLimitUsd: this.config.budgetLimitUsd ?? null,
      // Calls whose upstream sent no usable token counts, charged by estimate: a non-zero value is an upstream to look at.
      estimatedUsage: [...this.lines.values()].reduce((n, line) => n + line.estimatedUsage, 0),
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
