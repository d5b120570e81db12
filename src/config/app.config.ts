import { registerAs } from '@nestjs/config';
import { EnvReader, parseOrThrow } from './env-reader';

export interface AppConfig {
  port: number;
  host: string;
  /** Inbound keep-alive: longer than a load balancer's idle timeout (60 s is common), so it never reuses a socket we are closing. */
  keepAliveTimeoutMs: number;
  bodyLimitBytes: number;
}

export function parseAppEnv(env: EnvReader): AppConfig {
  return {
    port: env.int('PORT', 3000, 0, 65_535),
    host: env.string('HOST', '0.0.0.0'),
    keepAliveTimeoutMs: env.int('SERVICE_KEEPALIVE_TIMEOUT_MS', 65_000, 1_000, 3_600_000, 'ms'),
    bodyLimitBytes: env.int('SERVICE_BODY_LIMIT_BYTES', 4 * 1024 * 1024, 1_024, 512 * 1024 * 1024, 'bytes'),
  };
}

export const appConfig = registerAs('app', () => parseOrThrow(process.env, parseAppEnv));
