import { hash } from 'node:crypto';
import { registerAs } from '@nestjs/config';
import { EnvReader, parseOrThrow } from './env-reader';

/** Shorter keys are guessable; `openssl rand -hex 32` gives 64 characters. */
export const MIN_KEY_LENGTH = 16;

export interface SecurityConfig {
  /**
   * SHA-256 digests of the caller keys (SERVICE_API_KEYS); empty = `/v1/*` is open.
   * Only digests are kept, so the configuration object cannot leak a key wherever it is printed.
   */
  apiKeyDigests: Buffer[];
  /** SHA-256 digest of SERVICE_ADMIN_KEY; without one the admin routes do not exist. */
  adminKeyDigest?: Buffer;
  /** Requests per caller per minute on `/v1/*`; 0 = no limit. */
  rateLimitPerMinute: number;
}

export function keyDigest(key: string): Buffer {
  // One-shot: every request's key is digested, and a Hash object per request shows in the profile.
  return hash('sha256', key, 'buffer') as unknown as Buffer;
}

export function parseSecurityEnv(env: EnvReader): SecurityConfig {
  // Problems name the variable, never its value: these are secrets.
  const apiKeys = env.list('SERVICE_API_KEYS');
  if (apiKeys.some((key) => key.length < MIN_KEY_LENGTH)) {
    env.fail('SERVICE_API_KEYS', '<redacted>', `comma-separated keys of at least ${MIN_KEY_LENGTH} characters each`);
  }
  const adminKey = env.raw('SERVICE_ADMIN_KEY');
  if (adminKey !== undefined && adminKey.length < MIN_KEY_LENGTH) {
    env.fail('SERVICE_ADMIN_KEY', '<redacted>', `a key of at least ${MIN_KEY_LENGTH} characters`);
  }
  if (adminKey !== undefined && apiKeys.includes(adminKey)) {
    env.fail('SERVICE_ADMIN_KEY', '<redacted>', 'a key that is not also one of SERVICE_API_KEYS');
  }
  return {
    apiKeyDigests: [...new Set(apiKeys)].map(keyDigest),
    adminKeyDigest: adminKey === undefined ? undefined : keyDigest(adminKey),
    rateLimitPerMinute: env.int('SERVICE_RATE_LIMIT_PER_MINUTE', 600, 0, 1_000_000, 'requests per caller, 0 = no limit'),
  };
}

export const securityConfig = registerAs('security', () => parseOrThrow(process.env, parseSecurityEnv));
