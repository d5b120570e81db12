/**
 * `npm run db:migrate`: applies the pending migrations to DATABASE_URL and exits
 * (0 done, 1 failed), e.g. as a deploy step before the new replicas start.
 * The service does the same at boot, so this is optional. Setup steps (pgvector) run at boot.
 */
import { Pool } from 'pg';
import { ConfigValidationError, parseOrThrow } from '../config/env-reader';
import { parseDatabaseEnv, redactDatabaseUrl } from './database.config';
import { MIGRATIONS } from './migrations';
import { runMigrations } from './migrator';

async function main(): Promise<void> {
  if (process.env.DATABASE_URL === undefined && (await import('node:fs')).existsSync('.env')) process.loadEnvFile('.env');
  const config = parseOrThrow(process.env, parseDatabaseEnv);
  if (!config.url) throw new ConfigValidationError(['DATABASE_URL is not set: expected a postgres:// URL to migrate']);
  const pool = new Pool({ connectionString: config.url, max: 1, connectionTimeoutMillis: config.connectTimeoutMs });
  try {
    const report = await runMigrations(pool, MIGRATIONS, [], { lockWaitMs: 300_000 });
    for (const label of report.changed) process.stderr.write(`warning: migration ${label} has changed since it was applied\n`);
    process.stdout.write(
      `${redactDatabaseUrl(config.url)}: ${report.applied.length > 0 ? `applied ${report.applied.join(', ')}` : 'up to date'} (${MIGRATIONS.length} migrations known)\n`,
    );
  } finally {
    await pool.end();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`db:migrate failed: ${error instanceof ConfigValidationError ? error.message : ((error as Error).message ?? String(error))}\n`);
  process.exit(1);
});
