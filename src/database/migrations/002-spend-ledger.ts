import type { Migration } from '../migrator';

/**
 * The fleet's LLM spend (src/cost/postgres-spend-store.ts): one row per month, upstream, model
 * and caller, added to by every settled call; and the budget reservations of calls in flight,
 * each with an expiry so that a process that dies mid-call stops holding budget.
 * USD as double precision: sums of sub-cent amounts, compared against a limit, never money moved.
 */
export const spendLedgerMigration: Migration = {
  version: 2,
  name: 'spend-ledger',
  sql: `
    CREATE TABLE llm_spend (
      month text NOT NULL,
      upstream text NOT NULL,
      model text NOT NULL,
      caller text NOT NULL,
      requests bigint NOT NULL DEFAULT 0,
      prompt_tokens bigint NOT NULL DEFAULT 0,
      completion_tokens bigint NOT NULL DEFAULT 0,
      estimated_usage bigint NOT NULL DEFAULT 0,
      cost_usd double precision NOT NULL DEFAULT 0,
      updated_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (month, upstream, model, caller)
    );
    CREATE TABLE llm_budget_reservations (
      id uuid PRIMARY KEY,
      month text NOT NULL,
      usd double precision NOT NULL CHECK (usd >= 0),
      expires_at timestamptz NOT NULL
    );
    CREATE INDEX llm_budget_reservations_month_idx ON llm_budget_reservations (month);
  `,
};
