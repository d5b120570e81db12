import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { HealthController } from './health.controller';
import { PoolExhaustionIndicator } from './pool-exhaustion.indicator';

@Module({
  imports: [TerminusModule.forRoot({ errorLogStyle: 'pretty' })],
  controllers: [HealthController],
  providers: [PoolExhaustionIndicator],
})
export class HealthModule {}
