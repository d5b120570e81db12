import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { DatabaseModule } from '../database/database.module';
import { DatabaseIndicator } from './database.indicator';
import { HealthController } from './health.controller';
import { ShutdownIndicator } from './shutdown.indicator';
import { UpstreamReadinessIndicator } from './upstream-readiness.indicator';

@Module({
  imports: [TerminusModule.forRoot({ errorLogStyle: 'pretty' }), DatabaseModule],
  controllers: [HealthController],
  providers: [UpstreamReadinessIndicator, ShutdownIndicator, DatabaseIndicator],
})
export class HealthModule {}
