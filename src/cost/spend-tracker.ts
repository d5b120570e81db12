import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { ConfigType } from '@nestjs/config';
import { LlmErrorCode, LlmException } from '../common/llm.exception';
import { logSafe } from '../common/log-safe';
import type { RequestExchange } from '../observability/request-exchange';
import { costConfig } from './cost.config';
import { priceOf } from './price-table';
import { SPEND_STORE, type Reservation, type SpendRow, type SpendStore } from './spend-store';
import type { TokenUsage } from './token-usage';

/** Unpriced models warned about by name; a caller can send any number of model names, the log must not grow with them. */
const MAX_UNPRICED_WARNINGS = 20;
export const OTHER_MODELS = '(other)';
// Settlements the store refused (database down) wait here and are retried; past this many the oldest are dropped, loudly.
const MAX_PENDING_SETTLES = 10_000;
const SETTLE_RETRY_MS = 2_000;

interface CallRoute {
  upstream: string;
  model: string;
  /** Who pays: the request's caller (`key-1`, `admin`), `anonymous` when no key identified it or no request made the call. */
  caller: string;
}

/** A call's worst case, held against the budget until the call settles. Settle or release it exactly once. */
export interface BudgetHold {
  /** Charges what the call actually used and ends the hold. Never throws: the call has been served. */
  settle(usage: TokenUsage, estimated: boolean): Promise<number>;
  /** Ends the hold of a call that cost nothing (it failed before the upstream answered). */
  release(): Promise<void>;
}

interface PendingSettle {
  row: SpendRow;
  reservation?: Reservation;
}

/**
 * Turns token usage into USD and enforces the monthly budget (UTC calendar month) with
 * reserve-then-settle: a call starts only if its worst case fits under LLM_BUDGET_LIMIT_USD
 * together with what is spent and what calls in flight hold, and it is charged its actual cost
 * when it ends. The store decides the scope: this process and its file (embedded), or the
 * whole fleet (PostgreSQL).
 */
@Injectable()
export class SpendTracker implements OnApplicationShutdown {
  private readonly logger = new Logger('Spend');
  private readonly warnedUnpriced = new Set<string>();
  private month = monthOf(new Date());
  /** The current month's bounds (ms, UTC): every call asks for the month, and a Date + toISOString per call showed in profiles. */
  private monthStartsAt = monthStart(Date.now(), 0);
  private monthEndsAt = monthStart(Date.now(), 1);
  /** Upstream/model names kept as their own ledger lines this month (LLM_SPEND_MAX_MODELS), in this process. */
  private namedModels = new Set<string>();
  private readonly pending: PendingSettle[] = [];
  private droppedSettles = 0;
  private retryTimer?: NodeJS.Timeout;

  constructor(
    @Inject(costConfig.KEY) private readonly config: ConfigType<typeof costConfig>,
    @Inject(SPEND_STORE) private readonly store: SpendStore,
  ) {}

  onApplicationShutdown(): void {
    clearTimeout(this.retryTimer);
    if (this.pending.length > 0) this.logger.error(`${this.pending.length} settled call(s) could not be written to the spend ledger before shutdown`);
  }

  costOf(_upstream: string, model: string, usage: Pick<TokenUsage, 'prompt_tokens' | 'completion_tokens'>): number {
    const price = priceOf(this.config.prices, model);
    if (!price) return 0;
    const cost = (usage.prompt_tokens * price.input + usage.completion_tokens * price.output) / 1_000_000;
    // Counts are validated before they get here (checkedUsage); this is the budget's last line of defence.
    return Number.isFinite(cost) && cost > 0 ? cost : 0;
  }

