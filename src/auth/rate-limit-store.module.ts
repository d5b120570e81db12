import { Module } from '@nestjs/common';
import { FleetThrottlerStorage } from './fleet-throttler-storage';

/** The rate limit's counts (REDIS_URL or this process), for ThrottlerModule and for stats. */
@Module({ providers: [FleetThrottlerStorage], exports: [FleetThrottlerStorage] })
export class RateLimitStoreModule {}
