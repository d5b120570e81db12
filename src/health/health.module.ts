import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller';
import { ShutdownIndicator } from './shutdown.indicator';
import { UpstreamReadinessIndicator } from './upstream-readiness.indicator';

@Module({
  imports: [TerminusModule.forRoot({ errorLogStyle: 'pretty' })],
  controllers: [HealthController],
  providers: [UpstreamReadinessIndicator, ShutdownIndicator],
})
export class HealthModule {}