  /**
   * Holds the call's worst case (prompt estimate + its max tokens, or LLM_BUDGET_RESERVE_MAX_TOKENS,
   * at the model's prices) against the budget, or throws 429 BUDGET_EXCEEDED when it does not fit.
   * Without a limit nothing is held. A store that cannot be reached refuses the call (503): a budget
   * that cannot be checked is not enforced, and chat without a budget goes on. The spend is booked to the
   * request's caller; its `exchange` is told the route and, once the call settles, its tokens and cost.
   */
  async reserve(
    call: { upstream: string; model: string },
    worstCase: { promptTokens: number; maxCompletionTokens?: number },
    exchange?: RequestExchange,
  ): Promise<BudgetHold> {
    const route: CallRoute = { ...call, caller: exchange?.caller ?? 'anonymous' };
    // The request's access log line names the route even when the budget refuses the call.
    exchange?.routed(route.upstream, route.model);
    const limit = this.config.budgetLimitUsd;
    if (limit === undefined) return this.hold(route, undefined, exchange);
    const month = this.currentMonth();
    const usd = this.costOf(route.upstream, route.model, {
      prompt_tokens: worstCase.promptTokens,
      completion_tokens: worstCase.maxCompletionTokens ?? this.config.reserveMaxTokens,
    });
    const result = await this.store.reserve(month, usd, limit, this.config.reservationTtlMs);
    if ('refused' in result) {
      const { spentUsd, reservedUsd } = result.refused;
      const now = new Date();
      const nextMonth = Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1);
      const held = reservedUsd > 0 ? ` and $${reservedUsd.toFixed(4)} held by calls in flight` : '';
      throw new LlmException(
        LlmErrorCode.BUDGET_EXCEEDED,
        `monthly LLM budget of $${limit} reached: $${spentUsd.toFixed(4)} spent in ${month}${held}; this call may cost up to $${usd.toFixed(4)}`,
        {
          retryAfterSeconds: Math.ceil((nextMonth - now.getTime()) / 1000),
          details: { limitUsd: limit, spentUsd: round(spentUsd), reservedUsd: round(reservedUsd), callWorstCaseUsd: round(usd), month },
        },
      );
    }
    return this.hold(route, result.reservation, exchange);
  }

  async snapshot() {
    const month = this.currentMonth();
    const base = { month, store: this.store.kind, budgetLimitUsd: this.config.budgetLimitUsd ?? null };
    let rows: SpendRow[];
    let totals;
    try {
      [rows, totals] = await Promise.all([this.store.rows(month), this.store.totals(month)]);
    } catch (error) {
      // Stats stay up when the ledger is not: the pools' numbers are still worth reading.
      return { ...base, available: false as const, reason: (error as Error).message, byModel: [], byCaller: [] };
    }
    return {
      ...base,
      available: true as const,
      totalUsd: round(totals.spentUsd),
      reservedUsd: round(totals.reservedUsd),
      reservations: totals.reservations,
      // Calls whose upstream sent no usable token counts, charged by estimate: a non-zero value is an upstream to look at.
      estimatedUsage: rows.reduce((n, row) => n + row.estimatedUsage, 0),
      pendingSettles: this.pending.length,
      byModel: this.byModel(rows),
      byCaller: sumBy(rows, (row) => row.caller).map(({ key, sum }) => ({ caller: key, ...sum, costUsd: round(sum.costUsd) })),
    };
  }

  private hold(route: CallRoute, reservation: Reservation | undefined, exchange: RequestExchange | undefined): BudgetHold {
    let done = false;
    return {
      settle: async (usage, estimated) => {
        if (done) return 0;
        done = true;
        const cost = await this.settle(route, usage, estimated, reservation);
        exchange?.charged(usage.prompt_tokens, usage.completion_tokens, cost);
        return cost;
      },
      release: async () => {
        if (done) return;
        done = true;
        if (reservation) await this.store.release(reservation).catch(() => undefined); // it expires anyway
      },
    };
  }

  private async settle(route: CallRoute, usage: TokenUsage, estimated: boolean, reservation?: Reservation): Promise<number> {
    const month = this.currentMonth();
    const cost = this.costOf(route.upstream, route.model, usage);
    if (!priceOf(this.config.prices, route.model)) this.warnUnpriced(route.model);
    const row: SpendRow = {
      month,
      upstream: route.upstream,
      model: this.ledgerModel(route.upstream, route.model),
      caller: route.caller,
      requests: 1,
      promptTokens: usage.prompt_tokens,
      completionTokens: usage.completion_tokens,
      estimatedUsage: estimated ? 1 : 0,
      costUsd: cost,
    };
    try {
      await this.store.settle(row, reservation);
    } catch (error) {
      this.logger.error(`spend of a finished call could not be recorded (${(error as Error).message}); retrying every ${SETTLE_RETRY_MS / 1000} s`);
      this.queue({ row, reservation });
    }
    return cost;
  }

  private queue(settle: PendingSettle): void {
    if (this.pending.length >= MAX_PENDING_SETTLES) {
      this.pending.shift();
      if (this.droppedSettles++ % 1_000 === 0) this.logger.error(`spend ledger unreachable: ${this.droppedSettles} settled call(s) dropped unrecorded`);
    }
    this.pending.push(settle);
    if (!this.retryTimer) {
      this.retryTimer = setTimeout(() => void this.retryPending(), SETTLE_RETRY_MS);
      this.retryTimer.unref();
    }
  }

  private async retryPending(): Promise<void> {
    this.retryTimer = undefined;
    while (this.pending.length > 0) {
      const next = this.pending[0];
      try {
        await this.store.settle(next.row, next.reservation);
      } catch {
        this.retryTimer = setTimeout(() => void this.retryPending(), SETTLE_RETRY_MS);
        this.retryTimer.unref();
        return;
      }
      this.pending.shift();
    }
  }

  /** The model's own name, or "(other)" once LLM_SPEND_MAX_MODELS names have their own line this month: model names are caller input. */
  private ledgerModel(upstream: string, model: string): string {
    const key = `${upstream}\u0000${model}`;
    if (this.namedModels.has(key)) return model;
    if (this.namedModels.size >= this.config.maxModels) return OTHER_MODELS;
    this.namedModels.add(key);
    return model;
  }

  /** The month's lines per upstream/model: the LLM_SPEND_MAX_MODELS costliest by name, the rest summed as "(other)" per upstream. */
  private byModel(rows: SpendRow[]) {
    const lines = sumBy(rows, (row) => `${row.upstream}\u0000${row.model}`).map(({ key, sum }) => {
      const [upstream, model] = key.split('\u0000');
      return { upstream, model, ...sum };
    });
    lines.sort((a, b) => b.costUsd - a.costUsd || b.requests - a.requests);
    const kept = lines.filter((line) => line.model !== OTHER_MODELS).slice(0, this.config.maxModels);
    const keptSet = new Set(kept);
    const others = new Map<string, (typeof lines)[number]>();
    for (const line of lines) {
      if (keptSet.has(line)) continue;
      const other = others.get(line.upstream) ?? { upstream: line.upstream, model: OTHER_MODELS, requests: 0, promptTokens: 0, completionTokens: 0, estimatedUsage: 0, costUsd: 0 };
      addInto(other, line);
      others.set(line.upstream, other);
    }
    return [...kept, ...others.values()].map((line) => ({
      ...line,
      costUsd: round(line.costUsd),
      unpriced: line.model !== OTHER_MODELS && !priceOf(this.config.prices, line.model),
    }));
  }

  private warnUnpriced(model: string): void {
    if (this.warnedUnpriced.has(model) || this.warnedUnpriced.size > MAX_UNPRICED_WARNINGS) return;
    this.warnedUnpriced.add(model);
    if (this.warnedUnpriced.size > MAX_UNPRICED_WARNINGS) {
      this.logger.warn(`more than ${MAX_UNPRICED_WARNINGS} models have no price: further ones are not logged (see byModel in /v1/llm/stats)`);
      return;
    }
    // A model name is caller input: escaped, so a CRLF in it cannot forge a log line.
    this.logger.warn(`model "${logSafe(model)}" has no price: its tokens are counted but cost $0 (set LLM_PRICES or LLM_PRICES_FILE)`);
  }

  private currentMonth(): string {
    const now = Date.now();
    if (now >= this.monthStartsAt && now < this.monthEndsAt) return this.month;
    this.monthStartsAt = monthStart(now, 0);
    this.monthEndsAt = monthStart(now, 1);
    const month = monthOf(new Date(now));
    if (month !== this.month) {
      this.month = month;
      this.namedModels = new Set();
    }
    return month;
  }
}

