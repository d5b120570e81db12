import { timingSafeEqual } from 'node:crypto';
import { keyDigest, type SecurityConfig } from '../config/security.config';
import type { Caller } from './caller';

/**
 * Finds which configured key, if any, a request presented. Both sides are
 * SHA-256 digests of equal length compared with timingSafeEqual, and every
 * configured key is compared, so the time taken says nothing about a key's
 * length, its prefix, or which of the keys matched.
 */
export class KeyMatcher {
  private readonly keys: { digest: Buffer; role: Caller['role']; name: string }[];
  /** Without caller keys `/v1/*` is open; the admin key alone does not close it. */
  readonly callerKeysConfigured: boolean;

  constructor(config: Pick<SecurityConfig, 'apiKeyDigests' | 'adminKeyDigest'>) {
    this.keys = config.apiKeyDigests.map((digest, i) => ({ digest, role: 'caller' as const, name: `key-${i + 1}` }));
    if (config.adminKeyDigest) this.keys.push({ digest: config.adminKeyDigest, role: 'admin', name: 'admin' });
    this.callerKeysConfigured = config.apiKeyDigests.length > 0;
  }

  match(presented: string): Caller | undefined {
    const digest = keyDigest(presented);
    let matched: (typeof this.keys)[number] | undefined;
    for (const key of this.keys) {
      if (timingSafeEqual(digest, key.digest)) matched = key;
    }
    return matched && { role: matched.role, id: digest.toString('hex').slice(0, 16), name: matched.name };
  }
}

/** The token of `Authorization: Bearer <token>` (scheme case-insensitive, RFC 7235), if there is one. */
export function bearerToken(header: string | undefined): string | undefined {
  const match = /^Bearer[ ]+(\S+)[ ]*$/i.exec(header ?? '');
  return match?.[1];
}
