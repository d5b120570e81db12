/** One ledger row: a month's spend by one caller on one upstream model. */
export interface SpendRow {
  /** UTC calendar month, `2026-12`. */
  month: string;
  upstream: string;
  model: string;
  /** Position or role of the caller's key (`key-1`, `admin`), `anonymous` without keys: never the key. */
  caller: string;
  requests: number;
  promptTokens: number;
  completionTokens: number;
  /** Calls charged by estimate because the upstream's usage was missing or malformed. */
  estimatedUsage: number;
  costUsd: number;
}

/** USD held against the budget between a call's start and its settlement. */
export interface Reservation {
  id: string;
  month: string;
  usd: number;
}

export type ReserveResult = { reservation: Reservation } | { refused: { spentUsd: number; reservedUsd: number } };

export interface BudgetTotals {
  spentUsd: number;
  reservedUsd: number;
  /** Reservations held now (calls in flight across the fleet, for the shared store). */
  reservations: number;
}

/**
 * Where spend is kept: in this process and a file (EmbeddedSpendStore), or in PostgreSQL for the
 * whole fleet (PostgresSpendStore). Both give the same guarantee: a reservation is granted only if
 * spent + reserved + usd ≤ limit at that instant, checked and taken atomically.
 */
export interface SpendStore {
  readonly kind: 'embedded' | 'postgres';
  /** Takes `usd` from the month's budget if it fits under `limitUsd`; expired reservations are dropped first. */
  reserve(month: string, usd: number, limitUsd: number, ttlMs: number): Promise<ReserveResult>;
  /** Adds a finished call's row and drops its reservation, in one step. */
  settle(row: SpendRow, reservation?: Reservation): Promise<void>;
  /** Drops a reservation whose call cost nothing (it failed before the upstream answered). */
  release(reservation: Reservation): Promise<void>;
  /** The month's rows, every caller and model. */
  rows(month: string): Promise<SpendRow[]>;
  totals(month: string): Promise<BudgetTotals>;
}

export const SPEND_STORE = Symbol('SpendStore');

export function rowKey(row: Pick<SpendRow, 'month' | 'upstream' | 'model' | 'caller'>): string {
  return `${row.month}\u0000${row.upstream}\u0000${row.model}\u0000${row.caller}`;
}
