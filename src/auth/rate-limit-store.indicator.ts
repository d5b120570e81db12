import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { FleetThrottlerStorage } from './fleet-throttler-storage';

/**
 * `rateLimit` in readiness (only with REDIS_URL): always up, because Redis down fails open to a
 * per-pod count rather than taking every pod out of rotation; the details say `redis: down` and
 * `scope: pod` so an operator sees that the limit is not fleet-wide right now. Never throws.
 */
@Injectable()
export class RateLimitStoreIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly storage: FleetThrottlerStorage,
  ) {}

  get enabled(): boolean {
    return this.storage.snapshot().store === 'redis';
  }

  check(): HealthIndicatorResult {
    const snapshot = this.storage.snapshot();
    return this.indicators.check('rateLimit').up({ scope: snapshot.scope, redis: snapshot.redis?.status ?? 'off' });
  }
}
