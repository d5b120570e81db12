import { randomUUID } from 'node:crypto';
import type { DatabaseService } from '../database/database.service';
import type { BudgetTotals, Reservation, ReserveResult, SpendRow, SpendStore } from './spend-store';

// Every replica takes this transaction-scoped advisory lock to reserve, so check-and-hold is one
// step fleet-wide. It is held for three short statements; settling needs no lock.
const BUDGET_LOCK_KEY = 727_071_002;

const TOTALS_SQL = `
  SELECT (SELECT coalesce(sum(cost_usd), 0) FROM llm_spend WHERE month = $1) AS spent,
         (SELECT coalesce(sum(usd), 0) FROM llm_budget_reservations WHERE month = $1 AND expires_at > now()) AS reserved,
         (SELECT count(*) FROM llm_budget_reservations WHERE month = $1 AND expires_at > now()) AS reservations`;

interface TotalsRow {
  spent: number;
  reserved: number;
  reservations: string;
}

/**
 * The fleet's spend in PostgreSQL (DATABASE_URL): `llm_spend` rows per (month, upstream, model,
 * caller) and `llm_budget_reservations` for calls in flight (migration 002). Settling a call
 * deletes its reservation and adds its row in one transaction, so at any instant the budget
 * sees the call either as reserved or as spent, never both and never neither.
 */
export class PostgresSpendStore implements SpendStore {
  readonly kind = 'postgres' as const;

  constructor(private readonly db: DatabaseService) {}

  async reserve(month: string, usd: number, limitUsd: number, ttlMs: number): Promise<ReserveResult> {
    return this.db.transaction(async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [BUDGET_LOCK_KEY]);
      // Calls whose process died never settle: their hold ends at expires_at.
      await client.query('DELETE FROM llm_budget_reservations WHERE expires_at <= now()');
      const { rows } = await client.query<TotalsRow>(TOTALS_SQL, [month]);
      const spentUsd = Number(rows[0].spent);
      const reservedUsd = Number(rows[0].reserved);
      if (spentUsd + reservedUsd + usd > limitUsd || spentUsd + reservedUsd >= limitUsd) return { refused: { spentUsd, reservedUsd } };
      const id = randomUUID();
      await client.query(`INSERT INTO llm_budget_reservations (id, month, usd, expires_at) VALUES ($1, $2, $3, now() + $4 * interval '1 millisecond')`, [
        id,
        month,
        usd,
        ttlMs,
      ]);
      return { reservation: { id, month, usd } };
    });
  }

  async settle(row: SpendRow, reservation?: Reservation): Promise<void> {
    await this.db.transaction(async (client) => {
      if (reservation) await client.query('DELETE FROM llm_budget_reservations WHERE id = $1', [reservation.id]);
      await client.query(
        `INSERT INTO llm_spend (month, upstream, model, caller, requests, prompt_tokens, completion_tokens, estimated_usage, cost_usd)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (month, upstream, model, caller) DO UPDATE SET
           requests = llm_spend.requests + EXCLUDED.requests,
           prompt_tokens = llm_spend.prompt_tokens + EXCLUDED.prompt_tokens,
           completion_tokens = llm_spend.completion_tokens + EXCLUDED.completion_tokens,
           estimated_usage = llm_spend.estimated_usage + EXCLUDED.estimated_usage,
           cost_usd = llm_spend.cost_usd + EXCLUDED.cost_usd,
           updated_at = now()`,
        [row.month, row.upstream, row.model, row.caller, row.requests, row.promptTokens, row.completionTokens, row.estimatedUsage, row.costUsd],
      );
    });
  }

  async release(reservation: Reservation): Promise<void> {
    await this.db.query('DELETE FROM llm_budget_reservations WHERE id = $1', [reservation.id]);
  }

  async rows(month: string): Promise<SpendRow[]> {
    const { rows } = await this.db.query<Record<string, string | number>>(
      `SELECT upstream, model, caller, requests, prompt_tokens, completion_tokens, estimated_usage, cost_usd FROM llm_spend WHERE month = $1`,
      [month],
    );
    return rows.map((row) => ({
      month,
      upstream: String(row.upstream),
      model: String(row.model),
      caller: String(row.caller),
      // bigint columns arrive as strings (node-postgres keeps 64-bit precision); these counts fit a double.
      requests: Number(row.requests),
      promptTokens: Number(row.prompt_tokens),
      completionTokens: Number(row.completion_tokens),
      estimatedUsage: Number(row.estimated_usage),
      costUsd: Number(row.cost_usd),
    }));
  }

  async totals(month: string): Promise<BudgetTotals> {
    const { rows } = await this.db.query<TotalsRow>(TOTALS_SQL, [month]);
    return { spentUsd: Number(rows[0].spent), reservedUsd: Number(rows[0].reserved), reservations: Number(rows[0].reservations) };
  }
}
