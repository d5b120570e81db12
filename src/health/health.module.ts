import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { RateLimitStoreIndicator } from '../auth/rate-limit-store.indicator';
import { RateLimitStoreModule } from '../auth/rate-limit-store.module';
import { DatabaseModule } from '../database/database.module';
import { DatabaseIndicator } from './database.indicator';
import { HealthController } from './health.controller';
import { ShutdownIndicator } from './shutdown.indicator';
import { SimulatorIndicator } from './simulator.indicator';
import { UpstreamReadinessIndicator } from './upstream-readiness.indicator';

@Module({
  imports: [
    // A failed check is logged as one line (through the app's logger, JSON in production), never a multi-line box.
    TerminusModule.forRoot({ errorLogStyle: 'json' }),
    DatabaseModule,
    RateLimitStoreModule,
  ],
  controllers: [HealthController],
  providers: [UpstreamReadinessIndicator, ShutdownIndicator, DatabaseIndicator, RateLimitStoreIndicator, SimulatorIndicator],
})
export class HealthModule {}
