import { registerAs } from '@nestjs/config';
import { EnvReader, parseOrThrow } from './env-reader';

export interface HealthConfig {
  /** A request waiting longer than this for a connection marks its upstream not ready. */
  readyMaxAcquireWaitMs: number;
  /** How long a pool-exhaustion event keeps its upstream not ready. */
  readyWindowMs: number;
}

export function parseHealthEnv(env: EnvReader): HealthConfig {
  return {
    readyMaxAcquireWaitMs: env.int('LLM_READY_MAX_ACQUIRE_WAIT_MS', 1_000, 1, 600_000, 'ms'),
    readyWindowMs: env.int('LLM_READY_WINDOW_MS', 10_000, 100, 3_600_000, 'ms'),
  };
}

export const healthConfig = registerAs('health', () => parseOrThrow(process.env, parseHealthEnv));
