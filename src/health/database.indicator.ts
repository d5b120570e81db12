import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { DatabaseService } from '../database/database.service';

/**
 * `database` in readiness (only with DATABASE_URL): always up, with `available` and the reason when
 * PostgreSQL is unreachable or not migrated. Every replica shares the one database, so failing
 * readiness on it would take the whole fleet out of the Service and stop chat, which does not need
 * it; documents, search and budgeted calls answer 503 DATABASE_UNAVAILABLE meanwhile. Never throws.
 */
@Injectable()
export class DatabaseIndicator {
  constructor(
    private readonly indicators: HealthIndicatorService,
    private readonly database: DatabaseService,
  ) {}

  get enabled(): boolean {
    return this.database.enabled;
  }

  async check(): Promise<HealthIndicatorResult> {
    const reason = await this.database.ping();
    const { ready, pool } = this.database.snapshot();
    return this.indicators.check('database').up({ available: reason === undefined, ...(reason !== undefined && { reason }), ready, pool });
  }
}
