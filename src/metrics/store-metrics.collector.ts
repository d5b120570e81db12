import { Injectable } from '@nestjs/common';
import { Registry } from 'prom-client';
import { FleetThrottlerStorage } from '../auth/fleet-throttler-storage';
import { DatabaseService } from '../database/database.service';
import { scrapedCounter, scrapedGauge } from './scraped-metric';

/**
 * The shared stores' side of this pod: its PostgreSQL pool (only with DATABASE_URL) and its Redis
 * connection for the rate limit (only with REDIS_URL). Read from their owners at scrape time.
 */
@Injectable()
export class StoreMetricsCollector {
  constructor(registry: Registry, database: DatabaseService, rateLimit: FleetThrottlerStorage) {
    if (database.enabled) {
      scrapedGauge(registry, {
        name: 'llm_database_available',
        help: 'Whether PostgreSQL answers and is migrated (1) or not (0): documents, search and budgeted calls answer 503 meanwhile.',
        labelNames: [],
        read: () => [[{}, database.snapshot().ready ? 1 : 0]],
      });
      scrapedGauge(registry, {
        name: 'llm_database_pool_connections',
        help: "This pod's PostgreSQL connections by state (DATABASE_POOL_MAX caps total); waiting counts queries queued for one.",
        labelNames: ['state'],
        read: () => {
          const { pool } = database.snapshot();
          return [
            [{ state: 'total' }, pool.total],
            [{ state: 'idle' }, pool.idle],
            [{ state: 'waiting' }, pool.waiting],
          ];
        },
      });
    }
    if (rateLimit.snapshot().store === 'redis') {
      scrapedGauge(registry, {
        name: 'llm_rate_limit_redis_up',
        help: 'Whether the rate limit is counted fleet-wide in Redis (1) or, while Redis is down, per pod (0).',
        labelNames: [],
        read: () => [[{}, rateLimit.snapshot().redis?.status === 'up' ? 1 : 0]],
      });
      scrapedCounter(registry, {
        name: 'llm_rate_limit_checks_total',
        help: 'Rate-limit checks by where they were counted: shared (Redis) or local (the fallback while Redis is down).',
        labelNames: ['store'],
        read: () => {
          const redis = rateLimit.snapshot().redis;
          return [
            [{ store: 'shared' }, redis?.sharedChecks ?? 0],
            [{ store: 'local' }, redis?.localFallbacks ?? 0],
          ];
        },
      });
    }
  }
}
