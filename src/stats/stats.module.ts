import { Module } from '@nestjs/common';
import { PoolStatsController } from './pool-stats.controller';

@Module({ controllers: [PoolStatsController] })
export class StatsModule {}
