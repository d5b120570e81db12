import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { RateLimitStoreIndicator } from '../auth/rate-limit-store.indicator';
import { RateLimitStoreModule } from '../auth/rate-limit-store.module';
import { DatabaseModule } from '../database/database.module';
import { DatabaseIndicator } from './database.indicator';
import { HealthController } from './health.controller';
import { ShutdownIndicator } from './shutdown.indicator';
import { UpstreamReadinessIndicator } from './upstream-readiness.indicator';

@Module({
  imports: [TerminusModule.forRoot({ errorLogStyle: 'pretty' }), DatabaseModule, RateLimitStoreModule],
  controllers: [HealthController],
  providers: [UpstreamReadinessIndicator, ShutdownIndicator, DatabaseIndicator, RateLimitStoreIndicator],
})
export class HealthModule {}
