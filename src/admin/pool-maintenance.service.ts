import { Injectable, Logger } from '@nestjs/common';
import { PoolRegistry } from '../pool/pool-registry';

export interface SocketsDestroyed {
  upstream: string;
  destroyed: number;
}

/** The totals one pool had when its statistics were reset. */
export interface DroppedTotals {
  upstream: string;
  requests: number;
  succeeded: number;
  failed: number;
  socketsCreated: number;
  socketsClosed: number;
  latencySamples: number;
}

export interface StatsReset {
  resetAt: string;
  upstreams: DroppedTotals[];
}

/** Operator actions on the pools; the pools do the work and keep the counts. */
@Injectable()
export class PoolMaintenanceService {
  private readonly logger = new Logger('Admin');

  constructor(private readonly pools: PoolRegistry) {}

  async destroyIdleSockets(upstream: string): Promise<SocketsDestroyed> {
    const destroyed = await this.pools.get(upstream).destroyIdleSockets();
    this.logger.log(`${upstream}: ${destroyed} idle socket(s) destroyed on request`);
    return { upstream, destroyed };
  }

  resetStats(): StatsReset {
    const upstreams = this.pools.all().map((pool) => {
      const before = pool.snapshot();
      pool.resetStats();
      return {
        upstream: pool.name,
        requests: before.requests.total,
        succeeded: before.requests.succeeded,
        failed: before.requests.failed,
        socketsCreated: before.sockets.created,
        socketsClosed: before.sockets.closed,
        latencySamples: before.latencyMs.upstream.count,
      };
    });
    this.logger.log(`statistics of ${upstreams.length} pool(s) reset on request`);
    return { resetAt: new Date().toISOString(), upstreams };
  }
}
