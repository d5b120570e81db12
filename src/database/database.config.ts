/**
 * DATABASE_* variables. `url` unset = no PostgreSQL: each feature keeps its embedded,
 * single-process store. Read it as `@Inject(databaseConfig.KEY) config: DatabaseConfig`.
 */
import { registerAs } from '@nestjs/config';
import { EnvReader, parseOrThrow } from '../config/env-reader';

export interface DatabaseConfig {
  /** postgres://user:password@host:port/db; undefined = embedded stores. Never logged whole (it may carry a password). */
  url?: string;
  /** Most connections this process opens (node-postgres Pool `max`). */
  poolMax: number;
  /** Deadline for opening a connection or borrowing one from a full pool. */
  connectTimeoutMs: number;
  /** Server-side limit of one statement (PostgreSQL `statement_timeout`); the client gives up a second later. */
  statementTimeoutMs: number;
}

/** The URL without its password, for messages. */
export function redactDatabaseUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable DATABASE_URL>';
  }
}

export function parseDatabaseEnv(env: EnvReader): DatabaseConfig {
  const url = env.raw('DATABASE_URL');
  if (url !== undefined) {
    let protocol = '';
    try {
      protocol = new URL(url).protocol;
    } catch {
      // reported below
    }
    // The value may hold a password: name the variable, never echo it.
    if (protocol !== 'postgres:' && protocol !== 'postgresql:') env.fail('DATABASE_URL', '<redacted>', 'a postgres:// or postgresql:// URL');
  }
  return {
    url,
    poolMax: env.int('DATABASE_POOL_MAX', 10, 1, 1_000, 'connections'),
    connectTimeoutMs: env.int('DATABASE_CONNECT_TIMEOUT_MS', 5_000, 100, 600_000, 'ms'),
    statementTimeoutMs: env.int('DATABASE_STATEMENT_TIMEOUT_MS', 10_000, 100, 3_600_000, 'ms'),
  };
}

export const databaseConfig = registerAs('database', () => parseOrThrow(process.env, parseDatabaseEnv));
