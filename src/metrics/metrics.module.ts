import { Global, Module } from '@nestjs/common';
import { Registry } from 'prom-client';
import { RateLimitStoreModule } from '../auth/rate-limit-store.module';
import { DatabaseModule } from '../database/database.module';
import { POOL_OBSERVER } from '../pool/pool-registry';
import { LoadMetricsCollector } from './load-metrics.collector';
import { createMetricsRegistry } from './metrics-registry';
import { MetricsController } from './metrics.controller';
import { PoolLatencyHistograms } from './pool-latency.histograms';
import { PoolMetricsCollector } from './pool-metrics.collector';
import { SpendMetricsCollector } from './spend-metrics.collector';
import { StoreMetricsCollector } from './store-metrics.collector';

/**
 * GET /metrics in the Prometheus text format, from a registry this module owns.
 * Global so that PoolRegistry (LlmModule) finds POOL_OBSERVER and hands the histograms to its pools.
 */
@Global()
@Module({
  imports: [DatabaseModule, RateLimitStoreModule],
  controllers: [MetricsController],
  providers: [
    { provide: Registry, useFactory: createMetricsRegistry },
    PoolLatencyHistograms,
    { provide: POOL_OBSERVER, useExisting: PoolLatencyHistograms },
    PoolMetricsCollector,
    SpendMetricsCollector,
    LoadMetricsCollector,
    StoreMetricsCollector,
  ],
  exports: [POOL_OBSERVER],
})
export class MetricsModule {}
