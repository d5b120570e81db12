import { type MiddlewareConsumer, Module, type NestModule, RequestMethod } from '@nestjs/common';
import { RateLimitStoreModule } from '../auth/rate-limit-store.module';
import { DatabaseModule } from '../database/database.module';
import { AccessTokenQueryMiddleware } from './access-token-query.middleware';
import { DashboardController } from './dashboard.controller';
import { DashboardPage } from './dashboard-page';
import { PoolStatsController } from './pool-stats.controller';
import { PoolStatsService } from './pool-stats.service';

@Module({
  imports: [RateLimitStoreModule, DatabaseModule],
  controllers: [PoolStatsController, DashboardController],
  providers: [PoolStatsService, { provide: DashboardPage, useFactory: () => new DashboardPage() }],
})
export class StatsModule implements NestModule {
  configure(consumer: MiddlewareConsumer): void {
    // Only the stream: every other route takes its key in the Authorization header alone.
    consumer.apply(AccessTokenQueryMiddleware).forRoutes({ path: 'v1/llm/stats/stream', method: RequestMethod.GET });
  }
}
