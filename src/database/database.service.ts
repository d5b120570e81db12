/**
 * The one PostgreSQL pool of the process (node-postgres `Pool`), when DATABASE_URL is set.
 *
 * Usage from a feature store:
 *   constructor(private readonly db: DatabaseService) { db.addSetupStep({ name: 'x', run: (c) => ... }); }
 *   await this.db.query<Row>('SELECT ...', [a, b]);               // one statement
 *   await this.db.transaction(async (client) => { ... });        // BEGIN ... COMMIT, ROLLBACK on throw
 * Both throw 503 DATABASE_UNAVAILABLE while the database is unreachable or not migrated yet, so a
 * caller never waits past DATABASE_CONNECT_TIMEOUT_MS / DATABASE_STATEMENT_TIMEOUT_MS.
 *
 * Boot: migrations (src/database/migrations) and the registered setup steps run in onModuleInit
 * under an advisory lock. If the database cannot be reached the service still starts (chat is
 * served), readiness reports `database` down with the reason, and the migrations are retried in
 * the background until they succeed. The pool reconnects by itself per query.
 */
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { Pool, type PoolClient, type QueryResult, type QueryResultRow } from 'pg';
import { databaseConfig, redactDatabaseUrl, type DatabaseConfig } from './database.config';
import { asDatabaseError, databaseUnavailable } from './database.errors';
import { MIGRATIONS } from './migrations';
import { runMigrations, type SetupStep } from './migrator';

export interface DatabasePoolSnapshot {
  /** DATABASE_POOL_MAX */
  max: number;
  /** Connections open now, busy or idle. */
  total: number;
  idle: number;
  /** Queries waiting for a connection (the pool is at max). */
  waiting: number;
}

export interface DatabaseSnapshot {
  enabled: boolean;
  /** Reached and migrated: requests can use it. */
  ready: boolean;
  /** Why it is not ready (the last connection or migration error). */
  reason?: string;
  pool: DatabasePoolSnapshot;
}

const RETRY_FIRST_MS = 1_000;
const RETRY_MAX_MS = 30_000;
// Two replicas booting together: the second waits this long for the first's migrations before retrying in the background.
const BOOT_LOCK_WAIT_MS = 60_000;

@Injectable()
export class DatabaseService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger('Database');
  private readonly pool?: Pool;
  private readonly steps: SetupStep[] = [];
  private ready = false;
  private reason?: string = 'not migrated yet';
  private retryTimer?: NodeJS.Timeout;
  private retryDelayMs = RETRY_FIRST_MS;
  private closed = false;
  private readonly readyWaiters: (() => void)[] = [];

  constructor(@Inject(databaseConfig.KEY) private readonly config: DatabaseConfig) {
    if (!config.url) return;
    this.pool = new Pool({
      connectionString: config.url,
      max: config.poolMax,
      connectionTimeoutMillis: config.connectTimeoutMs,
      // Server side: PostgreSQL cancels a statement past this. Client side, a second later: covers a
      // server that stopped answering at all (a black-holed connection never reports its timeout).
      statement_timeout: config.statementTimeoutMs,
      query_timeout: config.statementTimeoutMs + 1_000,
      // A process that dies inside a transaction must not hold row locks for long.
      idle_in_transaction_session_timeout: config.statementTimeoutMs * 2,
      keepAlive: true,
      idleTimeoutMillis: 30_000,
      application_name: 'llm-service',
    });
    // An idle connection dropped by the server (restart, failover) emits here; unhandled it would crash the process.
    this.pool.on('error', (error) => this.logger.warn(`an idle database connection closed: ${error.message}`));
  }

  get enabled(): boolean {
    return this.pool !== undefined;
  }

  get isReady(): boolean {
    return this.ready;
  }

  /** Idempotent work run after the migrations at every boot (and every background retry), under the migration lock. Register from a constructor. */
  addSetupStep(step: SetupStep): void {
    this.steps.push(step);
  }

  /** Resolves once migrations and setup steps have succeeded (at once if they have). */
  whenReady(): Promise<void> {
    return this.ready ? Promise.resolve() : new Promise((resolve) => this.readyWaiters.push(resolve));
  }

  async onModuleInit(): Promise<void> {
    if (this.pool) await this.prepare();
  }

  async onApplicationShutdown(): Promise<void> {
    this.closed = true;
    clearTimeout(this.retryTimer);
    await this.pool?.end();
  }

  snapshot(): DatabaseSnapshot {
    return {
      enabled: this.enabled,
      ready: this.ready,
      ...(this.enabled && !this.ready && { reason: this.reason }),
      pool: { max: this.enabled ? this.config.poolMax : 0, total: this.pool?.totalCount ?? 0, idle: this.pool?.idleCount ?? 0, waiting: this.pool?.waitingCount ?? 0 },
    };
  }

  /** One statement on a pooled connection. */
  async query<R extends QueryResultRow = QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>> {
    const pool = this.usablePool();
    try {
      return await pool.query<R>(text, values);
    } catch (error) {
      throw asDatabaseError(error);
    }
  }

  /** `work` inside BEGIN ... COMMIT on one connection; any throw rolls back. Committed = durable = acknowledged. */
  async transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    const pool = this.usablePool();
    let client: PoolClient;
    try {
      client = await pool.connect();
    } catch (error) {
      throw asDatabaseError(error);
    }
    let broken: unknown;
    try {
      await client.query('BEGIN');
      const result = await work(client);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: unknown) => (broken = rollbackError));
      throw asDatabaseError(error);
    } finally {
      // A connection whose rollback failed is in an unknown state: closed, not reused.
      client.release(broken instanceof Error ? broken : undefined);
    }
  }

  /** Round trip for readiness: the reason when the database does not answer. */
  async ping(): Promise<string | undefined> {
    if (!this.ready) return this.reason;
    try {
      await this.pool!.query('SELECT 1');
      return undefined;
    } catch (error) {
      return (error as Error).message;
    }
  }

  private usablePool(): Pool {
    if (!this.pool) throw new Error('DatabaseService used without DATABASE_URL');
    if (!this.ready) throw databaseUnavailable(`not ready (${this.reason})`);
    return this.pool;
  }

  /** Migrations and setup steps; on failure, says why once and retries in the background with backoff. */
  private async prepare(): Promise<void> {
    try {
      const report = await runMigrations(this.pool!, MIGRATIONS, this.steps, { lockWaitMs: BOOT_LOCK_WAIT_MS });
      if (report.applied.length > 0) this.logger.log(`applied migrations: ${report.applied.join(', ')}`);
      for (const label of report.changed) this.logger.warn(`migration ${label} has changed since it was applied; it is not run again`);
      this.ready = true;
      this.reason = undefined;
      this.retryDelayMs = RETRY_FIRST_MS;
      this.logger.log(`PostgreSQL ready (${redactDatabaseUrl(this.config.url!)}, pool max ${this.config.poolMax})`);
      this.readyWaiters.splice(0).forEach((resolve) => resolve());
    } catch (error) {
      if (this.closed) return;
      this.reason = (error as Error).message || String(error);
      this.logger.error(
        `DATABASE_URL (${redactDatabaseUrl(this.config.url!)}) is not usable: ${this.reason}; ` +
          `documents and search answer 503 DATABASE_UNAVAILABLE, chat is served; retrying in ${this.retryDelayMs / 1000} s`,
      );
      this.retryTimer = setTimeout(() => void this.prepare(), this.retryDelayMs);
      this.retryTimer.unref();
      this.retryDelayMs = Math.min(RETRY_MAX_MS, this.retryDelayMs * 2);
    }
  }
}
