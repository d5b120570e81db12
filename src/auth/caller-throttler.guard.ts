import { ExecutionContext, HttpException, Injectable } from '@nestjs/common';
import { ThrottlerGuard, type ThrottlerLimitDetail } from '@nestjs/throttler';
import type { FastifyRequest } from 'fastify';
import { errorEnvelope } from '../common/error-envelope';
import { routeAccess } from './route-access.decorator';
import './caller'; // FastifyRequest.caller

const ALLOWED = Promise.resolve(true);

/**
 * The throttler, keyed by caller: the key's SHA-256 prefix set by ApiKeyGuard
 * (never the key itself), or the client address when auth is off. One budget
 * per caller across all routes, not one per route. Public routes are never limited.
 */
@Injectable()
export class CallerThrottlerGuard extends ThrottlerGuard {
  /**
   * With the limit off (SERVICE_RATE_LIMIT_PER_MINUTE=0) or on a public route, answered at once: the base
   * guard would otherwise await its skip hooks and five metadata lookups per request.
   */
  override canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.commonOptions.skipIf?.(context) || routeAccess(this.reflector, context) === 'public') return ALLOWED;
    return super.canActivate(context);
  }

  protected override async shouldSkip(context: ExecutionContext): Promise<boolean> {
    return routeAccess(this.reflector, context) === 'public';
  }

  protected override async getTracker(request: FastifyRequest): Promise<string> {
    return request.caller ? `key:${request.caller.id}` : `ip:${await super.getTracker(request)}`;
  }

  protected override generateKey(_context: ExecutionContext, tracker: string, throttler: string): string {
    return `${throttler}:${tracker}`;
  }

  protected override async throwThrottlingException(_context: ExecutionContext, limit: ThrottlerLimitDetail): Promise<void> {
    // The guard has already set Retry-After (seconds until the block ends).
    throw new HttpException(
      errorEnvelope(429, 'RATE_LIMITED', `Rate limit of ${limit.limit} requests per minute reached; retry in ${limit.timeToBlockExpire} s`, {
        details: { limitPerMinute: limit.limit, retryAfterSeconds: limit.timeToBlockExpire },
      }),
      429,
    );
  }
}
