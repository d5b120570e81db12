import { Injectable } from '@nestjs/common';
import { HealthIndicatorService, type HealthIndicatorResult } from '@nestjs/terminus';
import { DatabaseService } from '../database/database.service';

/**
 * `database` (only with DATABASE_URL): down while PostgreSQL is unreachable or not migrated,
 * with the reason; documents and search answer 503 DATABASE_UNAVAILABLE meanwhile. Never throws.
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
    const indicator = this.indicators.check('database');
    const reason = await this.database.ping();
    const { ready, pool } = this.database.snapshot();
    return reason === undefined ? indicator.up({ ready, pool }) : indicator.down({ reason, ready, pool });
  }
}
