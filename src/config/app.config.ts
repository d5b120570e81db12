import { registerAs } from '@nestjs/config';
import { EnvReader, parseOrThrow } from './env-reader';

export interface AppConfig {
  port: number;
  host: string;
  /** Inbound keep-alive: longer than a load balancer's idle timeout (60 s is common), so it never reuses a socket we are closing. */
  keepAliveTimeoutMs: number;
  bodyLimitBytes: number;
  /**
   * How long a client may take to send a whole request, headers and body (Node's requestTimeout, from its
   * first byte). It does not bound the response: a stream may run for LLM_TIMEOUT_MS after the request arrived.
   */
  requestTimeoutMs: number;
  /** After SIGTERM: how long in-flight requests and streams may take to finish before the process exits anyway. */
  shutdownGraceMs: number;
  /** The least severe level written: `info` writes the access log, `warn` drops it. */
  logLevel: LogLevelName;
  /** `json`: one JSON object a line, for a log pipeline. `pretty`: Nest's coloured text, for a terminal. */
  logFormat: 'json' | 'pretty';
}

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'verbose'] as const;
export type LogLevelName = (typeof LOG_LEVELS)[number];

export function parseAppEnv(env: EnvReader): AppConfig {
  return {
    port: env.int('PORT', 3000, 0, 65_535),
    host: env.string('HOST', '0.0.0.0'),
    keepAliveTimeoutMs: env.int('SERVICE_KEEPALIVE_TIMEOUT_MS', 65_000, 1_000, 3_600_000, 'ms'),
    bodyLimitBytes: env.int('SERVICE_BODY_LIMIT_BYTES', 4 * 1024 * 1024, 1_024, 512 * 1024 * 1024, 'bytes'),
    // A 4 MB body needs 30 s only below ~1 Mbit/s; a client that slow, or trickling on purpose, holds a socket and its buffer.
    requestTimeoutMs: env.int('SERVICE_REQUEST_TIMEOUT_MS', 30_000, 1_000, 3_600_000, 'ms'),
    // Below Kubernetes' default 30 s terminationGracePeriodSeconds, so we exit before SIGKILL.
    shutdownGraceMs: env.int('SHUTDOWN_GRACE_MS', 25_000, 0, 3_600_000, 'ms'),
    logLevel: env.oneOf('LOG_LEVEL', 'info', LOG_LEVELS),
    // Text for a person at a terminal; anything else (a container's log driver, a pipe, a file) gets JSON.
    logFormat: env.oneOf('LOG_FORMAT', process.stdout.isTTY ? 'pretty' : 'json', ['json', 'pretty'] as const),
  };
}

export const appConfig = registerAs('app', () => parseOrThrow(process.env, parseAppEnv));
