import { Inject, Injectable, Logger, OnModuleDestroy, Optional } from '@nestjs/common';
import { LlmErrorCode, LlmException } from '../common/llm.exception';
import { DrainService } from '../lifecycle/drain.service';
import type { PoolSnapshot, PoolStatsTotals } from './pool-snapshot';
import { UpstreamPool, type PoolObserver } from './upstream-pool';
import { UpstreamCatalog } from './upstream-catalog';

/** Optional provider of a PoolObserver (MetricsModule's histograms), handed to every pool. */
export const POOL_OBSERVER = Symbol('POOL_OBSERVER');

/** Every upstream's pool, created once at boot from the resolved upstream catalog. */
@Injectable()
export class PoolRegistry implements OnModuleDestroy {
  private readonly logger = new Logger('Pools');
  private readonly pools = new Map<string, UpstreamPool>();

  constructor(
    catalog: UpstreamCatalog,
    @Optional() @Inject(POOL_OBSERVER) observer?: PoolObserver,
    @Optional() drain?: DrainService,
  ) {
    for (const upstream of catalog.upstreams) {
      const pool = new UpstreamPool(upstream, catalog.extraCaPem, observer);
      this.pools.set(upstream.name, pool);
      this.warnAboutSizing(pool);
    }
    // The shutdown's grace period is over: end the calls still running ourselves, as SHUTTING_DOWN.
    drain?.cutSignal.addEventListener('abort', () => this.all().forEach((pool) => pool.cutInFlight()), { once: true });
  }

  get(name: string): UpstreamPool {
    const pool = this.pools.get(name);
    if (!pool) throw new LlmException(LlmErrorCode.UNKNOWN_UPSTREAM, `unknown upstream "${name}"`, { status: 404 });
    return pool;
  }

  all(): UpstreamPool[] {
    return [...this.pools.values()];
  }

  snapshot(): { upstreams: PoolSnapshot[]; totals: PoolStatsTotals } {
    const upstreams = this.all().map((pool) => pool.snapshot());
    const sum = (pick: (s: PoolSnapshot) => number) => upstreams.reduce((n, s) => n + pick(s), 0);
    const requests = sum((s) => s.requests.total);
    const reusedRequests = sum((s) => s.requests.reused);
    return {
      upstreams,
      totals: {
        upstreams: upstreams.length,
        socketsCreated: sum((s) => s.sockets.created),
        socketsOpen: sum((s) => s.sockets.open),
        socketsActive: sum((s) => s.sockets.active),
        socketsIdle: sum((s) => s.sockets.idle),
        requests,
        reusedRequests,
        reuseRate: requests ? Math.round((reusedRequests / requests) * 10_000) / 10_000 : 0,
        inFlight: sum((s) => s.requests.inFlight),
        queued: sum((s) => s.requests.queued),
        poolExhausted: sum((s) => s.poolExhausted.total),
        errors: sum((s) => s.requests.failed),
      },
    };
  }

  onModuleDestroy(): void {
    for (const pool of this.pools.values()) pool.destroy();
  }

  private warnAboutSizing(pool: UpstreamPool): void {
    const { maxConnections, maxKeepAlive, keepAliveExpiryMs } = pool.settings;
    const name = pool.name;
    this.logger.log(`${name}: ${pool.origin} pool of ${maxConnections} connections, ${maxKeepAlive} kept alive`);
    if (maxKeepAlive < maxConnections) {
      this.logger.warn(
        `${name}: keep-alive limit ${maxKeepAlive} is below the connection limit ${maxConnections}: under saturation ` +
          `${maxConnections - maxKeepAlive} sockets are closed after each use and re-opened (a new TCP + TLS handshake each time). ` +
          `Set the keep-alive limit equal to the connection limit unless the upstream limits idle connections.`,
      );
    }
    if (keepAliveExpiryMs >= 5_000) {
      this.logger.warn(
        `${name}: idle sockets are kept ${keepAliveExpiryMs} ms; servers such as Node and uvicorn (vLLM) close them after 5 s, ` +
          `so a reused socket may already be closed (ECONNRESET). Keep the expiry below the upstream's idle timeout.`,
      );
    }
  }
}
