import { Injectable, type MessageEvent } from '@nestjs/common';
import { concatMap, defer, finalize, takeWhile, timer, type Observable } from 'rxjs';
import { FleetThrottlerStorage } from '../auth/fleet-throttler-storage';
import { SpendTracker } from '../cost/spend-tracker';
import { DatabaseService } from '../database/database.service';
import { DrainService } from '../lifecycle/drain.service';
import { PoolRegistry } from '../pool/pool-registry';

/** What /v1/llm/stats answers and /v1/llm/stats/stream sends: every pool's snapshot, totals and this month's spend. */
@Injectable()
export class PoolStatsService {
  private streams = 0;

  constructor(
    private readonly pools: PoolRegistry,
    private readonly spend: SpendTracker,
    private readonly drain: DrainService,
    private readonly rateLimit: FleetThrottlerStorage,
    private readonly database: DatabaseService,
  ) {}

  /** Spend is read from its store (the fleet's, with DATABASE_URL), hence async. */
  async current() {
    const spend = await this.spend.snapshot();
    return { generatedAt: new Date().toISOString(), ...this.pools.snapshot(), spend, rateLimit: this.rateLimit.snapshot(), database: this.database.snapshot() };
  }

  /** Stat streams open now: each holds one timer, released when its client leaves. */
  get openStreams(): number {
    return this.streams;
  }

  /**
   * A snapshot at once, then one every `intervalMs`. Nest unsubscribes when the
   * client leaves, which stops the timer; the stream also ends at the first tick
   * after shutdown begins, so an open dashboard does not hold the drain for its whole grace period.
   */
  stream(intervalMs: number): Observable<MessageEvent> {
    return defer(() => {
      this.streams++;
      return timer(0, intervalMs);
    }).pipe(
      takeWhile(() => !this.drain.isDraining),
      // One snapshot at a time: a slow spend store delays the next tick rather than piling reads up.
      concatMap(async () => ({ data: await this.current() })),
      finalize(() => this.streams--),
    );
  }
}
