import { Injectable, Logger } from '@nestjs/common';
import { LlmErrorCode, LlmException } from '../common/llm.exception';
import type { ApiKeysSnapshot } from '../pool/api-key-pool';
import { PoolRegistry } from '../pool/pool-registry';

export interface SocketsDestroyed {
  upstream: string;
  destroyed: number;
}

export interface KeysEnabled {
  upstream: string;
  /** Positions (1-based) that were refused and are back in rotation. */
  enabled: number[];
  apiKeys: ApiKeysSnapshot;
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

  /** Puts refused API keys back in rotation: all of the upstream's, or the one at `position` (1-based). */
  enableKeys(upstream: string, position?: number): KeysEnabled {
    const pool = this.pools.get(upstream);
    const total = pool.keys.size;
    if (position !== undefined && (position < 1 || position > total)) {
      const expected = total === 0 ? 'none: it has no API key' : `1 to ${total}`;
      throw new LlmException(LlmErrorCode.BAD_REQUEST, `upstream "${upstream}" has no API key at position ${position} (expected ${expected})`);
    }
    const enabled = pool.keys.enable(position);
    if (enabled.length > 0) this.logger.log(`${upstream}: API key(s) ${enabled.map((p) => `#${p}`).join(', ')} put back in rotation on request`);
    return { upstream, enabled, apiKeys: pool.keys.snapshot() };
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
