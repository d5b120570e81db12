/**
 * The minimal versioned migration runner: applies the MIGRATIONS not yet recorded in
 * `schema_migrations`, each in its own transaction, then the setup steps, all under one
 * advisory lock so replicas booting together take turns (the second finds nothing to do).
 * Used at boot by DatabaseService and alone by `npm run db:migrate` (src/database/migrate.ts).
 */
import { createHash } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';

export interface Migration {
  /** 1, 2, 3, ...: applied in this order, each exactly once per database. */
  version: number;
  name: string;
  /** One or more statements, run in one transaction. */
  sql: string;
}

/** Idempotent work re-run at every boot after the migrations, e.g. enabling an optional extension. */
export interface SetupStep {
  name: string;
  run(client: PoolClient): Promise<void>;
}

export interface MigrationReport {
  applied: string[];
  /** Recorded migrations whose text has changed since they ran: they are not run again. */
  changed: string[];
}

/** Arbitrary but fixed: every instance of this service must contend for the same key. */
export const MIGRATION_LOCK_KEY = 727_071_001;
const LOCK_POLL_MS = 200;

export const migrationLabel = (migration: Migration) => `${String(migration.version).padStart(3, '0')}_${migration.name}`;
const checksum = (sql: string) => createHash('sha256').update(sql).digest('hex');

export async function runMigrations(
  pool: Pool,
  migrations: readonly Migration[],
  steps: readonly SetupStep[] = [],
  options: { lockWaitMs: number } = { lockWaitMs: 60_000 },
): Promise<MigrationReport> {
  assertOrdered(migrations);
  const client = await pool.connect();
  try {
    // A migration may build an index over a large table: the per-statement timeout of requests does not apply.
    await client.query('SET statement_timeout = 0');
    await acquireLock(client, options.lockWaitMs);
    try {
      const report = await applyPending(client, migrations);
      for (const step of steps) {
        try {
          await step.run(client);
        } catch (error) {
          throw new Error(`setup step "${step.name}" failed: ${(error as Error).message}`, { cause: error });
        }
      }
      return report;
    } finally {
      // Closing the session below would release the lock too; unlocking first lets a waiting replica go at once.
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY]).catch(() => undefined);
    }
  } finally {
    // Its session settings were changed: a connection that served migrations is not handed to requests.
    client.release(true);
  }
}

function assertOrdered(migrations: readonly Migration[]): void {
  migrations.forEach((migration, i) => {
    if (migration.version !== i + 1) throw new Error(`migration ${migrationLabel(migration)} is at position ${i + 1}: versions must run 1, 2, 3, ...`);
  });
}

/** Waits for the lock without holding a statement open, so the wait is bounded and visible. */
async function acquireLock(client: PoolClient, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [MIGRATION_LOCK_KEY]);
    if (rows[0].locked) return;
    if (Date.now() > deadline) throw new Error(`another instance has held the migration lock for over ${waitMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, LOCK_POLL_MS));
  }
}

async function applyPending(client: PoolClient, migrations: readonly Migration[]): Promise<MigrationReport> {
  await client.query(`
    CREATE TABLE IF NOT EXISTS schema_migrations (
      version integer PRIMARY KEY,
      name text NOT NULL,
      checksum text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now()
    )`);
  const { rows } = await client.query<{ version: number; checksum: string }>('SELECT version, checksum FROM schema_migrations');
  const recorded = new Map(rows.map((row) => [row.version, row.checksum]));
  const report: MigrationReport = { applied: [], changed: [] };
  for (const migration of migrations) {
    const sum = checksum(migration.sql);
    if (recorded.has(migration.version)) {
      if (recorded.get(migration.version) !== sum) report.changed.push(migrationLabel(migration));
      continue;
    }
    try {
      await client.query('BEGIN');
      await client.query(migration.sql);
      await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [migration.version, migration.name, sum]);
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw new Error(`migration ${migrationLabel(migration)} failed: ${(error as Error).message}`, { cause: error });
    }
    report.applied.push(migrationLabel(migration));
  }
  return report;
}
