import { Inject, Logger, Module, OnModuleInit } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { ThrottlerModule } from '@nestjs/throttler';
import { securityConfig, type SecurityConfig } from '../config/security.config';
import { ApiKeyGuard } from './api-key.guard';
import { CallerThrottlerGuard } from './caller-throttler.guard';
import { FleetThrottlerStorage } from './fleet-throttler-storage';
import { KeyMatcher } from './key-matcher';
import { RateLimitStoreModule } from './rate-limit-store.module';

/** Caller keys, the admin key and the per-caller rate limit, as global guards (ApiKeyGuard also names the caller spend is booked to). */
@Module({
  imports: [
    ThrottlerModule.forRootAsync({
      imports: [RateLimitStoreModule],
      inject: [securityConfig.KEY, FleetThrottlerStorage],
      useFactory: (security: SecurityConfig, storage: FleetThrottlerStorage) => ({
        throttlers: [{ ttl: 60_000, limit: Math.max(1, security.rateLimitPerMinute) }],
        skipIf: () => security.rateLimitPerMinute === 0,
        // Shared by the fleet with REDIS_URL, else (and while Redis is down) counted in this pod.
        storage,
      }),
    }),
    RateLimitStoreModule,
  ],
  providers: [
    { provide: KeyMatcher, inject: [securityConfig.KEY], useFactory: (security: SecurityConfig) => new KeyMatcher(security) },
    // In this order: the caller is identified before its budget is counted, and a refused key spends none.
    { provide: APP_GUARD, useClass: ApiKeyGuard },
    { provide: APP_GUARD, useClass: CallerThrottlerGuard },
  ],
})
export class AuthModule implements OnModuleInit {
  private readonly logger = new Logger('Auth');

  constructor(
    @Inject(securityConfig.KEY) private readonly security: SecurityConfig,
    private readonly storage: FleetThrottlerStorage,
  ) {}

  onModuleInit(): void {
    const { apiKeyDigests, adminKeyDigest, rateLimitPerMinute } = this.security;
    if (apiKeyDigests.length === 0) {
      this.logger.warn('SERVICE_API_KEYS is not set: /v1/* is open to anyone who can reach this service');
    } else {
      this.logger.log(`/v1/* needs one of ${apiKeyDigests.length} API key(s) (Authorization: Bearer)`);
    }
    this.logger.log(adminKeyDigest ? 'admin routes enabled (/v1/admin/*, SERVICE_ADMIN_KEY)' : 'admin routes disabled (no SERVICE_ADMIN_KEY)');
    const scope = this.storage.snapshot().store === 'redis' ? 'across every replica (REDIS_URL)' : 'in this pod (no REDIS_URL)';
    this.logger.log(rateLimitPerMinute > 0 ? `rate limit: ${rateLimitPerMinute} requests per minute per caller, counted ${scope}` : 'rate limit: off');
  }
}
