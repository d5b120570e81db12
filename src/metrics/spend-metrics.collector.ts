import { Inject, Injectable } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { Counter, Gauge, Registry } from 'prom-client';
import { costConfig } from '../cost/cost.config';
import { SpendTracker } from '../cost/spend-tracker';

type SpendSnapshot = Awaited<ReturnType<SpendTracker['snapshot']>>;
type SpendLine = Extract<SpendSnapshot, { available: true }>['byModel'][number];

/**
 * This month's spend, read from SpendTracker at scrape time (the fleet's, with DATABASE_URL;
 * it resets each UTC month, which Prometheus sees as a counter reset). `model` is the price-table
 * entry a model was priced by, so its values are bounded by configuration (the built-in table,
 * LLM_PRICES, LLM_PRICES_FILE) whatever model names callers send; `caller` is a key's position.
 * One snapshot serves every metric of a scrape.
 */
@Injectable()
export class SpendMetricsCollector {
  private scrape?: { at: number; snapshot: Promise<SpendSnapshot> };

  constructor(
    registry: Registry,
    private readonly spend: SpendTracker,
    @Inject(costConfig.KEY) private readonly config: ConfigType<typeof costConfig>,
  ) {
    const read = () => this.read();
    new Counter({
      name: 'llm_budget_spend_usd_total',
      help: 'USD spent this month (UTC) per upstream and price-table model; "unpriced" for models without a price (counted at $0).',
      labelNames: ['upstream', 'model'],
      registers: [registry],
      async collect() {
        const lines = await read();
        this.reset();
        for (const line of lines) this.inc({ upstream: line.upstream, model: pricedAs(config.prices, line.model) }, line.costUsd);
      },
    });
    new Counter({
      name: 'llm_budget_tokens_total',
      help: 'Tokens used this month (UTC) per upstream, by type (prompt, completion).',
      labelNames: ['upstream', 'type'],
      registers: [registry],
      async collect() {
        const lines = await read();
        this.reset();
        for (const line of lines) {
          this.inc({ upstream: line.upstream, type: 'prompt' }, line.promptTokens);
          this.inc({ upstream: line.upstream, type: 'completion' }, line.completionTokens);
        }
      },
    });
    new Counter({
      name: 'llm_usage_estimated_total',
      help: 'Calls this month (UTC) whose upstream sent missing or malformed token usage, charged by estimate.',
      labelNames: ['upstream'],
      registers: [registry],
      async collect() {
        const lines = await read();
        this.reset();
        for (const line of lines) this.inc({ upstream: line.upstream }, line.estimatedUsage);
      },
    });
    const limit = config.budgetLimitUsd;
    // Only when a limit is set: a 0 would read as "a budget of nothing".
    if (limit !== undefined) {
      new Gauge({ name: 'llm_budget_limit_usd', help: 'Monthly budget (LLM_BUDGET_LIMIT_USD).', registers: [registry], collect() { this.set(limit); } });
      const snapshot = () => this.snapshot();
      new Gauge({
        name: 'llm_budget_reserved_usd',
        help: 'USD held by calls in flight (reserve-then-settle), fleet-wide with DATABASE_URL.',
        registers: [registry],
        async collect() {
          const current = await snapshot();
          if (current.available) this.set(current.reservedUsd);
        },
      });
    }
  }

  /** The lines of one snapshot, shared by the metrics of one scrape (they collect within milliseconds). */
  private async read(): Promise<SpendLine[]> {
    const current = await this.snapshot();
    return current.available ? current.byModel : [];
  }

  private snapshot(): Promise<SpendSnapshot> {
    const now = Date.now();
    if (!this.scrape || now - this.scrape.at > 250) this.scrape = { at: now, snapshot: this.spend.snapshot() };
    return this.scrape.snapshot;
  }
}

/** The price-table entry a model is priced by (exact name, else longest prefix, as priceOf), or "unpriced". */
function pricedAs(prices: Record<string, unknown>, model: string): string {
  if (prices[model]) return model;
  let best: string | undefined;
  for (const key of Object.keys(prices)) if (model.startsWith(key) && (!best || key.length > best.length)) best = key;
  return best ?? 'unpriced';
}
