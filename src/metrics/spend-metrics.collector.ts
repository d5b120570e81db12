import { Inject, Injectable } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { Registry } from 'prom-client';
import { costConfig } from '../cost/cost.config';
import { SpendTracker } from '../cost/spend-tracker';
import { scrapedCounter, scrapedGauge, type Sample } from './scraped-metric';

type SpendLine = ReturnType<SpendTracker['snapshot']>['byModel'][number];

/**
 * This month's spend, read from SpendTracker at scrape time (it resets each UTC
 * month, which Prometheus sees as a counter reset). `model` is the price-table
 * entry a model was priced by, so its values are bounded by configuration
 * (the built-in table, LLM_PRICES, LLM_PRICES_FILE) whatever model names callers send.
 */
@Injectable()
export class SpendMetricsCollector {
  constructor(
    registry: Registry,
    private readonly spend: SpendTracker,
    @Inject(costConfig.KEY) private readonly config: ConfigType<typeof costConfig>,
  ) {
    scrapedCounter(registry, {
      name: 'llm_budget_spend_usd_total',
      help: 'USD spent this month (UTC) per upstream and price-table model; "unpriced" for models without a price (counted at $0).',
      labelNames: ['upstream', 'model'],
      read: () => this.sum((line) => [[{ upstream: line.upstream, model: this.pricedAs(line.model) }, line.costUsd]]),
    });
    scrapedCounter(registry, {
      name: 'llm_budget_tokens_total',
      help: 'Tokens used this month (UTC) per upstream, by type (prompt, completion).',
      labelNames: ['upstream', 'type'],
      read: () =>
        this.sum((line) => [
          [{ upstream: line.upstream, type: 'prompt' }, line.promptTokens],
          [{ upstream: line.upstream, type: 'completion' }, line.completionTokens],
        ]),
    });
    const limit = config.budgetLimitUsd;
    // Only when a limit is set: a 0 would read as "a budget of nothing".
    if (limit !== undefined) {
      scrapedGauge(registry, { name: 'llm_budget_limit_usd', help: 'Monthly budget (LLM_BUDGET_LIMIT_USD).', labelNames: [], read: () => [[{}, limit]] });
    }
  }

  /** Several spend lines (models) may share one label set: their values add up. */
  private sum<L extends string>(samples: (line: SpendLine) => Sample<L>[]): Sample<L>[] {
    const byLabels = new Map<string, Sample<L>>();
    for (const line of this.spend.snapshot().byModel) {
      for (const [labels, value] of samples(line)) {
        const key = JSON.stringify(labels);
        const sample = byLabels.get(key);
        if (sample) sample[1] += value;
        else byLabels.set(key, [labels, value]);
      }
    }
    return [...byLabels.values()];
  }

  /** The price-table entry a model is priced by (exact name, else longest prefix, as priceOf), or "unpriced". */
  private pricedAs(model: string): string {
    const prices = this.config.prices;
    if (prices[model]) return model;
    let best: string | undefined;
    for (const key of Object.keys(prices)) if (model.startsWith(key) && (!best || key.length > best.length)) best = key;
    return best ?? 'unpriced';
  }
}
