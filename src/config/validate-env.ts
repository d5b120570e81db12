import { parseRedisEnv } from '../auth/redis.config';
import { parseCostEnv } from '../cost/cost.config';
import { parseDatabaseEnv } from '../database/database.config';
import { parseSearchEnv } from '../search/search.config';
import { parseAppEnv } from './app.config';
import { EnvReader, ConfigValidationError } from './env-reader';
import { parseHealthEnv } from './health.config';
import { parseLlmEnv } from './llm.config';
import { parseSecurityEnv } from './security.config';
import { parseTracingEnv } from './tracing.config';

/**
 * The `validate` hook of ConfigModule: runs every area's parser over the merged
 * environment (.env included) and stops the boot with one message naming each bad variable.
 */
export function validateEnv(env: Record<string, unknown>): Record<string, unknown> {
  const reader = readEnv(env);
  if (reader.problems.length > 0) throw new ConfigValidationError(reader.problems);
  return env;
}

/** Runs every area's parser; the reader holds the problems found and the names read. */
export function readEnv(env: Record<string, unknown>): EnvReader {
  const reader = new EnvReader(env as Record<string, string | undefined>);
  parseAppEnv(reader);
  parseLlmEnv(reader);
  parseHealthEnv(reader);
  parseSecurityEnv(reader);
  parseCostEnv(reader);
  parseSearchEnv(reader);
  parseDatabaseEnv(reader);
  parseRedisEnv(reader);
  parseTracingEnv(reader);
  return reader;
}