type Amounts = Pick<SpendRow, 'requests' | 'promptTokens' | 'completionTokens' | 'estimatedUsage' | 'costUsd'>;

function addInto(sum: Amounts, row: Amounts): void {
  sum.requests += row.requests;
  sum.promptTokens += row.promptTokens;
  sum.completionTokens += row.completionTokens;
  sum.estimatedUsage += row.estimatedUsage;
  sum.costUsd += row.costUsd;
}

function sumBy(rows: SpendRow[], keyOf: (row: SpendRow) => string): { key: string; sum: Amounts }[] {
  const sums = new Map<string, Amounts>();
  for (const row of rows) {
    const key = keyOf(row);
    const sum = sums.get(key) ?? { requests: 0, promptTokens: 0, completionTokens: 0, estimatedUsage: 0, costUsd: 0 };
    addInto(sum, row);
    sums.set(key, sum);
  }
  return [...sums].map(([key, sum]) => ({ key, sum }));
}

/** The first millisecond (UTC) of the month `offset` months after the one `now` falls in. */
function monthStart(now: number, offset: number): number {
  const date = new Date(now);
  return Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + offset, 1);
}

function monthOf(date: Date): string {
  return date.toISOString().slice(0, 7);
}

function round(usd: number): number {
  return Math.round(usd * 1e6) / 1e6;
}
