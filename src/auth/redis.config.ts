import { registerAs } from '@nestjs/config';
import { EnvReader, parseOrThrow } from '../config/env-reader';

export interface RedisConfig {
  /** redis://[user:password@]host:port[/db] or rediss://; undefined = the rate limit is counted in this process. Never logged whole. */
  url?: string;
  /** A Redis command (one rate-limit check) that takes longer fails, and the check falls back to this process's count. */
  commandTimeoutMs: number;
  /** Deadline for (re)connecting. */
  connectTimeoutMs: number;
}

/** The URL without its password, for messages. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable REDIS_URL>';
  }
}

export function parseRedisEnv(env: EnvReader): RedisConfig {
  const url = env.raw('REDIS_URL');
  if (url !== undefined) {
    let protocol = '';
    try {
      protocol = new URL(url).protocol;
    } catch {
      // reported below
    }
    // The value may hold a password: name the variable, never echo it.
    if (protocol !== 'redis:' && protocol !== 'rediss:') env.fail('REDIS_URL', '<redacted>', 'a redis:// or rediss:// URL');
  }
  return {
    url,
    commandTimeoutMs: env.int('REDIS_COMMAND_TIMEOUT_MS', 500, 10, 60_000, 'ms'),
    connectTimeoutMs: env.int('REDIS_CONNECT_TIMEOUT_MS', 2_000, 100, 60_000, 'ms'),
  };
}

export const redisConfig = registerAs('redis', () => parseOrThrow(process.env, parseRedisEnv));
